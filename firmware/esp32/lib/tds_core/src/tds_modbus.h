// Modbus RTU master: frames, CRC16, value decoding, and the polling configuration kept in
// tdscfg key `modbus` (JSON):
//   {"baud":9600,"parity":"N","stop":1,"poll_s":60,"timeout_ms":300,
//    "points":[{"slave":1,"fn":3,"reg":0,"type":"f32","swap":false,"scale":1,"unit":"m3"}]}
// fn: 3 holding / 4 input registers; type: u16 i16 u32 i32 f32 (32-bit values are big-endian words,
// high word first, unless swap is true); valor = decoded value * scale.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tds {

uint16_t modbusCrc16(const uint8_t* data, size_t len);

enum class RegType { u16, i16, u32, i32, f32 };

struct ModbusPoint {
  uint8_t slave = 1;
  uint8_t fn = 3;
  uint16_t reg = 0;
  RegType type = RegType::u16;
  bool swap = false;
  double scale = 1.0;
  std::string unit;
  uint16_t count() const { return (type == RegType::u16 || type == RegType::i16) ? 1 : 2; }
};

struct ModbusConfig {
  uint32_t baud = 9600;
  char parity = 'N';  // N, E, O
  uint8_t stopBits = 1;
  uint32_t pollSeconds = 60;
  uint32_t timeoutMs = 300;
  std::vector<ModbusPoint> points;
};

bool parseModbusConfig(const std::string& json, ModbusConfig& out, std::string& err);

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
