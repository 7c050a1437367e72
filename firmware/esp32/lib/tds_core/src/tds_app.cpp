#include "tds_app.h"

#include "tds_backoff.h"
#include "tds_json.h"
#include "tds_topics.h"

namespace tds {

const char* appStateName(AppState s) {
  switch (s) {
    case AppState::provisioning: return "provisioning";
    case AppState::wifi_connecting: return "wifi_connecting";
    case AppState::bootstrapping: return "bootstrapping";
    case AppState::mqtt_connecting: return "mqtt_connecting";
    case AppState::online: return "online";
    case AppState::rebooting: return "rebooting";
  }
  return "?";
}

GatewayApp::GatewayApp(Platform& p, KvStore& cfg, KvStore& dev, MqttTransport& mqtt, RtuPort* bus, Rng& rng, FirmwareInfo fw,
                       HttpsClient* https)
    : p_(p),
      cfgStore_(cfg),
      dev_(dev),
      mqtt_(mqtt),
      bus_(bus),
      rng_(rng),
      fw_(fw),
      renewal_(cfg, dev, rng, p.chipMac()),
      console_(p, cfg, dev, rng, fw,
               Console::Hooks{[this] { return std::string(appStateName(state_)); }, [this] { reloadPending_ = true; }},
               &renewal_),
      https_(https) {
  mqtt_.setHandler([this](const std::string& t, const std::string& m) { onMessage(t, m); });
  if (https_ != nullptr)
    bootstrap_.reset(new Bootstrap(p, cfg, dev, *https_, rng, fw_, [this](cJSON* o) { console_.event("bootstrap", o); }));
}

uint32_t GatewayApp::jitter() {
  uint8_t b[4] = {0, 0, 0, 0};
  rng_.bytes(b, sizeof b);
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}

void GatewayApp::setState(AppState s) {
  if (s == state_) return;
  state_ = s;
  p_.setLed(s == AppState::provisioning ? Led::provisioning : s == AppState::online ? Led::online : Led::connecting);
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "state", appStateName(s));
  console_.event("state", o);
}

void GatewayApp::begin() {
  mac_ = p_.chipMac();
  renewal_.load();
  reload();
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "proto", kConsoleProtocol);
  cJSON_AddStringToObject(o, "mac", mac_.c_str());
  cJSON_AddStringToObject(o, "fw_version", fw_.version.c_str());
  cJSON_AddStringToObject(o, "state", appStateName(state_));
  cJSON_AddBoolToObject(o, "config_valid", check_.ok);
  console_.event("boot", o);
  p_.setLed(state_ == AppState::provisioning ? Led::provisioning : Led::connecting);
}

void GatewayApp::reload() {
  reloadPending_ = false;
  loadConfig(cfgStore_, cfg_);
  check_ = checkConfig(rng_, cfg_, dev_, mac_);
  modbus_ = ModbusConfig{};
  std::string err;
  if (!cfg_.modbus.empty()) parseModbusConfig(cfg_.modbus, modbus_, err);
  pointDueMs_.assign(modbus_.points.size(), 0);  // every point is read once right after connecting
  nextPoint_ = 0;
  if (mqtt_.connected()) {
    mqtt_.publish(deviceTopic(mac_, "status"), kStatusOffline, true);
    mqtt_.disconnect();
  }
  if (wifiStarted_) p_.wifiStop();
  wifiStarted_ = false;
  wifiAttempts_ = mqttAttempts_ = 0;
  wifiNextMs_ = mqttNextMs_ = 0;
  bootstrapMode_ = false;
  if (check_.ok) {
    if (Bootstrap::hasState(dev_)) Bootstrap::clearState(dev_);  // left over from an install cut short
    setState(AppState::wifi_connecting);
    return;
  }
  BootstrapSettings bs;
  const BootstrapCheck bc = bootstrap_ ? checkBootstrap(rng_, cfg_, dev_, fw_, mac_, &bs) : BootstrapCheck{};
  if (bc.ready && !cfg_.wifi_ssid.empty()) {
    // No identity, but what zero-touch onboarding needs: ask the server to be let in.
    p_.log(std::string("bootstrap: no operational identity; onboarding through ") + bs.url + (bs.attested() ? " (birth identity)" : ""));
    bootstrapMode_ = true;
    bootstrap_->begin(bs);
    setState(AppState::wifi_connecting);
    return;
  }
  // No valid configuration: stay in provisioning mode (console + Improv + LED) instead of crash-looping.
  for (const std::string& pr : check_.problems) p_.log("config: " + pr);
  if (bc.ready) p_.log("bootstrap: ready, waiting for Wi-Fi (Improv or the console)");
  setState(AppState::provisioning);
}

void GatewayApp::loop() {
  p_.feedWatchdog();
  if (reloadPending_) reload();
  if (state_ == AppState::provisioning || state_ == AppState::rebooting) return;
  const uint64_t now = p_.millis();
  stepWifi(now);
  if (!p_.wifiConnected()) return;
  if (bootstrapMode_) {
    setState(AppState::bootstrapping);
    if (bootstrap_->tick(now)) reloadPending_ = true;  // installed: run with the new identity
    return;
  }
  stepMqtt(now);
  if (!mqtt_.connected()) return;
  mqtt_.loop();
  RenewalOutput out;
  renewal_.tick(now, p_.epoch(), check_.certInstalled ? &check_.cert : nullptr, out);
  handle(out);
  stepTelemetry(now);
}

void GatewayApp::stepWifi(uint64_t now) {
  if (p_.wifiConnected()) {
    if (wifiAttempts_ != 0) p_.log("wifi: connected");
    wifiAttempts_ = 0;
    if (!timeSyncStarted_) {
      p_.startTimeSync(cfg_.ntp_host.empty() ? "pool.ntp.org" : cfg_.ntp_host);
      timeSyncStarted_ = true;
    }
    return;
  }
  if (state_ == AppState::online || state_ == AppState::mqtt_connecting || state_ == AppState::bootstrapping)
    setState(AppState::wifi_connecting);
  if (now < wifiNextMs_) return;
  p_.log("wifi: connecting to '" + cfg_.wifi_ssid + "' (attempt " + std::to_string(wifiAttempts_ + 1) + ")");
  if (wifiStarted_) p_.wifiStop();
  p_.wifiBegin(cfg_.wifi_ssid, cfg_.wifi_pass);
  wifiStarted_ = true;
  wifiNextMs_ = now + backoffDelayMs(wifiAttempts_++, jitter(), 8000, 120000);
}

void GatewayApp::stepMqtt(uint64_t now) {
  if (mqtt_.connected()) return;
  if (state_ == AppState::online || state_ == AppState::wifi_connecting) setState(AppState::mqtt_connecting);
  if (now < mqttNextMs_) return;
  Credentials cr;
  if (!renewal_.credentials(cfg_, cr)) {
    p_.log("mqtt: no key matches the certificate");
    reloadPending_ = true;
    return;
  }
  MqttConnectOptions o;
  o.host = cfg_.mqtt_host;
  o.port = cfg_.mqtt_port;
  o.clientId = mac_;  // the broker also takes it from the certificate CN
  o.caPem = cr.ca_pem;
  o.certPem = cr.cert_pem;
  o.keyPem = cr.key_pem;
  o.willTopic = deviceTopic(mac_, "status");
  o.willPayload = kStatusOffline;
  o.willRetain = true;
  std::string err;
  RenewalOutput out;
  p_.log("mqtt: connecting to " + o.host + ":" + std::to_string(o.port) + " (key: " + keySourceName(cr.source) + ")");
  if (!mqtt_.connect(o, err)) {
    p_.log("mqtt: connect failed: " + err);
    renewal_.onConnectFailed(out);
    handle(out);
    mqttNextMs_ = now + backoffDelayMs(mqttAttempts_++, jitter(), 2000, 120000);
    return;
  }
  mqttAttempts_ = 0;
  mqtt_.subscribe(deviceTopic(mac_, "commands"));
  mqtt_.publish(deviceTopic(mac_, "status"), kStatusOnline, true);
  setState(AppState::online);
  p_.log("mqtt: online as " + mac_);
  renewal_.onConnected(out);
  handle(out);
  if (!out.ackPayload.empty()) {
    // The promoted certificate is now the installed one.
    loadConfig(cfgStore_, cfg_);
    check_ = checkConfig(rng_, cfg_, dev_, mac_);
  }
}

void GatewayApp::handle(const RenewalOutput& out) {
  if (!out.csrPayload.empty()) mqtt_.publish(deviceTopic(mac_, "cert/csr"), out.csrPayload, false);
  if (!out.ackPayload.empty()) mqtt_.publish(deviceTopic(mac_, "cert/ack"), out.ackPayload, false);
  if (!out.logEvent.empty()) {
    p_.log("renewal: " + out.logEvent);
    publishLog(out.logEvent);
  }
  if (out.reconnect && mqtt_.connected()) {
    mqtt_.publish(deviceTopic(mac_, "status"), kStatusOffline, true);
    mqtt_.disconnect();
    mqttNextMs_ = 0;
  }
}

void GatewayApp::publishLog(const std::string& json) {
  if (mqtt_.connected()) mqtt_.publish(deviceTopic(mac_, "logs"), json, false);
}

void GatewayApp::onMessage(const std::string& topic, const std::string& payload) {
  if (topic != deviceTopic(mac_, "commands")) return;
  Command c;
  std::string err;
  if (!parseCommand(payload.data(), payload.size(), c, err)) {
    publishLog(logEventJson("command_rejected", "", err));
    return;
  }
  RenewalOutput out;
  switch (c.kind) {
    case CommandKind::ping: {
      Json o(cJSON_CreateObject());
      cJSON_AddStringToObject(o.get(), "event", "pong");
      cJSON_AddStringToObject(o.get(), "id", c.id.c_str());
      cJSON_AddNumberToObject(o.get(), "uptime_ms", static_cast<double>(p_.millis()));
      cJSON_AddStringToObject(o.get(), "firmware_version", fw_.version.c_str());
      if (check_.certInstalled) cJSON_AddStringToObject(o.get(), "cert_serial", check_.cert.serialHex.c_str());
      cJSON_AddStringToObject(o.get(), "renewal", renewal_.phaseName());
      publishLog(o.print());
      mqtt_.publish(deviceTopic(mac_, "status"), kStatusOnline, true);
      return;
    }
    case CommandKind::reboot:
      publishLog(logEventJson("rebooting", c.id, ""));
      mqtt_.publish(deviceTopic(mac_, "status"), kStatusOffline, true);
      mqtt_.disconnect();
      setState(AppState::rebooting);
      p_.requestReboot(500);
      return;
    case CommandKind::cert_renew:
      if (!renewal_.start(c.id, p_.millis(), out, err)) out.logEvent = logEventJson("cert_renew_failed", c.id, err);
      handle(out);
      return;
    case CommandKind::cert_update:
      if (!renewal_.onCertUpdate(c, cfg_, out, err)) out.logEvent = logEventJson("cert_update_rejected", c.id, err);
      handle(out);
      return;
    default:
      publishLog(logEventJson("command_rejected", c.id, "unknown cmd '" + c.cmd + "'"));
  }
}

// One due point per loop(): a silent slave (up to its timeout) never holds up MQTT, the console or
// the watchdog for the others.
void GatewayApp::stepTelemetry(uint64_t now) {
  const size_t n = modbus_.points.size();
  if (bus_ == nullptr || n == 0) return;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (nextPoint_ + k) % n;
    if (now < pointDueMs_[i]) continue;
    nextPoint_ = (i + 1) % n;
    pointDueMs_[i] = now + modbus_.points[i].everyMs;
    readAndPublish(modbus_.points[i]);
    return;
  }
}

void GatewayApp::readAndPublish(const ModbusPoint& pt) {
  p_.feedWatchdog();
  const PointReading r = readPoint(*bus_, pt, modbus_.timeoutMs);
  if (r.result.status != RtuStatus::ok) {
    publishLog(logEventJson("modbus_error", "", "slave " + std::to_string(pt.slave) + " reg " + std::to_string(pt.reg) +
                                                   ": " + rtuStatusName(r.result.status)));
    return;
  }
  Telemetry t;
  const int64_t epoch = p_.epoch();
  if (epoch > 0) t.timestamp = isoFromEpoch(epoch);
  t.uptimeMs = static_cast<long long>(p_.millis());
  t.valor = r.value;
  t.unidade = pt.unit;
  t.gatewayMac = mac_;
  t.firmwareVersion = fw_.version;
  t.slaveId = pt.slave;
  t.reg = pt.reg;
  mqtt_.publish(deviceTopic(mac_, "telemetry"), telemetryJson(t), false);
}

}  // namespace tds
