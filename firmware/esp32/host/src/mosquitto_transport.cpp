#include "mosquitto_transport.h"

#include <fcntl.h>
#include <mosquitto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace tds {

namespace {

bool writePrivate(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

}  // namespace

MosquittoTransport::~MosquittoTransport() { abandon(); }

void MosquittoTransport::onConnect(mosquitto*, void* self, int rc) {
  auto* t = static_cast<MosquittoTransport*>(self);
  t->connackRc_ = rc;
  t->connected_ = rc == 0;
}

void MosquittoTransport::onDisconnect(mosquitto*, void* self, int) {
  auto* t = static_cast<MosquittoTransport*>(self);
  t->connected_ = false;
  if (t->connackRc_ < 0) t->connackRc_ = 1000;  // closed before CONNACK (e.g. certificate refused)
}

void MosquittoTransport::onMessage(mosquitto*, void* self, const struct mosquitto_message* m) {
  auto* t = static_cast<MosquittoTransport*>(self);
  t->inbox_.emplace_back(m->topic, std::string(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen)));
}

bool MosquittoTransport::connect(const MqttConnectOptions& o, std::string& err) {
  abandon();
  ::mkdir(tlsDir_.c_str(), 0700);
  const std::string ca = tlsDir_ + "/ca.pem", cert = tlsDir_ + "/cert.pem", key = tlsDir_ + "/key.pem";
  if (!writePrivate(ca, o.caPem) || !writePrivate(cert, o.certPem) || !writePrivate(key, o.keyPem)) {
    err = "cannot write TLS files in " + tlsDir_;
    return false;
  }
  mosq_ = mosquitto_new(o.clientId.c_str(), true, this);
  if (mosq_ == nullptr) {
    err = "mosquitto_new failed";
    return false;
  }
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_connect_callback_set(mosq_, onConnect);
  mosquitto_disconnect_callback_set(mosq_, onDisconnect);
  mosquitto_message_callback_set(mosq_, onMessage);
  int rc = mosquitto_tls_set(mosq_, ca.c_str(), nullptr, cert.c_str(), key.c_str(), nullptr);
  if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_opts_set(mosq_, 1, "tlsv1.2", nullptr);
  if (rc == MOSQ_ERR_SUCCESS && !o.willTopic.empty())
    rc = mosquitto_will_set(mosq_, o.willTopic.c_str(), static_cast<int>(o.willPayload.size()), o.willPayload.data(), 1, o.willRetain);
  if (rc != MOSQ_ERR_SUCCESS) {
    err = std::string("TLS setup: ") + mosquitto_strerror(rc);
    abandon();
    return false;
  }
  connackRc_ = -1;
  rc = mosquitto_connect(mosq_, o.host.c_str(), o.port, o.keepAliveS);
  if (rc != MOSQ_ERR_SUCCESS) {
    err = std::string("connect: ") + (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
    abandon();
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (connackRc_ < 0 && std::chrono::steady_clock::now() < deadline) {
    rc = mosquitto_loop(mosq_, 100, 1);
    if (rc != MOSQ_ERR_SUCCESS && connackRc_ < 0) {
      connackRc_ = 1000;
      break;
    }
  }
  if (connackRc_ != 0) {
    err = connackRc_ < 0 ? "no CONNACK within 10 s"
          : connackRc_ == 1000 ? "connection closed by the broker (certificate refused?)"
                               : std::string("refused: ") + mosquitto_connack_string(connackRc_);
    abandon();
    return false;
  }
  ::unlink(key.c_str());  // read at connect; no private key left lying around
  return true;
}

bool MosquittoTransport::publish(const std::string& topic, const std::string& payload, bool retain) {
  if (!connected_) return false;
  const int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), 0, retain);
  return rc == MOSQ_ERR_SUCCESS;
}

bool MosquittoTransport::subscribe(const std::string& topic) {
  return connected_ && mosquitto_subscribe(mosq_, nullptr, topic.c_str(), 1) == MOSQ_ERR_SUCCESS;
}

void MosquittoTransport::disconnect() {
  if (mosq_ == nullptr) return;
  if (connected_) {
    mosquitto_disconnect(mosq_);
    mosquitto_loop(mosq_, 50, 1);
  }
  connected_ = false;
  mosquitto_destroy(mosq_);
  mosq_ = nullptr;
}

void MosquittoTransport::abandon() {
  connected_ = false;
  inbox_.clear();
  if (mosq_ != nullptr) {
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }
  ::unlink((tlsDir_ + "/key.pem").c_str());
}

void MosquittoTransport::loop() {
  if (mosq_ == nullptr) return;
  const int rc = mosquitto_loop(mosq_, 0, 1);
  if (rc != MOSQ_ERR_SUCCESS) connected_ = false;
  while (!inbox_.empty() && mosq_ != nullptr) {
    auto m = std::move(inbox_.front());
    inbox_.pop_front();
    if (handler_) handler_(m.first, m.second);
  }
}

}  // namespace tds
