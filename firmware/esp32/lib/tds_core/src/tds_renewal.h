// Certificate renewal on the device over MQTT (cert_renew → cert/csr → cert_update → cert/ack, docs/broker.md),
// as a persistent state machine:
//
//   idle --start(cert_renew | near expiry)--> awaiting_cert   new key rn_key in NVS, CSR on cert/csr
//   awaiting_cert --cert_update (matches rn_key, CN = MAC, signed by the CA)--> trial
//   trial --connected with the new certificate--> idle          promoted, ack on cert/ack
//   trial --3 failed connections--> idle                        rolled back to the old certificate
//
// Promotion writes tdscfg cert_pem (and ca_pem when the update carried one) first, then the key to
// nvs key_pem, then clears rn_*; a reboot in between is harmless because selectKey() also looks at
// rn_key. The old certificate keeps working until the server sees the ack and revokes it.
#pragma once
#include <cstdint>
#include <string>

#include "tds_config.h"
#include "tds_crypto.h"
#include "tds_kv.h"
#include "tds_topics.h"

namespace tds {

namespace rnkey {
constexpr const char* key = "rn_key";
constexpr const char* id = "rn_id";
constexpr const char* cert = "rn_cert";
constexpr const char* ca = "rn_ca";
constexpr const char* ackId = "rn_ack_id";
constexpr const char* serial = "rn_serial";
constexpr const char* phase = "rn_phase";
constexpr const char* tries = "rn_tries";
}  // namespace rnkey

struct RenewalOutput {
  std::string csrPayload;  // publish on cert/csr
  std::string ackPayload;  // publish on cert/ack
  std::string logEvent;    // publish on logs
  bool reconnect = false;  // drop the MQTT connection and connect with credentials() again
};

class Renewal {
 public:
  enum class Phase : uint32_t { idle = 0, awaiting_cert = 1, trial = 2 };
  static constexpr uint32_t kMaxTrialFailures = 3;
  static constexpr uint64_t kResendMs = 10ull * 60 * 1000;
  static constexpr uint32_t kMaxSends = 6;

  Renewal(KvStore& cfg, KvStore& dev, Rng& rng, std::string mac) : cfg_(cfg), dev_(dev), rng_(rng), mac_(std::move(mac)) {}

  void load();
  Phase phase() const { return phase_; }
  const char* phaseName() const;

  bool start(const std::string& id, uint64_t nowMs, RenewalOutput& out, std::string& err);
  bool onCertUpdate(const Command& c, const DeviceConfig& cfg, RenewalOutput& out, std::string& err);
  // The certificate and key to connect with next.
  bool credentials(const DeviceConfig& cfg, Credentials& out);
  void onConnected(RenewalOutput& out);
  void onConnectFailed(RenewalOutput& out);
  // Resends the CSR while waiting, gives up after kMaxSends, starts on its own when the current
  // certificate is near its end (epochNow = 0 when the clock is not set: no automatic start).
  void tick(uint64_t nowMs, int64_t epochNow, const CertInfo* current, RenewalOutput& out);
  // Drops any renewal in progress (a new certificate was installed through the console).
  void reset();

  // When an automatic renewal starts: the last 30 days, or the last fifth of a shorter lifetime.
  static int64_t renewAfter(const CertInfo& c);

 private:
  void setPhase(Phase p);
  void clearPending();
  KvStore& cfg_;
  KvStore& dev_;
  Rng& rng_;
  std::string mac_;
  Phase phase_ = Phase::idle;
  uint64_t lastSendMs_ = 0;
  uint32_t sends_ = 0;
  std::string pendingCsr_;
  uint64_t autoBlockedUntilMs_ = 0;
};

}  // namespace tds
