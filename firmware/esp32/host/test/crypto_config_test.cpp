// Key generation, CSR, certificate checks, configuration model and validation, file-backed NVS.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

#include "file_kv_store.h"
#include "helpers.h"
#include "mbedtls/x509_csr.h"
#include "tds_config.h"
#include "tds_crypto.h"
#include "tds_renewal.h"

using namespace tds;

namespace {
const std::string kMac = "24:6f:28:aa:bb:cc";

struct Provisioned {
  Rng rng;
  testing::TestCa ca{rng};
  std::string key, csr, cert;
  Provisioned() {
    std::string err;
    generateEcKey(rng, key, err);
    makeCsr(rng, key, kMac, csr, err);
    cert = ca.issue(csr, "00c0ffee12345678");
  }
  DeviceConfig config() {
    DeviceConfig c;
    c.ca_pem = ca.caPem;
    c.cert_pem = cert;
    c.key_pem = key;
    c.wifi_ssid = "bench";
    c.wifi_pass = "secret-pass";
    c.mqtt_host = "broker.local";
    c.mqtt_port = 8883;
    c.mac = kMac;
    return c;
  }
};
}  // namespace

TEST_CASE("EC P-256 key and CSR with CN = MAC") {
  Rng rng;
  REQUIRE(rng.ok());
  std::string key, csr, err;
  REQUIRE(generateEcKey(rng, key, err));
  CHECK(key.find("-----BEGIN EC PRIVATE KEY-----") == 0);
  REQUIRE(makeCsr(rng, key, kMac, csr, err));
  mbedtls_x509_csr c;
  mbedtls_x509_csr_init(&c);
  REQUIRE(mbedtls_x509_csr_parse(&c, reinterpret_cast<const unsigned char*>(csr.c_str()), csr.size() + 1) == 0);
  char dn[128];
  mbedtls_x509_dn_gets(dn, sizeof dn, &c.subject);
  CHECK(std::string(dn) == "CN=" + kMac);
  CHECK(mbedtls_pk_get_type(&c.pk) == MBEDTLS_PK_ECKEY);
  CHECK(mbedtls_pk_get_bitlen(&c.pk) == 256);
  mbedtls_x509_csr_free(&c);
  std::string key2;
  REQUIRE(generateEcKey(rng, key2, err));
  CHECK(key2 != key);
  CHECK_FALSE(makeCsr(rng, "garbage", kMac, csr, err));
}

TEST_CASE("certificate inspection and key/CA checks") {
  Provisioned p;
  CertInfo info;
  std::string err;
  REQUIRE(parseCert(p.cert, info, err));
  CHECK(info.cn == kMac);
  CHECK(info.serialHex == "c0ffee12345678");
  CHECK(info.notBefore == "2024-01-01T00:00:00Z");
  CHECK(info.notAfter == "2034-01-01T00:00:00Z");
  CHECK(isoFromEpoch(info.notAfterEpoch) == info.notAfter);
  CHECK(keyMatchesCert(p.rng, p.key, p.cert));
  std::string other;
  generateEcKey(p.rng, other, err);
  CHECK_FALSE(keyMatchesCert(p.rng, other, p.cert));
  CHECK(verifyCertWithCa(p.cert, p.ca.caPem, false, err));
  testing::TestCa stranger(p.rng, "Other CA");
  CHECK_FALSE(verifyCertWithCa(p.cert, stranger.caPem, false, err));
  CHECK(err.find("not signed by the configured CA") != std::string::npos);
  CHECK(countCerts(p.ca.caPem + stranger.caPem) == 2);
  CHECK(countCerts("nope") == 0);
  CHECK_FALSE(parseCert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", info, err));
}

TEST_CASE("configuration: a complete one is valid, each missing piece is named") {
  Provisioned p;
  testing::MemKv dev;
  DeviceConfig c = p.config();
  ConfigCheck chk = checkConfig(p.rng, c, dev, kMac);
  CHECK(chk.ok);
  CHECK(chk.keySource == KeySource::tdscfg);
  CHECK(chk.cert.serialHex == "c0ffee12345678");

  DeviceConfig empty;
  chk = checkConfig(p.rng, empty, dev, kMac);
  CHECK_FALSE(chk.ok);
  CHECK(chk.problems.size() == 5);

  // Another board's image: MAC and certificate CN disagree with the chip.
  chk = checkConfig(p.rng, c, dev, "24:6f:28:00:00:01");
  CHECK_FALSE(chk.ok);
  bool macProblem = false, cnProblem = false;
  for (const auto& pr : chk.problems) {
    macProblem |= pr.find("another board") != std::string::npos;
    cnProblem |= pr.find("CN is") != std::string::npos;
  }
  CHECK(macProblem);
  CHECK(cnProblem);

  DeviceConfig noKey = p.config();
  noKey.key_pem.clear();
  chk = checkConfig(p.rng, noKey, dev, kMac);
  CHECK_FALSE(chk.ok);
  CHECK(chk.problems.at(0).find("no private key") != std::string::npos);
  // The key generated on the device (nvs/tds_dev key_pem) is found.
  dev.setString(key::dev_key, p.key);
  chk = checkConfig(p.rng, noKey, dev, kMac);
  CHECK(chk.ok);
  CHECK(chk.keySource == KeySource::device);
  // ...and wins over a tdscfg key when both match.
  chk = checkConfig(p.rng, c, dev, kMac);
  CHECK(chk.keySource == KeySource::device);
  // An interrupted renewal: certificate written, key still in rn_key.
  dev.erase(key::dev_key);
  dev.setString(rnkey::key, p.key);
  std::string picked;
  CHECK(selectKey(p.rng, noKey, dev, picked) == KeySource::device_renewal);
  CHECK(picked == p.key);

  DeviceConfig bad = p.config();
  bad.wifi_pass = "short";
  // Two devices on the bus, but the gateway takes one (qte_max_dispositivos): provisioning mode, said why.
  bad.modbus = R"({"v":1,"max_dev":1,"pts":[[1,3,0,"u16",1,"C",60],[2,3,0,"u16",1,"C",60]]})";
  chk = checkConfig(p.rng, bad, dev, kMac);
  CHECK_FALSE(chk.ok);
  REQUIRE(chk.problems.size() == 2);
  CHECK(chk.problems[1] == "modbus: pts name 2 devices (slave addresses) but this gateway takes at most 1 (max_dev)");
}

TEST_CASE("DeviceConfig.set validates formats and limits") {
  DeviceConfig c;
  std::string err;
  CHECK(c.set("mqtt_port", "8883", err));
  CHECK(c.mqtt_port == 8883);
  CHECK_FALSE(c.set("mqtt_port", "70000", err));
  CHECK_FALSE(c.set("mqtt_port", "88a", err));
  CHECK(c.set("mac", "24-6F-28-AA-BB-CC", err));
  CHECK(c.mac == kMac);
  CHECK_FALSE(c.set("wifi_ssid", std::string(33, 'x'), err));
  CHECK(err.find("too long") != std::string::npos);
  CHECK_FALSE(c.set("nope", "x", err));
  CHECK(validWifiPass(""));
  CHECK(validWifiPass(std::string(64, 'a')));
  CHECK_FALSE(validWifiPass(std::string(64, 'z')));
  CHECK_FALSE(validWifiPass("1234567"));
}

TEST_CASE("loadConfig reads mqtt_port as u16 (tolerates u32) and cfg_ver as u8 (tolerates a string)") {
  testing::MemKv kv;
  kv.setString("mqtt_host", "h");
  kv.setU16("mqtt_port", 8883);
  DeviceConfig c;
  loadConfig(kv, c);
  CHECK(c.mqtt_port == 8883);
  CHECK(c.mqtt_host == "h");
  kv.setU32("mqtt_port", 1883);
  loadConfig(kv, c);
  CHECK(c.mqtt_port == 1883);
  kv.setString("mqtt_port", "8883");  // wrong type: ignored
  loadConfig(kv, c);
  CHECK(c.mqtt_port == 0);
  CHECK(c.cfg_ver == -1);
  kv.setU8("cfg_ver", 2);
  loadConfig(kv, c);
  CHECK(c.cfg_ver == 2);
  CHECK(c.get("cfg_ver") == "2");
  kv.setString("cfg_ver", "7");  // tolerated: a decimal string
  loadConfig(kv, c);
  CHECK(c.cfg_ver == 7);
}

TEST_CASE("file-backed NVS keeps types, namespaces, and writes atomically on commit") {
  char tmpl[] = "/tmp/tds-kv-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::string path = std::string(tmpl) + "/tdscfg.json";
  {
    FileKvStore a(path, "tds");
    FileKvStore b(path, "other");
    CHECK(a.setString("ca_pem", "PEM\nlines"));
    CHECK(a.setU16("mqtt_port", 8883));
    CHECK_FALSE(a.setString("a_key_that_is_too_long", "x"));
    CHECK(a.commit());
    CHECK(b.setU32("n", 7));
    CHECK(b.commit());
  }
  FileKvStore a(path, "tds");
  std::string s;
  uint16_t p = 0;
  uint32_t n = 0;
  CHECK(a.getString("ca_pem", s));
  CHECK(s == "PEM\nlines");
  CHECK(a.getU16("mqtt_port", p));
  CHECK(p == 8883);
  CHECK_FALSE(a.getU32("mqtt_port", n));
  FileKvStore b(path, "other");
  CHECK(b.getU32("n", n));
  CHECK(n == 7);
  a.erase("ca_pem");
  CHECK(a.commit());
  FileKvStore again(path, "tds");
  CHECK_FALSE(again.getString("ca_pem", s));
  std::remove(path.c_str());
  rmdir(tmpl);
}
