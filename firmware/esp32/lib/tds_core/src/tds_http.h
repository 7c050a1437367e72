// HTTP/1.1 text handling for the device's HTTPS client (tds_https): URL parsing, the request bytes,
// an incremental response parser (Content-Length, chunked, or until close) and the Date header.
// Pure functions, so they are unit-tested on the host without a network.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tds {

struct HttpHeader {
  std::string name, value;
};

struct HttpsUrl {
  std::string host;  // without brackets for an IPv6 literal
  uint16_t port = 443;
  std::string path;  // "" or "/api/v1": no trailing "/", so path + "/gateways/…" joins
};

// Only https://host[:port][/path] (no user info, query or fragment).
bool parseHttpsUrl(const std::string& url, HttpsUrl& out, std::string& err);

// The request bytes; Connection: close, Content-Length when there is a body.
std::string buildHttpRequest(const std::string& method, const HttpsUrl& u, const std::string& path,
                             const std::vector<HttpHeader>& headers, const std::string& body);

class HttpResponseParser {
 public:
  explicit HttpResponseParser(size_t maxBody = 32 * 1024) : maxBody_(maxBody) {}
  // Bytes as they arrive. False on a protocol error (see error()).
  bool feed(const uint8_t* data, size_t len);
  // The peer closed the connection; completes a body delimited by the close.
  bool finish();
  bool done() const { return state_ == State::done; }
  const std::string& error() const { return error_; }
  int status() const { return status_; }
  const std::string& body() const { return body_; }
  // Header value by lowercase name ("" when absent).
  std::string header(const std::string& lowerName) const;

 private:
  enum class State { status_line, headers, body, chunk_size, chunk_data, chunk_crlf, trailers, done, failed };
  bool fail(const std::string& why);
  bool line(std::string& out);
  bool onHeadersDone();
  State state_ = State::status_line;
  size_t maxBody_;
  std::string buf_, body_, error_;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false, untilClose_ = false;
  size_t remaining_ = 0;
};

// RFC 7231 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") → Unix seconds.
bool parseHttpDate(const std::string& s, int64_t& epoch);

}  // namespace tds
