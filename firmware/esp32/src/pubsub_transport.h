// tds::MqttTransport over PubSubClient + WiFiClientSecure (mbedTLS): mTLS with the PEMs from NVS.
#pragma once
#include <PubSubClient.h>
#include <WiFiClientSecure.h>

#include <deque>
#include <string>
#include <utility>

#include "tds_platform.h"

class PubSubTransport : public tds::MqttTransport {
 public:
  PubSubTransport();
  bool connect(const tds::MqttConnectOptions& o, std::string& err) override;
  bool connected() override;
  bool publish(const std::string& topic, const std::string& payload, bool retain) override;
  bool subscribe(const std::string& topic) override;
  void disconnect() override;
  void loop() override;
  void setHandler(Handler h) override { handler_ = std::move(h); }

 private:
  WiFiClientSecure net_;
  PubSubClient client_;
  // WiFiClientSecure and PubSubClient keep pointers to these: they must outlive the connection.
  std::string host_, ca_, cert_, key_, clientId_, willTopic_, willPayload_;
  // PubSubClient hands out its own buffer to the callback; copy and handle after loop() returns.
  std::deque<std::pair<std::string, std::string>> inbox_;
  Handler handler_;
};
