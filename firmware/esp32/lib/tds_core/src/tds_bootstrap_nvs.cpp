// The NVS side of zero-touch onboarding (docs/zero-touch.md §7.1): whether a board has what it needs to
// onboard itself, and installing the identity the server issued (the order of the writes is the point).
#include <initializer_list>

#include "tds_bootstrap.h"
#include "tds_http.h"
#include "tds_json.h"

namespace tds {

BootstrapCheck checkBootstrap(Rng& rng, const DeviceConfig& cfg, KvStore& dev, const FirmwareInfo& fw, const std::string& chipMac,
                              BootstrapSettings* out, const std::string* extraBirthKeyPem) {
  BootstrapCheck r;
  if (!cfg.cert_pem.empty()) {
    r.problems.push_back("an operational certificate is installed (cert_pem)");
    return r;
  }
  BootstrapSettings s;
  s.url = cfg.bs_url.empty() ? fw.bootstrapUrl : cfg.bs_url;
  s.caPem = cfg.bs_ca.empty() ? fw.bootstrapCaPem : cfg.bs_ca;
  std::string err;
  HttpsUrl u;
  if (s.url.empty()) r.problems.push_back("bs_url is missing (the issuance server's API URL)");
  else if (!parseHttpsUrl(s.url, u, err)) r.problems.push_back("bs_url: " + err);
  if (s.caPem.empty()) r.problems.push_back("bs_ca is missing (the CA of the server's HTTPS certificate)");
  else if (countCerts(s.caPem) == 0) r.problems.push_back("bs_ca is not a PEM certificate");
  if (!cfg.mac.empty() && cfg.mac != chipMac)
    r.problems.push_back("mac in tdscfg is " + cfg.mac + " but this chip's MAC is " + chipMac + " (image made for another board)");
  if (!cfg.birth_cert.empty()) {
    r.attested = true;
    s.birthCertPem = cfg.birth_cert;
    CertInfo ci;
    if (!parseCert(cfg.birth_cert, ci, err)) {
      r.problems.push_back("birth_cert: " + err);
    } else if (ci.cn != chipMac) {
      r.problems.push_back("birth_cert CN is '" + ci.cn + "' but this chip's MAC is " + chipMac);
    } else {
      std::string devKey;
      dev.getString(key::dev_birth_key, devKey);
      for (const std::string* k : std::initializer_list<const std::string*>{extraBirthKeyPem, &cfg.birth_key, &devKey})
        if (k != nullptr && keyMatchesCert(rng, *k, cfg.birth_cert)) {
          s.birthKeyPem = *k;
          break;
        }
      if (s.birthKeyPem.empty())
        r.problems.push_back("no birth key matches birth_cert (set birth_key, or run csr on this device before committing birth_cert)");
    }
  }
  r.ready = r.problems.empty();
  if (r.ready && out != nullptr) *out = s;
  return r;
}

bool Bootstrap::hasState(KvStore& dev) { return dev.has(key::bs_id) || dev.has(key::bs_key) || dev.has(key::bs_meta); }

void Bootstrap::clearState(KvStore& dev) {
  dev.erase(key::bs_id);
  dev.erase(key::bs_key);
  dev.erase(key::bs_meta);
  dev.commit();
}

bool installIdentity(Rng& rng, KvStore& cfg, KvStore& dev, const std::string& mac, const std::string& keyPem, const cJSON* answer,
                     int64_t nowEpoch, InstalledIdentity& out, std::string& code, std::string& msg) {
  code = "certificate_invalid";
  msg.clear();
  if (cJSON_GetObjectItemCaseSensitive(answer, "private_key_pem") != nullptr) {
    code = "bad_response";
    msg = "the server sent a private key; refused (this device makes its own)";
    return false;
  }
  auto str = [&](const char* name) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(answer, name);
    return cJSON_IsString(v) && v->valuestring != nullptr ? std::string(v->valuestring) : std::string();
  };
  const std::string cert = str("certificate_pem"), ca = str("ca_pem"), broker = str("mqtt_broker"), codigo = str("codigo");
  const cJSON* p = cJSON_GetObjectItemCaseSensitive(answer, "mqtt_port");
  const double port = cJSON_IsNumber(p) ? p->valuedouble : 0;
  CertInfo ci;
  std::string err;
  DeviceConfig probe;
  if (!parseCert(cert, ci, err)) msg = "certificate_pem: " + err;
  else if (ci.cn != mac) msg = "the certificate's CN is '" + ci.cn + "', not this chip's MAC " + mac;
  else if (!keyMatchesCert(rng, keyPem, cert)) msg = "the certificate is not for this device's key";
  else if (countCerts(ca) == 0) msg = "ca_pem is not a PEM certificate";
  else if (!verifyCertWithCa(cert, ca, false, err)) msg = err;
  else if (broker.empty() || !probe.set(key::mqtt_host, broker, err)) msg = "mqtt_broker is missing or too long";
  else if (port < 1 || port > 65535 || port != static_cast<double>(static_cast<int>(port))) msg = "mqtt_port is not 1-65535";
  else if (cert.size() > maxValueLength(key::cert_pem) || ca.size() > maxValueLength(key::ca_pem)) msg = "certificate or CA too long for NVS";
  if (!msg.empty()) return false;
  code = "storage";
  msg = "writing NVS failed";
  // The key first: the certificate is useless without it, the key harmless without the certificate.
  if (!dev.setString(key::dev_key, keyPem) || !dev.commit()) return false;
  bool ok = cfg.erase(key::key_pem);  // a station-made key of an earlier life
  ok = cfg.setString(key::ca_pem, ca) && ok;
  ok = cfg.setString(key::mqtt_host, broker) && ok;
  ok = cfg.setU16(key::mqtt_port, static_cast<uint16_t>(port)) && ok;
  if (!codigo.empty() && probe.set(key::gw_code, codigo, err)) ok = cfg.setString(key::gw_code, codigo) && ok;
  ok = cfg.setString(key::mac, mac) && ok;
  ok = cfg.setString(key::prov_at, isoFromEpoch(nowEpoch)) && ok;
  ok = cfg.setString(key::prov_by, "zero-touch") && ok;
  ok = cfg.setU8(key::cfg_ver, 1) && ok;
  ok = cfg.setString(key::cert_pem, cert) && ok;  // last: the configuration is complete from here on
  ok = cfg.commit() && ok;
  if (!ok) return false;
  out.serialHex = ci.serialHex;
  out.broker = broker;
  out.port = static_cast<int>(port);
  code.clear();
  msg.clear();
  return true;
}

}  // namespace tds
