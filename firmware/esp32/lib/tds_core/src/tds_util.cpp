#include "tds_util.h"

#include <cctype>

namespace tds {

uint32_t crc32(const uint8_t* data, size_t len, uint32_t prev) {
  uint32_t c = ~prev;
  for (size_t i = 0; i < len; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::string toHex(const uint8_t* data, size_t len) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(d[data[i] >> 4]);
    out.push_back(d[data[i] & 15]);
  }
  return out;
}

std::string hex8(uint32_t v) {
  uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  return toHex(b, 4);
}

std::string formatMac(const uint8_t mac[6]) {
  std::string out = toHex(mac, 6);
  std::string r;
  for (size_t i = 0; i < 12; i += 2) {
    if (i) r.push_back(':');
    r.append(out, i, 2);
  }
  return r;
}

bool parseMac(const std::string& in, std::string& canonical) {
  std::string hex;
  const size_t n = in.size();
  if (n == 17) {
    const char sep = in[2];
    if (sep != ':' && sep != '-') return false;
    for (size_t i = 0; i < n; ++i) {
      if (i % 3 == 2) {
        if (in[i] != sep) return false;
      } else {
        hex.push_back(in[i]);
      }
    }
  } else if (n == 12) {
    hex = in;
  } else {
    return false;
  }
  uint8_t b[6];
  for (size_t i = 0; i < 6; ++i) {
    int v = 0;
    for (size_t k = 0; k < 2; ++k) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(hex[i * 2 + k])));
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else return false;
      v = v * 16 + d;
    }
    b[i] = static_cast<uint8_t>(v);
  }
  bool zero = true, bcast = true;
  for (uint8_t x : b) {
    zero = zero && x == 0;
    bcast = bcast && x == 0xff;
  }
  if (zero || bcast || (b[0] & 1)) return false;
  canonical = formatMac(b);
  return true;
}

}  // namespace tds
