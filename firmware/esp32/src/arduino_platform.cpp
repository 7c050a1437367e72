#include "arduino_platform.h"

#include <Arduino.h>
#include <WiFi.h>
#if __has_include(<esp_chip_info.h>)
#include <esp_chip_info.h>
#endif
#if __has_include(<esp_mac.h>)
#include <esp_mac.h>
#else
#include <esp_system.h>
#endif
#include <esp_task_wdt.h>
#include <esp_timer.h>
#include <sys/time.h>

#include <ctime>

#include "tds_util.h"

#ifndef TDS_LED_PIN
#define TDS_LED_PIN 2
#endif

void ArduinoPlatform::begin() {
  pinMode(TDS_LED_PIN, OUTPUT);
  // Start the radio even in provisioning mode: the hardware RNG behind mbedTLS is only truly random
  // while RF runs, and the console's `csr` needs it for the device key.
  WiFi.persistent(false);  // credentials live in tdscfg, not in the Wi-Fi driver's own NVS area
  WiFi.mode(WIFI_STA);
  WiFi.setAutoReconnect(false);  // the app reconnects with its own backoff
}

void ArduinoPlatform::service() {
  const uint32_t t = static_cast<uint32_t>(millis());
  bool on = false;
  switch (led_) {
    case tds::Led::provisioning: on = (t / 150) % 2; break;          // fast blink
    case tds::Led::connecting: on = (t / 600) % 2; break;            // slow blink
    case tds::Led::online: on = true; break;                         // steady
    case tds::Led::error: on = (t % 2000) < 100 || ((t % 2000) > 300 && (t % 2000) < 400); break;  // double flash
  }
  digitalWrite(TDS_LED_PIN, on ? HIGH : LOW);
  if (rebootAt_ != 0 && millis() >= rebootAt_) {
    Serial.flush();
    ESP.restart();
  }
}

std::string ArduinoPlatform::chipMac() {
  uint8_t mac[6];
  esp_efuse_mac_get_default(mac);  // the factory base MAC = the station's esptool probe
  return tds::formatMac(mac);
}

tds::ChipInfo ArduinoPlatform::chipInfo() {
  esp_chip_info_t ci;
  esp_chip_info(&ci);
  tds::ChipInfo c;
  c.model = "ESP32";
  c.revision = ci.revision;
  c.cores = ci.cores;
  c.flashSize = ESP.getFlashChipSize();
  return c;
}

uint64_t ArduinoPlatform::millis() { return static_cast<uint64_t>(esp_timer_get_time() / 1000); }

int64_t ArduinoPlatform::epoch() {
  const time_t now = time(nullptr);
  return now > 1700000000 ? static_cast<int64_t>(now) : 0;  // before SNTP the clock starts at 1970
}

void ArduinoPlatform::requestReboot(uint32_t delayMs) { rebootAt_ = millis() + delayMs; }

void ArduinoPlatform::consoleWrite(const uint8_t* data, size_t len) { Serial.write(data, len); }

void ArduinoPlatform::log(const std::string& line) {
  Serial.printf("I (%lu) tds: %s\r\n", static_cast<unsigned long>(millis()), line.c_str());
}

void ArduinoPlatform::wifiBegin(const std::string& ssid, const std::string& pass) {
  WiFi.begin(ssid.c_str(), pass.empty() ? nullptr : pass.c_str());
}

bool ArduinoPlatform::wifiConnected() { return WiFi.status() == WL_CONNECTED; }

void ArduinoPlatform::wifiStop() { WiFi.disconnect(false, false); }

bool ArduinoPlatform::wifiTry(const std::string& ssid, const std::string& pass, uint32_t timeoutMs) {
  wifiStop();
  wifiBegin(ssid, pass);
  const uint64_t until = millis() + timeoutMs;
  while (millis() < until) {
    if (wifiConnected()) return true;
    feedWatchdog();
    delay(100);
  }
  wifiStop();
  return false;
}

std::vector<tds::WifiNetwork> ArduinoPlatform::wifiScan() {
  std::vector<tds::WifiNetwork> out;
  const int n = WiFi.scanNetworks();
  for (int i = 0; i < n && i < 20; ++i)
    out.push_back({WiFi.SSID(i).c_str(), WiFi.RSSI(i), WiFi.encryptionType(i) != WIFI_AUTH_OPEN});
  WiFi.scanDelete();
  return out;
}

void ArduinoPlatform::startTimeSync(const std::string& ntpHost) {
  ntpHost_ = ntpHost;
  configTime(0, 0, ntpHost_.c_str());
}

void ArduinoPlatform::setClock(int64_t epoch) {
  // SNTP keeps running and corrects this time when (if) an NTP server answers.
  timeval tv{static_cast<time_t>(epoch), 0};
  settimeofday(&tv, nullptr);
}

void ArduinoPlatform::setLed(tds::Led pattern) { led_ = pattern; }

void ArduinoPlatform::feedWatchdog() { esp_task_wdt_reset(); }
