// The gateway application, hardware-free: boot decision (provisioning mode, zero-touch bootstrap or
// run), Wi-Fi and MQTT reconnects with backoff, Last Will + retained status, commands, telemetry from
// Modbus, renewal.
// The firmware's loop() and the host program call loop() as often as they can.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tds_bootstrap.h"
#include "tds_config.h"
#include "tds_console.h"
#include "tds_modbus.h"
#include "tds_platform.h"
#include "tds_renewal.h"

namespace tds {

enum class AppState { provisioning, wifi_connecting, bootstrapping, mqtt_connecting, online, rebooting };
const char* appStateName(AppState s);

class GatewayApp {
 public:
  // https: the client for zero-touch onboarding (nullptr: a board without an identity waits for the console).
  GatewayApp(Platform& p, KvStore& cfg, KvStore& dev, MqttTransport& mqtt, RtuPort* bus, Rng& rng, FirmwareInfo fw,
             HttpsClient* https = nullptr);

  void begin();
  void loop();
  void onSerial(const uint8_t* data, size_t len) { console_.feed(data, len); }
  AppState state() const { return state_; }
  // Set while the board onboards itself (no identity, bootstrap settings present).
  const Bootstrap* bootstrap() const { return bootstrapMode_ ? bootstrap_.get() : nullptr; }
  Console& console() { return console_; }
  // Applied from the firmware's main loop: the RS485 UART settings the config asks for.
  const ModbusConfig& modbus() const { return modbus_; }

 private:
  void reload();
  void setState(AppState s);
  void stepWifi(uint64_t now);
  void stepMqtt(uint64_t now);
  void stepTelemetry(uint64_t now);
  void readAndPublish(const ModbusPoint& pt);
  void onMessage(const std::string& topic, const std::string& payload);
  void handle(const RenewalOutput& out);
  void publishLog(const std::string& json);
  uint32_t jitter();

  Platform& p_;
  KvStore& cfgStore_;
  KvStore& dev_;
  MqttTransport& mqtt_;
  RtuPort* bus_;
  Rng& rng_;
  FirmwareInfo fw_;
  Renewal renewal_;
  Console console_;
  HttpsClient* https_;
  std::unique_ptr<Bootstrap> bootstrap_;
  bool bootstrapMode_ = false;

  DeviceConfig cfg_;
  ConfigCheck check_;
  ModbusConfig modbus_;
  std::string mac_;
  AppState state_ = AppState::provisioning;
  bool reloadPending_ = false;
  bool wifiStarted_ = false;
  uint32_t wifiAttempts_ = 0;
  uint64_t wifiNextMs_ = 0;
  uint32_t mqttAttempts_ = 0;
  uint64_t mqttNextMs_ = 0;
  std::vector<uint64_t> pointDueMs_;  // per Modbus point: when it is read next
  size_t nextPoint_ = 0;             // where the search for a due point starts (round robin)
  bool timeSyncStarted_ = false;
};

}  // namespace tds
