// Test doubles for the core's interfaces and a tiny mbedTLS CA to issue test certificates.
#pragma once
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tds_crypto.h"
#include "tds_kv.h"
#include "tds_modbus.h"
#include "tds_platform.h"

namespace testing {

class MemKv : public tds::KvStore {
 public:
  struct E {
    char type;  // s, b (u8), h (u16), w (u32)
    std::string s;
    uint32_t n;
  };
  std::map<std::string, E> m;
  int commits = 0;
  bool getString(const char* k, std::string& o) override {
    auto it = m.find(k);
    if (it == m.end() || it->second.type != 's') return false;
    o = it->second.s;
    return true;
  }
  bool getU8(const char* k, uint8_t& o) override {
    auto it = m.find(k);
    if (it == m.end() || it->second.type != 'b') return false;
    o = static_cast<uint8_t>(it->second.n);
    return true;
  }
  bool getU16(const char* k, uint16_t& o) override {
    auto it = m.find(k);
    if (it == m.end() || it->second.type != 'h') return false;
    o = static_cast<uint16_t>(it->second.n);
    return true;
  }
  bool getU32(const char* k, uint32_t& o) override {
    auto it = m.find(k);
    if (it == m.end() || it->second.type != 'w') return false;
    o = it->second.n;
    return true;
  }
  bool setString(const char* k, const std::string& v) override { return m[k] = E{'s', v, 0}, true; }
  bool setU8(const char* k, uint8_t v) override { return m[k] = E{'b', "", v}, true; }
  bool setU16(const char* k, uint16_t v) override { return m[k] = E{'h', "", v}, true; }
  bool setU32(const char* k, uint32_t v) override { return m[k] = E{'w', "", v}, true; }
  bool erase(const char* k) override { return m.erase(k), true; }
  bool commit() override { return ++commits, true; }
  std::string str(const char* k) {
    std::string s;
    getString(k, s);
    return s;
  }
};

// A throwaway CA (EC P-256) that signs CSRs, built with mbedTLS's certificate writer.
class TestCa {
 public:
  explicit TestCa(tds::Rng& rng, const std::string& cn = "TDS Test CA");
  std::string caPem;
  std::string keyPem;
  // Certificate for the CSR's subject and key; serial given in hex.
  std::string issue(const std::string& csrPem, const std::string& serialHex, const char* notBefore = "20240101000000",
                    const char* notAfter = "20340101000000");
  // Certificate for an arbitrary key and CN (no CSR).
  std::string issueForKey(const std::string& subjectKeyPem, const std::string& cn, const std::string& serialHex);

 private:
  tds::Rng& rng_;
  std::string name_;
};

class FakePlatform : public tds::Platform {
 public:
  std::string mac = "24:6f:28:aa:bb:cc";
  uint64_t now = 1000;
  int64_t clock = 0;
  std::string out;  // everything written to the console
  std::vector<std::string> logs;
  bool wifiUp = false, wifiWorks = true;
  int wifiBegins = 0;
  uint32_t rebootDelay = 0;
  bool rebootRequested = false;
  tds::Led led = tds::Led::error;

  std::string chipMac() override { return mac; }
  tds::ChipInfo chipInfo() override { return tds::ChipInfo{"ESP32", 3, 2, 4u << 20}; }
  uint64_t millis() override { return now; }
  int64_t epoch() override { return clock; }
  void requestReboot(uint32_t d) override { rebootRequested = true, rebootDelay = d; }
  void consoleWrite(const uint8_t* d, size_t n) override { out.append(reinterpret_cast<const char*>(d), n); }
  void log(const std::string& l) override { logs.push_back(l); }
  void wifiBegin(const std::string&, const std::string&) override { ++wifiBegins, wifiUp = wifiWorks; }
  bool wifiConnected() override { return wifiUp; }
  void wifiStop() override { wifiUp = false; }
  bool wifiTry(const std::string&, const std::string&, uint32_t) override { return wifiUp = wifiWorks; }
  std::vector<tds::WifiNetwork> wifiScan() override { return {{"bench", -40, true}}; }
  void startTimeSync(const std::string&) override {}
  void setClock(int64_t e) override { clock = e, clockSets++; }
  int clockSets = 0;
  void setLed(tds::Led l) override { led = l; }
  void feedWatchdog() override {}
  // Console lines "TDS {...}" written so far (and clears them).
  std::vector<std::string> takeTdsLines();
};

class FakeMqtt : public tds::MqttTransport {
 public:
  struct Pub {
    std::string topic, payload;
    bool retain;
  };
  bool acceptConnect = true;
  bool up = false;
  std::vector<tds::MqttConnectOptions> connects;
  std::vector<Pub> pubs;
  std::vector<std::string> subs;
  int disconnects = 0;
  Handler handler;
  bool connect(const tds::MqttConnectOptions& o, std::string& err) override {
    connects.push_back(o);
    up = acceptConnect;
    if (!up) err = "refused";
    return up;
  }
  bool connected() override { return up; }
  bool publish(const std::string& t, const std::string& p, bool r) override {
    if (!up) return false;
    pubs.push_back({t, p, r});
    return true;
  }
  bool subscribe(const std::string& t) override { return subs.push_back(t), up; }
  void disconnect() override { up = false, ++disconnects; }
  void loop() override {}
  void setHandler(Handler h) override { handler = std::move(h); }
  void deliver(const std::string& t, const std::string& p) { handler(t, p); }
  std::vector<Pub> on(const std::string& suffix) const {
    std::vector<Pub> r;
    for (const auto& p : pubs)
      if (p.topic.size() >= suffix.size() && p.topic.compare(p.topic.size() - suffix.size(), suffix.size(), suffix) == 0)
        r.push_back(p);
    return r;
  }
};

// A Modbus slave in memory: answers read requests from a register map.
class FakeBus : public tds::RtuPort {
 public:
  uint8_t slave = 1;
  std::map<uint16_t, uint16_t> regs;
  bool silent = false;
  std::vector<uint8_t> transact(const std::vector<uint8_t>& req, size_t expected, uint32_t timeoutMs) override;
};

}  // namespace testing
