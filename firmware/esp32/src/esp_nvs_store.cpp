#include "esp_nvs_store.h"

#include <cstring>
#include <nvs_flash.h>

bool EspNvsStore::open() {
  esp_err_t err = std::strcmp(partition_, NVS_DEFAULT_PART_NAME) == 0 ? nvs_flash_init() : nvs_flash_init_partition(partition_);
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    // Unreadable layout: nothing in it can be used; start empty (the device then waits for provisioning).
    nvs_flash_erase_partition(partition_);
    err = std::strcmp(partition_, NVS_DEFAULT_PART_NAME) == 0 ? nvs_flash_init() : nvs_flash_init_partition(partition_);
  }
  if (err != ESP_OK) return false;
  open_ = nvs_open_from_partition(partition_, ns_, NVS_READWRITE, &h_) == ESP_OK;
  return open_;
}

bool EspNvsStore::getString(const char* key, std::string& out) {
  size_t len = 0;
  if (!open_ || nvs_get_str(h_, key, nullptr, &len) != ESP_OK || len == 0) return false;
  std::string buf(len, '\0');
  if (nvs_get_str(h_, key, &buf[0], &len) != ESP_OK) return false;
  buf.resize(len - 1);  // drop the NUL
  out.swap(buf);
  return true;
}

bool EspNvsStore::getU8(const char* key, uint8_t& out) { return open_ && nvs_get_u8(h_, key, &out) == ESP_OK; }
bool EspNvsStore::getU16(const char* key, uint16_t& out) { return open_ && nvs_get_u16(h_, key, &out) == ESP_OK; }
bool EspNvsStore::getU32(const char* key, uint32_t& out) { return open_ && nvs_get_u32(h_, key, &out) == ESP_OK; }
// A key stored earlier with another type (e.g. mqtt_port as u32) is replaced, not kept beside the new one.
template <typename F>
static bool setReplacing(nvs_handle_t h, const char* key, F set) {
  esp_err_t err = set();
  if (err == ESP_ERR_NVS_TYPE_MISMATCH) {
    nvs_erase_key(h, key);
    err = set();
  }
  return err == ESP_OK;
}

bool EspNvsStore::setString(const char* key, const std::string& v) {
  return open_ && setReplacing(h_, key, [&] { return nvs_set_str(h_, key, v.c_str()); });
}
bool EspNvsStore::setU8(const char* key, uint8_t v) {
  return open_ && setReplacing(h_, key, [&] { return nvs_set_u8(h_, key, v); });
}
bool EspNvsStore::setU16(const char* key, uint16_t v) {
  return open_ && setReplacing(h_, key, [&] { return nvs_set_u16(h_, key, v); });
}
bool EspNvsStore::setU32(const char* key, uint32_t v) {
  return open_ && setReplacing(h_, key, [&] { return nvs_set_u32(h_, key, v); });
}

bool EspNvsStore::erase(const char* key) {
  if (!open_) return false;
  const esp_err_t err = nvs_erase_key(h_, key);
  return err == ESP_OK || err == ESP_ERR_NVS_NOT_FOUND;
}

bool EspNvsStore::commit() { return open_ && nvs_commit(h_) == ESP_OK; }
