// Small helpers shared by the core: CRC32, hex, MAC formatting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tds {

// Standard CRC-32 (IEEE 802.3, zlib's crc32(0, ...)), used by the console's chunked set.
uint32_t crc32(const uint8_t* data, size_t len, uint32_t prev = 0);
inline uint32_t crc32(const std::string& s, uint32_t prev = 0) {
  return crc32(reinterpret_cast<const uint8_t*>(s.data()), s.size(), prev);
}

std::string toHex(const uint8_t* data, size_t len);
std::string hex8(uint32_t v);  // 8 lowercase hex digits

// Canonical MAC text: lowercase aa:bb:cc:dd:ee:ff.
std::string formatMac(const uint8_t mac[6]);
// Accepts aa:bb:.., AA-BB-.., or 12 hex digits; rejects multicast, broadcast, all-zero.
bool parseMac(const std::string& in, std::string& canonical);

}  // namespace tds
