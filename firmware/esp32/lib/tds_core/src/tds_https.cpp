#include "tds_https.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"  // error codes only: the socket I/O is below
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

namespace tds {

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
  int fd = -1;
  Clock::time_point deadline;
  bool timedOut = false;
};

int msLeft(const Conn& c) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

bool waitFd(int fd, bool forWrite, int timeoutMs) {
  fd_set set;
  FD_ZERO(&set);
  FD_SET(fd, &set);
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  const int rc = ::select(fd + 1, forWrite ? nullptr : &set, forWrite ? &set : nullptr, nullptr, &tv);
  return rc > 0;
}

int bioSend(void* ctx, const unsigned char* buf, size_t len) {
  Conn* c = static_cast<Conn*>(ctx);
  if (!waitFd(c->fd, true, msLeft(*c))) {
    c->timedOut = true;
    return MBEDTLS_ERR_SSL_TIMEOUT;
  }
#ifdef MSG_NOSIGNAL
  const ssize_t n = ::send(c->fd, buf, len, MSG_NOSIGNAL);
#else
  const ssize_t n = ::send(c->fd, buf, len, 0);
#endif
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

int bioRecv(void* ctx, unsigned char* buf, size_t len) {
  Conn* c = static_cast<Conn*>(ctx);
  if (!waitFd(c->fd, false, msLeft(*c))) {
    c->timedOut = true;
    return MBEDTLS_ERR_SSL_TIMEOUT;
  }
  const ssize_t n = ::recv(c->fd, buf, len, 0);
  if (n >= 0) return static_cast<int>(n);  // 0 = the peer closed
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

// Non-blocking connect to the first address that answers within the deadline.
bool connectTcp(const HttpsUrl& u, Conn& c, HttpResult& r) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(u.port);
  if (::getaddrinfo(u.host.c_str(), port.c_str(), &hints, &list) != 0 || list == nullptr) {
    r.failure = "dns";
    r.message = "cannot resolve " + u.host;
    return false;
  }
  std::string lastErr = "no address";
  for (addrinfo* a = list; a != nullptr && c.fd < 0; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (waitFd(fd, true, msLeft(c))) {
        int soErr = 0;
        socklen_t sl = sizeof soErr;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soErr, &sl);
        rc = soErr == 0 ? 0 : -1;
        errno = soErr;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) {
      c.fd = fd;
    } else {
      lastErr = std::strerror(errno);
      ::close(fd);
    }
  }
  ::freeaddrinfo(list);
  if (c.fd < 0) {
    r.failure = msLeft(c) == 0 ? "timeout" : "connect";
    r.message = "cannot connect to " + u.host + ":" + port + ": " + lastErr;
    return false;
  }
  return true;
}

int verifyCallback(void* ctx, mbedtls_x509_crt*, int, uint32_t* flags) {
  if (!*static_cast<bool*>(ctx)) *flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
  return 0;
}

std::string mbedText(int rc) {
  char buf[120];
  mbedtls_strerror(rc, buf, sizeof buf);
  return buf;
}

struct Tls {
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  Tls() {
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
  }
  ~Tls() {
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
  }
};

}  // namespace

bool MbedHttpsClient::request(const HttpRequest& req, HttpResult& r) {
  r = HttpResult{};
  HttpsUrl u;
  std::string err;
  if (!parseHttpsUrl(req.url, u, err)) {
    r.failure = "bad_url";
    r.message = err;
    return false;
  }
  Tls t;
  if (req.caPem.empty() ||
      mbedtls_x509_crt_parse(&t.ca, reinterpret_cast<const unsigned char*>(req.caPem.c_str()), req.caPem.size() + 1) != 0) {
    r.failure = "bad_ca";
    r.message = "the pinned server CA does not parse";
    return false;
  }
  Conn c;
  c.deadline = Clock::now() + std::chrono::milliseconds(req.timeoutMs);
  if (!connectTcp(u, c, r)) return false;
  bool checkTime = clockValid_ ? clockValid_() : false;
  int rc = mbedtls_ssl_config_defaults(&t.conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (rc == 0) {
    mbedtls_ssl_conf_authmode(&t.conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t.conf, &t.ca, nullptr);
    mbedtls_ssl_conf_rng(&t.conf, Rng::fill, &rng_);
    mbedtls_ssl_conf_verify(&t.conf, verifyCallback, &checkTime);
    mbedtls_ssl_conf_min_version(&t.conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2
    rc = mbedtls_ssl_setup(&t.ssl, &t.conf);
  }
  if (rc == 0) rc = mbedtls_ssl_set_hostname(&t.ssl, u.host.c_str());
  bool ok = false;
  if (rc != 0) {
    r.failure = "tls";
    r.message = "TLS setup failed: " + mbedText(rc);
  } else {
    mbedtls_ssl_set_bio(&t.ssl, &c, bioSend, bioRecv, nullptr);
    while ((rc = mbedtls_ssl_handshake(&t.ssl)) == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
    }
    if (rc != 0) {
      const uint32_t flags = mbedtls_ssl_get_verify_result(&t.ssl);
      if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (flags != 0 && flags != static_cast<uint32_t>(-1))) {
        r.failure = "tls_verify";
        r.message = "the server's certificate is refused by the pinned CA (" + verifyFlagsText(flags) + ")";
      } else {
        r.failure = c.timedOut ? "timeout" : "tls";
        r.message = "TLS handshake with " + u.host + " failed: " + mbedText(rc);
      }
    } else {
      ok = true;
    }
  }
  if (ok) {
    // The URL already holds the whole path (base + endpoint).
    const std::string bytes = buildHttpRequest(req.method, u, u.path.empty() ? "/" : u.path, req.headers, req.body);
    size_t off = 0;
    while (off < bytes.size()) {
      rc = mbedtls_ssl_write(&t.ssl, reinterpret_cast<const unsigned char*>(bytes.data()) + off, bytes.size() - off);
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (rc < 0) break;
      off += static_cast<size_t>(rc);
    }
    if (off < bytes.size()) {
      ok = false;
      r.failure = c.timedOut ? "timeout" : "connect";
      r.message = "sending the request failed: " + mbedText(rc);
    }
  }
  if (ok) {
    HttpResponseParser p;
    unsigned char buf[1024];
    for (;;) {
      rc = mbedtls_ssl_read(&t.ssl, buf, sizeof buf);
      if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
      if (rc > 0) {
        if (!p.feed(buf, static_cast<size_t>(rc)) || p.done()) break;
        continue;
      }
      if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) p.finish();
      break;
    }
    if (p.done()) {
      r.status = p.status();
      r.body = p.body();
      r.retryAfter = p.header("retry-after");
      r.date = p.header("date");
    } else {
      ok = false;
      r.failure = c.timedOut ? "timeout" : "bad_response";
      r.message = p.error().empty() ? "no complete HTTP answer: " + mbedText(rc) : p.error();
    }
    mbedtls_ssl_close_notify(&t.ssl);
  }
  ::close(c.fd);
  return ok;
}

}  // namespace tds
