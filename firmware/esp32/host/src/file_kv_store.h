// Host stand-in for one ESP-IDF NVS namespace: a JSON file per partition,
// {"<namespace>": {"<key>": {"type": "string"|"u8"|"u16"|"u32", "value": ...}}}, written atomically on commit.
#pragma once
#include <map>
#include <string>

#include "tds_kv.h"

namespace tds {

class FileKvStore : public KvStore {
 public:
  FileKvStore(std::string path, std::string ns);
  bool getString(const char* key, std::string& out) override;
  bool getU8(const char* key, uint8_t& out) override;
  bool getU16(const char* key, uint16_t& out) override;
  bool getU32(const char* key, uint32_t& out) override;
  bool setString(const char* key, const std::string& value) override;
  bool setU8(const char* key, uint8_t value) override;
  bool setU16(const char* key, uint16_t value) override;
  bool setU32(const char* key, uint32_t value) override;
  bool erase(const char* key) override;
  bool commit() override;

 private:
  struct Entry {
    std::string type;
    std::string str;
    uint32_t num = 0;
  };
  bool validKey(const char* key) const;
  void load();
  std::string path_, ns_;
  std::map<std::string, Entry> entries_;
};

}  // namespace tds
