// Key-value storage with ESP-IDF NVS semantics: one namespace of one partition, typed entries.
// The target backs it with the IDF NVS API; the host build with a JSON file (file_kv_store).
#pragma once
#include <cstdint>
#include <string>

namespace tds {

class KvStore {
 public:
  virtual ~KvStore() = default;
  // Each getter returns false when the key is absent or has another type.
  virtual bool getString(const char* key, std::string& out) = 0;
  virtual bool getU8(const char* key, uint8_t& out) = 0;
  virtual bool getU16(const char* key, uint16_t& out) = 0;
  virtual bool getU32(const char* key, uint32_t& out) = 0;
  virtual bool setString(const char* key, const std::string& value) = 0;
  virtual bool setU8(const char* key, uint8_t value) = 0;
  virtual bool setU16(const char* key, uint16_t value) = 0;
  virtual bool setU32(const char* key, uint32_t value) = 0;
  // True when the key is gone afterwards (also when it never existed).
  virtual bool erase(const char* key) = 0;
  // Makes every change so far durable.
  virtual bool commit() = 0;

  bool has(const char* key) {
    std::string s;
    uint8_t c;
    uint16_t a;
    uint32_t b;
    return getString(key, s) || getU8(key, c) || getU16(key, a) || getU32(key, b);
  }
};

}  // namespace tds
