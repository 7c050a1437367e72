#include "tds_console.h"

#include <cstring>

#include "tds_bootstrap.h"
#include "tds_http.h"
#include "tds_improv.h"
#include "tds_json.h"
#include "tds_modbus.h"
#include "tds_renewal.h"
#include "tds_util.h"

namespace tds {

namespace {

bool isHex8(const std::string& s) {
  if (s.size() != 8) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

Console::Console(Platform& platform, KvStore& cfg, KvStore& dev, Rng& rng, FirmwareInfo fw, Hooks hooks, Renewal* renewal)
    : platform_(platform), cfg_(cfg), dev_(dev), rng_(rng), fw_(std::move(fw)), hooks_(std::move(hooks)), renewal_(renewal) {}

void Console::feed(const uint8_t* data, size_t len) {
  buf_.insert(buf_.end(), data, data + len);
  processBuffer();
}

void Console::processBuffer() {
  while (!buf_.empty()) {
    if (!inText_ && !discarding_ && buf_[0] == 'I') {
      improv::Packet pkt;
      size_t used = 0;
      const improv::ParseStatus st = improv::parse(buf_.data(), buf_.size(), pkt, used);
      if (st == improv::ParseStatus::need_more) {
        if (buf_.size() > kConsoleMaxLine) buf_.clear();
        return;
      }
      if (st == improv::ParseStatus::ok) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(used));
        onImprov(pkt.type, pkt.data);
        continue;
      }
      if (st == improv::ParseStatus::bad_checksum) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(used));
        sendImprov(improv::errorState(improv::ERROR_INVALID_RPC));
        continue;
      }
      inText_ = true;  // not an Improv header: an ordinary line starting with 'I'
    }
    if (buf_[0] == '\r' || buf_[0] == '\n') {
      if (!inText_ && !discarding_) {
        buf_.erase(buf_.begin());
        continue;
      }
    }
    size_t nl = 0;
    while (nl < buf_.size() && buf_[nl] != '\n') ++nl;
    if (nl == buf_.size() && buf_.size() <= kConsoleMaxLine) {
      inText_ = true;
      return;  // wait for the rest of the line
    }
    if (nl > kConsoleMaxLine) {
      if (!discarding_) {
        Json o(cJSON_CreateObject());
        cJSON_AddNullToObject(o.get(), "id");
        cJSON_AddFalseToObject(o.get(), "ok");
        cJSON_AddStringToObject(o.get(), "error", "line_too_long");
        cJSON_AddStringToObject(o.get(), "message", "request line longer than 2048 bytes; send long values in chunks");
        writeLine(o.print());
      }
      if (nl == buf_.size()) {
        discarding_ = true;  // drop the rest up to the next newline
        inText_ = true;
        buf_.clear();
        return;
      }
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(nl) + 1);
      inText_ = false;
      discarding_ = false;
      continue;
    }
    std::string line(buf_.begin(), buf_.begin() + static_cast<long>(nl));
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(nl) + 1);
    inText_ = false;
    if (discarding_) {
      discarding_ = false;
      continue;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    onLine(line);
  }
}

void Console::onLine(const std::string& line) {
  // Requests are "TDS {json}"; anything else on the line (echo, typing noise) is ignored.
  const size_t at = line.find("TDS {");
  if (at == std::string::npos) return;
  writeLine(handle(line.substr(at + 4)));
}

void Console::writeLine(const std::string& json) {
  std::string out = "TDS " + json + "\n";
  platform_.consoleWrite(reinterpret_cast<const uint8_t*>(out.data()), out.size());
}

void Console::event(const char* name, cJSON* extra) {
  Json o(extra != nullptr ? extra : cJSON_CreateObject());
  cJSON_AddStringToObject(o.get(), "event", name);
  writeLine(o.print());
}

std::string Console::handle(const std::string& text) {
  Json req(cJSON_Parse(text.c_str()));
  Json res(cJSON_CreateObject());
  const cJSON* id = req ? req.item("id") : nullptr;
  if (id != nullptr) cJSON_AddItemToObject(res.get(), "id", cJSON_Duplicate(id, 1));
  else cJSON_AddNullToObject(res.get(), "id");
  std::string code, msg;
  cJSON* body = nullptr;
  cJSON* problems = nullptr;
  if (!req || !cJSON_IsObject(req.get())) {
    code = "bad_request";
    msg = "request is not a JSON object";
  } else {
    const std::string cmd = req.str("cmd");
    if (cmd == "info") body = cmdInfo();
    else if (cmd == "csr") body = cmdCsr(code, msg);
    else if (cmd == "set") body = cmdSet(req.get(), code, msg);
    else if (cmd == "commit") body = cmdCommit(req.get(), code, msg, &problems);
    else if (cmd == "discard") {
      staged_.clear();
      resetTransfer();
      body = cJSON_CreateObject();
    } else if (cmd == "reboot") {
      body = cJSON_CreateObject();
      platform_.requestReboot(300);
    } else {
      code = "unknown_cmd";
      msg = cmd.empty() ? "request has no cmd" : "unknown cmd '" + cmd + "' (info, csr, set, commit, discard, reboot)";
    }
  }
  if (body != nullptr) {
    cJSON_AddTrueToObject(res.get(), "ok");
    for (cJSON* it = body->child; it != nullptr;) {
      cJSON* next = it->next;
      cJSON_AddItemToObject(res.get(), it->string, cJSON_DetachItemViaPointer(body, it));
      it = next;
    }
    cJSON_Delete(body);
  } else {
    cJSON_AddFalseToObject(res.get(), "ok");
    cJSON_AddStringToObject(res.get(), "error", code.c_str());
    cJSON_AddStringToObject(res.get(), "message", msg.c_str());
    if (problems != nullptr) cJSON_AddItemToObject(res.get(), "problems", problems);
  }
  return res.print();
}

cJSON* Console::cmdInfo() {
  DeviceConfig cfg;
  loadConfig(cfg_, cfg);
  const std::string mac = platform_.chipMac();
  const ConfigCheck chk = checkConfig(rng_, cfg, dev_, mac);
  const ChipInfo chip = platform_.chipInfo();
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "proto", kConsoleProtocol);
  cJSON_AddStringToObject(o, "mac", mac.c_str());
  cJSON* fw = cJSON_AddObjectToObject(o, "fw");
  cJSON_AddStringToObject(fw, "name", fw_.name.c_str());
  cJSON_AddStringToObject(fw, "version", fw_.version.c_str());
  cJSON* c = cJSON_AddObjectToObject(o, "chip");
  cJSON_AddStringToObject(c, "model", chip.model.c_str());
  cJSON_AddNumberToObject(c, "revision", chip.revision);
  cJSON_AddNumberToObject(c, "cores", chip.cores);
  cJSON_AddNumberToObject(c, "flash_size", chip.flashSize);
  cJSON_AddStringToObject(o, "state", hooks_.stateName ? hooks_.stateName().c_str() : "unknown");
  cJSON* cert = cJSON_AddObjectToObject(o, "cert");
  cJSON_AddBoolToObject(cert, "installed", chk.certInstalled);
  if (chk.certInstalled) {
    cJSON_AddStringToObject(cert, "serial", chk.cert.serialHex.c_str());
    cJSON_AddStringToObject(cert, "cn", chk.cert.cn.c_str());
    cJSON_AddStringToObject(cert, "not_before", chk.cert.notBefore.c_str());
    cJSON_AddStringToObject(cert, "not_after", chk.cert.notAfter.c_str());
  }
  cJSON_AddStringToObject(cert, "key_source", keySourceName(chk.keySource));
  std::string tmp;
  cJSON* dk = cJSON_AddObjectToObject(o, "device_key");
  cJSON_AddBoolToObject(dk, "installed", dev_.getString(key::dev_key, tmp));
  cJSON_AddBoolToObject(dk, "pending_csr", dev_.getString(key::dev_key_new, tmp));
  cJSON* conf = cJSON_AddObjectToObject(o, "config");
  cJSON_AddBoolToObject(conf, "valid", chk.ok);
  cJSON* probs = cJSON_AddArrayToObject(conf, "problems");
  for (const std::string& p : chk.problems) cJSON_AddItemToArray(probs, cJSON_CreateString(p.c_str()));
  for (const char* k : {key::wifi_ssid, key::mqtt_host, key::gw_code, key::prov_at, key::prov_by}) {
    const std::string v = cfg.get(k);
    if (!v.empty()) cJSON_AddStringToObject(conf, k, v.c_str());
  }
  if (cfg.mqtt_port) cJSON_AddNumberToObject(conf, key::mqtt_port, cfg.mqtt_port);
  if (cfg.cfg_ver >= 0) cJSON_AddNumberToObject(conf, key::cfg_ver, cfg.cfg_ver);
  cJSON* present = cJSON_AddArrayToObject(conf, "keys");
  for (size_t i = 0; i < kStringKeyCount; ++i)
    if (!cfg.get(kStringKeys[i]).empty()) cJSON_AddItemToArray(present, cJSON_CreateString(kStringKeys[i]));
  if (cfg.mqtt_port) cJSON_AddItemToArray(present, cJSON_CreateString(key::mqtt_port));
  if (cfg.cfg_ver >= 0) cJSON_AddItemToArray(present, cJSON_CreateString(key::cfg_ver));
  cJSON* staged = cJSON_AddArrayToObject(o, "staged");
  for (const auto& kv : staged_) cJSON_AddItemToArray(staged, cJSON_CreateString(kv.first.c_str()));
  if (renewal_ != nullptr) cJSON_AddStringToObject(o, "renewal", renewal_->phaseName());
  const BootstrapCheck bc = checkBootstrap(rng_, cfg, dev_, fw_, mac);
  cJSON* bs = cJSON_AddObjectToObject(o, "bootstrap");
  cJSON_AddBoolToObject(bs, "ready", bc.ready);
  if (bc.ready) cJSON_AddStringToObject(bs, "path", bc.attested ? "attested" : "open");
  if (!chk.certInstalled) {
    cJSON* bp = cJSON_AddArrayToObject(bs, "problems");
    for (const std::string& p : bc.problems) cJSON_AddItemToArray(bp, cJSON_CreateString(p.c_str()));
  }
  std::string bsId;
  if (dev_.getString(key::bs_id, bsId)) cJSON_AddStringToObject(bs, "bootstrap_id", bsId.c_str());
  return o;
}

cJSON* Console::cmdCsr(std::string& code, std::string& msg) {
  std::string keyPem, csr, err;
  const std::string mac = platform_.chipMac();
  if (!generateEcKey(rng_, keyPem, err) || !makeCsr(rng_, keyPem, mac, csr, err)) {
    code = "keygen_failed";
    msg = err;
    return nullptr;
  }
  // Kept apart from the installed key until `commit` installs a certificate for it.
  if (!dev_.setString(key::dev_key_new, keyPem) || !dev_.commit()) {
    code = "storage";
    msg = "could not store the new key in NVS";
    return nullptr;
  }
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "csr_pem", csr.c_str());
  cJSON_AddStringToObject(o, "key_type", "EC P-256");
  cJSON_AddStringToObject(o, "cn", mac.c_str());
  return o;
}

void Console::resetTransfer() {
  xferKey_.clear();
  xferData_.clear();
  xferNextSeq_ = 0;
  xferLastCrc_.clear();
}

bool Console::stageValue(const std::string& k, const std::string& v, std::string& code, std::string& msg) {
  DeviceConfig tmp;
  std::string err;
  if (!tmp.set(k, v, err)) {
    code = v.size() > maxValueLength(k) ? "too_long" : "bad_value";
    msg = err;
    return false;
  }
  if (!v.empty()) {
    CertInfo info;
    ModbusConfig mb;
    HttpsUrl url;
    if (k == key::ca_pem && countCerts(v) == 0) err = "ca_pem is not a PEM certificate";
    else if (k == key::cert_pem && !parseCert(v, info, err)) err = "cert_pem: " + err;
    else if (k == key::key_pem && !isValidKey(rng_, v, err)) err = "key_pem: " + err;
    else if (k == key::wifi_pass && !validWifiPass(v)) err = "wifi_pass must be 8-63 characters or 64 hex digits";
    else if (k == key::modbus && !parseModbusConfig(v, mb, err)) err = "modbus: " + err;
    else if (k == key::bs_url && !parseHttpsUrl(v, url, err)) err = "bs_url: " + err;
    else if (k == key::bs_ca && countCerts(v) == 0) err = "bs_ca is not a PEM certificate";
    else if (k == key::birth_cert && !parseCert(v, info, err)) err = "birth_cert: " + err;
    else if (k == key::birth_key && !isValidKey(rng_, v, err)) err = "birth_key: " + err;
    else err.clear();
    if (!err.empty()) {
      code = "bad_value";
      msg = err;
      return false;
    }
  }
  staged_[k] = isNumericKey(k) && !v.empty() ? tmp.get(k) : v;
  return true;
}

cJSON* Console::cmdSet(const cJSON* req, std::string& code, std::string& msg) {
  const cJSON* jk = cJSON_GetObjectItemCaseSensitive(req, "key");
  const std::string k = cJSON_IsString(jk) ? jk->valuestring : "";
  if (k == key::mac) {
    code = "read_only";
    msg = "mac is taken from the chip's eFuse at commit";
    return nullptr;
  }
  if (!isConfigKey(k)) {
    code = "bad_key";
    msg = "unknown key '" + k + "'";
    return nullptr;
  }
  const cJSON* value = cJSON_GetObjectItemCaseSensitive(req, "value");
  const cJSON* seq = cJSON_GetObjectItemCaseSensitive(req, "seq");
  if (value != nullptr) {
    std::string v;
    if (cJSON_IsString(value)) v = value->valuestring;
    else if (cJSON_IsNumber(value) && isNumericKey(k)) {
      if (value->valuedouble < 0 || value->valuedouble != static_cast<double>(static_cast<long long>(value->valuedouble))) {
        code = "bad_value";
        msg = k + " must be a whole number";
        return nullptr;
      }
      v = std::to_string(static_cast<long long>(value->valuedouble));
    } else if (!cJSON_IsNull(value)) {
      code = "bad_value";
      msg = isNumericKey(k) ? "value must be a number or a string" : "value must be a string (null or \"\" erases)";
      return nullptr;
    }
    if (!stageValue(k, v, code, msg)) return nullptr;
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", k.c_str());
    cJSON_AddTrueToObject(o, "staged");
    cJSON_AddNumberToObject(o, "len", static_cast<double>(v.size()));
    return o;
  }
  if (!cJSON_IsNumber(seq) || seq->valuedouble < 0) {
    code = "bad_request";
    msg = "set needs either value, or seq + data + crc (chunked)";
    return nullptr;
  }
  const uint32_t n = static_cast<uint32_t>(seq->valuedouble);
  const cJSON* data = cJSON_GetObjectItemCaseSensitive(req, "data");
  const cJSON* crc = cJSON_GetObjectItemCaseSensitive(req, "crc");
  if (!cJSON_IsString(data) || !cJSON_IsString(crc) || !isHex8(crc->valuestring)) {
    code = "bad_request";
    msg = "a chunk needs data (string) and crc (8 hex digits, CRC-32 of data)";
    return nullptr;
  }
  const std::string chunk = data->valuestring;
  const std::string chunkCrc = lower(crc->valuestring);
  if (n == 0) {
    resetTransfer();
    xferKey_ = k;
  } else if (k != xferKey_) {
    code = "seq";
    msg = "no chunked transfer of " + k + " in progress; start with seq 0";
    return nullptr;
  } else if (n + 1 == xferNextSeq_ && chunkCrc == xferLastCrc_) {
    // The previous chunk again (its reply was lost): acknowledge without appending.
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", k.c_str());
    cJSON_AddNumberToObject(o, "seq", n);
    cJSON_AddNumberToObject(o, "received", static_cast<double>(xferData_.size()));
    return o;
  }
  if (n != xferNextSeq_) {
    code = "seq";
    msg = "expected chunk seq " + std::to_string(xferNextSeq_) + ", got " + std::to_string(n);
    return nullptr;
  }
  if (chunk.size() > kConsoleMaxChunk) {
    code = "too_long";
    msg = "chunk data longer than " + std::to_string(kConsoleMaxChunk) + " bytes";
    return nullptr;
  }
  if (hex8(crc32(chunk)) != chunkCrc) {
    code = "crc";
    msg = "chunk " + std::to_string(n) + " checksum mismatch; send it again";
    return nullptr;
  }
  if (xferData_.size() + chunk.size() > maxValueLength(k)) {
    resetTransfer();
    code = "too_long";
    msg = k + " longer than " + std::to_string(maxValueLength(k)) + " bytes";
    return nullptr;
  }
  xferData_ += chunk;
  xferNextSeq_ = n + 1;
  xferLastCrc_ = chunkCrc;
  const cJSON* fin = cJSON_GetObjectItemCaseSensitive(req, "final");
  if (!cJSON_IsTrue(fin)) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", k.c_str());
    cJSON_AddNumberToObject(o, "seq", n);
    cJSON_AddNumberToObject(o, "received", static_cast<double>(xferData_.size()));
    return o;
  }
  const cJSON* len = cJSON_GetObjectItemCaseSensitive(req, "len");
  const cJSON* total = cJSON_GetObjectItemCaseSensitive(req, "total_crc");
  const std::string whole = xferData_;
  resetTransfer();
  if (!cJSON_IsNumber(len) || static_cast<size_t>(len->valuedouble) != whole.size()) {
    code = "crc";
    msg = "length mismatch: received " + std::to_string(whole.size()) + " bytes; send the value again from seq 0";
    return nullptr;
  }
  if (!cJSON_IsString(total) || lower(total->valuestring) != hex8(crc32(whole))) {
    code = "crc";
    msg = "total_crc mismatch; send the value again from seq 0";
    return nullptr;
  }
  if (!stageValue(k, whole, code, msg)) return nullptr;
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", k.c_str());
  cJSON_AddNumberToObject(o, "seq", n);
  cJSON_AddTrueToObject(o, "staged");
  cJSON_AddNumberToObject(o, "len", static_cast<double>(whole.size()));
  return o;
}

cJSON* Console::cmdCommit(const cJSON* req, std::string& code, std::string& msg, cJSON** problemsOut) {
  const bool allowIncomplete = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "allow_incomplete"));
  const std::string mac = platform_.chipMac();
  DeviceConfig merged;
  loadConfig(cfg_, merged);
  std::string err;
  for (const auto& kv : staged_) merged.set(kv.first, kv.second, err);
  merged.mac = mac;
  std::string keyNew;
  const bool haveNew = dev_.getString(key::dev_key_new, keyNew);
  const ConfigCheck chk = checkConfig(rng_, merged, dev_, mac, haveNew ? &keyNew : nullptr);
  // A board without an operational identity that has what zero-touch onboarding needs is complete too.
  const BootstrapCheck bc = checkBootstrap(rng_, merged, dev_, fw_, mac, nullptr, haveNew ? &keyNew : nullptr);
  if (!chk.ok && !bc.ready && !allowIncomplete) {
    code = "invalid_config";
    msg = "configuration is not complete; nothing was written (fix, then commit again)";
    cJSON* p = cJSON_CreateArray();
    for (const std::string& s : chk.problems) cJSON_AddItemToArray(p, cJSON_CreateString(s.c_str()));
    if (merged.cert_pem.empty() && (!merged.bs_url.empty() || !merged.bs_ca.empty() || !merged.birth_cert.empty()))
      for (const std::string& s : bc.problems) cJSON_AddItemToArray(p, cJSON_CreateString(("bootstrap: " + s).c_str()));
    *problemsOut = p;
    return nullptr;
  }
  const bool useNew = haveNew && keyMatchesCert(rng_, keyNew, merged.cert_pem);
  // A birth certificate for the key of the last `csr`: that key is the device-made birth key.
  const bool newIsBirth = haveNew && !useNew && keyMatchesCert(rng_, keyNew, merged.birth_cert);
  bool ok = true;
  // The device key first: if power fails before the certificate is written, the old pair still works.
  if (useNew) ok = dev_.setString(key::dev_key, keyNew) && dev_.commit();
  if (newIsBirth) ok = dev_.setString(key::dev_birth_key, keyNew) && dev_.commit() && ok;
  cJSON* written = cJSON_CreateArray();
  for (const auto& kv : staged_) {
    const char* k = kv.first.c_str();
    if (kv.second.empty()) ok = cfg_.erase(k) && ok;
    else if (kv.first == key::mqtt_port) ok = cfg_.setU16(k, merged.mqtt_port) && ok;
    else if (kv.first == key::cfg_ver) ok = cfg_.setU8(k, static_cast<uint8_t>(merged.cfg_ver)) && ok;
    else ok = cfg_.setString(k, kv.second) && ok;
    cJSON_AddItemToArray(written, cJSON_CreateString(k));
  }
  ok = cfg_.setString(key::mac, mac) && ok;
  if (useNew && staged_.count(key::key_pem) == 0) ok = cfg_.erase(key::key_pem) && ok;
  ok = cfg_.commit() && ok;
  if (useNew || newIsBirth) ok = dev_.erase(key::dev_key_new) && dev_.commit() && ok;
  if (!ok) {
    cJSON_Delete(written);
    code = "storage";
    msg = "writing NVS failed";
    return nullptr;
  }
  if (staged_.count(key::cert_pem) != 0 && renewal_ != nullptr) renewal_->reset();
  staged_.clear();
  resetTransfer();
  cJSON* o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "valid", chk.ok);
  cJSON_AddBoolToObject(o, "bootstrap_ready", bc.ready);
  cJSON* probs = cJSON_AddArrayToObject(o, "problems");
  for (const std::string& s : chk.problems) cJSON_AddItemToArray(probs, cJSON_CreateString(s.c_str()));
  cJSON_AddStringToObject(o, "key_source", useNew ? "device" : keySourceName(chk.keySource));
  if (chk.certInstalled) cJSON_AddStringToObject(o, "cert_serial", chk.cert.serialHex.c_str());
  cJSON_AddItemToObject(o, "written", written);
  if (hooks_.committed) hooks_.committed();
  return o;
}

// ---- Improv Wi-Fi serial ----

void Console::sendImprov(const std::vector<uint8_t>& frame) {
  std::vector<uint8_t> f = frame;
  f.push_back('\n');  // keeps line-based serial monitors readable; Improv readers skip it
  platform_.consoleWrite(f.data(), f.size());
}

bool Console::improvProvisioned() {
  std::string ssid;
  return cfg_.getString(key::wifi_ssid, ssid) && !ssid.empty() && platform_.wifiConnected();
}

void Console::onImprov(uint8_t type, const std::vector<uint8_t>& data) {
  if (type != improv::RPC) return;  // the device only answers RPCs
  improv::Rpc rpc;
  if (!improv::decodeRpc(data, rpc)) {
    sendImprov(improv::errorState(improv::ERROR_INVALID_RPC));
    return;
  }
  switch (rpc.command) {
    case improv::SEND_WIFI_SETTINGS: {
      if (rpc.ssid.empty() || rpc.ssid.size() > 32 || !validWifiPass(rpc.password)) {
        sendImprov(improv::errorState(improv::ERROR_INVALID_RPC));
        return;
      }
      sendImprov(improv::currentState(improv::STATE_PROVISIONING));
      if (!platform_.wifiTry(rpc.ssid, rpc.password, 20000)) {
        sendImprov(improv::errorState(improv::ERROR_UNABLE_TO_CONNECT));
        sendImprov(improv::currentState(improv::STATE_READY));
        return;
      }
      // Improv has no commit step: the network that just worked is stored at once.
      if (!cfg_.setString(key::wifi_ssid, rpc.ssid) || !cfg_.setString(key::wifi_pass, rpc.password) || !cfg_.commit()) {
        sendImprov(improv::errorState(improv::ERROR_UNKNOWN));
        return;
      }
      if (hooks_.committed) hooks_.committed();
      sendImprov(improv::currentState(improv::STATE_PROVISIONED));
      sendImprov(improv::rpcResult(improv::SEND_WIFI_SETTINGS, {}));
      return;
    }
    case improv::REQUEST_CURRENT_STATE: {
      const bool prov = improvProvisioned();
      sendImprov(improv::currentState(prov ? improv::STATE_PROVISIONED : improv::STATE_READY));
      if (prov) sendImprov(improv::rpcResult(improv::REQUEST_CURRENT_STATE, {}));
      return;
    }
    case improv::REQUEST_INFO: {
      std::string name;
      if (!cfg_.getString(key::gw_code, name) || name.empty()) name = "TDS " + platform_.chipMac();
      sendImprov(improv::rpcResult(improv::REQUEST_INFO, {fw_.name, fw_.version, platform_.chipInfo().model, name}));
      return;
    }
    case improv::REQUEST_WIFI_NETWORKS: {
      for (const WifiNetwork& n : platform_.wifiScan())
        sendImprov(improv::rpcResult(improv::REQUEST_WIFI_NETWORKS, {n.ssid, std::to_string(n.rssi), n.secured ? "YES" : "NO"}));
      sendImprov(improv::rpcResult(improv::REQUEST_WIFI_NETWORKS, {}));
      return;
    }
    default:
      sendImprov(improv::errorState(improv::ERROR_UNKNOWN_RPC));
  }
}

}  // namespace tds
