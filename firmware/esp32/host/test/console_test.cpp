// The serial console protocol (tds-console/1) and Improv Wi-Fi on the same byte stream.
#include <doctest/doctest.h>

#include "helpers.h"
#include "tds_console.h"
#include "tds_improv.h"
#include "tds_json.h"
#include "tds_renewal.h"
#include "tds_util.h"

using namespace tds;

namespace {

struct Rig {
  testing::FakePlatform platform;
  testing::MemKv cfg, dev;
  Rng rng;
  int commits = 0;
  Console console{platform, cfg, dev, rng, FirmwareInfo{"tds-gateway", "1.2.3"},
                  Console::Hooks{[] { return std::string("provisioning"); }, [this] { ++commits; }}};

  Json call(const std::string& json) {
    const std::string line = "TDS " + json + "\n";
    console.feed(reinterpret_cast<const uint8_t*>(line.data()), line.size());
    auto lines = platform.takeTdsLines();
    REQUIRE(lines.size() == 1);
    return Json(cJSON_Parse(lines[0].c_str()));
  }
  static bool ok(const Json& j) { return cJSON_IsTrue(j.item("ok")); }

  // Sends value in chunks of n bytes; returns the last reply.
  Json setChunked(const std::string& key, const std::string& value, size_t n) {
    Json last;
    size_t seq = 0;
    for (size_t off = 0; off < value.size(); off += n, ++seq) {
      const std::string part = value.substr(off, n);
      Json req(cJSON_CreateObject());
      cJSON_AddNumberToObject(req.get(), "id", static_cast<double>(100 + seq));
      cJSON_AddStringToObject(req.get(), "cmd", "set");
      cJSON_AddStringToObject(req.get(), "key", key.c_str());
      cJSON_AddNumberToObject(req.get(), "seq", static_cast<double>(seq));
      cJSON_AddStringToObject(req.get(), "data", part.c_str());
      cJSON_AddStringToObject(req.get(), "crc", hex8(crc32(part)).c_str());
      if (off + n >= value.size()) {
        cJSON_AddTrueToObject(req.get(), "final");
        cJSON_AddNumberToObject(req.get(), "len", static_cast<double>(value.size()));
        cJSON_AddStringToObject(req.get(), "total_crc", hex8(crc32(value)).c_str());
      }
      last = call(req.print());
      if (!ok(last)) return last;
    }
    return last;
  }
};

std::vector<uint8_t> improvRpc(std::vector<uint8_t> body) { return improv::frame(improv::RPC, body); }

}  // namespace

TEST_CASE("console lines are found among boot noise; ids are echoed; bad input is answered") {
  Rig r;
  const std::string noise = "ets Jun  8 2016\r\nrst:0x1 (POWERON_RESET)\r\nI (31) boot: ESP-IDF\r\ngarbage TDS {\"id\":\"a\",\"cmd\":\"info\"}\r\n";
  r.console.feed(reinterpret_cast<const uint8_t*>(noise.data()), noise.size());
  auto lines = r.platform.takeTdsLines();
  REQUIRE(lines.size() == 1);
  Json info(cJSON_Parse(lines[0].c_str()));
  CHECK(info.str("id") == "a");
  CHECK(info.str("proto") == "tds-console/1");
  CHECK(info.str("mac") == "24:6f:28:aa:bb:cc");
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(info.item("cert"), "installed")));
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(info.item("config"), "valid")));

  // Split across feeds, byte by byte.
  const std::string req = "TDS {\"id\":9,\"cmd\":\"info\"}\n";
  for (char c : req) r.console.feed(reinterpret_cast<const uint8_t*>(&c), 1);
  CHECK(r.platform.takeTdsLines().size() == 1);

  Json bad = r.call("{not json");
  CHECK_FALSE(Rig::ok(bad));
  CHECK(bad.str("error") == "bad_request");
  Json unk = r.call(R"({"id":1,"cmd":"format"})");
  CHECK(unk.str("error") == "unknown_cmd");
  CHECK(cJSON_GetObjectItem(unk.get(), "id")->valueint == 1);

  // An over-long line is refused once and the stream recovers at the next newline.
  std::string longLine = "TDS {\"id\":1,\"cmd\":\"set\",\"key\":\"ca_pem\",\"value\":\"" + std::string(3000, 'A') + "\"}\n";
  r.console.feed(reinterpret_cast<const uint8_t*>(longLine.data()), longLine.size());
  lines = r.platform.takeTdsLines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("line_too_long") != std::string::npos);
  CHECK(Rig::ok(r.call(R"({"id":2,"cmd":"info"})")));
}

TEST_CASE("set stages values, validates them, and mac is read-only") {
  Rig r;
  Json a = r.call(R"({"id":1,"cmd":"set","key":"wifi_ssid","value":"bench"})");
  CHECK(Rig::ok(a));
  CHECK(cJSON_IsTrue(a.item("staged")));
  CHECK(Rig::ok(r.call(R"({"id":2,"cmd":"set","key":"mqtt_port","value":8883})")));
  CHECK(r.call(R"({"id":3,"cmd":"set","key":"mqtt_port","value":"0"})").str("error") == "bad_value");
  CHECK(r.call(R"({"id":4,"cmd":"set","key":"mac","value":"24:6f:28:00:00:01"})").str("error") == "read_only");
  CHECK(r.call(R"({"id":5,"cmd":"set","key":"colour","value":"red"})").str("error") == "bad_key");
  CHECK(r.call(R"({"id":6,"cmd":"set","key":"ca_pem","value":"hello"})").str("error") == "bad_value");
  CHECK(r.call(R"({"id":7,"cmd":"set","key":"wifi_pass","value":"short"})").str("error") == "bad_value");
  CHECK(r.call(R"({"id":8,"cmd":"set","key":"wifi_ssid"})").str("error") == "bad_request");
  CHECK(r.console.hasStaged());
  CHECK(r.cfg.m.empty());  // nothing written before commit
  CHECK(Rig::ok(r.call(R"({"id":9,"cmd":"discard"})")));
  CHECK_FALSE(r.console.hasStaged());
}

TEST_CASE("chunked set: checksums, order, retransmission") {
  Rig r;
  testing::TestCa ca(r.rng);
  Json last = r.setChunked("ca_pem", ca.caPem, 100);
  REQUIRE(Rig::ok(last));
  CHECK(cJSON_IsTrue(last.item("staged")));
  CHECK(cJSON_GetObjectItem(last.get(), "len")->valueint == static_cast<int>(ca.caPem.size()));

  // Wrong chunk CRC → "crc", the same chunk can be sent again.
  const std::string part = ca.caPem.substr(0, 50);
  Json bad = r.call(R"({"id":1,"cmd":"set","key":"ca_pem","seq":0,"data":")" + std::string("x") + R"(","crc":"00000000"})");
  CHECK(bad.str("error") == "crc");
  // Out of order.
  CHECK(r.call(R"({"id":2,"cmd":"set","key":"ca_pem","seq":3,"data":"x","crc":")" + hex8(crc32(std::string("x"))) + "\"}")
            .str("error") == "seq");
  // A repeated chunk (lost reply) is acknowledged without being appended twice.
  const std::string c0 = R"({"id":3,"cmd":"set","key":"cert_pem","seq":0,"data":"abc","crc":")" + hex8(crc32(std::string("abc"))) + "\"}";
  CHECK(Rig::ok(r.call(c0)));
  const std::string c0again = R"({"id":3,"cmd":"set","key":"cert_pem","seq":0,"data":"abc","crc":")" + hex8(crc32(std::string("abc"))) + "\"}";
  Json dup = r.call(c0again);  // seq 0 restarts the transfer: same content, still 3 bytes
  CHECK(cJSON_GetObjectItem(dup.get(), "received")->valueint == 3);
  const std::string c1 = R"({"id":4,"cmd":"set","key":"cert_pem","seq":1,"data":"def","crc":")" + hex8(crc32(std::string("def"))) + "\"}";
  CHECK(cJSON_GetObjectItem(r.call(c1).get(), "received")->valueint == 6);
  CHECK(cJSON_GetObjectItem(r.call(c1).get(), "received")->valueint == 6);  // resent seq 1
  // Final chunk with a wrong total CRC → refused and the transfer must restart.
  const std::string fin = R"({"id":5,"cmd":"set","key":"cert_pem","seq":2,"data":"g","crc":")" + hex8(crc32(std::string("g"))) +
                          R"(","final":true,"len":7,"total_crc":"12345678"})";
  CHECK(r.call(fin).str("error") == "crc");
  (void)part;
}

TEST_CASE("device-key provisioning: csr → certificate → set → commit") {
  Rig r;
  testing::TestCa ca(r.rng);
  Json csr = r.call(R"({"id":1,"cmd":"csr"})");
  REQUIRE(Rig::ok(csr));
  CHECK(csr.str("cn") == "24:6f:28:aa:bb:cc");
  CHECK(r.dev.str(key::dev_key_new).find("BEGIN EC PRIVATE KEY") != std::string::npos);
  const std::string cert = ca.issue(csr.str("csr_pem"), "0badc0de");

  // Commit before everything is there: refused, nothing written, problems listed.
  REQUIRE(Rig::ok(r.setChunked("cert_pem", cert, 200)));
  Json early = r.call(R"({"id":2,"cmd":"commit"})");
  CHECK(early.str("error") == "invalid_config");
  CHECK(cJSON_GetArraySize(early.item("problems")) >= 3);
  CHECK(r.cfg.m.empty());

  REQUIRE(Rig::ok(r.setChunked("ca_pem", ca.caPem, 200)));
  REQUIRE(Rig::ok(r.call(R"({"id":3,"cmd":"set","key":"wifi_ssid","value":"bench"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":4,"cmd":"set","key":"wifi_pass","value":"bench-pass"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":5,"cmd":"set","key":"mqtt_host","value":"127.0.0.1"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":6,"cmd":"set","key":"mqtt_port","value":8883})")));
  REQUIRE(Rig::ok(r.call(R"({"id":7,"cmd":"set","key":"gw_code","value":"GW-001"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":7,"cmd":"set","key":"cfg_ver","value":3})")));
  CHECK(r.call(R"({"id":7,"cmd":"set","key":"cfg_ver","value":256})").str("error") == "bad_value");
  r.cfg.setString(key::key_pem, "stale station key");  // must not survive
  Json done = r.call(R"({"id":8,"cmd":"commit"})");
  REQUIRE(Rig::ok(done));
  CHECK(cJSON_IsTrue(done.item("valid")));
  CHECK(done.str("key_source") == "device");
  CHECK(done.str("cert_serial") == "badc0de");
  CHECK(r.commits == 1);
  CHECK(r.cfg.str(key::cert_pem) == cert);
  CHECK(r.cfg.str(key::mac) == "24:6f:28:aa:bb:cc");
  CHECK(r.cfg.m.at(key::mqtt_port).type == 'h');  // u16
  CHECK(r.cfg.m.at(key::mqtt_port).n == 8883);
  CHECK(r.cfg.m.at(key::cfg_ver).type == 'b');  // u8
  CHECK(r.cfg.m.at(key::cfg_ver).n == 3);
  CHECK(r.cfg.m.count(key::key_pem) == 0);
  CHECK(r.dev.m.count(key::dev_key_new) == 0);
  CHECK(keyMatchesCert(r.rng, r.dev.str(key::dev_key), cert));

  Json info = r.call(R"({"id":9,"cmd":"info"})");
  const cJSON* c = info.item("cert");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(c, "installed")));
  CHECK(std::string(cJSON_GetObjectItem(c, "serial")->valuestring) == "badc0de");
  CHECK(std::string(cJSON_GetObjectItem(c, "key_source")->valuestring) == "device");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(info.item("config"), "valid")));
  CHECK(info.print().find("bench-pass") == std::string::npos);  // secrets never echoed

  // A second csr does not disturb the working key until a matching certificate is committed.
  REQUIRE(Rig::ok(r.call(R"({"id":10,"cmd":"csr"})")));
  CHECK(keyMatchesCert(r.rng, r.dev.str(key::dev_key), cert));
  CHECK(Rig::ok(r.call(R"({"id":11,"cmd":"reboot"})")));
  CHECK(r.platform.rebootRequested);
}

TEST_CASE("a certificate for another key or another MAC is refused at commit") {
  Rig r;
  testing::TestCa ca(r.rng);
  REQUIRE(Rig::ok(r.call(R"({"id":1,"cmd":"csr"})")));
  std::string otherKey, err;
  generateEcKey(r.rng, otherKey, err);
  const std::string wrongKey = ca.issueForKey(otherKey, "24:6f:28:aa:bb:cc", "01");
  REQUIRE(Rig::ok(r.setChunked("cert_pem", wrongKey, 300)));
  REQUIRE(Rig::ok(r.setChunked("ca_pem", ca.caPem, 300)));
  REQUIRE(Rig::ok(r.call(R"({"id":3,"cmd":"set","key":"wifi_ssid","value":"bench"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":5,"cmd":"set","key":"mqtt_host","value":"h"})")));
  REQUIRE(Rig::ok(r.call(R"({"id":6,"cmd":"set","key":"mqtt_port","value":"8883"})")));
  Json res = r.call(R"({"id":8,"cmd":"commit"})");
  CHECK(res.str("error") == "invalid_config");
  CHECK(res.print().find("no private key matches") != std::string::npos);
  const std::string wrongCn = ca.issueForKey(otherKey, "24:6f:28:00:00:02", "02");
  REQUIRE(Rig::ok(r.setChunked("cert_pem", wrongCn, 300)));
  CHECK(r.call(R"({"id":9,"cmd":"commit"})").print().find("CN is '24:6f:28:00:00:02'") != std::string::npos);
  // allow_incomplete writes anyway and reports the problems.
  Json forced = r.call(R"({"id":10,"cmd":"commit","allow_incomplete":true})");
  CHECK(Rig::ok(forced));
  CHECK(cJSON_IsFalse(forced.item("valid")));
  CHECK(r.dev.m.count(key::dev_key) == 0);  // the device key was not installed for a foreign cert
}

TEST_CASE("Improv Wi-Fi on the same port: info, state, settings") {
  Rig r;
  auto feed = [&](const std::vector<uint8_t>& f) { r.console.feed(f.data(), f.size()); };
  feed(improvRpc({improv::REQUEST_CURRENT_STATE, 0}));
  CHECK(r.platform.out == std::string(reinterpret_cast<const char*>(improv::currentState(improv::STATE_READY).data()), 11) + "\n");
  r.platform.out.clear();

  feed(improvRpc({improv::REQUEST_INFO, 0}));
  improv::Packet pkt;
  size_t used = 0;
  REQUIRE(improv::parse(reinterpret_cast<const uint8_t*>(r.platform.out.data()), r.platform.out.size(), pkt, used) ==
          improv::ParseStatus::ok);
  CHECK(pkt.type == improv::RPC_RESULT);
  const std::string body(pkt.data.begin(), pkt.data.end());
  CHECK(body.find("tds-gateway") != std::string::npos);
  CHECK(body.find("1.2.3") != std::string::npos);
  CHECK(body.find("ESP32") != std::string::npos);
  r.platform.out.clear();

  // Wi-Fi settings mixed with a console line in one write.
  std::vector<uint8_t> data = {improv::SEND_WIFI_SETTINGS, 0, 5, 'b', 'e', 'n', 'c', 'h', 10};
  for (char c : std::string("bench-pass")) data.push_back(static_cast<uint8_t>(c));
  data[1] = static_cast<uint8_t>(data.size() - 2);
  std::vector<uint8_t> stream = improvRpc(data);
  const std::string line = "\nTDS {\"id\":1,\"cmd\":\"info\"}\n";
  stream.insert(stream.end(), line.begin(), line.end());
  feed(stream);
  CHECK(r.cfg.str(key::wifi_ssid) == "bench");
  CHECK(r.cfg.str(key::wifi_pass) == "bench-pass");
  CHECK(r.commits == 1);
  const std::string out = r.platform.out;
  const std::string provisioned(reinterpret_cast<const char*>(improv::currentState(improv::STATE_PROVISIONED).data()), 11);
  CHECK(out.find(provisioned) != std::string::npos);
  CHECK(out.find("TDS {\"id\":1,\"ok\":true") != std::string::npos);

  // Unable to connect → error state, nothing stored.
  r.platform.out.clear();
  r.platform.wifiWorks = false;
  r.cfg.m.clear();
  feed(improvRpc(data));
  CHECK(r.platform.out.find(std::string(reinterpret_cast<const char*>(improv::errorState(improv::ERROR_UNABLE_TO_CONNECT).data()), 11)) !=
        std::string::npos);
  CHECK(r.cfg.m.empty());

  // Unknown RPC and a broken checksum.
  r.platform.out.clear();
  feed(improvRpc({0x42, 0}));
  CHECK(r.platform.out.find(std::string(reinterpret_cast<const char*>(improv::errorState(improv::ERROR_UNKNOWN_RPC).data()), 11)) !=
        std::string::npos);
  r.platform.out.clear();
  auto broken = improvRpc({improv::REQUEST_INFO, 0});
  broken.back() ^= 1;
  feed(broken);
  CHECK(r.platform.out.find(std::string(reinterpret_cast<const char*>(improv::errorState(improv::ERROR_INVALID_RPC).data()), 11)) !=
        std::string::npos);
  // A text line that starts with 'I' is still a line.
  r.platform.out.clear();
  const std::string iline = "IMPORTANT: hello\nTDS {\"id\":2,\"cmd\":\"info\"}\n";
  r.console.feed(reinterpret_cast<const uint8_t*>(iline.data()), iline.size());
  CHECK(r.platform.takeTdsLines().size() == 1);
}
