// RAII owner for a cJSON tree with a few typed getters. cJSON is part of ESP-IDF (component "json",
// bundled in Arduino-ESP32 2.x) and of Debian (libcjson-dev), so the core uses the same parser on both.
#pragma once
#include <string>

#include "cJSON.h"

namespace tds {

class Json {
 public:
  explicit Json(cJSON* p = nullptr) : p_(p) {}
  ~Json() { cJSON_Delete(p_); }
  Json(const Json&) = delete;
  Json& operator=(const Json&) = delete;
  Json(Json&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Json& operator=(Json&& o) noexcept {
    if (this != &o) {
      cJSON_Delete(p_);
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  explicit operator bool() const { return p_ != nullptr; }
  cJSON* get() const { return p_; }
  cJSON* release() {
    cJSON* p = p_;
    p_ = nullptr;
    return p;
  }
  const cJSON* item(const char* name) const { return cJSON_GetObjectItemCaseSensitive(p_, name); }
  std::string str(const char* name, const std::string& dflt = std::string()) const {
    const cJSON* v = item(name);
    return cJSON_IsString(v) && v->valuestring != nullptr ? std::string(v->valuestring) : dflt;
  }
  // Compact JSON text (empty when the tree is empty or printing failed).
  std::string print() const {
    if (p_ == nullptr) return std::string();
    char* s = cJSON_PrintUnformatted(p_);
    if (s == nullptr) return std::string();
    std::string out(s);
    cJSON_free(s);
    return out;
  }

 private:
  cJSON* p_;
};

}  // namespace tds
