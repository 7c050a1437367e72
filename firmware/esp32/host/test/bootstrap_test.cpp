// Zero-touch bootstrap (docs/zero-touch.md) against a scripted server in the test that checks what a
// real one checks: signatures verified with mbedTLS over the exact texts, the poll clock, the order
// of NVS writes. The same firmware runs against the real server in test/firmware/zero-touch-device.test.ts.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

#include "helpers.h"
#include "mbedtls/base64.h"
#include "mbedtls/sha256.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/x509_csr.h"
#include "tds_app.h"
#include "tds_bootstrap.h"
#include "tds_console.h"
#include "tds_json.h"
#include "tds_util.h"

using namespace tds;

namespace {

const std::string kMac = "24:6f:28:aa:bb:cc";
const std::string kUrl = "https://provision.example:8443/api/v1";
const std::string kId = "0123456789abcdef0123456789abcdef";
constexpr int64_t kServerTime = 1800000000;

// Every NVS write of both stores in one sequence, to check their order.
struct OrderedKv : testing::MemKv {
  std::vector<std::string>* log;
  std::string ns;
  OrderedKv(std::vector<std::string>* l, std::string n) : log(l), ns(std::move(n)) {}
  bool setString(const char* k, const std::string& v) override { return log->push_back(ns + "/" + k), MemKv::setString(k, v); }
  bool setU8(const char* k, uint8_t v) override { return log->push_back(ns + "/" + k), MemKv::setU8(k, v); }
  bool setU16(const char* k, uint16_t v) override { return log->push_back(ns + "/" + k), MemKv::setU16(k, v); }
};

std::string b64decode(const std::string& s) {
  std::vector<unsigned char> out(s.size());
  size_t n = 0;
  if (mbedtls_base64_decode(out.data(), out.size(), &n, reinterpret_cast<const unsigned char*>(s.data()), s.size()) != 0) return "";
  return std::string(reinterpret_cast<const char*>(out.data()), n);
}

bool verify(mbedtls_pk_context* pk, const std::string& message, const std::string& sigB64) {
  unsigned char h[32];
  mbedtls_sha256_ret(reinterpret_cast<const unsigned char*>(message.data()), message.size(), h, 0);
  const std::string sig = b64decode(sigB64);
  return !sig.empty() && mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, h, 32, reinterpret_cast<const unsigned char*>(sig.data()), sig.size()) == 0;
}

// Signature by the key in a CSR; its DER's SHA-256 as the attestation covers it.
struct Csr {
  mbedtls_x509_csr c;
  explicit Csr(const std::string& pem) {
    mbedtls_x509_csr_init(&c);
    ok = mbedtls_x509_csr_parse(&c, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1) == 0;
  }
  ~Csr() { mbedtls_x509_csr_free(&c); }
  bool ok;
  std::string derSha256() {
    unsigned char h[32];
    mbedtls_sha256_ret(c.raw.p, c.raw.len, h, 0);
    return toHex(h, 32);
  }
  std::string cn() {
    char buf[128];
    mbedtls_x509_dn_gets(buf, sizeof buf, &c.subject);
    return buf;
  }
};

// The public key (DER SubjectPublicKeyInfo) a CSR is for.
std::string spki(const std::string& csrPem) {
  Csr c(csrPem);
  unsigned char d[600];
  const int n = c.ok ? mbedtls_pk_write_pubkey_der(&c.c.pk, d, sizeof d) : 0;
  return n > 0 ? std::string(reinterpret_cast<char*>(d + sizeof d - n), static_cast<size_t>(n)) : std::string();
}

struct Seen {
  HttpRequest req;
  uint64_t atMs;
  bool keyStored;
};

// The device's HTTPS client: every request is handed to `serve`, which plays the server.
struct FakeHttps : HttpsClient {
  testing::FakePlatform& p;
  testing::MemKv& dev;
  std::vector<Seen> seen;
  std::function<void(const HttpRequest&, HttpResult&)> serve;
  FakeHttps(testing::FakePlatform& pl, testing::MemKv& d) : p(pl), dev(d) {}
  bool request(const HttpRequest& req, HttpResult& r) override {
    seen.push_back({req, p.now, dev.has(key::bs_key)});
    r = HttpResult{};
    r.date = "Fri, 15 Jan 2027 08:00:00 GMT";
    serve(req, r);
    return r.status != 0;
  }
};

std::string header(const HttpRequest& r, const std::string& name) {
  for (const HttpHeader& h : r.headers)
    if (h.name == name) return h.value;
  return "";
}

void answer(HttpResult& r, int status, const std::string& body, const std::string& retryAfter = "") {
  r.status = status;
  r.body = body;
  r.retryAfter = retryAfter;
}

std::string pending(const std::string& path, const std::string& id = kId) {
  return "{\"bootstrap_id\":\"" + id + "\",\"status\":\"pending\",\"path\":\"" + path + "\",\"poll_interval\":5," +
         "\"expires_at\":\"2027-01-15T08:30:00Z\",\"server_time\":" + std::to_string(kServerTime) +
         (path == "open" ? ",\"activation_code\":\"K7M2-Q4T0\",\"qr_payload\":\"TDS:C1:246F28AABBCC:K7M2Q4T0\"" : "") + "}";
}

std::string refusal(const std::string& code) { return "{\"error\":\"refused: " + code + "\",\"details\":{\"code\":\"" + code + "\"}}"; }

struct Rig {
  std::vector<std::string> writes;
  testing::FakePlatform p;
  OrderedKv cfg{&writes, "tdscfg"}, dev{&writes, "nvs"};
  Rng rng;
  testing::TestCa ca{rng};
  FakeHttps http{p, dev};
  std::vector<std::string> events;  // "state" of each bootstrap event
  std::vector<std::string> eventJson;
  Bootstrap b{p, cfg, dev, http, rng, FirmwareInfo{"tds-gateway", "1.4.0"}, [this](cJSON* o) {
                Json j(o);
                events.push_back(j.str("state"));
                eventJson.push_back(j.print());
              }};
  Rig() {
    p.mac = kMac;
    cfg.setString(key::bs_url, kUrl);
    cfg.setString(key::bs_ca, ca.caPem);
    cfg.setString(key::wifi_ssid, "bench");
    writes.clear();
  }
  BootstrapSettings settings() {
    DeviceConfig c;
    loadConfig(cfg, c);
    BootstrapSettings s;
    const BootstrapCheck chk = checkBootstrap(rng, c, dev, FirmwareInfo{}, kMac, &s);
    REQUIRE_MESSAGE(chk.ready, (chk.problems.empty() ? "" : chk.problems[0]));
    return s;
  }
  // Ticks every 100 ms of device time until `done` or `maxMs` passed; returns whether done.
  bool run(const std::function<bool()>& done, uint64_t maxMs = 60000) {
    const uint64_t end = p.now + maxMs;
    while (p.now < end) {
      if (b.tick(p.now) && done()) return true;
      if (done()) return true;
      p.now += 100;
    }
    return false;
  }
  std::string issuedBody(const std::string& csrPem, const std::string& serial = "5a0f") {
    return "{\"bootstrap_id\":\"" + kId + "\",\"status\":\"issued\",\"mac_address\":\"" + kMac +
           "\",\"gateway_id\":7,\"codigo\":\"GW-ZT-1\",\"certificate_pem\":" + Json(cJSON_CreateString(ca.issue(csrPem, serial).c_str())).print() +
           ",\"ca_pem\":" + Json(cJSON_CreateString(ca.caPem.c_str())).print() +
           ",\"serial_number\":\"5A0F\",\"expires_at\":\"2037-01-01T00:00:00Z\",\"mqtt_broker\":\"broker.example\",\"mqtt_port\":8883}";
  }
};

}  // namespace

TEST_CASE("bootstrap, open path: key stored first, code shown, signed polls on the server's clock, Retry-After and slow-down honoured, then installed") {
  Rig r;
  std::string csrPem;
  int polls = 0;
  std::vector<int64_t> timestamps;
  r.http.serve = [&](const HttpRequest& q, HttpResult& a) {
    if (q.method == "POST" && q.url == kUrl + "/gateways/bootstrap/") {
      Json body(cJSON_Parse(q.body.c_str()));
      csrPem = body.str("csr_pem");
      CHECK(body.str("mac_address") == kMac);
      CHECK(body.str("model") == "ESP32 rev3");
      CHECK(body.str("firmware_version") == "1.4.0");
      CHECK(body.item("nonce") == nullptr);
      CHECK(header(q, "Content-Type") == "application/json");
      CHECK(q.caPem == r.ca.caPem);
      return answer(a, 201, pending("open"));
    }
    REQUIRE(q.method == "GET");
    REQUIRE(q.url == kUrl + "/gateways/bootstrap/" + kId + "/");
    const std::string ts = header(q, "X-TDS-Timestamp");
    Csr csr(csrPem);
    REQUIRE(csr.ok);
    CHECK(verify(&csr.c.pk, "tds-bootstrap-poll/1\n" + kId + "\n" + ts, header(q, "X-TDS-Signature")));
    timestamps.push_back(std::stoll(ts));
    ++polls;
    if (polls == 1) return answer(a, 202, "{\"status\":\"pending\",\"poll_interval\":5}", "7");
    if (polls == 2) return answer(a, 429, refusal("slow_down"), "3");
    answer(a, 200, r.issuedBody(csrPem));
  };
  const uint64_t t0 = r.p.now;
  r.b.begin(r.settings());
  REQUIRE(r.run([&] { return r.b.step() == Bootstrap::Step::installed; }));
  // The key was in NVS before the server heard of it.
  REQUIRE(r.http.seen.size() == 4);
  CHECK(r.http.seen[0].keyStored);
  Csr csr(csrPem);
  CHECK(csr.cn() == "CN=" + kMac);
  // Poll times: poll_interval after the answer, then Retry-After 7, then Retry-After 3.
  CHECK(r.http.seen[1].atMs - r.http.seen[0].atMs >= 5000);
  CHECK(r.http.seen[2].atMs - r.http.seen[1].atMs >= 7000);
  CHECK(r.http.seen[3].atMs - r.http.seen[2].atMs >= 3000);
  CHECK(r.http.seen[3].atMs - t0 < 17000);
  // Timestamps: the server's time from the answer plus the seconds counted since, increasing.
  CHECK(timestamps[0] == kServerTime + 5);
  CHECK(timestamps[1] == kServerTime + 12);
  CHECK(timestamps[2] > timestamps[1]);
  // Events: requesting, code (with everything the installer needs), installed.
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[0] == "requesting");
  Json code(cJSON_Parse(r.eventJson[1].c_str()));
  CHECK(code.str("state") == "code");
  CHECK(code.str("mac") == kMac);
  CHECK(code.str("code") == "K7M2-Q4T0");
  CHECK(code.str("qr") == "TDS:C1:246F28AABBCC:K7M2Q4T0");
  CHECK(code.str("bootstrap_id") == kId);
  CHECK(code.str("expires_at") == "2027-01-15T08:30:00Z");
  std::string fp, err;
  REQUIRE(publicKeyFingerprint(r.rng, r.dev.str(key::dev_key), fp, err));
  CHECK(code.str("key_fingerprint") == fp);
  CHECK(r.events[2] == "installed");
  // Installed: the device key first, cert_pem last, the bootstrap state gone.
  CHECK(keyMatchesCert(r.rng, r.dev.str(key::dev_key), r.cfg.str(key::cert_pem)));
  CHECK(r.cfg.str(key::mqtt_host) == "broker.example");
  CHECK(r.cfg.str(key::gw_code) == "GW-ZT-1");
  CHECK(r.cfg.str(key::prov_by) == "zero-touch");
  CHECK(r.cfg.str(key::ca_pem) == r.ca.caPem);
  uint16_t port = 0;
  CHECK((r.cfg.getU16(key::mqtt_port, port) && port == 8883));
  CHECK_FALSE(r.dev.has(key::bs_id));
  CHECK_FALSE(r.dev.has(key::bs_key));
  CHECK_FALSE(r.dev.has(key::bs_meta));
  std::vector<std::string> installWrites;
  for (const std::string& w : r.writes)
    if (w == "nvs/key_pem" || w.rfind("tdscfg/", 0) == 0) installWrites.push_back(w);
  REQUIRE(installWrites.size() >= 3);
  CHECK(installWrites.front() == "nvs/key_pem");
  CHECK(installWrites.back() == "tdscfg/cert_pem");
  DeviceConfig c;
  loadConfig(r.cfg, c);
  CHECK(checkConfig(r.rng, c, r.dev, kMac).ok);
}

TEST_CASE("bootstrap, attested path: nonce, birth-key signature over MAC, nonce and the CSR's DER hash; a used nonce is replaced") {
  Rig r;
  std::string birthKey, err;
  REQUIRE(generateEcKey(r.rng, birthKey, err));
  const std::string birthCert = r.ca.issueForKey(birthKey, kMac, "b1");
  r.cfg.setString(key::birth_cert, birthCert);
  r.dev.setString(key::dev_birth_key, birthKey);  // made on the device at the bench
  int nonces = 0, requests = 0;
  r.http.serve = [&](const HttpRequest& q, HttpResult& a) {
    if (q.url == kUrl + "/gateways/bootstrap/nonce/") {
      Json body(cJSON_Parse(q.body.c_str()));
      CHECK(body.str("mac_address") == kMac);
      return answer(a, 201, "{\"nonce\":\"nonce-" + std::to_string(++nonces) + "\",\"expires_in\":300}");
    }
    if (q.url == kUrl + "/gateways/bootstrap/") {
      Json body(cJSON_Parse(q.body.c_str()));
      if (++requests == 1) {
        CHECK(body.str("nonce") == "nonce-1");
        return answer(a, 401, refusal("nonce_invalid"));
      }
      CHECK(body.str("nonce") == "nonce-2");
      CHECK(body.str("birth_certificate_pem") == birthCert);
      Csr csr(body.str("csr_pem"));
      REQUIRE(csr.ok);
      mbedtls_x509_crt bc;
      mbedtls_x509_crt_init(&bc);
      REQUIRE(mbedtls_x509_crt_parse(&bc, reinterpret_cast<const unsigned char*>(birthCert.c_str()), birthCert.size() + 1) == 0);
      const std::string msg = "tds-bootstrap-attest/1\n" + kMac + "\nnonce-2\n" + csr.derSha256();
      CHECK(verify(&bc.pk, msg, body.str("attestation_signature")));
      // Not signed by the operational key.
      CHECK_FALSE(verify(&csr.c.pk, msg, body.str("attestation_signature")));
      mbedtls_x509_crt_free(&bc);
      return answer(a, 201, pending("attested"));
    }
    answer(a, 202, "{}", "5");
  };
  r.b.begin(r.settings());
  REQUIRE(r.run([&] { return r.b.step() == Bootstrap::Step::poll && !r.b.requestId().empty(); }));
  CHECK(nonces == 2);
  CHECK(requests == 2);
  REQUIRE(!r.eventJson.empty());
  Json waiting(cJSON_Parse(r.eventJson.back().c_str()));
  CHECK(waiting.str("state") == "waiting");
  CHECK(waiting.str("path") == "attested");
  CHECK(waiting.item("code") == nullptr);
  // The waiting event comes again every 60 s while pending.
  const size_t before = r.events.size();
  r.run([] { return false; }, 61000);
  CHECK(std::count(r.events.begin() + static_cast<long>(before), r.events.end(), "waiting") >= 1);
}

TEST_CASE("bootstrap: 410 rejected or expired and an unknown id start again with a new key; the old state is erased") {
  for (const std::string& gone : {std::string("rejected"), std::string("expired"), std::string("not_found")}) {
    CAPTURE(gone);
    Rig r;
    int posts = 0;
    std::vector<std::string> csrs;
    r.http.serve = [&](const HttpRequest& q, HttpResult& a) {
      if (q.method == "POST") {
        csrs.push_back(Json(cJSON_Parse(q.body.c_str())).str("csr_pem"));
        return answer(a, 201, pending("open", posts++ == 0 ? kId : "ffffffffffffffffffffffffffffffff"));
      }
      if (gone == "not_found") return answer(a, 404, refusal("not_found"));
      answer(a, 410, "{\"error\":\"gone\",\"details\":{\"code\":\"" + gone + "\",\"reason\":\"fingerprint differs\"}}");
    };
    r.b.begin(r.settings());
    REQUIRE(r.run([&] { return posts == 2; }, 200000));
    REQUIRE(csrs.size() == 2);
    CHECK(spki(csrs[0]) != spki(csrs[1]));  // a new key
    CHECK(r.b.requestId() == "ffffffffffffffffffffffffffffffff");
    CHECK(r.dev.str(key::bs_id) == "ffffffffffffffffffffffffffffffff");
    if (gone != "not_found") {
      CHECK(std::find(r.events.begin(), r.events.end(), gone) != r.events.end());
      if (gone == "rejected") CHECK(r.eventJson[2].find("fingerprint differs") != std::string::npos);
    }
  }
}

TEST_CASE("bootstrap: a reboot resumes the stored request (server time from the Date header); a lost id is found with the same key") {
  Rig r;
  std::string csrPem;
  r.http.serve = [&](const HttpRequest& q, HttpResult& a) {
    if (q.method == "POST") {
      csrPem = Json(cJSON_Parse(q.body.c_str())).str("csr_pem");
      return answer(a, 201, pending("open"));
    }
    answer(a, 202, "{}", "5");
  };
  r.b.begin(r.settings());
  REQUIRE(r.run([&] { return !r.b.requestId().empty(); }));
  const std::string key = r.dev.str(key::bs_key);

  // "Reboot": a fresh state machine on the same NVS.
  Bootstrap again(r.p, r.cfg, r.dev, r.http, r.rng, FirmwareInfo{"tds-gateway", "1.4.0"}, [&](cJSON* o) {
    Json j(o);
    r.events.push_back(j.str("state"));
    r.eventJson.push_back(j.print());
  });
  r.http.seen.clear();
  again.begin(r.settings());
  CHECK(again.requestId() == kId);
  for (int i = 0; i < 3; ++i, r.p.now += 100) again.tick(r.p.now);
  REQUIRE(r.http.seen.size() >= 2);
  CHECK(r.http.seen[0].req.url == kUrl + "/health");
  CHECK(r.http.seen[1].req.url == kUrl + "/gateways/bootstrap/" + kId + "/");
  int64_t dateEpoch = 0;
  REQUIRE(parseHttpDate("Fri, 15 Jan 2027 08:00:00 GMT", dateEpoch));
  CHECK(header(r.http.seen[1].req, "X-TDS-Timestamp") == std::to_string(dateEpoch));
  Json shown(cJSON_Parse(r.eventJson.back().c_str()));
  CHECK(shown.str("code") == "K7M2-Q4T0");  // the code comes back from bs_meta

  // The id was never stored (reboot right after the request): the same key asks again.
  r.dev.erase(key::bs_id);
  r.dev.erase(key::bs_meta);
  Bootstrap third(r.p, r.cfg, r.dev, r.http, r.rng, FirmwareInfo{"tds-gateway", "1.4.0"}, [](cJSON* o) { cJSON_Delete(o); });
  const std::string firstCsr = csrPem;
  third.begin(r.settings());
  for (int i = 0; i < 3; ++i, r.p.now += 100) third.tick(r.p.now);
  CHECK(r.dev.str(key::bs_key) == key);
  CHECK(spki(firstCsr) == spki(csrPem));  // the same key asked again
}

TEST_CASE("bootstrap: a certificate that is not for this device, or an answer carrying a private key, installs nothing") {
  std::string otherKey, err, otherCsr;
  Rng rng;
  REQUIRE(generateEcKey(rng, otherKey, err));
  REQUIRE(makeCsr(rng, otherKey, kMac, otherCsr, err));
  for (int variant = 0; variant < 4; ++variant) {
    CAPTURE(variant);
    Rig r;
    std::string csrPem;
    testing::TestCa foreign{r.rng, "Foreign CA"};
    r.http.serve = [&](const HttpRequest& q, HttpResult& a) {
      if (q.method == "POST") {
        csrPem = Json(cJSON_Parse(q.body.c_str())).str("csr_pem");
        return answer(a, 201, pending("open"));
      }
      std::string body = r.issuedBody(variant == 0 ? otherCsr : csrPem);
      if (variant == 1) {  // another MAC in the CN
        std::string k;
        generateEcKey(r.rng, k, err);
        body = r.issuedBody(csrPem);
        Json j(cJSON_Parse(body.c_str()));
        cJSON_ReplaceItemInObject(j.get(), "certificate_pem", cJSON_CreateString(r.ca.issueForKey(r.dev.str(key::bs_key), "24:6f:28:00:00:01", "77").c_str()));
        body = j.print();
      }
      if (variant == 2) {  // signed by a CA that is not the one in the answer
        Json j(cJSON_Parse(body.c_str()));
        cJSON_ReplaceItemInObject(j.get(), "certificate_pem", cJSON_CreateString(foreign.issue(csrPem, "78").c_str()));
        body = j.print();
      }
      if (variant == 3) {
        Json j(cJSON_Parse(body.c_str()));
        cJSON_AddStringToObject(j.get(), "private_key_pem", otherKey.c_str());
        body = j.print();
      }
      answer(a, 200, body);
    };
    r.b.begin(r.settings());
    REQUIRE(r.run([&] { return std::find(r.events.begin(), r.events.end(), "error") != r.events.end(); }));
    CHECK(r.b.step() == Bootstrap::Step::poll);  // tries again later, request kept
    CHECK_FALSE(r.cfg.has(key::cert_pem));
    CHECK_FALSE(r.dev.has(key::dev_key));
    CHECK(r.dev.has(key::bs_key));
    Json e(cJSON_Parse(r.eventJson.back().c_str()));
    CHECK(e.str("code") == (variant == 3 ? "bad_response" : "certificate_invalid"));
    CHECK(e.item("retry_in_s")->valuedouble >= 45);
  }
}

TEST_CASE("bootstrap: failures are reported with a code and a retry time; refusals back off 60 s → 1 h, limits wait Retry-After") {
  Rig r;
  std::vector<std::pair<int, std::string>> script = {{0, "tls_verify"}, {403, "open_enrolment_off"}, {403, "open_enrolment_off"},
                                                     {429, "too_many_pending"}, {201, ""}};
  size_t i = 0;
  r.http.serve = [&](const HttpRequest&, HttpResult& a) {
    const auto step = script[i < script.size() ? i : script.size() - 1];
    ++i;
    if (step.first == 0) {
      a.failure = step.second;
      a.message = "the server's certificate is refused by the pinned CA";
      return;
    }
    if (step.first == 201) return answer(a, 201, pending("open"));
    answer(a, step.first, refusal(step.second), step.first == 429 ? "30" : "");
  };
  r.b.begin(r.settings());
  REQUIRE(r.run([&] { return !r.b.requestId().empty(); }, 600000));
  std::vector<double> retries;
  std::vector<std::string> codes;
  for (const std::string& s : r.eventJson) {
    Json j(cJSON_Parse(s.c_str()));
    if (j.str("state") != "error") continue;
    codes.push_back(j.str("code"));
    retries.push_back(j.item("retry_in_s")->valuedouble);
  }
  REQUIRE(codes == std::vector<std::string>{"tls_verify", "open_enrolment_off", "open_enrolment_off", "too_many_pending"});
  CHECK((retries[0] >= 7 && retries[0] <= 10));
  CHECK((retries[1] >= 90 && retries[1] <= 120));  // the second failure in a row
  CHECK((retries[2] >= 180 && retries[2] <= 240));
  CHECK(retries[3] == 30);
  // Each attempt came no sooner than announced.
  for (size_t k = 0; k + 1 < r.http.seen.size() && k < retries.size(); ++k)
    CHECK(r.http.seen[k + 1].atMs - r.http.seen[k].atMs >= static_cast<uint64_t>(retries[k] * 1000));
}

TEST_CASE("app: a board without identity onboards itself, then connects with the new certificate; without Wi-Fi it waits for Improv") {
  std::vector<std::string> writes;
  testing::FakePlatform p;
  p.mac = kMac;
  OrderedKv cfg{&writes, "tdscfg"}, dev{&writes, "nvs"};
  testing::FakeMqtt mqtt;
  Rng rng;
  testing::TestCa ca{rng};
  FakeHttps http{p, dev};
  cfg.setString(key::bs_url, kUrl);
  cfg.setString(key::bs_ca, ca.caPem);
  {
    GatewayApp idle(p, cfg, dev, mqtt, nullptr, rng, FirmwareInfo{"tds-gateway", "2.0.0"}, &http);
    idle.begin();
    idle.loop();
    CHECK(idle.state() == AppState::provisioning);
    CHECK(http.seen.empty());
    CHECK(std::find(p.logs.begin(), p.logs.end(), "bootstrap: ready, waiting for Wi-Fi (Improv or the console)") != p.logs.end());
  }
  cfg.setString(key::wifi_ssid, "bench");
  std::string csrPem;
  http.serve = [&](const HttpRequest& q, HttpResult& a) {
    if (q.method == "POST") {
      csrPem = Json(cJSON_Parse(q.body.c_str())).str("csr_pem");
      // Approved already: the same key's request answered with 200, then fetched at once.
      return answer(a, 200, "{\"bootstrap_id\":\"" + kId + "\",\"status\":\"approved\",\"poll_interval\":5,\"server_time\":" + std::to_string(kServerTime) + "}");
    }
    const std::string cert = ca.issue(csrPem, "0c");
    answer(a, 200, "{\"status\":\"issued\",\"codigo\":\"GW-APP\",\"certificate_pem\":" + Json(cJSON_CreateString(cert.c_str())).print() +
                       ",\"ca_pem\":" + Json(cJSON_CreateString(ca.caPem.c_str())).print() + ",\"mqtt_broker\":\"broker\",\"mqtt_port\":8883}");
  };
  GatewayApp app(p, cfg, dev, mqtt, nullptr, rng, FirmwareInfo{"tds-gateway", "2.0.0"}, &http);
  app.begin();
  for (int i = 0; i < 50 && app.state() != AppState::online; ++i, p.now += 100) app.loop();
  REQUIRE(app.state() == AppState::online);
  REQUIRE(mqtt.connects.size() == 1);
  CHECK(mqtt.connects[0].certPem == cfg.str(key::cert_pem));
  CHECK(keyMatchesCert(rng, mqtt.connects[0].keyPem, mqtt.connects[0].certPem));
  CHECK(mqtt.connects[0].clientId == kMac);
  const std::string out = p.out;
  CHECK(out.find("\"state\":\"bootstrapping\"") != std::string::npos);
  CHECK(out.find("\"state\":\"installed\"") != std::string::npos);
}

TEST_CASE("console: bootstrap keys are checked when staged; a board ready to onboard commits; the last csr's key becomes the birth key") {
  testing::FakePlatform p;
  p.mac = kMac;
  testing::MemKv cfg, dev;
  Rng rng;
  testing::TestCa ca{rng};
  Console console{p, cfg, dev, rng, FirmwareInfo{"tds-gateway", "1.2.3"}, Console::Hooks{[] { return std::string("provisioning"); }, [] {}}};
  auto call = [&](const std::string& json) {
    const std::string line = "TDS " + json + "\n";
    console.feed(reinterpret_cast<const uint8_t*>(line.data()), line.size());
    auto lines = p.takeTdsLines();
    REQUIRE(lines.size() == 1);
    return Json(cJSON_Parse(lines[0].c_str()));
  };
  auto set = [&](const char* k, const std::string& v) {
    Json req(cJSON_CreateObject());
    cJSON_AddStringToObject(req.get(), "cmd", "set");
    cJSON_AddStringToObject(req.get(), "key", k);
    cJSON_AddStringToObject(req.get(), "value", v.c_str());
    return call(req.print());
  };
  CHECK(set("bs_url", "http://insecure.example/api/v1").str("error") == "bad_value");
  CHECK(set("bs_ca", "not a certificate").str("error") == "bad_value");
  CHECK(set("birth_cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").str("error") == "bad_value");
  Json csr = call("{\"cmd\":\"csr\"}");
  REQUIRE(cJSON_IsTrue(csr.item("ok")));
  const std::string birthCert = ca.issue(csr.str("csr_pem"), "b2");
  REQUIRE(cJSON_IsTrue(set("bs_url", kUrl).item("ok")));
  REQUIRE(cJSON_IsTrue(set("bs_ca", ca.caPem).item("ok")));
  REQUIRE(cJSON_IsTrue(set("birth_cert", birthCert).item("ok")));
  Json commit = call("{\"cmd\":\"commit\"}");
  REQUIRE(cJSON_IsTrue(commit.item("ok")));
  CHECK(cJSON_IsFalse(commit.item("valid")));
  CHECK(cJSON_IsTrue(commit.item("bootstrap_ready")));
  CHECK(keyMatchesCert(rng, dev.str(key::dev_birth_key), birthCert));
  CHECK_FALSE(dev.has(key::dev_key_new));
  CHECK_FALSE(dev.has(key::dev_key));
  Json info = call("{\"cmd\":\"info\"}");
  const cJSON* bs = info.item("bootstrap");
  REQUIRE(cJSON_IsObject(bs));
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(bs, "ready")));
  CHECK(std::string(cJSON_GetObjectItem(bs, "path")->valuestring) == "attested");
  // The birth key never appears in info.
  CHECK(info.print().find("PRIVATE KEY") == std::string::npos);
  // Without the URL the board is neither complete nor ready: refused, and the problems say why.
  REQUIRE(cJSON_IsTrue(call("{\"cmd\":\"set\",\"key\":\"bs_url\",\"value\":null}").item("ok")));
  Json refused = call("{\"cmd\":\"commit\"}");
  CHECK(refused.str("error") == "invalid_config");
  CHECK(refused.print().find("bootstrap: bs_url is missing") != std::string::npos);
}
