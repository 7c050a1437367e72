// HTTP/1.1 text handling of the device's HTTPS client: URLs, request bytes, response parsing, Date.
#include <doctest/doctest.h>

#include "tds_crypto.h"
#include "tds_http.h"

using namespace tds;

namespace {

bool feedAll(HttpResponseParser& p, const std::string& s, size_t step) {
  for (size_t i = 0; i < s.size(); i += step) {
    const std::string part = s.substr(i, step);
    if (!p.feed(reinterpret_cast<const uint8_t*>(part.data()), part.size())) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("https URLs: host, port, base path; everything else is refused with a reason") {
  HttpsUrl u;
  std::string err;
  REQUIRE(parseHttpsUrl("https://provision.example:8443/api/v1/", u, err));
  CHECK(u.host == "provision.example");
  CHECK(u.port == 8443);
  CHECK(u.path == "/api/v1");
  REQUIRE(parseHttpsUrl("https://localhost", u, err));
  CHECK(u.port == 443);
  CHECK(u.path.empty());
  REQUIRE(parseHttpsUrl("https://[::1]:9000/api", u, err));
  CHECK(u.host == "::1");
  CHECK(u.port == 9000);
  for (const char* bad : {"http://x/api", "https://", "https://a b/", "https://x:0/", "https://x:70000/", "https://x:/",
                          "https://u@x/", "https://x/api?q=1", "https://x/a#b", "https://[::1/"}) {
    err.clear();
    CHECK_MESSAGE(!parseHttpsUrl(bad, u, err), bad);
    CHECK(!err.empty());
  }
}

TEST_CASE("request bytes: Host with a non-default port, Connection: close, Content-Length for POST") {
  HttpsUrl u;
  std::string err;
  REQUIRE(parseHttpsUrl("https://srv.local:8443/api/v1", u, err));
  const std::string r = buildHttpRequest("POST", u, "/api/v1/gateways/bootstrap/", {{"Content-Type", "application/json"}}, "{}");
  CHECK(r == "POST /api/v1/gateways/bootstrap/ HTTP/1.1\r\nHost: srv.local:8443\r\nConnection: close\r\n"
             "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  const std::string g = buildHttpRequest("GET", u, "/api/v1/health", {}, "");
  CHECK(g.find("Content-Length") == std::string::npos);
}

TEST_CASE("responses: Content-Length, chunked and until-close bodies, split anywhere; headers by lowercase name") {
  const std::string fixed = "HTTP/1.1 202 Accepted\r\nRetry-After: 5\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                            "content-length: 17\r\n\r\n{\"status\":\"ok\"}\r\n";
  for (size_t step : {1u, 3u, 1000u}) {
    HttpResponseParser p;
    REQUIRE(feedAll(p, fixed, step));
    REQUIRE(p.done());
    CHECK(p.status() == 202);
    CHECK(p.header("retry-after") == "5");
    CHECK(p.body() == "{\"status\":\"ok\"}\r\n");
  }
  const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
  for (size_t step : {1u, 7u, 1000u}) {
    HttpResponseParser p;
    REQUIRE(feedAll(p, chunked, step));
    REQUIRE(p.done());
    CHECK(p.body() == "Wikipedia");
  }
  HttpResponseParser c;
  REQUIRE(feedAll(c, "HTTP/1.0 200 OK\r\n\r\nuntil close", 4));
  CHECK(!c.done());
  REQUIRE(c.finish());
  CHECK(c.body() == "until close");
}

TEST_CASE("responses: garbage, truncation and oversize are errors, never a half answer") {
  HttpResponseParser a;
  CHECK(!feedAll(a, "SSH-2.0-OpenSSH\r\n", 5));
  CHECK(!a.error().empty());
  HttpResponseParser b;
  REQUIRE(feedAll(b, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 100));
  CHECK(!b.finish());
  CHECK(b.error().find("closed") != std::string::npos);
  HttpResponseParser big(16);
  CHECK(!feedAll(big, "HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n", 100));
  HttpResponseParser bigChunk(16);
  CHECK(!feedAll(bigChunk, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11\r\n", 100));
  HttpResponseParser badChunk;
  CHECK(!feedAll(badChunk, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100));
}

TEST_CASE("Date header (IMF-fixdate) to Unix time") {
  int64_t t = 0;
  REQUIRE(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", t));
  CHECK(t == 784111777);
  REQUIRE(parseHttpDate("Fri, 05 Dec 2025 20:00:00 GMT", t));
  CHECK(isoFromEpoch(t) == "2025-12-05T20:00:00Z");
  CHECK(!parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", t));
  CHECK(!parseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT", t));
  CHECK(!parseHttpDate("", t));
}

TEST_CASE("SHA-256, PEM to DER, base64") {
  CHECK(sha256Hex(std::string("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(base64Encode("hello") == "aGVsbG8=");
  std::string der;
  REQUIRE(pemToDer("-----BEGIN X-----\naGVs\nbG8=\n-----END X-----\n", der));
  CHECK(der == "hello");
  CHECK(!pemToDer("no pem here", der));
}
