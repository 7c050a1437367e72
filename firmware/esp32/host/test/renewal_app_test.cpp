// Renewal state machine and the gateway app (boot, MQTT session, commands, telemetry) with fakes.
#include <doctest/doctest.h>

#include "helpers.h"
#include "tds_app.h"
#include "tds_json.h"
#include "tds_renewal.h"

using namespace tds;

namespace {

const std::string kMac = "24:6f:28:aa:bb:cc";

// A device provisioned with a station-made key in tdscfg (the common bench case).
struct Device {
  Rng rng;
  testing::TestCa ca{rng};
  testing::MemKv cfg, dev;
  std::string key, cert;
  Device() {
    std::string err, csr;
    generateEcKey(rng, key, err);
    makeCsr(rng, key, kMac, csr, err);
    cert = ca.issue(csr, "01aa");
    cfg.setString(key::ca_pem, ca.caPem);
    cfg.setString(key::cert_pem, cert);
    cfg.setString(key::key_pem, key);
    cfg.setString(key::wifi_ssid, "bench");
    cfg.setString(key::wifi_pass, "bench-pass");
    cfg.setString(key::mqtt_host, "broker");
    cfg.setU16(key::mqtt_port, 8883);
    cfg.setString(key::mac, kMac);
  }
  DeviceConfig config() {
    DeviceConfig c;
    loadConfig(cfg, c);
    return c;
  }
  // What the server does with a CSR payload: sign it.
  Command certUpdateFor(const std::string& csrPayload, const std::string& serial) {
    Json j(cJSON_Parse(csrPayload.c_str()));
    Command c;
    c.kind = CommandKind::cert_update;
    c.cmd = "cert_update";
    c.id = j.str("id");
    c.certificatePem = ca.issue(j.str("csr_pem"), serial);
    c.serialNumber = serial;
    return c;
  }
};

}  // namespace

TEST_CASE("renewal: CSR → cert_update → trial connection → promoted and acknowledged") {
  Device d;
  Renewal rn(d.cfg, d.dev, d.rng, kMac);
  rn.load();
  RenewalOutput out;
  std::string err;
  REQUIRE(rn.start("r1", 0, out, err));
  CHECK(rn.phase() == Renewal::Phase::awaiting_cert);
  Json csr(cJSON_Parse(out.csrPayload.c_str()));
  CHECK(csr.str("id") == "r1");
  CHECK(csr.str("csr_pem").find("BEGIN CERTIFICATE REQUEST") != std::string::npos);

  // The old credentials are still used while waiting.
  Credentials cr;
  REQUIRE(rn.credentials(d.config(), cr));
  CHECK(cr.cert_pem == d.cert);
  CHECK(cr.source == KeySource::tdscfg);

  Command upd = d.certUpdateFor(out.csrPayload, "02bb");
  RenewalOutput o2;
  REQUIRE(rn.onCertUpdate(upd, d.config(), o2, err));
  CHECK(o2.reconnect);
  CHECK(rn.phase() == Renewal::Phase::trial);
  REQUIRE(rn.credentials(d.config(), cr));
  CHECK(cr.cert_pem == upd.certificatePem);
  CHECK(d.cfg.str(key::cert_pem) == d.cert);  // not yet installed

  RenewalOutput o3;
  rn.onConnected(o3);
  CHECK(rn.phase() == Renewal::Phase::idle);
  CHECK(o3.ackPayload == R"({"id":"r1","serial_number":"02bb"})");
  CHECK(d.cfg.str(key::cert_pem) == upd.certificatePem);
  CHECK(d.cfg.m.count(key::key_pem) == 0);  // the station key of the old certificate is gone
  CHECK(keyMatchesCert(d.rng, d.dev.str(key::dev_key), upd.certificatePem));
  CHECK(d.dev.m.count(rnkey::key) == 0);
  REQUIRE(rn.credentials(d.config(), cr));
  CHECK(cr.source == KeySource::device);
}

TEST_CASE("renewal: a refused renewed certificate rolls back after 3 failures") {
  Device d;
  Renewal rn(d.cfg, d.dev, d.rng, kMac);
  RenewalOutput out, o;
  std::string err;
  REQUIRE(rn.start("r2", 0, out, err));
  REQUIRE(rn.onCertUpdate(d.certUpdateFor(out.csrPayload, "03"), d.config(), o, err));
  RenewalOutput f1, f2, f3;
  rn.onConnectFailed(f1);
  rn.onConnectFailed(f2);
  CHECK(rn.phase() == Renewal::Phase::trial);
  rn.onConnectFailed(f3);
  CHECK(rn.phase() == Renewal::Phase::idle);
  CHECK(f3.logEvent.find("cert_update_rolled_back") != std::string::npos);
  Credentials cr;
  REQUIRE(rn.credentials(d.config(), cr));
  CHECK(cr.cert_pem == d.cert);
}

TEST_CASE("renewal: bad cert_update messages are refused and change nothing") {
  Device d;
  Renewal rn(d.cfg, d.dev, d.rng, kMac);
  RenewalOutput out, o;
  std::string err;
  Command stray = d.certUpdateFor(csrJson("x", ""), "04");
  CHECK_FALSE(rn.onCertUpdate(stray, d.config(), o, err));  // nothing pending
  CHECK(err.find("no renewal pending") != std::string::npos);
  REQUIRE(rn.start("r3", 0, out, err));
  // Certificate for another key.
  Command wrongKey;
  wrongKey.kind = CommandKind::cert_update;
  wrongKey.id = "r3";
  wrongKey.certificatePem = d.cert;
  CHECK_FALSE(rn.onCertUpdate(wrongKey, d.config(), o, err));
  CHECK(err.find("does not match the key") != std::string::npos);
  // Signed by a stranger CA.
  testing::TestCa stranger(d.rng, "Evil CA");
  Json csr(cJSON_Parse(out.csrPayload.c_str()));
  Command evil = wrongKey;
  evil.certificatePem = stranger.issue(csr.str("csr_pem"), "05");
  CHECK_FALSE(rn.onCertUpdate(evil, d.config(), o, err));
  // Serial number that disagrees with the certificate.
  Command lie = d.certUpdateFor(out.csrPayload, "06");
  lie.serialNumber = "07";
  CHECK_FALSE(rn.onCertUpdate(lie, d.config(), o, err));
  CHECK(rn.phase() == Renewal::Phase::awaiting_cert);
  // State survives a reboot: a fresh instance resends the CSR on its first tick.
  Renewal after(d.cfg, d.dev, d.rng, kMac);
  after.load();
  CHECK(after.phase() == Renewal::Phase::awaiting_cert);
  RenewalOutput t;
  after.tick(5, 0, nullptr, t);
  Json again(cJSON_Parse(t.csrPayload.c_str()));
  CHECK(again.str("id") == "r3");
  REQUIRE(after.onCertUpdate(d.certUpdateFor(t.csrPayload, "08"), d.config(), o, err));
}

TEST_CASE("renewal: automatic start near expiry, resends, gives up") {
  CertInfo c;
  c.notBeforeEpoch = epochFromCivil(2024, 1, 1, 0, 0, 0);
  c.notAfterEpoch = epochFromCivil(2034, 1, 1, 0, 0, 0);
  CHECK(Renewal::renewAfter(c) == c.notAfterEpoch - 30 * 86400);
  CertInfo shortLived = c;
  shortLived.notAfterEpoch = c.notBeforeEpoch + 10 * 86400;
  CHECK(Renewal::renewAfter(shortLived) == shortLived.notAfterEpoch - 2 * 86400);

  Device d;
  Renewal rn(d.cfg, d.dev, d.rng, kMac);
  RenewalOutput o;
  rn.tick(0, 0, &c, o);  // no clock: never
  CHECK(rn.phase() == Renewal::Phase::idle);
  rn.tick(0, c.notAfterEpoch - 40 * 86400, &c, o);
  CHECK(rn.phase() == Renewal::Phase::idle);
  rn.tick(0, c.notAfterEpoch - 10 * 86400, &c, o);
  CHECK(rn.phase() == Renewal::Phase::awaiting_cert);
  CHECK(Json(cJSON_Parse(o.csrPayload.c_str())).str("id").rfind("auto-", 0) == 0);
  int sends = 1;
  uint64_t t = 0;
  for (int i = 0; i < 10 && rn.phase() == Renewal::Phase::awaiting_cert; ++i) {
    t += Renewal::kResendMs;
    RenewalOutput r;
    rn.tick(t, c.notAfterEpoch - 10 * 86400, &c, r);
    if (!r.csrPayload.empty()) ++sends;
  }
  CHECK(sends == static_cast<int>(Renewal::kMaxSends));
  CHECK(rn.phase() == Renewal::Phase::idle);
  RenewalOutput none;
  rn.tick(t + 1, c.notAfterEpoch - 10 * 86400, &c, none);  // blocked for a day after giving up
  CHECK(rn.phase() == Renewal::Phase::idle);
}

namespace {

struct AppRig {
  Device d;
  testing::FakePlatform p;
  testing::FakeMqtt mqtt;
  testing::FakeBus bus;
  GatewayApp app{p, d.cfg, d.dev, mqtt, &bus, d.rng, FirmwareInfo{"tds-gateway", "2.0.0"}};
  void run(int n = 3) {
    for (int i = 0; i < n; ++i) {
      p.now += 100;
      app.loop();
    }
  }
  std::string status() {
    auto s = mqtt.on("/status");
    return s.empty() ? "" : s.back().payload;
  }
};

}  // namespace

TEST_CASE("app: no configuration → provisioning mode, no crash loop, no network") {
  testing::FakePlatform p;
  testing::MemKv cfg, dev;
  testing::FakeMqtt mqtt;
  Rng rng;
  GatewayApp app(p, cfg, dev, mqtt, nullptr, rng, FirmwareInfo{"tds-gateway", "2.0.0"});
  app.begin();
  for (int i = 0; i < 5; ++i) app.loop();
  CHECK(app.state() == AppState::provisioning);
  CHECK(p.led == Led::provisioning);
  CHECK(p.wifiBegins == 0);
  CHECK(mqtt.connects.empty());
  CHECK_FALSE(p.rebootRequested);
  auto lines = p.takeTdsLines();
  REQUIRE(!lines.empty());
  CHECK(lines[0].find("\"event\":\"boot\"") != std::string::npos);
  CHECK(lines[0].find("\"config_valid\":false") != std::string::npos);
}

TEST_CASE("app: connects with mTLS credentials, Last Will, retained online, commands") {
  AppRig r;
  r.app.begin();
  r.run();
  REQUIRE(r.app.state() == AppState::online);
  REQUIRE(r.mqtt.connects.size() == 1);
  const MqttConnectOptions& o = r.mqtt.connects[0];
  CHECK(o.clientId == kMac);
  CHECK(o.host == "broker");
  CHECK(o.port == 8883);
  CHECK(o.certPem == r.d.cert);
  CHECK(o.keyPem == r.d.key);
  CHECK(o.willTopic == "tds_new/devices/" + kMac + "/status");
  CHECK(o.willPayload == "offline");
  CHECK(o.willRetain);
  CHECK(r.mqtt.subs.at(0) == "tds_new/devices/" + kMac + "/commands");
  auto st = r.mqtt.on("/status");
  REQUIRE(st.size() == 1);
  CHECK(st[0].payload == "online");
  CHECK(st[0].retain);
  CHECK(r.p.led == Led::online);

  r.mqtt.deliver("tds_new/devices/" + kMac + "/commands", R"({"cmd":"ping","id":"p1"})");
  auto logs = r.mqtt.on("/logs");
  REQUIRE(logs.size() == 1);
  Json pong(cJSON_Parse(logs[0].payload.c_str()));
  CHECK(pong.str("event") == "pong");
  CHECK(pong.str("id") == "p1");
  CHECK(pong.str("firmware_version") == "2.0.0");
  // Commands for another device's topic are ignored.
  r.mqtt.deliver("tds_new/devices/24:6f:28:00:00:01/commands", R"({"cmd":"reboot","id":"x"})");
  CHECK_FALSE(r.p.rebootRequested);
  r.mqtt.deliver("tds_new/devices/" + kMac + "/commands", R"({"cmd":"dance","id":"d1"})");
  CHECK(r.mqtt.on("/logs").back().payload.find("command_rejected") != std::string::npos);

  r.mqtt.deliver("tds_new/devices/" + kMac + "/commands", R"({"cmd":"reboot","id":"b1"})");
  CHECK(r.status() == "offline");
  CHECK(r.mqtt.on("/status").back().retain);
  CHECK(r.mqtt.disconnects == 1);
  CHECK(r.p.rebootRequested);
  CHECK(r.app.state() == AppState::rebooting);
}

TEST_CASE("app: Wi-Fi and broker failures back off instead of hammering") {
  AppRig r;
  r.p.wifiWorks = false;
  r.app.begin();
  r.run(20);  // 2 s
  CHECK(r.p.wifiBegins == 1);
  CHECK(r.app.state() == AppState::wifi_connecting);
  r.p.now += 10000;
  r.run(1);
  CHECK(r.p.wifiBegins == 2);
  r.p.wifiWorks = true;
  r.p.now += 30000;
  r.mqtt.acceptConnect = false;
  r.run(5);
  CHECK(r.p.wifiBegins == 3);
  CHECK(r.mqtt.connects.size() == 1);
  CHECK(r.app.state() == AppState::mqtt_connecting);
  r.mqtt.acceptConnect = true;
  r.p.now += 5000;
  r.run(2);
  CHECK(r.mqtt.connects.size() == 2);
  CHECK(r.app.state() == AppState::online);
  // Broker drops us: reconnect after the backoff.
  r.mqtt.up = false;
  r.run(1);
  CHECK(r.app.state() == AppState::online);  // reconnected immediately (attempt 0 has no delay)
  CHECK(r.mqtt.connects.size() == 3);
}

TEST_CASE("app: cert_renew over MQTT end to end with the fake broker") {
  AppRig r;
  r.app.begin();
  r.run();
  REQUIRE(r.app.state() == AppState::online);
  const std::string cmdTopic = "tds_new/devices/" + kMac + "/commands";
  r.mqtt.deliver(cmdTopic, R"({"cmd":"cert_renew","id":"rn-1"})");
  auto csrs = r.mqtt.on("/cert/csr");
  REQUIRE(csrs.size() == 1);
  Command upd = r.d.certUpdateFor(csrs[0].payload, "0c0c");
  Json cmd(cJSON_CreateObject());
  cJSON_AddStringToObject(cmd.get(), "cmd", "cert_update");
  cJSON_AddStringToObject(cmd.get(), "id", "rn-1");
  cJSON_AddStringToObject(cmd.get(), "certificate_pem", upd.certificatePem.c_str());
  cJSON_AddStringToObject(cmd.get(), "serial_number", "0c0c");
  r.mqtt.deliver(cmdTopic, cmd.print());
  CHECK(r.mqtt.disconnects == 1);
  r.run(2);
  REQUIRE(r.mqtt.connects.size() == 2);
  CHECK(r.mqtt.connects[1].certPem == upd.certificatePem);
  auto acks = r.mqtt.on("/cert/ack");
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].payload == R"({"id":"rn-1","serial_number":"0c0c"})");
  CHECK(r.d.cfg.str(key::cert_pem) == upd.certificatePem);
  // Next ping reports the new serial.
  r.mqtt.deliver(cmdTopic, R"({"cmd":"ping","id":"p2"})");
  CHECK(r.mqtt.on("/logs").back().payload.find("\"cert_serial\":\"c0c\"") != std::string::npos);
}

TEST_CASE("app: telemetry from Modbus in the seed payload, each point at its own interval, one read per loop") {
  AppRig r;
  r.d.cfg.setString(key::modbus,
                    R"({"v":1,"pts":[[1,3,0,"f32",1,"m3",60],[1,3,2,"u16",0.1,"C",5],[1,3,9,"u16",1,"x",60]]})");
  r.bus.regs = {{0, 0x4120}, {1, 0x0000}, {2, 235}};
  r.p.clock = epochFromCivil(2026, 3, 4, 5, 6, 7);
  r.app.begin();
  for (int i = 0; i < 10 && r.app.state() != AppState::online; ++i) r.run(1);
  REQUIRE(r.app.state() == AppState::online);
  // The loop that connected read the first point, and only that one.
  auto tel = r.mqtt.on("/telemetry");
  REQUIRE(tel.size() == 1);
  Json a(cJSON_Parse(tel[0].payload.c_str()));
  CHECK(cJSON_GetObjectItem(a.get(), "valor")->valuedouble == doctest::Approx(10.0));
  CHECK(a.str("unidade") == "m3");
  CHECK(a.str("gateway_mac") == kMac);
  CHECK(a.str("timestamp") == "2026-03-04T05:06:07Z");
  CHECK(cJSON_GetObjectItem(a.get(), "slave_id")->valueint == 1);
  CHECK(cJSON_GetObjectItem(a.get(), "register")->valueint == 0);
  r.run(1);
  tel = r.mqtt.on("/telemetry");
  REQUIRE(tel.size() == 2);
  Json b(cJSON_Parse(tel[1].payload.c_str()));
  CHECK(cJSON_GetObjectItem(b.get(), "valor")->valuedouble == doctest::Approx(23.5));
  CHECK(cJSON_GetObjectItem(b.get(), "register")->valueint == 2);
  r.run(1);  // register 9 does not exist on the slave: an exception, reported on the logs topic
  CHECK(r.mqtt.on("/telemetry").size() == 2);
  CHECK(r.mqtt.on("/logs").back().payload.find("modbus_error") != std::string::npos);
  CHECK(r.mqtt.on("/logs").back().payload.find("slave 1 reg 9: exception") != std::string::npos);
  r.run(5);
  CHECK(r.mqtt.on("/telemetry").size() == 2);  // nothing is due yet
  r.p.now += 5000;
  r.run(3);
  tel = r.mqtt.on("/telemetry");
  REQUIRE(tel.size() == 3);  // only the 5 s point
  CHECK(tel[2].payload.find("\"register\":2") != std::string::npos);
  r.p.now += 60000;
  r.run(3);
  CHECK(r.mqtt.on("/telemetry").size() == 5);  // all three due: 2 readings + 1 error
}

TEST_CASE("app: while the clock is not set a reading carries no timestamp (the server dates it); once set, it does") {
  AppRig r;
  r.d.cfg.setString(key::modbus, R"({"v":1,"pts":[[1,3,2,"u16",0.1,"C",5]]})");
  r.bus.regs = {{2, 235}};
  r.p.clock = 0;
  r.app.begin();
  for (int i = 0; i < 10 && r.app.state() != AppState::online; ++i) r.run(1);
  REQUIRE(r.app.state() == AppState::online);
  auto tel = r.mqtt.on("/telemetry");
  REQUIRE(tel.size() == 1);
  Json a(cJSON_Parse(tel[0].payload.c_str()));
  CHECK(a.item("timestamp") == nullptr);
  CHECK(cJSON_GetObjectItem(a.get(), "valor")->valuedouble == doctest::Approx(23.5));
  CHECK(a.str("gateway_mac") == kMac);
  r.p.clock = epochFromCivil(2026, 3, 4, 5, 6, 7);  // SNTP answered
  r.p.now += 5000;
  r.run(2);
  tel = r.mqtt.on("/telemetry");
  REQUIRE(tel.size() == 2);
  CHECK(Json(cJSON_Parse(tel[1].payload.c_str())).str("timestamp") == "2026-03-04T05:06:07Z");
}

TEST_CASE("app: a Modbus table with more devices than max_dev keeps the board in provisioning mode") {
  AppRig r;
  r.d.cfg.setString(key::modbus, R"({"v":1,"max_dev":1,"pts":[[1,3,0,"u16",1,"V",60],[2,3,0,"u16",1,"V",60]]})");
  r.app.begin();
  r.run(3);
  CHECK(r.app.state() == AppState::provisioning);
  CHECK(r.mqtt.connects.empty());
  CHECK(r.mqtt.on("/telemetry").empty());
}

TEST_CASE("app: a console commit reloads the configuration and reconnects") {
  AppRig r;
  r.app.begin();
  r.run();
  REQUIRE(r.app.state() == AppState::online);
  const std::string req = "TDS {\"id\":1,\"cmd\":\"set\",\"key\":\"mqtt_port\",\"value\":8884}\nTDS {\"id\":2,\"cmd\":\"commit\"}\n";
  r.app.onSerial(reinterpret_cast<const uint8_t*>(req.data()), req.size());
  r.run(3);
  CHECK(r.mqtt.connects.back().port == 8884);
  CHECK(r.app.state() == AppState::online);
}
