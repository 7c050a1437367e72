// KvStore over the ESP-IDF NVS API, one namespace of one partition (tdscfg or the default nvs).
#pragma once
#include <nvs.h>

#include "tds_kv.h"

class EspNvsStore : public tds::KvStore {
 public:
  EspNvsStore(const char* partition, const char* ns) : partition_(partition), ns_(ns) {}
  // Initialises the partition (erasing it only when its NVS format is unusable) and opens the namespace.
  bool open();
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
  const char* partition_;
  const char* ns_;
  nvs_handle_t h_ = 0;
  bool open_ = false;
};
