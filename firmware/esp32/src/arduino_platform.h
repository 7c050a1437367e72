// tds::Platform on Arduino-ESP32: eFuse MAC, Serial console, Wi-Fi station, SNTP, status LED,
// task watchdog, deferred restart.
#pragma once
#include "tds_platform.h"

class ArduinoPlatform : public tds::Platform {
 public:
  void begin();
  // Called every loop(): LED pattern and a pending restart.
  void service();

  std::string chipMac() override;
  tds::ChipInfo chipInfo() override;
  uint64_t millis() override;
  int64_t epoch() override;
  void requestReboot(uint32_t delayMs) override;
  void consoleWrite(const uint8_t* data, size_t len) override;
  void log(const std::string& line) override;
  void wifiBegin(const std::string& ssid, const std::string& pass) override;
  bool wifiConnected() override;
  void wifiStop() override;
  bool wifiTry(const std::string& ssid, const std::string& pass, uint32_t timeoutMs) override;
  std::vector<tds::WifiNetwork> wifiScan() override;
  void startTimeSync(const std::string& ntpHost) override;
  void setClock(int64_t epoch) override;
  void setLed(tds::Led pattern) override;
  void feedWatchdog() override;

 private:
  std::string ntpHost_;  // configTime keeps the pointer
  tds::Led led_ = tds::Led::provisioning;
  uint64_t rebootAt_ = 0;
};
