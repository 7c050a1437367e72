// Host MQTT client for the gateway app: libmosquitto (Debian libmosquitto-dev) over TLS with client
// certificate, standing in for PubSubClient + WiFiClientSecure on the ESP32.
#pragma once
#include <deque>
#include <string>
#include <utility>

#include "tds_platform.h"

struct mosquitto;
struct mosquitto_message;

namespace tds {

class MosquittoTransport : public MqttTransport {
 public:
  // tlsDir: a private folder where the PEMs are written for libmosquitto (it only reads files).
  explicit MosquittoTransport(std::string tlsDir) : tlsDir_(std::move(tlsDir)) {}
  ~MosquittoTransport() override;
  bool connect(const MqttConnectOptions& o, std::string& err) override;
  bool connected() override { return connected_; }
  bool publish(const std::string& topic, const std::string& payload, bool retain) override;
  bool subscribe(const std::string& topic) override;
  void disconnect() override;
  void loop() override;
  void setHandler(Handler h) override { handler_ = std::move(h); }
  // Drops the socket without DISCONNECT (power loss / reboot): the broker publishes the Last Will.
  void abandon();

 private:
  static void onConnect(mosquitto*, void* self, int rc);
  static void onDisconnect(mosquitto*, void* self, int rc);
  static void onMessage(mosquitto*, void* self, const mosquitto_message* m);
  std::string tlsDir_;
  mosquitto* mosq_ = nullptr;
  bool connected_ = false;
  int connackRc_ = -1;
  Handler handler_;
  // Messages are handed to the app after mosquitto_loop() returns: libmosquitto must not be
  // re-entered (publish/disconnect) from inside its own callbacks.
  std::deque<std::pair<std::string, std::string>> inbox_;
};

}  // namespace tds
