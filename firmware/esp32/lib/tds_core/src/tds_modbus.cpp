#include "tds_modbus.h"

#include <cstring>

#include "cJSON.h"

namespace tds {

uint16_t modbusCrc16(const uint8_t* data, size_t len) {
  uint16_t crc = 0xFFFF;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? static_cast<uint16_t>((crc >> 1) ^ 0xA001) : static_cast<uint16_t>(crc >> 1);
  }
  return crc;
}

std::vector<uint8_t> buildReadRequest(uint8_t slave, uint8_t fn, uint16_t reg, uint16_t count) {
  std::vector<uint8_t> f = {slave, fn, uint8_t(reg >> 8), uint8_t(reg), uint8_t(count >> 8), uint8_t(count)};
  const uint16_t crc = modbusCrc16(f.data(), f.size());
  f.push_back(uint8_t(crc & 0xFF));  // CRC is sent low byte first
  f.push_back(uint8_t(crc >> 8));
  return f;
}

const char* rtuStatusName(RtuStatus s) {
  switch (s) {
    case RtuStatus::ok: return "ok";
    case RtuStatus::timeout: return "timeout";
    case RtuStatus::bad_crc: return "bad_crc";
    case RtuStatus::wrong_slave: return "wrong_slave";
    case RtuStatus::wrong_function: return "wrong_function";
    case RtuStatus::bad_length: return "bad_length";
    case RtuStatus::exception: return "exception";
  }
  return "?";
}

RtuResult parseReadResponse(const uint8_t* f, size_t len, uint8_t slave, uint8_t fn, uint16_t count) {
  RtuResult r;
  if (len == 0) return r;  // timeout
  if (len < 5) {
    r.status = RtuStatus::bad_length;
    return r;
  }
  const bool isException = (f[1] & 0x80) != 0;
  const size_t frameLen = isException ? 5 : static_cast<size_t>(f[2]) + 5;
  if (len < frameLen) {
    r.status = RtuStatus::bad_length;
    return r;
  }
  const uint16_t crc = modbusCrc16(f, frameLen - 2);
  if (f[frameLen - 2] != (crc & 0xFF) || f[frameLen - 1] != (crc >> 8)) {
    r.status = RtuStatus::bad_crc;
    return r;
  }
  if (f[0] != slave) {
    r.status = RtuStatus::wrong_slave;
    return r;
  }
  if ((f[1] & 0x7F) != fn) {
    r.status = RtuStatus::wrong_function;
    return r;
  }
  if (isException) {
    r.status = RtuStatus::exception;
    r.exceptionCode = f[2];
    return r;
  }
  if (f[2] != count * 2) {
    r.status = RtuStatus::bad_length;
    return r;
  }
  for (uint16_t i = 0; i < count; ++i) r.registers.push_back(static_cast<uint16_t>((f[3 + 2 * i] << 8) | f[4 + 2 * i]));
  r.status = RtuStatus::ok;
  return r;
}

double decodeRegisters(const std::vector<uint16_t>& regs, RegType type, bool swap) {
  if (regs.empty()) return 0;
  switch (type) {
    case RegType::u16: return regs[0];
    case RegType::i16: return static_cast<int16_t>(regs[0]);
    default: break;
  }
  if (regs.size() < 2) return 0;
  const uint32_t hi = swap ? regs[1] : regs[0];
  const uint32_t lo = swap ? regs[0] : regs[1];
  const uint32_t v = (hi << 16) | lo;
  if (type == RegType::u32) return v;
  if (type == RegType::i32) return static_cast<int32_t>(v);
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}

namespace {

bool intField(const cJSON* o, const char* name, long lo, long hi, long& out, bool required, std::string& err,
              const std::string& where) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (v == nullptr) {
    if (required) err = where + name + " is required";
    return !required;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble != static_cast<double>(static_cast<long>(v->valuedouble)) ||
      v->valuedouble < lo || v->valuedouble > hi) {
    err = where + name + " must be an integer " + std::to_string(lo) + "-" + std::to_string(hi);
    return false;
  }
  out = static_cast<long>(v->valuedouble);
  return true;
}

}  // namespace

bool parseModbusConfig(const std::string& json, ModbusConfig& out, std::string& err) {
  out = ModbusConfig{};
  cJSON* root = cJSON_Parse(json.c_str());
  if (root == nullptr || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    err = "not a JSON object";
    return false;
  }
  bool ok = true;
  long v = 0;
  long baud = out.baud, stop = out.stopBits, poll = out.pollSeconds, timeout = out.timeoutMs;
  ok = intField(root, "baud", 1200, 115200, baud, false, err, "") && intField(root, "stop", 1, 2, stop, false, err, "") &&
       intField(root, "poll_s", 1, 86400, poll, false, err, "") && intField(root, "timeout_ms", 20, 5000, timeout, false, err, "");
  out.baud = static_cast<uint32_t>(baud);
  out.stopBits = static_cast<uint8_t>(stop);
  out.pollSeconds = static_cast<uint32_t>(poll);
  out.timeoutMs = static_cast<uint32_t>(timeout);
  if (ok) {
    const cJSON* p = cJSON_GetObjectItemCaseSensitive(root, "parity");
    if (p != nullptr) {
      if (!cJSON_IsString(p) || std::strlen(p->valuestring) != 1 || std::strchr("NEO", p->valuestring[0]) == nullptr) {
        err = "parity must be \"N\", \"E\" or \"O\"";
        ok = false;
      } else {
        out.parity = p->valuestring[0];
      }
    }
  }
  const cJSON* points = ok ? cJSON_GetObjectItemCaseSensitive(root, "points") : nullptr;
  if (ok && !cJSON_IsArray(points)) {
    err = "points must be an array";
    ok = false;
  }
  if (ok && cJSON_GetArraySize(points) > 64) {
    err = "at most 64 points";
    ok = false;
  }
  int i = 0;
  const cJSON* it = nullptr;
  if (ok) {
    cJSON_ArrayForEach(it, points) {
      const std::string where = "points[" + std::to_string(i++) + "].";
      ModbusPoint pt;
      if (!cJSON_IsObject(it)) {
        err = where.substr(0, where.size() - 1) + " must be an object";
        ok = false;
        break;
      }
      if (!(ok = intField(it, "slave", 1, 247, v, true, err, where))) break;
      pt.slave = static_cast<uint8_t>(v);
      v = 3;
      if (!(ok = intField(it, "fn", 3, 4, v, false, err, where))) break;
      pt.fn = static_cast<uint8_t>(v);
      if (!(ok = intField(it, "reg", 0, 65535, v, true, err, where))) break;
      pt.reg = static_cast<uint16_t>(v);
      const cJSON* t = cJSON_GetObjectItemCaseSensitive(it, "type");
      if (t != nullptr) {
        const char* s = cJSON_IsString(t) ? t->valuestring : "";
        if (!std::strcmp(s, "u16")) pt.type = RegType::u16;
        else if (!std::strcmp(s, "i16")) pt.type = RegType::i16;
        else if (!std::strcmp(s, "u32")) pt.type = RegType::u32;
        else if (!std::strcmp(s, "i32")) pt.type = RegType::i32;
        else if (!std::strcmp(s, "f32")) pt.type = RegType::f32;
        else {
          err = where + "type must be u16, i16, u32, i32 or f32";
          ok = false;
          break;
        }
      }
      const cJSON* sw = cJSON_GetObjectItemCaseSensitive(it, "swap");
      if (sw != nullptr) {
        if (!cJSON_IsBool(sw)) {
          err = where + "swap must be true or false";
          ok = false;
          break;
        }
        pt.swap = cJSON_IsTrue(sw);
      }
      const cJSON* sc = cJSON_GetObjectItemCaseSensitive(it, "scale");
      if (sc != nullptr) {
        if (!cJSON_IsNumber(sc)) {
          err = where + "scale must be a number";
          ok = false;
          break;
        }
        pt.scale = sc->valuedouble;
      }
      const cJSON* u = cJSON_GetObjectItemCaseSensitive(it, "unit");
      if (u == nullptr || !cJSON_IsString(u) || std::strlen(u->valuestring) == 0 || std::strlen(u->valuestring) > 16) {
        err = where + "unit is required (1-16 characters, e.g. \"m3\")";
        ok = false;
        break;
      }
      pt.unit = u->valuestring;
      out.points.push_back(pt);
    }
  }
  cJSON_Delete(root);
  return ok;
}

PointReading readPoint(RtuPort& port, const ModbusPoint& p, uint32_t timeoutMs) {
  PointReading r;
  r.point = &p;
  const std::vector<uint8_t> req = buildReadRequest(p.slave, p.fn, p.reg, p.count());
  const std::vector<uint8_t> resp = port.transact(req, readResponseLength(p.count()), timeoutMs);
  r.result = parseReadResponse(resp.data(), resp.size(), p.slave, p.fn, p.count());
  if (r.result.status == RtuStatus::ok) r.value = decodeRegisters(r.result.registers, p.type, p.swap) * p.scale;
  return r;
}

}  // namespace tds
