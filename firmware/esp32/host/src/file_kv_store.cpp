#include "file_kv_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tds_json.h"

namespace tds {

FileKvStore::FileKvStore(std::string path, std::string ns) : path_(std::move(path)), ns_(std::move(ns)) { load(); }

bool FileKvStore::validKey(const char* key) const { return key != nullptr && std::strlen(key) > 0 && std::strlen(key) <= 15; }

void FileKvStore::load() {
  entries_.clear();
  std::ifstream in(path_);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  Json root(cJSON_Parse(ss.str().c_str()));
  const cJSON* ns = root ? root.item(ns_.c_str()) : nullptr;
  const cJSON* it = nullptr;
  cJSON_ArrayForEach(it, ns) {
    const cJSON* t = cJSON_GetObjectItemCaseSensitive(it, "type");
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(it, "value");
    if (!cJSON_IsString(t) || v == nullptr) continue;
    Entry e;
    e.type = t->valuestring;
    if (e.type == "string" && cJSON_IsString(v)) e.str = v->valuestring;
    else if ((e.type == "u8" || e.type == "u16" || e.type == "u32") && cJSON_IsNumber(v)) e.num = static_cast<uint32_t>(v->valuedouble);
    else continue;
    entries_[it->string] = e;
  }
}

bool FileKvStore::getString(const char* key, std::string& out) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.type != "string") return false;
  out = it->second.str;
  return true;
}

bool FileKvStore::getU8(const char* key, uint8_t& out) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.type != "u8") return false;
  out = static_cast<uint8_t>(it->second.num);
  return true;
}

bool FileKvStore::getU16(const char* key, uint16_t& out) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.type != "u16") return false;
  out = static_cast<uint16_t>(it->second.num);
  return true;
}

bool FileKvStore::getU32(const char* key, uint32_t& out) {
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.type != "u32") return false;
  out = it->second.num;
  return true;
}

bool FileKvStore::setString(const char* key, const std::string& value) {
  if (!validKey(key) || value.size() >= 4000) return false;  // NVS limits: 15-char keys, 4000-byte strings
  entries_[key] = Entry{"string", value, 0};
  return true;
}

bool FileKvStore::setU8(const char* key, uint8_t value) {
  if (!validKey(key)) return false;
  entries_[key] = Entry{"u8", "", value};
  return true;
}

bool FileKvStore::setU16(const char* key, uint16_t value) {
  if (!validKey(key)) return false;
  entries_[key] = Entry{"u16", "", value};
  return true;
}

bool FileKvStore::setU32(const char* key, uint32_t value) {
  if (!validKey(key)) return false;
  entries_[key] = Entry{"u32", "", value};
  return true;
}

bool FileKvStore::erase(const char* key) {
  entries_.erase(key);
  return true;
}

bool FileKvStore::commit() {
  // Keep other namespaces of the same file.
  Json root(nullptr);
  {
    std::ifstream in(path_);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      root = Json(cJSON_Parse(ss.str().c_str()));
    }
  }
  if (!root || !cJSON_IsObject(root.get())) root = Json(cJSON_CreateObject());
  cJSON_DeleteItemFromObjectCaseSensitive(root.get(), ns_.c_str());
  cJSON* ns = cJSON_AddObjectToObject(root.get(), ns_.c_str());
  for (const auto& kv : entries_) {
    cJSON* e = cJSON_AddObjectToObject(ns, kv.first.c_str());
    cJSON_AddStringToObject(e, "type", kv.second.type.c_str());
    if (kv.second.type == "string") cJSON_AddStringToObject(e, "value", kv.second.str.c_str());
    else cJSON_AddNumberToObject(e, "value", kv.second.num);
  }
  char* text = cJSON_Print(root.get());
  if (text == nullptr) return false;
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  bool ok = fd >= 0;
  if (ok) {
    const size_t n = std::strlen(text);
    ok = ::write(fd, text, n) == static_cast<ssize_t>(n) && ::fsync(fd) == 0;
    ::close(fd);
  }
  cJSON_free(text);
  return ok && std::rename(tmp.c_str(), path_.c_str()) == 0;
}

}  // namespace tds
