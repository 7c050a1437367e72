// The bootstrap's steps and how each handles the server's answers (~480 lines: they read best side by
// side); the NVS side (readiness, installing the identity) is tds_bootstrap_nvs.cpp.
#include "tds_bootstrap.h"

#include <cstdlib>

#include "tds_backoff.h"
#include "tds_json.h"
#include "tds_util.h"

namespace tds {

namespace {

constexpr uint32_t kMaxWaitS = 3600;

bool isRequestId(const std::string& s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Retry-After in seconds (the server sends whole seconds), clamped to 1 s … 1 h.
uint32_t retryAfterS(const std::string& v, uint32_t dflt) {
  if (v.empty() || v.size() > 7 || v.find_first_not_of("0123456789") != std::string::npos) return dflt;
  const unsigned long n = std::strtoul(v.c_str(), nullptr, 10);
  return n < 1 ? 1 : n > kMaxWaitS ? kMaxWaitS : static_cast<uint32_t>(n);
}

std::string detailsCode(const Json& j) {
  const cJSON* d = j.item("details");
  const cJSON* c = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "code") : nullptr;
  return cJSON_IsString(c) ? std::string(c->valuestring) : std::string();
}

std::string detailsReason(const Json& j) {
  const cJSON* d = j.item("details");
  const cJSON* c = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "reason") : nullptr;
  return cJSON_IsString(c) ? std::string(c->valuestring) : std::string();
}

double number(const Json& j, const char* name, double dflt) {
  const cJSON* v = j.item(name);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

bool printable(const std::string& s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

}  // namespace

const char* Bootstrap::stepName() const {
  switch (step_) {
    case Step::idle: return "idle";
    case Step::key: return "key";
    case Step::nonce: return "nonce";
    case Step::request: return "request";
    case Step::sync_time: return "sync_time";
    case Step::poll: return "poll";
    case Step::installed: return "installed";
  }
  return "?";
}

uint32_t Bootstrap::jitter() {
  uint8_t b[4] = {0, 0, 0, 0};
  rng_.bytes(b, sizeof b);
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
}

std::string Bootstrap::model() {
  if (!fw_.model.empty()) return fw_.model;
  const ChipInfo c = p_.chipInfo();
  return c.model + " rev" + std::to_string(c.revision);
}

int64_t Bootstrap::serverNow(uint64_t nowMs) const { return timeBase_ + static_cast<int64_t>((nowMs - timeBaseMs_) / 1000); }

void Bootstrap::learnDate(const HttpResult& r, uint64_t nowMs) {
  // Only when the time is unknown (after a reboot, or a timestamp the server refused): one base keeps
  // the poll timestamps increasing; the device's crystal drifts milliseconds over a request's life.
  int64_t t = 0;
  if (!haveTime_ && !r.date.empty() && parseHttpDate(r.date, t)) {
    timeBase_ = t;
    timeBaseMs_ = nowMs;
    haveTime_ = true;
  }
}

void Bootstrap::begin(const BootstrapSettings& s) {
  s_ = s;
  mac_ = p_.chipMac();
  failures_ = 0;
  nonce_.clear();
  id_.clear();
  code_.clear();
  qr_.clear();
  expiresAt_.clear();
  csrPem_.clear();
  haveTime_ = false;
  path_ = s_.attested() ? "attested" : "open";
  step_ = Step::key;
  nextMs_ = 0;
  key_.clear();
  std::string err, id;
  if (dev_.getString(key::bs_key, key_) && !isValidKey(rng_, key_, err)) {
    p_.log("bootstrap: the stored request key does not parse; starting again");
    clearState(dev_);
    key_.clear();
  }
  if (!key_.empty() && dev_.getString(key::bs_id, id) && isRequestId(id) && publicKeyFingerprint(rng_, key_, fingerprint_, err)) {
    id_ = id;
    loadMeta();
    step_ = Step::sync_time;  // the poll timestamps need the server's time again
    p_.log("bootstrap: resuming request " + id_);
  }
}

bool Bootstrap::tick(uint64_t now) {
  if (step_ == Step::installed) return true;
  if (step_ == Step::idle) return false;
  if (step_ == Step::poll && !id_.empty() && now - lastShownMs_ >= kCodeRepeatMs) showRequest(now);
  if (now < nextMs_) return false;
  p_.feedWatchdog();
  switch (step_) {
    case Step::key: stepKey(now); break;
    case Step::nonce: stepNonce(now); break;
    case Step::request: stepRequest(now); break;
    case Step::sync_time: stepSyncTime(now); break;
    case Step::poll: return stepPoll();
    default: break;
  }
  return false;
}

void Bootstrap::wait(uint32_t seconds, Step next) {
  // Counted from after the answer (and its log line): Retry-After starts when the answer arrived.
  step_ = next;
  nextMs_ = p_.millis() + uint64_t(seconds) * 1000;
}

void Bootstrap::errorEvent(const std::string& code, const std::string& message, uint32_t retryS) {
  p_.log("bootstrap: " + code + ": " + message + " (again in " + std::to_string(retryS) + " s)");
  cJSON* o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "state", "error");
  cJSON_AddStringToObject(o, "code", code.c_str());
  cJSON_AddStringToObject(o, "message", message.c_str());
  cJSON_AddNumberToObject(o, "retry_in_s", retryS);
  emit_(o);
}

bool Bootstrap::call(const char* method, const std::string& path, const std::string& body, const std::vector<HttpHeader>& headers,
                     HttpResult& r) {
  HttpRequest req;
  req.method = method;
  req.url = s_.url + path;
  req.caPem = s_.caPem;
  req.body = body;
  req.headers = headers;
  req.headers.push_back({"Accept", "application/json"});
  req.headers.push_back({"User-Agent", fw_.name + "/" + fw_.version});
  if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  const bool ok = http_.request(req, r);
  learnDate(r, p_.millis());
  return ok;
}

void Bootstrap::refused(const HttpResult& r, Step retry) {
  if (r.status == 0) {
    const uint32_t d = backoffDelayMs(failures_++, jitter(), 10000, 600000) / 1000;
    errorEvent(r.failure, r.message, d);
    wait(d, retry);
    return;
  }
  Json j(cJSON_Parse(r.body.c_str()));
  std::string code = detailsCode(j);
  std::string msg = j.str("error");
  if (code.empty()) code = "http_" + std::to_string(r.status);
  if (msg.empty()) msg = "HTTP status " + std::to_string(r.status);
  uint32_t d;
  if (r.status == 429 || r.status == 503) d = retryAfterS(r.retryAfter, 5);  // rate_limited, busy, too_many_*
  else d = backoffDelayMs(failures_++, jitter(), 60000, 3600000) / 1000;
  errorEvent(code, msg, d);
  wait(d, retry);
}

void Bootstrap::restart(uint32_t delayS) {
  clearState(dev_);
  key_.clear();
  id_.clear();
  code_.clear();
  qr_.clear();
  expiresAt_.clear();
  csrPem_.clear();
  nonce_.clear();
  wait(delayS, Step::key);
}

void Bootstrap::stepKey(uint64_t now) {
  std::string err, der;
  if (key_.empty()) {
    if (!generateEcKey(rng_, key_, err)) {
      errorEvent("keygen_failed", err, 60);
      wait(60, Step::key);
      return;
    }
    // Stored before the server hears of it: after a reboot the same key finds its request again.
    if (!dev_.setString(key::bs_key, key_) || !dev_.commit()) {
      key_.clear();
      errorEvent("storage", "could not store the new key in NVS", 60);
      wait(60, Step::key);
      return;
    }
  }
  if (!makeCsr(rng_, key_, mac_, csrPem_, err) || !pemToDer(csrPem_, der) || !publicKeyFingerprint(rng_, key_, fingerprint_, err)) {
    errorEvent("keygen_failed", err.empty() ? "the CSR does not decode" : err, 60);
    restart(60);
    return;
  }
  csrSha_ = sha256Hex(der);
  path_ = s_.attested() ? "attested" : "open";
  p_.log("bootstrap: key " + fingerprint_.substr(0, 16) + "…, " + path_ + " path");
  step_ = s_.attested() ? Step::nonce : Step::request;
  nextMs_ = now;
}

void Bootstrap::stepNonce(uint64_t now) {
  // A nonce lives 300 s; one that is still fresh is reused after a refusal that did not consume it.
  if (!nonce_.empty() && now - nonceAtMs_ < 240000) {
    step_ = Step::request;
    return;
  }
  nonce_.clear();
  Json body(cJSON_CreateObject());
  cJSON_AddStringToObject(body.get(), "mac_address", mac_.c_str());
  HttpResult r;
  if (!call("POST", "/gateways/bootstrap/nonce/", body.print(), {}, r) || r.status != 201) {
    refused(r, Step::nonce);
    return;
  }
  Json j(cJSON_Parse(r.body.c_str()));
  const std::string n = j.str("nonce");
  if (n.empty() || n.size() > 128 || !printable(n, 128)) {
    HttpResult bad;
    bad.failure = "bad_response";
    bad.message = "the nonce answer has no nonce";
    refused(bad, Step::nonce);
    return;
  }
  nonce_ = n;
  nonceAtMs_ = now;
  step_ = Step::request;
}

void Bootstrap::stepRequest(uint64_t now) {
  if (csrPem_.empty()) {  // resumed without a CSR in memory
    step_ = Step::key;
    return;
  }
  cJSON* ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "state", "requesting");
  cJSON_AddStringToObject(ev, "path", path_.c_str());
  emit_(ev);
  Json body(cJSON_CreateObject());
  cJSON_AddStringToObject(body.get(), "mac_address", mac_.c_str());
  cJSON_AddStringToObject(body.get(), "csr_pem", csrPem_.c_str());
  const std::string m = model();
  if (printable(m, 64) && !m.empty()) cJSON_AddStringToObject(body.get(), "model", m.c_str());
  if (printable(fw_.version, 32) && !fw_.version.empty()) cJSON_AddStringToObject(body.get(), "firmware_version", fw_.version.c_str());
  if (s_.attested()) {
    std::string sig, err;
    const std::string msg = "tds-bootstrap-attest/1\n" + mac_ + "\n" + nonce_ + "\n" + csrSha_;
    if (!signSha256Base64(rng_, s_.birthKeyPem, msg, sig, err)) {
      errorEvent("attestation_failed", err, 3600);
      wait(3600, Step::nonce);
      return;
    }
    cJSON_AddStringToObject(body.get(), "birth_certificate_pem", s_.birthCertPem.c_str());
    cJSON_AddStringToObject(body.get(), "nonce", nonce_.c_str());
    cJSON_AddStringToObject(body.get(), "attestation_signature", sig.c_str());
  }
  HttpResult r;
  const Step retry = s_.attested() ? Step::nonce : Step::request;
  if (!call("POST", "/gateways/bootstrap/", body.print(), {}, r)) {
    refused(r, retry);
    return;
  }
  Json j(cJSON_Parse(r.body.c_str()));
  if (r.status != 201 && r.status != 200) {
    if (detailsCode(j) == "nonce_invalid") {  // used or expired meanwhile: a new one
      nonce_.clear();
      p_.log("bootstrap: nonce refused, asking for a new one");
      wait(1 + failures_++, Step::nonce);
      return;
    }
    refused(r, retry);
    return;
  }
  nonce_.clear();
  const std::string id = j.str("bootstrap_id");
  const std::string status = j.str("status");
  if (!isRequestId(id) || status.empty()) {
    HttpResult bad;
    bad.failure = "bad_response";
    bad.message = "the bootstrap answer has no request id";
    refused(bad, retry);
    return;
  }
  id_ = id;
  const double poll = number(j, "poll_interval", 5);
  pollS_ = poll < 1 ? 1 : poll > 300 ? 300 : static_cast<uint32_t>(poll);
  expiresAt_ = j.str("expires_at");
  code_ = j.str("activation_code");
  qr_ = j.str("qr_payload");
  if (!printable(expiresAt_, 40) || !printable(code_, 16) || !printable(qr_, 64)) expiresAt_ = code_ = qr_ = "";
  const double serverTime = number(j, "server_time", 0);
  if (serverTime > 0) {
    timeBase_ = static_cast<int64_t>(serverTime);
    timeBaseMs_ = p_.millis();
    haveTime_ = true;
  }
  if (j.str("key_fingerprint") != fingerprint_) p_.log("bootstrap: the server's key fingerprint differs from this key's");
  saveMeta();
  failures_ = 0;
  if (status == "pending") {
    showRequest(now);
    wait(pollS_, Step::poll);
  } else {
    step_ = Step::poll;  // approved or issued already (the same key found its request): fetch it now
    nextMs_ = now;
  }
}

void Bootstrap::stepSyncTime(uint64_t now) {
  HttpResult r;
  if (!call("GET", "/health", "", {}, r)) {
    refused(r, Step::sync_time);
    return;
  }
  if (!haveTime_) {
    HttpResult bad;
    bad.failure = "bad_response";
    bad.message = "the server's answer has no Date header";
    refused(bad, Step::sync_time);
    return;
  }
  showRequest(now);
  step_ = Step::poll;
  nextMs_ = now;
}

bool Bootstrap::stepPoll() {
  if (!haveTime_) {
    step_ = Step::sync_time;
    return false;
  }
  const std::string ts = std::to_string(serverNow(p_.millis()));
  std::string sig, err;
  if (!signSha256Base64(rng_, key_, "tds-bootstrap-poll/1\n" + id_ + "\n" + ts, sig, err)) {
    errorEvent("keygen_failed", err, 10);
    restart(10);
    return false;
  }
  HttpResult r;
  if (!call("GET", "/gateways/bootstrap/" + id_ + "/", "", {{"X-TDS-Timestamp", ts}, {"X-TDS-Signature", sig}}, r)) {
    refused(r, Step::poll);
    return false;
  }
  Json j(cJSON_Parse(r.body.c_str()));
  const std::string code = detailsCode(j);
  if (r.status == 202) {
    failures_ = 0;
    const uint32_t d = retryAfterS(r.retryAfter, pollS_);
    p_.log("bootstrap: pending, next poll in " + std::to_string(d) + " s");
    wait(d, Step::poll);
    return false;
  }
  if (r.status == 429 && code == "slow_down") {
    const uint32_t d = retryAfterS(r.retryAfter, pollS_);
    p_.log("bootstrap: slow_down, next poll in " + std::to_string(d) + " s");
    wait(d, Step::poll);
    return false;
  }
  if (r.status == 410) {
    const bool rejected = code == "rejected";
    const std::string reason = detailsReason(j);
    cJSON* ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "state", rejected ? "rejected" : "expired");
    if (rejected && !reason.empty()) cJSON_AddStringToObject(ev, "reason", reason.c_str());
    emit_(ev);
    p_.log(std::string("bootstrap: request ") + (rejected ? "rejected" : "expired") + (reason.empty() ? "" : " (" + reason + ")") +
           "; starting again with a new key");
    restart(rejected ? 10 : 1);
    return false;
  }
  if (r.status == 401 && code == "timestamp_invalid") {
    haveTime_ = false;  // take the server's time again
    wait(1 + (failures_ < 30 ? failures_++ : 30), Step::sync_time);
    return false;
  }
  if (r.status == 404 || (r.status == 401 && code == "signature_invalid")) {
    const uint32_t d = backoffDelayMs(failures_++, jitter(), 10000, 3600000) / 1000;
    errorEvent(code.empty() ? "http_" + std::to_string(r.status) : code, j.str("error", "the request is gone") + "; starting again", d);
    restart(d);
    return false;
  }
  if (r.status != 200) {
    refused(r, Step::poll);
    return false;
  }
  std::string icode, imsg;
  if (!install(j.get(), icode, imsg)) {
    const uint32_t d = backoffDelayMs(failures_++, jitter(), 60000, 3600000) / 1000;
    errorEvent(icode, imsg, d);
    wait(d, Step::poll);
    return false;
  }
  return true;
}

bool Bootstrap::install(cJSON* body, std::string& code, std::string& msg) {
  InstalledIdentity id;
  if (!installIdentity(rng_, cfg_, dev_, mac_, key_, body, serverNow(p_.millis()), id, code, msg)) return false;
  clearState(dev_);
  step_ = Step::installed;
  cJSON* ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "state", "installed");
  cJSON_AddStringToObject(ev, "serial", id.serialHex.c_str());
  emit_(ev);
  p_.log("bootstrap: certificate " + id.serialHex + " installed; broker " + id.broker + ":" + std::to_string(id.port));
  return true;
}

void Bootstrap::showRequest(uint64_t now) {
  lastShownMs_ = now;
  if (id_.empty()) return;
  cJSON* o = cJSON_CreateObject();
  if (path_ == "open" && !code_.empty()) {
    cJSON_AddStringToObject(o, "state", "code");
    cJSON_AddStringToObject(o, "mac", mac_.c_str());
    cJSON_AddStringToObject(o, "code", code_.c_str());
    cJSON_AddStringToObject(o, "qr", qr_.c_str());
    p_.log("bootstrap: activation code " + code_ + " (key " + fingerprint_.substr(0, 16) + "…)");
  } else {
    cJSON_AddStringToObject(o, "state", "waiting");
    cJSON_AddStringToObject(o, "path", path_.c_str());
  }
  cJSON_AddStringToObject(o, "key_fingerprint", fingerprint_.c_str());
  cJSON_AddStringToObject(o, "bootstrap_id", id_.c_str());
  if (!expiresAt_.empty()) cJSON_AddStringToObject(o, "expires_at", expiresAt_.c_str());
  emit_(o);
}

void Bootstrap::saveMeta() {
  Json m(cJSON_CreateObject());
  cJSON_AddStringToObject(m.get(), "path", path_.c_str());
  cJSON_AddStringToObject(m.get(), "code", code_.c_str());
  cJSON_AddStringToObject(m.get(), "qr", qr_.c_str());
  cJSON_AddStringToObject(m.get(), "expires_at", expiresAt_.c_str());
  cJSON_AddNumberToObject(m.get(), "poll", pollS_);
  if (!dev_.setString(key::bs_id, id_) || !dev_.setString(key::bs_meta, m.print()) || !dev_.commit())
    p_.log("bootstrap: could not store the request id in NVS (a reboot will ask again)");
}

void Bootstrap::loadMeta() {
  std::string text;
  if (!dev_.getString(key::bs_meta, text)) return;
  Json m(cJSON_Parse(text.c_str()));
  if (!m) return;
  const std::string path = m.str("path");
  if (path == "open" || path == "attested") path_ = path;
  code_ = m.str("code");
  qr_ = m.str("qr");
  expiresAt_ = m.str("expires_at");
  const double poll = number(m, "poll", 5);
  pollS_ = poll < 1 ? 1 : poll > 300 ? 300 : static_cast<uint32_t>(poll);
}

}  // namespace tds
