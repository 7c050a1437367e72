// CRC32, MAC parsing, Modbus RTU framing/CRC16/decoding, Improv framing, topics and payloads.
#include <doctest/doctest.h>

#include <cstring>

#include "helpers.h"
#include "tds_backoff.h"
#include "tds_improv.h"
#include "tds_json.h"
#include "tds_modbus.h"
#include "tds_topics.h"
#include "tds_util.h"

using namespace tds;

TEST_CASE("crc32 is the zlib CRC-32") {
  CHECK(crc32(std::string("123456789")) == 0xCBF43926u);
  CHECK(crc32(std::string("")) == 0u);
  CHECK(hex8(crc32(std::string("hello"))) == "3610a686");
  // Incremental over parts equals one pass.
  CHECK(crc32(std::string("6789"), crc32(std::string("12345"))) == 0xCBF43926u);
}

TEST_CASE("MAC addresses are normalised and bad ones rejected") {
  std::string m;
  CHECK(parseMac("24:6F:28:AA:BB:CC", m));
  CHECK(m == "24:6f:28:aa:bb:cc");
  CHECK(parseMac("24-6f-28-aa-bb-cc", m));
  CHECK(parseMac("246f28aabbcc", m));
  CHECK(m == "24:6f:28:aa:bb:cc");
  CHECK_FALSE(parseMac("00:00:00:00:00:00", m));
  CHECK_FALSE(parseMac("ff:ff:ff:ff:ff:ff", m));
  CHECK_FALSE(parseMac("01:00:5e:00:00:01", m));  // multicast
  CHECK_FALSE(parseMac("24:6f:28:aa:bb", m));
  CHECK_FALSE(parseMac("24:6f-28:aa:bb:cc", m));
  CHECK_FALSE(parseMac("zz:6f:28:aa:bb:cc", m));
}

TEST_CASE("Modbus RTU request frame and CRC16 match the specification example") {
  // Read 10 holding registers from slave 1 at 0: 01 03 00 00 00 0A C5 CD.
  const std::vector<uint8_t> f = buildReadRequest(1, 3, 0, 10);
  const std::vector<uint8_t> expect = {0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD};
  CHECK(f == expect);
  const uint8_t ex2[] = {0x11, 0x03, 0x00, 0x6B, 0x00, 0x03};  // Modbus over serial line spec, CRC 0x8776
  CHECK(modbusCrc16(ex2, sizeof ex2) == 0x8776);
}

TEST_CASE("Modbus responses are parsed and checked") {
  testing::FakeBus bus;
  bus.regs = {{0, 0x4120}, {1, 0x0000}, {5, 0xFFFE}};
  auto resp = bus.transact(buildReadRequest(1, 3, 0, 2), 9, 100);
  RtuResult r = parseReadResponse(resp.data(), resp.size(), 1, 3, 2);
  REQUIRE(r.status == RtuStatus::ok);
  CHECK(decodeRegisters(r.registers, RegType::f32, false) == doctest::Approx(10.0));
  CHECK(decodeRegisters(r.registers, RegType::u32, false) == doctest::Approx(0x41200000));
  CHECK(decodeRegisters({0x0000, 0x4120}, RegType::f32, true) == doctest::Approx(10.0));
  CHECK(decodeRegisters({0xFFFE}, RegType::i16, false) == -2);
  CHECK(decodeRegisters({0xFFFF, 0xFFFE}, RegType::i32, false) == -2);

  // Corrupt one byte → CRC error; wrong slave; exception; silence.
  auto bad = resp;
  bad[3] ^= 0x01;
  CHECK(parseReadResponse(bad.data(), bad.size(), 1, 3, 2).status == RtuStatus::bad_crc);
  CHECK(parseReadResponse(resp.data(), resp.size(), 2, 3, 2).status == RtuStatus::wrong_slave);
  CHECK(parseReadResponse(resp.data(), resp.size(), 1, 4, 2).status == RtuStatus::wrong_function);
  CHECK(parseReadResponse(resp.data(), resp.size(), 1, 3, 3).status == RtuStatus::bad_length);
  auto ex = bus.transact(buildReadRequest(1, 3, 9, 1), 7, 100);
  RtuResult e = parseReadResponse(ex.data(), ex.size(), 1, 3, 1);
  CHECK(e.status == RtuStatus::exception);
  CHECK(e.exceptionCode == 2);
  CHECK(parseReadResponse(nullptr, 0, 1, 3, 1).status == RtuStatus::timeout);
  CHECK(parseReadResponse(resp.data(), 6, 1, 3, 2).status == RtuStatus::bad_length);

  ModbusPoint p;
  p.reg = 5;
  p.type = RegType::i16;
  p.scale = 0.5;
  p.unit = "C";
  CHECK(readPoint(bus, p, 100).value == doctest::Approx(-1.0));
}

TEST_CASE("Modbus table: the station's compact format, with its limits") {
  ModbusConfig c;
  std::string err;
  // The form src/shared/esp32-modbus.ts writes (encodeModbusTable).
  REQUIRE(parseModbusConfig(
      R"({"v":1,"baud":19200,"par":"E","stop":2,"to_ms":250,"max_dev":3,"pts":[[2,4,100,"i32",0.1,"kWh",30],[7,3,5,"u16",1,"°C",0.5e1],[2,3,0,"f32",1,"m3",86400,1]]})",
      c, err));
  CHECK(c.baud == 19200);
  CHECK(c.parity == 'E');
  CHECK(c.stopBits == 2);
  CHECK(c.timeoutMs == 250);
  CHECK(c.maxDevices == 3);
  REQUIRE(c.points.size() == 3);
  CHECK(c.points[0].slave == 2);
  CHECK(c.points[0].fn == 4);
  CHECK(c.points[0].reg == 100);
  CHECK(c.points[0].type == RegType::i32);
  CHECK(c.points[0].count() == 2);
  CHECK(c.points[0].scale == doctest::Approx(0.1));
  CHECK(c.points[0].unit == "kWh");
  CHECK(c.points[0].everyMs == 30000);
  CHECK_FALSE(c.points[0].swap);
  CHECK(c.points[1].unit == "°C");
  CHECK(c.points[1].everyMs == 5000);
  CHECK(c.points[2].swap);
  CHECK(modbusDeviceCount(c) == 2);

  // Defaults: 9600 8N1, 300 ms, qte_max_dispositivos 8.
  REQUIRE(parseModbusConfig(R"({"v":1,"pts":[]})", c, err));
  CHECK(c.baud == 9600);
  CHECK(c.parity == 'N');
  CHECK(c.maxDevices == 8);

  auto refused = [&](const char* json, const char* expected) {
    ModbusConfig out;
    std::string why;
    CHECK_FALSE(parseModbusConfig(json, out, why));
    CHECK(why == expected);
    CHECK(out.points.empty());  // nothing half-parsed is kept
  };
  refused("[]", "not a JSON object");
  refused("{", "not JSON");
  refused(R"({"pts":[]})", "v (the table version) is required");
  refused(R"({"v":2,"pts":[]})", "v must be 1 (the table version this firmware reads)");
  refused(R"({"v":1})", "pts must be an array");
  refused(R"({"v":1,"baud":12.5,"pts":[]})", "baud must be an integer 1200-115200");
  refused(R"({"v":1,"par":"X","pts":[]})", "par must be \"N\", \"E\" or \"O\"");
  refused(R"({"v":1,"max_dev":33,"pts":[]})", "max_dev must be an integer 1-32");
  refused(R"({"v":1,"pts":[[0,3,1,"u16",1,"x",60]]})", "pts[0]: slave must be an integer 1-247");
  refused(R"({"v":1,"pts":[[1,3,1,"u16",1,"x",60],[1,6,1,"u16",1,"x",60]]})", "pts[1]: fn must be 3 (holding) or 4 (input)");
  refused(R"({"v":1,"pts":[[1,3,1,"f64",1,"x",60]]})", "pts[0]: type must be u16, i16, u32, i32 or f32");
  refused(R"({"v":1,"pts":[[1,3,1,"u16",1,"",60]]})", "pts[0]: unit must be text of 1-64 bytes (e.g. \"m3\")");
  refused(R"({"v":1,"pts":[[1,3,1,"u16",1,"x",0.5]]})", "pts[0]: every_s must be a number of seconds 1-86400");
  refused(R"({"v":1,"pts":[[1,3,1,"u16",1,"x"]]})",
          "pts[0]: must be [slave, fn, reg, type, scale, unit, every_s] (optionally a last 1 for swapped words)");
  refused(R"({"v":1,"pts":[{"slave":1,"reg":1,"unit":"x"}]})",
          "pts[0]: must be [slave, fn, reg, type, scale, unit, every_s] (optionally a last 1 for swapped words)");

  // qte_max_dispositivos: 9 slave addresses on a gateway that takes the default 8; the same 9 fit max_dev 9.
  std::string nine;
  for (int s = 1; s <= 9; ++s) nine += std::string(s > 1 ? "," : "") + "[" + std::to_string(s) + R"(,3,0,"u16",1,"C",60])";
  refused((R"({"v":1,"pts":[)" + nine + "]}").c_str(), "pts name 9 devices (slave addresses) but this gateway takes at most 8 (max_dev)");
  CHECK(parseModbusConfig(R"({"v":1,"max_dev":9,"pts":[)" + nine + "]}", c, err));
  CHECK(modbusDeviceCount(c) == 9);
  // Several registers of one device count once.
  CHECK(parseModbusConfig(R"({"v":1,"max_dev":1,"pts":[[5,3,0,"u16",1,"V",60],[5,3,1,"u16",1,"A",60]]})", c, err));
  // At most 64 points.
  std::string many = R"({"v":1,"pts":[)";
  for (int i = 0; i < 65; ++i) many += std::string(i > 0 ? "," : "") + R"([1,3,)" + std::to_string(i) + R"(,"u16",1,"C",60])";
  refused((many + "]}").c_str(), "at most 64 points");
}

TEST_CASE("Improv frames: checksum, parse, RPC decode") {
  const std::vector<uint8_t> f = improv::currentState(improv::STATE_READY);
  const std::vector<uint8_t> expect = {'I', 'M', 'P', 'R', 'O', 'V', 1, 1, 1, 2, 0};
  uint8_t sum = 0;
  for (size_t i = 0; i + 1 < expect.size(); ++i) sum = static_cast<uint8_t>(sum + expect[i]);
  auto e = expect;
  e.back() = sum;
  CHECK(f == e);

  // Host → device: SEND_WIFI_SETTINGS "ab" / "password1".
  std::vector<uint8_t> data = {improv::SEND_WIFI_SETTINGS, 0, 2, 'a', 'b', 9};
  for (char c : std::string("password1")) data.push_back(static_cast<uint8_t>(c));
  data[1] = static_cast<uint8_t>(data.size() - 2);
  const std::vector<uint8_t> rpc = improv::frame(improv::RPC, data);
  improv::Packet pkt;
  size_t used = 0;
  CHECK(improv::parse(rpc.data(), 5, pkt, used) == improv::ParseStatus::need_more);
  CHECK(improv::parse(rpc.data(), rpc.size() - 1, pkt, used) == improv::ParseStatus::need_more);
  REQUIRE(improv::parse(rpc.data(), rpc.size(), pkt, used) == improv::ParseStatus::ok);
  CHECK(used == rpc.size());
  improv::Rpc r;
  REQUIRE(improv::decodeRpc(pkt.data, r));
  CHECK(r.ssid == "ab");
  CHECK(r.password == "password1");
  auto broken = rpc;
  broken.back() ^= 0xFF;
  CHECK(improv::parse(broken.data(), broken.size(), pkt, used) == improv::ParseStatus::bad_checksum);
  const uint8_t notImprov[] = "INFO line";
  CHECK(improv::parse(notImprov, 9, pkt, used) == improv::ParseStatus::bad_header);
  CHECK_FALSE(improv::decodeRpc({improv::SEND_WIFI_SETTINGS, 3, 5, 'a', 'b'}, r));  // lengths disagree

  const auto res = improv::rpcResult(improv::REQUEST_INFO, {"fw", "1.0"});
  // header(9) + [cmd, total, 2,'f','w', 3,'1','.','0'] + checksum
  REQUIRE(res.size() == 9 + 9 + 1);
  CHECK(res[7] == improv::RPC_RESULT);
  CHECK(res[8] == 9);
  CHECK(res[9] == improv::REQUEST_INFO);
  CHECK(res[10] == 7);
  CHECK(res[11] == 2);
}

TEST_CASE("topics and payloads follow the MQTT contract") {
  CHECK(deviceTopic("24:6f:28:aa:bb:cc", "telemetry") == "tds_new/devices/24:6f:28:aa:bb:cc/telemetry");
  CHECK(deviceTopic("24:6f:28:aa:bb:cc", "cert/csr") == "tds_new/devices/24:6f:28:aa:bb:cc/cert/csr");
  Telemetry t;
  t.timestamp = "2026-01-02T03:04:05Z";
  t.valor = 12.5;
  t.unidade = "m3";
  t.gatewayMac = "24:6f:28:aa:bb:cc";
  t.firmwareVersion = "1.0.0";
  t.slaveId = 3;
  t.reg = 40;
  Json j(cJSON_Parse(telemetryJson(t).c_str()));
  CHECK(j.str("timestamp") == "2026-01-02T03:04:05Z");
  CHECK(cJSON_GetObjectItem(j.get(), "valor")->valuedouble == 12.5);
  CHECK(j.str("unidade") == "m3");
  CHECK(j.str("gateway_mac") == "24:6f:28:aa:bb:cc");
  CHECK(cJSON_GetObjectItem(j.get(), "slave_id")->valueint == 3);
  CHECK(cJSON_GetObjectItem(j.get(), "register")->valueint == 40);
  Telemetry u;  // the clock is not set: no timestamp at all (the server dates the reading)
  u.valor = 1;
  Json k(cJSON_Parse(telemetryJson(u).c_str()));
  CHECK(k.item("timestamp") == nullptr);
  CHECK(cJSON_GetObjectItem(k.get(), "valor")->valuedouble == 1);
  CHECK(k.item("slave_id") == nullptr);
  CHECK(k.item("firmware_version") == nullptr);

  Command c;
  std::string err;
  const std::string ping = R"({"cmd":"ping","id":"p1"})";
  REQUIRE(parseCommand(ping.data(), ping.size(), c, err));
  CHECK(c.kind == CommandKind::ping);
  CHECK(c.id == "p1");
  const std::string upd = R"({"cmd":"cert_update","id":7,"certificate_pem":"X","serial_number":"0a"})";
  REQUIRE(parseCommand(upd.data(), upd.size(), c, err));
  CHECK(c.kind == CommandKind::cert_update);
  CHECK(c.id == "7");
  CHECK(c.serialNumber == "0a");
  const std::string noPem = R"({"cmd":"cert_update","id":"x"})";
  CHECK_FALSE(parseCommand(noPem.data(), noPem.size(), c, err));
  const std::string junk = "not json";
  CHECK_FALSE(parseCommand(junk.data(), junk.size(), c, err));
  const std::string other = R"({"cmd":"selfdestruct","id":"x"})";
  REQUIRE(parseCommand(other.data(), other.size(), c, err));
  CHECK(c.kind == CommandKind::unknown);
  CHECK(csrJson("r1", "PEM") == R"({"id":"r1","csr_pem":"PEM"})");
  CHECK(ackJson("r1", "0abc") == R"({"id":"r1","serial_number":"0abc"})");
}

TEST_CASE("reconnect backoff grows, is capped and jittered") {
  CHECK(backoffDelayMs(0, 0, 1000, 60000) == 1000);
  CHECK(backoffDelayMs(3, 0, 1000, 60000) == 8000);
  CHECK(backoffDelayMs(30, 0, 1000, 60000) == 60000);
  const uint32_t j = backoffDelayMs(3, 0xFFFFFFFFu, 1000, 60000);
  CHECK(j <= 8000);
  CHECK(j >= 6000);
}
