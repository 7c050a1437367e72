// The device's HTTPS client: mbedTLS (the ESP32's own TLS library) over BSD sockets (lwIP on the
// ESP32, the kernel on the host), so the zero-touch bootstrap runs the same code in both builds.
// The server certificate must chain to the request's CA (pinned: no system trust store) and carry the
// URL's host name; TLS 1.2 or later. mbedTLS 2.28 matches names against DNS names and the CN only, so
// a bootstrap URL names the server by a DNS name (an IP-address URL is refused by the name check).
#pragma once
#include <functional>

#include "tds_crypto.h"
#include "tds_platform.h"

namespace tds {

class MbedHttpsClient : public HttpsClient {
 public:
  // clockValid: whether the device's clock can judge certificate dates (an ESP32 before SNTP cannot;
  // then only the signature chain and the name are checked, as verifyCertWithCa does).
  MbedHttpsClient(Rng& rng, std::function<bool()> clockValid) : rng_(rng), clockValid_(std::move(clockValid)) {}
  bool request(const HttpRequest& req, HttpResult& result) override;

 private:
  Rng& rng_;
  std::function<bool()> clockValid_;
};

}  // namespace tds
