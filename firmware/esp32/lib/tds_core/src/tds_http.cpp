#include "tds_http.h"

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "tds_crypto.h"

namespace tds {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) --b;
  return s.substr(a, b - a);
}

bool validHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

bool parseHttpsUrl(const std::string& url, HttpsUrl& out, std::string& err) {
  static const char kScheme[] = "https://";
  if (url.compare(0, sizeof kScheme - 1, kScheme) != 0) {
    err = "the server URL must start with https://";
    return false;
  }
  std::string rest = url.substr(sizeof kScheme - 1);
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string path = slash == std::string::npos ? std::string() : rest.substr(slash);
  if (path.find_first_of("?#") != std::string::npos || authority.find('@') != std::string::npos) {
    err = "the server URL must not have a query, fragment or user name";
    return false;
  }
  for (char c : path)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      err = "the server URL path has a space or a non-ASCII character";
      return false;
    }
  HttpsUrl u;
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      err = "the server URL has an unterminated [IPv6] address";
      return false;
    }
    u.host = authority.substr(1, close - 1);
    for (char c : u.host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        err = "the server URL has a bad IPv6 address";
        return false;
      }
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        err = "the server URL has junk after the [IPv6] address";
        return false;
      }
      port = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
    for (char c : u.host)
      if (!validHostChar(c)) {
        err = "the server URL host has a character that is not allowed";
        return false;
      }
  }
  if (u.host.empty() || u.host.size() > 253) {
    err = "the server URL has no host";
    return false;
  }
  if (!port.empty() || authority.find(':') != std::string::npos) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::atoi(port.c_str()) < 1 || std::atoi(port.c_str()) > 65535) {
      err = "the server URL port must be 1-65535";
      return false;
    }
    u.port = static_cast<uint16_t>(std::atoi(port.c_str()));
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  u.path = path;
  out = u;
  return true;
}

std::string buildHttpRequest(const std::string& method, const HttpsUrl& u, const std::string& path,
                             const std::vector<HttpHeader>& headers, const std::string& body) {
  std::string r = method + " " + path + " HTTP/1.1\r\n";
  const bool v6 = u.host.find(':') != std::string::npos;
  r += "Host: " + (v6 ? "[" + u.host + "]" : u.host) + (u.port == 443 ? "" : ":" + std::to_string(u.port)) + "\r\n";
  r += "Connection: close\r\n";
  for (const HttpHeader& h : headers) r += h.name + ": " + h.value + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "\r\n";
  r += body;
  return r;
}

bool HttpResponseParser::fail(const std::string& why) {
  state_ = State::failed;
  error_ = why;
  return false;
}

bool HttpResponseParser::line(std::string& out) {
  const size_t nl = buf_.find('\n');
  if (nl == std::string::npos) {
    if (buf_.size() > 8192) fail("response header line too long");
    return false;
  }
  out = buf_.substr(0, nl);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  buf_.erase(0, nl + 1);
  return true;
}

std::string HttpResponseParser::header(const std::string& name) const {
  auto it = headers_.find(name);
  return it == headers_.end() ? std::string() : it->second;
}

bool HttpResponseParser::onHeadersDone() {
  const std::string te = lower(header("transfer-encoding"));
  const std::string cl = header("content-length");
  if (status_ == 204 || status_ == 304) {
    state_ = State::done;
    return true;
  }
  if (te.find("chunked") != std::string::npos) {
    chunked_ = true;
    state_ = State::chunk_size;
  } else if (!cl.empty()) {
    if (cl.find_first_not_of("0123456789") != std::string::npos || cl.size() > 9) return fail("bad Content-Length");
    remaining_ = static_cast<size_t>(std::strtoul(cl.c_str(), nullptr, 10));
    if (remaining_ > maxBody_) return fail("response body too large");
    state_ = remaining_ == 0 ? State::done : State::body;
  } else {
    untilClose_ = true;
    state_ = State::body;
  }
  return true;
}

bool HttpResponseParser::feed(const uint8_t* data, size_t len) {
  if (state_ == State::failed) return false;
  buf_.append(reinterpret_cast<const char*>(data), len);
  for (;;) {
    std::string l;
    switch (state_) {
      case State::status_line: {
        if (!line(l)) return state_ != State::failed;
        // "HTTP/1.1 202 Accepted"
        if (l.compare(0, 5, "HTTP/") != 0 || l.size() < 12 || l[8] != ' ') return fail("not an HTTP response");
        const std::string code = l.substr(9, 3);
        if (code.find_first_not_of("0123456789") != std::string::npos) return fail("bad HTTP status line");
        status_ = std::atoi(code.c_str());
        state_ = State::headers;
        break;
      }
      case State::headers: {
        if (!line(l)) return state_ != State::failed;
        if (l.empty()) {
          if (!onHeadersDone()) return false;
          break;
        }
        const size_t colon = l.find(':');
        if (colon == std::string::npos) return fail("bad HTTP header line");
        if (headers_.size() > 64) return fail("too many response headers");
        headers_[lower(trim(l.substr(0, colon)))] = trim(l.substr(colon + 1));
        break;
      }
      case State::body: {
        if (untilClose_) {
          body_ += buf_;
          buf_.clear();
          if (body_.size() > maxBody_) return fail("response body too large");
          return true;
        }
        const size_t n = buf_.size() < remaining_ ? buf_.size() : remaining_;
        body_.append(buf_, 0, n);
        buf_.erase(0, n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::done;
        if (buf_.empty() || state_ == State::done) return true;
        break;
      }
      case State::chunk_size: {
        if (!line(l)) return state_ != State::failed;
        const std::string hex = trim(l.substr(0, l.find(';')));
        if (hex.empty() || hex.size() > 7 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
          return fail("bad chunk size");
        remaining_ = static_cast<size_t>(std::strtoul(hex.c_str(), nullptr, 16));
        if (body_.size() + remaining_ > maxBody_) return fail("response body too large");
        state_ = remaining_ == 0 ? State::trailers : State::chunk_data;
        break;
      }
      case State::chunk_data: {
        const size_t n = buf_.size() < remaining_ ? buf_.size() : remaining_;
        body_.append(buf_, 0, n);
        buf_.erase(0, n);
        remaining_ -= n;
        if (remaining_ > 0) return true;
        state_ = State::chunk_crlf;
        break;
      }
      case State::chunk_crlf:
        if (!line(l)) return state_ != State::failed;
        if (!l.empty()) return fail("chunk not followed by CRLF");
        state_ = State::chunk_size;
        break;
      case State::trailers:
        if (!line(l)) return state_ != State::failed;
        if (l.empty()) state_ = State::done;
        break;
      case State::done:
        return true;
      case State::failed:
        return false;
    }
  }
}

bool HttpResponseParser::finish() {
  if (state_ == State::done) return true;
  if (state_ == State::body && untilClose_) {
    state_ = State::done;
    return true;
  }
  if (state_ != State::failed) fail("the connection closed before the whole response arrived");
  return false;
}

bool parseHttpDate(const std::string& s, int64_t& epoch) {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s[3] != ',' || s.compare(26, 3, "GMT") != 0) return false;
  int mon = 0;
  for (int i = 0; i < 12; ++i)
    if (s.compare(8, 3, months[i]) == 0) mon = i + 1;
  auto num = [&](size_t at, size_t n, int& v) {
    v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int day, year, hh, mm, ss;
  if (mon == 0 || !num(5, 2, day) || !num(12, 4, year) || !num(17, 2, hh) || !num(20, 2, mm) || !num(23, 2, ss)) return false;
  if (s[19] != ':' || s[22] != ':' || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return false;
  epoch = epochFromCivil(year, mon, day, hh, mm, ss);
  return true;
}

}  // namespace tds
