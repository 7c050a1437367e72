// TDS gateway firmware: Arduino glue only. Everything that is logic lives in lib/tds_core (built and
// unit-tested on the host); this file wires it to the ESP32's NVS, Serial, Wi-Fi, PubSubClient and UART2.
// Zero-touch onboarding uses the core's HTTPS client (mbedTLS over lwIP sockets) as it is.
#include <Arduino.h>
#include <esp_task_wdt.h>

#include "arduino_platform.h"
#include "esp_nvs_store.h"
#include "pubsub_transport.h"
#include "rs485_port.h"
#include "tds_app.h"
#include "tds_config.h"
#include "tds_https.h"

#ifndef TDS_FW_VERSION
#define TDS_FW_VERSION "0.0.0-dev"
#endif
// Optional zero-touch defaults for images that ship without factory data: -DTDS_BS_URL=\"https://…/api/v1\"
// and -DTDS_BS_CA=\"-----BEGIN CERTIFICATE-----\n…\" (the tdscfg keys bs_url / bs_ca take precedence).
#ifndef TDS_BS_URL
#define TDS_BS_URL ""
#endif
#ifndef TDS_BS_CA
#define TDS_BS_CA ""
#endif

static EspNvsStore cfgStore(tds::kCfgPartition, tds::kCfgNamespace);  // tdscfg / tds: factory data
static EspNvsStore devStore(tds::kDevPartition, tds::kDevNamespace);  // nvs / tds_dev: device key, renewal
static ArduinoPlatform platform;
static PubSubTransport mqtt;
static Rs485Port bus(Serial2, TDS_RS485_RX, TDS_RS485_TX, TDS_RS485_DE);
static tds::Rng* rng = nullptr;
static tds::GatewayApp* app = nullptr;
static tds::MbedHttpsClient* https = nullptr;

void setup() {
  Serial.setRxBufferSize(4096);  // console chunks are up to ~1.2 KB per line
  Serial.begin(115200);
  // ESP-IDF 4.4 already started the task watchdog (5 s, idle tasks only); calling init again
  // reconfigures it. 30 s covers a slow TLS handshake; a stuck loop (TLS, bus) resets the board.
  esp_task_wdt_init(30, true);
  esp_task_wdt_add(nullptr);
  platform.begin();
  if (!cfgStore.open()) platform.log("nvs: tdscfg partition missing or unreadable: provisioning mode");
  if (!devStore.open()) platform.log("nvs: default nvs partition unreadable");
  rng = new tds::Rng();
  tds::FirmwareInfo fw;
  fw.version = TDS_FW_VERSION;
  fw.bootstrapUrl = TDS_BS_URL;
  fw.bootstrapCaPem = TDS_BS_CA;
  fw.model = ESP.getChipModel() + std::string(" rev") + std::to_string(ESP.getChipRevision());
  // Certificate dates are only judged once SNTP has set the clock.
  https = new tds::MbedHttpsClient(*rng, [] { return platform.epoch() > 0; });
  app = new tds::GatewayApp(platform, cfgStore, devStore, mqtt, &bus, *rng, fw, https);
  app->begin();
}

void loop() {
  uint8_t buf[256];
  while (Serial.available() > 0) {
    const size_t n = Serial.readBytes(buf, sizeof buf < static_cast<size_t>(Serial.available()) ? sizeof buf : Serial.available());
    app->onSerial(buf, n);
  }
  if (!app->modbus().points.empty()) bus.begin(app->modbus());  // no-op unless the settings changed
  app->loop();
  platform.service();
  delay(5);
}
