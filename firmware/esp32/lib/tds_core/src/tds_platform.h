// What the core needs from the hardware. The firmware implements these with Arduino/ESP-IDF
// (firmware/esp32/src), the host program with POSIX, a pseudo-terminal and libmosquitto (host/src).
// HTTPS (zero-touch bootstrap) has one implementation for both, tds_https (mbedTLS over BSD sockets).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tds_http.h"

namespace tds {

struct FirmwareInfo {
  FirmwareInfo() = default;
  FirmwareInfo(std::string n, std::string v) : name(std::move(n)), version(std::move(v)) {}
  std::string name = "tds-gateway";
  std::string version;
  // Zero-touch defaults compiled into the image, used when the factory data has no bs_url / bs_ca.
  std::string bootstrapUrl;
  std::string bootstrapCaPem;
  // What the device reports as its model when it asks to join (e.g. "ESP32-D0WD-V3 rev3").
  std::string model;
};

struct ChipInfo {
  std::string model = "ESP32";
  int revision = 0;
  int cores = 2;
  uint32_t flashSize = 0;
};

struct WifiNetwork {
  std::string ssid;
  int rssi = 0;
  bool secured = true;
};

enum class Led { provisioning, connecting, online, error };

class Platform {
 public:
  virtual ~Platform() = default;
  virtual std::string chipMac() = 0;  // canonical, from the eFuse base MAC
  virtual ChipInfo chipInfo() = 0;
  virtual uint64_t millis() = 0;
  virtual int64_t epoch() = 0;  // Unix time, 0 while the clock is not set
  virtual void requestReboot(uint32_t delayMs) = 0;
  virtual void consoleWrite(const uint8_t* data, size_t len) = 0;  // the serial console
  virtual void log(const std::string& line) = 0;                   // human log line on the serial port
  virtual void wifiBegin(const std::string& ssid, const std::string& pass) = 0;
  virtual bool wifiConnected() = 0;
  virtual void wifiStop() = 0;
  // Blocking attempt (Improv): true once associated with an IP address, false after timeoutMs.
  virtual bool wifiTry(const std::string& ssid, const std::string& pass, uint32_t timeoutMs) = 0;
  virtual std::vector<WifiNetwork> wifiScan() = 0;
  virtual void startTimeSync(const std::string& ntpHost) = 0;
  virtual void setLed(Led pattern) = 0;
  virtual void feedWatchdog() = 0;
};

struct MqttConnectOptions {
  std::string host;
  uint16_t port = 8883;
  std::string clientId;
  std::string caPem, certPem, keyPem;
  std::string willTopic, willPayload;
  bool willRetain = true;
  uint16_t keepAliveS = 30;
};

class MqttTransport {
 public:
  using Handler = std::function<void(const std::string& topic, const std::string& payload)>;
  virtual ~MqttTransport() = default;
  // Blocks until CONNACK or failure (err says why).
  virtual bool connect(const MqttConnectOptions& o, std::string& err) = 0;
  virtual bool connected() = 0;
  virtual bool publish(const std::string& topic, const std::string& payload, bool retain) = 0;
  virtual bool subscribe(const std::string& topic) = 0;
  // Clean disconnect (no Last Will).
  virtual void disconnect() = 0;
  // Lets the client read the socket and call the handler.
  virtual void loop() = 0;
  virtual void setHandler(Handler h) = 0;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // https://host[:port]/path
  std::vector<HttpHeader> headers;
  std::string body;
  std::string caPem;  // the only CA the server's certificate may chain to (pinned)
  uint32_t timeoutMs = 20000;
};

struct HttpResult {
  int status = 0;  // 0 when no HTTP answer arrived
  std::string body;
  std::string retryAfter, date;  // headers the bootstrap uses
  // When status is 0: bad_url, bad_ca, dns, connect, tls_verify (the pin refused the server), tls,
  // timeout, bad_response.
  std::string failure;
  std::string message;
};

class HttpsClient {
 public:
  virtual ~HttpsClient() = default;
  // One request on a fresh connection. False (result.failure/message set) when no HTTP answer arrived.
  virtual bool request(const HttpRequest& req, HttpResult& result) = 0;
};

}  // namespace tds
