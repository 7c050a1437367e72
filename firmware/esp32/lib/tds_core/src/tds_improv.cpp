#include "tds_improv.h"

#include <cstring>

namespace tds {
namespace improv {

std::vector<uint8_t> frame(uint8_t type, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> f = {'I', 'M', 'P', 'R', 'O', 'V', kVersion, type, static_cast<uint8_t>(data.size())};
  f.insert(f.end(), data.begin(), data.end());
  uint8_t sum = 0;
  for (uint8_t b : f) sum = static_cast<uint8_t>(sum + b);
  f.push_back(sum);
  return f;
}

std::vector<uint8_t> currentState(State s) { return frame(CURRENT_STATE, {static_cast<uint8_t>(s)}); }
std::vector<uint8_t> errorState(Error e) { return frame(ERROR_STATE, {static_cast<uint8_t>(e)}); }

std::vector<uint8_t> rpcResult(uint8_t command, const std::vector<std::string>& strings) {
  std::vector<uint8_t> body;
  for (const std::string& s : strings) {
    const size_t n = s.size() > 255 ? 255 : s.size();
    body.push_back(static_cast<uint8_t>(n));
    body.insert(body.end(), s.begin(), s.begin() + static_cast<long>(n));
  }
  std::vector<uint8_t> data = {command, static_cast<uint8_t>(body.size())};
  data.insert(data.end(), body.begin(), body.end());
  return frame(RPC_RESULT, data);
}

ParseStatus parse(const uint8_t* buf, size_t len, Packet& out, size_t& consumed) {
  consumed = 0;
  static const uint8_t magic[6] = {'I', 'M', 'P', 'R', 'O', 'V'};
  const size_t m = len < 6 ? len : 6;
  if (std::memcmp(buf, magic, m) != 0) {
    consumed = 1;
    return ParseStatus::bad_header;
  }
  if (len < kHeaderLen) return ParseStatus::need_more;
  if (buf[6] != kVersion) {
    consumed = 6;
    return ParseStatus::bad_header;
  }
  const size_t dataLen = buf[8];
  const size_t total = kHeaderLen + dataLen + 1;
  if (len < total) return ParseStatus::need_more;
  uint8_t sum = 0;
  for (size_t i = 0; i < total - 1; ++i) sum = static_cast<uint8_t>(sum + buf[i]);
  consumed = total;
  if (sum != buf[total - 1]) return ParseStatus::bad_checksum;
  out.type = buf[7];
  out.data.assign(buf + kHeaderLen, buf + kHeaderLen + dataLen);
  return ParseStatus::ok;
}

bool decodeRpc(const std::vector<uint8_t>& d, Rpc& out) {
  out = Rpc{};
  if (d.size() < 2 || static_cast<size_t>(d[1]) + 2 != d.size()) return false;
  out.command = d[0];
  out.payload.assign(d.begin() + 2, d.end());
  if (out.command == SEND_WIFI_SETTINGS) {
    const std::vector<uint8_t>& p = out.payload;
    if (p.empty()) return false;
    const size_t sl = p[0];
    if (1 + sl + 1 > p.size()) return false;
    const size_t pl = p[1 + sl];
    if (1 + sl + 1 + pl != p.size()) return false;
    out.ssid.assign(p.begin() + 1, p.begin() + 1 + static_cast<long>(sl));
    out.password.assign(p.begin() + 2 + static_cast<long>(sl), p.end());
  }
  return true;
}

}  // namespace improv
}  // namespace tds
