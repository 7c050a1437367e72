// Modbus RTU master: frames, CRC16, value decoding, and the polling table kept in tdscfg key `modbus`
// (one NVS string, written by the station from the profile; docs/firmware-esp32.md):
//   {"v":1,"baud":9600,"par":"N","stop":1,"to_ms":300,"max_dev":8,
//    "pts":[[slave,fn,reg,"type",scale,"unit",every_s(,swap)],...]}
// fn: 3 holding / 4 input registers; type: u16 i16 u32 i32 f32 (32-bit values are big-endian words,
// high word first, unless the optional 8th element is 1); valor = decoded value * scale; each point is
// read every `every_s` seconds. max_dev is the seed's qte_max_dispositivos: the points may name at
// most that many slave addresses (default 8, never more than kMaxModbusDevices).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tds {

uint16_t modbusCrc16(const uint8_t* data, size_t len);

enum class RegType { u16, i16, u32, i32, f32 };

constexpr int kModbusTableVersion = 1;
constexpr uint32_t kDefaultMaxDevices = 8;
constexpr uint32_t kMaxModbusDevices = 32;
constexpr size_t kMaxModbusPoints = 64;

struct ModbusPoint {
  uint8_t slave = 1;
  uint8_t fn = 3;
  uint16_t reg = 0;
  RegType type = RegType::u16;
  bool swap = false;
  double scale = 1.0;
  std::string unit;
  uint32_t everyMs = 60000;
  uint16_t count() const { return (type == RegType::u16 || type == RegType::i16) ? 1 : 2; }
};

struct ModbusConfig {
  uint32_t baud = 9600;
  char parity = 'N';  // N, E, O
  uint8_t stopBits = 1;
  uint32_t timeoutMs = 300;
  uint32_t maxDevices = kDefaultMaxDevices;
  std::vector<ModbusPoint> points;
};

// Parses and checks the table; `err` says what to fix (e.g. "pts[2]: slave must be an integer 1-247").
bool parseModbusConfig(const std::string& json, ModbusConfig& out, std::string& err);
// Distinct slave addresses the points name.
size_t modbusDeviceCount(const ModbusConfig& c);

// Read Holding/Input Registers request with CRC (8 bytes).
std::vector<uint8_t> buildReadRequest(uint8_t slave, uint8_t fn, uint16_t reg, uint16_t count);
// Length of a normal response to that request.
inline size_t readResponseLength(uint16_t count) { return 5u + 2u * count; }

enum class RtuStatus { ok, timeout, bad_crc, wrong_slave, wrong_function, bad_length, exception };
const char* rtuStatusName(RtuStatus s);

struct RtuResult {
  RtuStatus status = RtuStatus::timeout;
  uint8_t exceptionCode = 0;
  std::vector<uint16_t> registers;
};

RtuResult parseReadResponse(const uint8_t* frame, size_t len, uint8_t slave, uint8_t fn, uint16_t count);
double decodeRegisters(const std::vector<uint16_t>& regs, RegType type, bool swap);

// The bus: send a request and collect the reply (the target drives the RS485 DE/RE pin around it).
class RtuPort {
 public:
  virtual ~RtuPort() = default;
  // Sends `req`, then reads until `expected` bytes arrived, a 5-byte exception frame arrived, or
  // `timeoutMs` passed. Returns what was read.
  virtual std::vector<uint8_t> transact(const std::vector<uint8_t>& req, size_t expected, uint32_t timeoutMs) = 0;
};

struct PointReading {
  const ModbusPoint* point = nullptr;
  RtuResult result;
  double value = 0;
};

// Reads one point over the bus.
PointReading readPoint(RtuPort& port, const ModbusPoint& p, uint32_t timeoutMs);

}  // namespace tds
