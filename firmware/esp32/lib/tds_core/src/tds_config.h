// The device configuration kept in the `tdscfg` NVS partition, namespace `tds` (DESIGN.md §7), and
// the device's own secrets kept in the default `nvs` partition, namespace `tds_dev`.
//
// tdscfg/tds: every key is an NVS string, except mqtt_port (u16; a u32 is accepted on read) and
// cfg_ver (u8; a decimal string is accepted on read).
// nvs/tds_dev: key_pem (key generated on the device for the installed certificate), key_new (key of
// the last console `csr`, until `commit` installs a matching certificate), rn_* (renewal state),
// birth_key (a device-made birth key), bs_id/bs_key/bs_meta (a zero-touch request in progress).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tds_crypto.h"
#include "tds_kv.h"

namespace tds {

constexpr const char* kCfgPartition = "tdscfg";
constexpr const char* kCfgNamespace = "tds";
constexpr const char* kDevPartition = "nvs";
constexpr const char* kDevNamespace = "tds_dev";

namespace key {
// tdscfg / tds
constexpr const char* ca_pem = "ca_pem";
constexpr const char* cert_pem = "cert_pem";
constexpr const char* key_pem = "key_pem";
constexpr const char* wifi_ssid = "wifi_ssid";
constexpr const char* wifi_pass = "wifi_pass";
constexpr const char* mqtt_host = "mqtt_host";
constexpr const char* mqtt_port = "mqtt_port";
constexpr const char* gw_code = "gw_code";
constexpr const char* mac = "mac";
constexpr const char* prov_at = "prov_at";
constexpr const char* prov_by = "prov_by";
constexpr const char* cfg_ver = "cfg_ver";
constexpr const char* modbus = "modbus";      // optional: JSON, see tds_modbus.h
constexpr const char* ntp_host = "ntp_host";  // optional: SNTP server for timestamps
// Zero-touch onboarding (docs/zero-touch.md §7.1), all optional.
constexpr const char* bs_url = "bs_url";          // server API base URL
constexpr const char* bs_ca = "bs_ca";            // CA pinned for the server's HTTPS certificate
constexpr const char* birth_cert = "birth_cert";  // birth certificate (bench-born boards)
constexpr const char* birth_key = "birth_key";    // its key, when the station made it
// nvs / tds_dev
constexpr const char* dev_key = "key_pem";
constexpr const char* dev_key_new = "key_new";
constexpr const char* dev_birth_key = "birth_key";  // a birth key made on the device
constexpr const char* bs_id = "bs_id";              // the pending request's id
constexpr const char* bs_key = "bs_key";            // the key its CSR is for
constexpr const char* bs_meta = "bs_meta";          // JSON: path, code, qr, expiry, poll interval
}  // namespace key

// Every string key of tdscfg/tds, in a fixed order (mqtt_port and cfg_ver are numbers).
extern const char* const kStringKeys[];
extern const size_t kStringKeyCount;
// Longest value a key may hold (NVS strings are limited to 4000 bytes including the NUL).
size_t maxValueLength(const std::string& key);
bool isConfigKey(const std::string& key);
bool isSecretKey(const std::string& key);
bool isNumericKey(const std::string& key);

struct DeviceConfig {
  std::string ca_pem, cert_pem, key_pem, wifi_ssid, wifi_pass, mqtt_host;
  uint16_t mqtt_port = 0;
  std::string gw_code, mac, prov_at, prov_by, modbus, ntp_host;
  std::string bs_url, bs_ca, birth_cert, birth_key;
  int cfg_ver = -1;  // u8 in NVS; -1 = absent

  std::string get(const std::string& k) const;  // string keys; mqtt_port and cfg_ver as decimal text
  bool set(const std::string& k, const std::string& v, std::string& err);
};

void loadConfig(KvStore& cfg, DeviceConfig& out);

enum class KeySource { none, device, device_renewal, tdscfg };
const char* keySourceName(KeySource s);

// TLS credentials to connect with: the certificate from tdscfg and whichever stored key matches it.
struct Credentials {
  std::string ca_pem, cert_pem, key_pem;
  KeySource source = KeySource::none;
};

struct ConfigCheck {
  bool ok = false;
  std::vector<std::string> problems;
  KeySource keySource = KeySource::none;
  bool certInstalled = false;
  CertInfo cert;
};

// Finds the stored key that matches cfg.cert_pem: nvs key_pem, then the renewal key, then tdscfg key_pem.
KeySource selectKey(Rng& rng, const DeviceConfig& cfg, KvStore& dev, std::string& keyPem);

// Checks everything needed to go online; `chipMac` is the MAC read from the chip's eFuse.
// `extraKeyPem` is an additional candidate key (e.g. a staged one) tried before the stored ones.
ConfigCheck checkConfig(Rng& rng, const DeviceConfig& cfg, KvStore& dev, const std::string& chipMac,
                        const std::string* extraKeyPem = nullptr);

bool validWifiPass(const std::string& p);

}  // namespace tds
