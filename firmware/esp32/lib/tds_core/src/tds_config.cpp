#include "tds_config.h"

#include <cctype>
#include <cstdlib>

#include "tds_modbus.h"
#include "tds_renewal.h"
#include "tds_util.h"

namespace tds {

const char* const kStringKeys[] = {key::ca_pem,  key::cert_pem, key::key_pem, key::wifi_ssid, key::wifi_pass,
                                   key::mqtt_host, key::gw_code, key::mac,     key::prov_at,   key::prov_by,
                                   key::modbus,  key::ntp_host, key::bs_url,  key::bs_ca,     key::birth_cert,
                                   key::birth_key};
const size_t kStringKeyCount = sizeof(kStringKeys) / sizeof(kStringKeys[0]);

bool isNumericKey(const std::string& k) { return k == key::mqtt_port || k == key::cfg_ver; }

bool isConfigKey(const std::string& k) {
  if (isNumericKey(k)) return true;
  for (size_t i = 0; i < kStringKeyCount; ++i)
    if (k == kStringKeys[i]) return true;
  return false;
}

bool isSecretKey(const std::string& k) { return k == key::key_pem || k == key::wifi_pass || k == key::birth_key; }

size_t maxValueLength(const std::string& k) {
  if (k == key::wifi_ssid) return 32;
  if (k == key::wifi_pass) return 64;
  if (k == key::mqtt_host || k == key::ntp_host || k == key::bs_url) return 253;
  if (k == key::mqtt_port) return 5;
  if (k == key::mac) return 17;
  if (k == key::gw_code) return 30;
  if (k == key::cfg_ver) return 3;
  if (k == key::prov_at) return 40;
  if (k == key::prov_by) return 80;
  return 3999;  // PEMs and modbus JSON: NVS string limit (4000 bytes with the NUL)
}

std::string DeviceConfig::get(const std::string& k) const {
  if (k == key::ca_pem) return ca_pem;
  if (k == key::cert_pem) return cert_pem;
  if (k == key::key_pem) return key_pem;
  if (k == key::wifi_ssid) return wifi_ssid;
  if (k == key::wifi_pass) return wifi_pass;
  if (k == key::mqtt_host) return mqtt_host;
  if (k == key::mqtt_port) return mqtt_port ? std::to_string(mqtt_port) : std::string();
  if (k == key::gw_code) return gw_code;
  if (k == key::mac) return mac;
  if (k == key::prov_at) return prov_at;
  if (k == key::prov_by) return prov_by;
  if (k == key::cfg_ver) return cfg_ver >= 0 ? std::to_string(cfg_ver) : std::string();
  if (k == key::modbus) return modbus;
  if (k == key::ntp_host) return ntp_host;
  if (k == key::bs_url) return bs_url;
  if (k == key::bs_ca) return bs_ca;
  if (k == key::birth_cert) return birth_cert;
  if (k == key::birth_key) return birth_key;
  return std::string();
}

bool DeviceConfig::set(const std::string& k, const std::string& v, std::string& err) {
  if (!isConfigKey(k)) {
    err = "unknown key '" + k + "'";
    return false;
  }
  if (v.size() > maxValueLength(k)) {
    err = k + " is too long (" + std::to_string(v.size()) + " bytes, at most " + std::to_string(maxValueLength(k)) + ")";
    return false;
  }
  if (k == key::mqtt_port) {
    if (v.empty()) {
      mqtt_port = 0;
      return true;
    }
    for (char c : v)
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        err = "mqtt_port must be a number 1-65535";
        return false;
      }
    const long p = std::strtol(v.c_str(), nullptr, 10);
    if (p < 1 || p > 65535) {
      err = "mqtt_port must be a number 1-65535";
      return false;
    }
    mqtt_port = static_cast<uint16_t>(p);
    return true;
  }
  if (k == key::cfg_ver) {
    if (v.empty()) {
      cfg_ver = -1;
      return true;
    }
    for (char c : v)
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        err = "cfg_ver must be a number 0-255";
        return false;
      }
    const long n = std::strtol(v.c_str(), nullptr, 10);
    if (n > 255) {
      err = "cfg_ver must be a number 0-255";
      return false;
    }
    cfg_ver = static_cast<int>(n);
    return true;
  }
  if (k == key::mac && !v.empty()) {
    std::string canon;
    if (!parseMac(v, canon)) {
      err = "mac must look like aa:bb:cc:dd:ee:ff";
      return false;
    }
    mac = canon;
    return true;
  }
  std::string* slot = nullptr;
  if (k == key::ca_pem) slot = &ca_pem;
  else if (k == key::cert_pem) slot = &cert_pem;
  else if (k == key::key_pem) slot = &key_pem;
  else if (k == key::wifi_ssid) slot = &wifi_ssid;
  else if (k == key::wifi_pass) slot = &wifi_pass;
  else if (k == key::mqtt_host) slot = &mqtt_host;
  else if (k == key::gw_code) slot = &gw_code;
  else if (k == key::mac) slot = &mac;
  else if (k == key::prov_at) slot = &prov_at;
  else if (k == key::prov_by) slot = &prov_by;
  else if (k == key::modbus) slot = &modbus;
  else if (k == key::ntp_host) slot = &ntp_host;
  else if (k == key::bs_url) slot = &bs_url;
  else if (k == key::bs_ca) slot = &bs_ca;
  else if (k == key::birth_cert) slot = &birth_cert;
  else if (k == key::birth_key) slot = &birth_key;
  *slot = v;
  return true;
}

void loadConfig(KvStore& kv, DeviceConfig& out) {
  out = DeviceConfig{};
  std::string err;
  for (size_t i = 0; i < kStringKeyCount; ++i) {
    std::string v;
    if (kv.getString(kStringKeys[i], v)) out.set(kStringKeys[i], v, err);
  }
  uint16_t p16 = 0;
  uint32_t p32 = 0;
  uint8_t v8 = 0;
  std::string vs;
  if (kv.getU8(key::cfg_ver, v8)) out.cfg_ver = v8;
  else if (kv.getString(key::cfg_ver, vs)) out.set(key::cfg_ver, vs, err);
  if (kv.getU16(key::mqtt_port, p16)) out.mqtt_port = p16;
  else if (kv.getU32(key::mqtt_port, p32) && p32 > 0 && p32 <= 65535) out.mqtt_port = static_cast<uint16_t>(p32);
}

const char* keySourceName(KeySource s) {
  switch (s) {
    case KeySource::device: return "device";
    case KeySource::device_renewal: return "device-renewal";
    case KeySource::tdscfg: return "tdscfg";
    default: return "none";
  }
}

KeySource selectKey(Rng& rng, const DeviceConfig& cfg, KvStore& dev, std::string& keyPem) {
  std::string k;
  if (dev.getString(key::dev_key, k) && keyMatchesCert(rng, k, cfg.cert_pem)) {
    keyPem = k;
    return KeySource::device;
  }
  // A renewal interrupted between writing the certificate and moving its key (see tds_renewal.h).
  if (dev.getString(rnkey::key, k) && keyMatchesCert(rng, k, cfg.cert_pem)) {
    keyPem = k;
    return KeySource::device_renewal;
  }
  if (!cfg.key_pem.empty() && keyMatchesCert(rng, cfg.key_pem, cfg.cert_pem)) {
    keyPem = cfg.key_pem;
    return KeySource::tdscfg;
  }
  keyPem.clear();
  return KeySource::none;
}

bool validWifiPass(const std::string& p) {
  if (p.empty()) return true;  // open network
  if (p.size() >= 8 && p.size() <= 63) return true;
  if (p.size() == 64) {
    for (char c : p)
      if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return true;
  }
  return false;
}

ConfigCheck checkConfig(Rng& rng, const DeviceConfig& cfg, KvStore& dev, const std::string& chipMac,
                        const std::string* extraKeyPem) {
  ConfigCheck r;
  std::string err;
  if (cfg.ca_pem.empty()) r.problems.push_back("ca_pem is missing");
  else if (countCerts(cfg.ca_pem) == 0) r.problems.push_back("ca_pem is not a PEM certificate");
  if (cfg.cert_pem.empty()) {
    r.problems.push_back("cert_pem is missing");
  } else if (!parseCert(cfg.cert_pem, r.cert, err)) {
    r.problems.push_back("cert_pem: " + err);
  } else {
    r.certInstalled = true;
    if (r.cert.cn != chipMac) r.problems.push_back("cert_pem CN is '" + r.cert.cn + "' but this chip's MAC is " + chipMac);
    if (!cfg.ca_pem.empty() && !verifyCertWithCa(cfg.cert_pem, cfg.ca_pem, false, err)) r.problems.push_back("cert_pem: " + err);
    std::string keyPem;
    if (extraKeyPem != nullptr && keyMatchesCert(rng, *extraKeyPem, cfg.cert_pem)) r.keySource = KeySource::device;
    else r.keySource = selectKey(rng, cfg, dev, keyPem);
    if (r.keySource == KeySource::none)
      r.problems.push_back("no private key matches cert_pem (run csr on this device, or set key_pem)");
  }
  if (cfg.wifi_ssid.empty()) r.problems.push_back("wifi_ssid is missing");
  if (!validWifiPass(cfg.wifi_pass)) r.problems.push_back("wifi_pass must be empty, 8-63 characters, or 64 hex digits");
  if (cfg.mqtt_host.empty()) r.problems.push_back("mqtt_host is missing");
  if (cfg.mqtt_port == 0) r.problems.push_back("mqtt_port is missing");
  if (!cfg.mac.empty() && cfg.mac != chipMac)
    r.problems.push_back("mac in tdscfg is " + cfg.mac + " but this chip's MAC is " + chipMac + " (image made for another board)");
  if (!cfg.modbus.empty()) {
    ModbusConfig mb;
    if (!parseModbusConfig(cfg.modbus, mb, err)) r.problems.push_back("modbus: " + err);
  }
  r.ok = r.problems.empty();
  return r;
}

}  // namespace tds
