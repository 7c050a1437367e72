#include "tds_renewal.h"

#include <cctype>

#include "tds_util.h"

namespace tds {

namespace {

std::string normSerial(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ':' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  size_t i = 0;
  while (i + 1 < out.size() && out[i] == '0') ++i;
  return out.substr(i);
}

}  // namespace

const char* Renewal::phaseName() const {
  switch (phase_) {
    case Phase::awaiting_cert: return "awaiting_cert";
    case Phase::trial: return "trial";
    default: return "idle";
  }
}

void Renewal::load() {
  uint32_t p = 0;
  phase_ = dev_.getU32(rnkey::phase, p) && p <= 2 ? static_cast<Phase>(p) : Phase::idle;
  if (phase_ == Phase::awaiting_cert) {
    // The CSR is made again from the stored key so a reboot does not lose the request.
    std::string key, err;
    if (!dev_.getString(rnkey::key, key) || !makeCsr(rng_, key, mac_, pendingCsr_, err)) reset();
    sends_ = 0;
  }
}

void Renewal::setPhase(Phase p) {
  phase_ = p;
  dev_.setU32(rnkey::phase, static_cast<uint32_t>(p));
}

void Renewal::clearPending() {
  for (const char* k : {rnkey::key, rnkey::id, rnkey::cert, rnkey::ca, rnkey::ackId, rnkey::serial, rnkey::tries})
    dev_.erase(k);
  pendingCsr_.clear();
}

void Renewal::reset() {
  clearPending();
  setPhase(Phase::idle);
  dev_.commit();
}

bool Renewal::start(const std::string& id, uint64_t nowMs, RenewalOutput& out, std::string& err) {
  if (phase_ == Phase::trial) {
    err = "a renewed certificate is being tried; renew again after it is acknowledged";
    return false;
  }
  std::string key, csr;
  if (!generateEcKey(rng_, key, err) || !makeCsr(rng_, key, mac_, csr, err)) return false;
  clearPending();
  if (!dev_.setString(rnkey::key, key) || !dev_.setString(rnkey::id, id)) {
    err = "could not store the new key in NVS";
    return false;
  }
  setPhase(Phase::awaiting_cert);
  if (!dev_.commit()) {
    err = "could not store the new key in NVS";
    return false;
  }
  pendingCsr_ = csr;
  lastSendMs_ = nowMs;
  sends_ = 1;
  out.csrPayload = csrJson(id, csr);
  out.logEvent = logEventJson("cert_renew_started", id, "csr published");
  return true;
}

bool Renewal::onCertUpdate(const Command& c, const DeviceConfig& cfg, RenewalOutput& out, std::string& err) {
  if (phase_ != Phase::awaiting_cert) {
    err = phase_ == Phase::trial ? "already trying a renewed certificate" : "no renewal pending (send cert_renew first)";
    return false;
  }
  std::string key;
  dev_.getString(rnkey::key, key);
  CertInfo info;
  if (!parseCert(c.certificatePem, info, err)) return false;
  if (info.cn != mac_) {
    err = "certificate CN '" + info.cn + "' is not this device (" + mac_ + ")";
    return false;
  }
  if (!keyMatchesCert(rng_, key, c.certificatePem)) {
    err = "certificate does not match the key of the pending renewal";
    return false;
  }
  const std::string& ca = c.caPem.empty() ? cfg.ca_pem : c.caPem;
  if (!verifyCertWithCa(c.certificatePem, ca, false, err)) return false;
  if (!c.serialNumber.empty() && normSerial(c.serialNumber) != normSerial(info.serialHex)) {
    err = "serial_number " + c.serialNumber + " does not match the certificate (" + info.serialHex + ")";
    return false;
  }
  dev_.setString(rnkey::cert, c.certificatePem);
  if (!c.caPem.empty()) dev_.setString(rnkey::ca, c.caPem);
  dev_.setString(rnkey::ackId, c.id);
  dev_.setString(rnkey::serial, c.serialNumber.empty() ? info.serialHex : c.serialNumber);
  dev_.setU32(rnkey::tries, 0);
  setPhase(Phase::trial);
  if (!dev_.commit()) {
    err = "could not store the new certificate in NVS";
    return false;
  }
  out.reconnect = true;
  out.logEvent = logEventJson("cert_update_received", c.id, "reconnecting with serial " + info.serialHex);
  return true;
}

bool Renewal::credentials(const DeviceConfig& cfg, Credentials& out) {
  out = Credentials{};
  if (phase_ == Phase::trial) {
    std::string cert, key, ca;
    if (dev_.getString(rnkey::cert, cert) && dev_.getString(rnkey::key, key)) {
      out.ca_pem = dev_.getString(rnkey::ca, ca) ? ca : cfg.ca_pem;
      out.cert_pem = cert;
      out.key_pem = key;
      out.source = KeySource::device_renewal;
      return true;
    }
    reset();  // trial data lost: back to the installed certificate
  }
  out.ca_pem = cfg.ca_pem;
  out.cert_pem = cfg.cert_pem;
  out.source = selectKey(rng_, cfg, dev_, out.key_pem);
  return out.source != KeySource::none;
}

void Renewal::onConnected(RenewalOutput& out) {
  if (phase_ != Phase::trial) return;
  std::string cert, key, ca, ackId, serial;
  dev_.getString(rnkey::cert, cert);
  dev_.getString(rnkey::key, key);
  dev_.getString(rnkey::ackId, ackId);
  dev_.getString(rnkey::serial, serial);
  // Certificate first, then its key (see the header for why this order survives a power cut).
  cfg_.setString(key::cert_pem, cert);
  if (dev_.getString(rnkey::ca, ca)) cfg_.setString(key::ca_pem, ca);
  cfg_.commit();
  dev_.setString(key::dev_key, key);
  dev_.commit();
  cfg_.erase(key::key_pem);  // a station-made key for the old certificate must not linger
  cfg_.commit();
  clearPending();
  setPhase(Phase::idle);
  dev_.commit();
  out.ackPayload = ackJson(ackId, serial);
  out.logEvent = logEventJson("cert_update_installed", ackId, "serial " + serial);
}

void Renewal::onConnectFailed(RenewalOutput& out) {
  if (phase_ != Phase::trial) return;
  uint32_t tries = 0;
  dev_.getU32(rnkey::tries, tries);
  ++tries;
  if (tries < kMaxTrialFailures) {
    dev_.setU32(rnkey::tries, tries);
    dev_.commit();
    return;
  }
  std::string ackId;
  dev_.getString(rnkey::ackId, ackId);
  clearPending();
  setPhase(Phase::idle);
  dev_.commit();
  out.reconnect = true;
  out.logEvent = logEventJson("cert_update_rolled_back", ackId, "broker refused the renewed certificate; using the old one");
}

int64_t Renewal::renewAfter(const CertInfo& c) {
  const int64_t lifetime = c.notAfterEpoch - c.notBeforeEpoch;
  const int64_t month = 30ll * 86400;
  const int64_t window = lifetime / 5 < month ? lifetime / 5 : month;
  return c.notAfterEpoch - window;
}

void Renewal::tick(uint64_t nowMs, int64_t epochNow, const CertInfo* current, RenewalOutput& out) {
  if (phase_ == Phase::awaiting_cert) {
    if (sends_ == 0 || nowMs - lastSendMs_ >= kResendMs) {
      if (sends_ >= kMaxSends) {
        std::string id;
        dev_.getString(rnkey::id, id);
        reset();
        autoBlockedUntilMs_ = nowMs + 24ull * 3600 * 1000;
        out.logEvent = logEventJson("cert_renew_gave_up", id, "no cert_update received");
        return;
      }
      std::string id;
      dev_.getString(rnkey::id, id);
      out.csrPayload = csrJson(id, pendingCsr_);
      lastSendMs_ = nowMs;
      ++sends_;
    }
    return;
  }
  if (phase_ == Phase::idle && epochNow > 0 && current != nullptr && current->notAfterEpoch > 0 &&
      nowMs >= autoBlockedUntilMs_ && epochNow >= renewAfter(*current)) {
    uint8_t rnd[4];
    rng_.bytes(rnd, sizeof rnd);
    std::string err;
    if (!start("auto-" + toHex(rnd, sizeof rnd), nowMs, out, err)) {
      autoBlockedUntilMs_ = nowMs + 3600ull * 1000;
      out.logEvent = logEventJson("cert_renew_failed", "", err);
    }
  }
}

}  // namespace tds
