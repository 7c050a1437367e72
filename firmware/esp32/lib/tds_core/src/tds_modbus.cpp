#include "tds_modbus.h"

#include <cmath>
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

bool fail(std::string& err, const std::string& what) {
  err = what;
  return false;
}

bool isInteger(const cJSON* v, double lo, double hi) {
  return cJSON_IsNumber(v) && v->valuedouble == static_cast<double>(static_cast<long long>(v->valuedouble)) &&
         v->valuedouble >= lo && v->valuedouble <= hi;
}

// An optional integer member of the table; absent keeps `out`.
bool intMember(const cJSON* o, const char* name, long lo, long hi, uint32_t& out, std::string& err) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (v == nullptr) return true;
  if (!isInteger(v, lo, hi)) {
    err = std::string(name) + " must be an integer " + std::to_string(lo) + "-" + std::to_string(hi);
    return false;
  }
  out = static_cast<uint32_t>(v->valuedouble);
  return true;
}

bool parseType(const char* s, RegType& t) {
  static const struct {
    const char* name;
    RegType type;
  } kTypes[] = {{"u16", RegType::u16}, {"i16", RegType::i16}, {"u32", RegType::u32}, {"i32", RegType::i32}, {"f32", RegType::f32}};
  for (const auto& k : kTypes)
    if (std::strcmp(s, k.name) == 0) {
      t = k.type;
      return true;
    }
  return false;
}

// One point: [slave, fn, reg, "type", scale, "unit", every_s(, swap)].
bool parsePoint(const cJSON* a, ModbusPoint& pt, std::string& err) {
  const int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
  if (n != 7 && n != 8) {
    err = "must be [slave, fn, reg, type, scale, unit, every_s] (optionally a last 1 for swapped words)";
    return false;
  }
  const cJSON* v = cJSON_GetArrayItem(a, 0);
  if (!isInteger(v, 1, 247)) return fail(err, "slave must be an integer 1-247");
  pt.slave = static_cast<uint8_t>(v->valuedouble);
  v = cJSON_GetArrayItem(a, 1);
  if (!isInteger(v, 3, 4)) return fail(err, "fn must be 3 (holding) or 4 (input)");
  pt.fn = static_cast<uint8_t>(v->valuedouble);
  v = cJSON_GetArrayItem(a, 2);
  if (!isInteger(v, 0, 65535)) return fail(err, "reg must be an integer 0-65535");
  pt.reg = static_cast<uint16_t>(v->valuedouble);
  v = cJSON_GetArrayItem(a, 3);
  if (!cJSON_IsString(v) || !parseType(v->valuestring, pt.type)) return fail(err, "type must be u16, i16, u32, i32 or f32");
  v = cJSON_GetArrayItem(a, 4);
  if (!cJSON_IsNumber(v) || !std::isfinite(v->valuedouble)) return fail(err, "scale must be a number");
  pt.scale = v->valuedouble;
  v = cJSON_GetArrayItem(a, 5);
  // 16 characters of UTF-8 in the profile: at most 64 bytes.
  if (!cJSON_IsString(v) || std::strlen(v->valuestring) == 0 || std::strlen(v->valuestring) > 64)
    return fail(err, "unit must be text of 1-64 bytes (e.g. \"m3\")");
  pt.unit = v->valuestring;
  v = cJSON_GetArrayItem(a, 6);
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 86400)) return fail(err, "every_s must be a number of seconds 1-86400");
  pt.everyMs = static_cast<uint32_t>(std::llround(v->valuedouble * 1000));
  pt.swap = false;
  if (n == 8) {
    v = cJSON_GetArrayItem(a, 7);
    if (!isInteger(v, 0, 1)) return fail(err, "the swap flag must be 0 or 1");
    pt.swap = v->valuedouble == 1;
  }
  return true;
}

bool parseTable(const cJSON* root, ModbusConfig& out, std::string& err) {
  if (!cJSON_IsObject(root)) return fail(err, "not a JSON object");
  const cJSON* ver = cJSON_GetObjectItemCaseSensitive(root, "v");
  if (ver == nullptr) return fail(err, "v (the table version) is required");
  if (!isInteger(ver, kModbusTableVersion, kModbusTableVersion))
    return fail(err, "v must be " + std::to_string(kModbusTableVersion) + " (the table version this firmware reads)");
  uint32_t stop = out.stopBits;
  if (!intMember(root, "baud", 1200, 115200, out.baud, err) || !intMember(root, "stop", 1, 2, stop, err) ||
      !intMember(root, "to_ms", 20, 5000, out.timeoutMs, err) ||
      !intMember(root, "max_dev", 1, static_cast<long>(kMaxModbusDevices), out.maxDevices, err))
    return false;
  out.stopBits = static_cast<uint8_t>(stop);
  const cJSON* par = cJSON_GetObjectItemCaseSensitive(root, "par");
  if (par != nullptr) {
    if (!cJSON_IsString(par) || std::strlen(par->valuestring) != 1 || std::strchr("NEO", par->valuestring[0]) == nullptr)
      return fail(err, "par must be \"N\", \"E\" or \"O\"");
    out.parity = par->valuestring[0];
  }
  const cJSON* pts = cJSON_GetObjectItemCaseSensitive(root, "pts");
  if (!cJSON_IsArray(pts)) return fail(err, "pts must be an array");
  if (static_cast<size_t>(cJSON_GetArraySize(pts)) > kMaxModbusPoints) return fail(err, "at most " + std::to_string(kMaxModbusPoints) + " points");
  int i = 0;
  const cJSON* it = nullptr;
  cJSON_ArrayForEach(it, pts) {
    ModbusPoint pt;
    if (!parsePoint(it, pt, err)) {
      err = "pts[" + std::to_string(i) + "]: " + err;
      return false;
    }
    out.points.push_back(pt);
    ++i;
  }
  const size_t devices = modbusDeviceCount(out);
  if (devices > out.maxDevices) {
    err = "pts name " + std::to_string(devices) + " devices (slave addresses) but this gateway takes at most " +
          std::to_string(out.maxDevices) + " (max_dev)";
    return false;
  }
  return true;
}

}  // namespace

size_t modbusDeviceCount(const ModbusConfig& c) {
  bool seen[248] = {};
  size_t n = 0;
  for (const ModbusPoint& p : c.points)
    if (!seen[p.slave]) {
      seen[p.slave] = true;
      ++n;
    }
  return n;
}

bool parseModbusConfig(const std::string& json, ModbusConfig& out, std::string& err) {
  out = ModbusConfig{};
  cJSON* root = cJSON_Parse(json.c_str());
  const bool ok = root != nullptr ? parseTable(root, out, err) : fail(err, "not JSON");
  cJSON_Delete(root);
  if (!ok) out = ModbusConfig{};
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
