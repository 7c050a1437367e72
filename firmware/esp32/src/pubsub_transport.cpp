#include "pubsub_transport.h"

PubSubTransport::PubSubTransport() : client_(net_) {
  client_.setBufferSize(6144);  // cert_update carries a certificate (and maybe the CA) as JSON
  client_.setCallback([this](char* topic, uint8_t* payload, unsigned int len) {
    inbox_.emplace_back(topic, std::string(reinterpret_cast<const char*>(payload), len));
  });
}

bool PubSubTransport::connect(const tds::MqttConnectOptions& o, std::string& err) {
  disconnect();
  host_ = o.host;
  ca_ = o.caPem;
  cert_ = o.certPem;
  key_ = o.keyPem;
  clientId_ = o.clientId;
  willTopic_ = o.willTopic;
  willPayload_ = o.willPayload;
  net_.setCACert(ca_.c_str());  // also checks the broker's host name
  net_.setCertificate(cert_.c_str());
  net_.setPrivateKey(key_.c_str());
  net_.setHandshakeTimeout(15);  // stays under the 30 s task watchdog
  client_.setServer(host_.c_str(), o.port);
  client_.setKeepAlive(o.keepAliveS);
  client_.setSocketTimeout(10);
  const bool ok = client_.connect(clientId_.c_str(), nullptr, nullptr, willTopic_.c_str(), 1, o.willRetain, willPayload_.c_str(), true);
  if (!ok) {
    char tls[120] = {0};
    net_.lastError(tls, sizeof tls);
    err = "MQTT state " + std::to_string(client_.state()) + (tls[0] ? std::string(", TLS: ") + tls : std::string());
    net_.stop();
  }
  return ok;
}

bool PubSubTransport::connected() { return client_.connected(); }

bool PubSubTransport::publish(const std::string& topic, const std::string& payload, bool retain) {
  return client_.publish(topic.c_str(), reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), retain);
}

bool PubSubTransport::subscribe(const std::string& topic) { return client_.subscribe(topic.c_str(), 1); }

void PubSubTransport::disconnect() {
  if (client_.connected()) client_.disconnect();
  net_.stop();
  inbox_.clear();
}

void PubSubTransport::loop() {
  client_.loop();
  while (!inbox_.empty()) {
    auto m = std::move(inbox_.front());
    inbox_.pop_front();
    if (handler_) handler_(m.first, m.second);
  }
}
