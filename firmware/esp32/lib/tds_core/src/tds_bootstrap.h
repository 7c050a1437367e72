// Zero-touch onboarding on the device (docs/zero-touch.md): a board with no operational identity asks
// the issuance server to be let in and fetches its certificate once an installer approved it.
//
//   key ──▶ [nonce] ──▶ request ──▶ poll ⟲ 202 + Retry-After / 429 slow_down ──▶ 200: install ──▶ done
//    ▲        attested    201/200     │
//    └── 410 expired / rejected, 404 unknown id: everything of this request erased, a new key ◀┘
//
// The key is made here (EC P-256, mbedTLS) and stored in tds_dev/bs_key BEFORE the request is sent,
// the request id and what the console shows (tds_dev/bs_meta) right after the answer, so a reboot at
// any point resumes the same request (or, before the id was stored, finds it again with the same key).
// Poll timestamps come from the server's clock: server_time of the answer, else the Date header of any
// answer when the time is unknown (after a reboot: GET /health), plus the milliseconds counted since.
//
// Installing a certificate: it must chain to the CA of the answer, have CN = this chip's MAC and be
// for bs_key. tds_dev/key_pem first, then tdscfg ca_pem, mqtt_host, mqtt_port, gw_code, mac, prov_*,
// cfg_ver and cert_pem LAST (the configuration is only complete once cert_pem is there, so a power cut
// before it resumes the bootstrap, which fetches the same certificate again), then bs_* are erased.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cJSON.h"
#include "tds_config.h"
#include "tds_crypto.h"
#include "tds_kv.h"
#include "tds_platform.h"

namespace tds {

struct BootstrapSettings {
  std::string url;           // API base, e.g. https://provision.example:8443/api/v1
  std::string caPem;         // pinned for the server's HTTPS certificate
  std::string birthCertPem;  // attested path when set
  std::string birthKeyPem;
  bool attested() const { return !birthCertPem.empty(); }
};

struct BootstrapCheck {
  bool ready = false;  // no operational identity and everything the bootstrap needs is there
  bool attested = false;
  std::vector<std::string> problems;
};

// Whether this configuration onboards itself. extraBirthKeyPem: another candidate birth key (the
// console's key_new during a commit). `out` receives the settings when ready.
BootstrapCheck checkBootstrap(Rng& rng, const DeviceConfig& cfg, KvStore& dev, const FirmwareInfo& fw,
                              const std::string& chipMac, BootstrapSettings* out = nullptr,
                              const std::string* extraBirthKeyPem = nullptr);

struct InstalledIdentity {
  std::string serialHex, broker;
  int port = 0;
};

// Checks the server's 200 answer (certificate for keyPem with CN = mac, chained to its ca_pem, a broker,
// no private key) and writes it: tds_dev/key_pem, then tdscfg with cert_pem last. Nothing is written
// when a check fails (code certificate_invalid / bad_response; storage when NVS fails).
bool installIdentity(Rng& rng, KvStore& cfg, KvStore& dev, const std::string& mac, const std::string& keyPem, const cJSON* answer,
                     int64_t nowEpoch, InstalledIdentity& out, std::string& code, std::string& msg);

class Bootstrap {
 public:
  // Receives the fields of one console event {"event":"bootstrap", ...} (the object is consumed).
  using Emit = std::function<void(cJSON*)>;
  enum class Step { idle, key, nonce, request, sync_time, poll, installed };

  Bootstrap(Platform& p, KvStore& cfg, KvStore& dev, HttpsClient& http, Rng& rng, FirmwareInfo fw, Emit emit)
      : p_(p), cfg_(cfg), dev_(dev), http_(http), rng_(rng), fw_(std::move(fw)), emit_(std::move(emit)) {}

  // Starts, or resumes the request stored in tds_dev.
  void begin(const BootstrapSettings& s);
  // Does the step that is due (one HTTPS exchange at most). True once the identity is installed.
  bool tick(uint64_t nowMs);
  Step step() const { return step_; }
  const char* stepName() const;
  const std::string& requestId() const { return id_; }
  uint64_t nextAttemptMs() const { return nextMs_; }

  static bool hasState(KvStore& dev);
  static void clearState(KvStore& dev);

  static constexpr uint64_t kCodeRepeatMs = 60000;

 private:
  bool call(const char* method, const std::string& path, const std::string& body, const std::vector<HttpHeader>& headers,
            HttpResult& r);
  void stepKey(uint64_t now);
  void stepNonce(uint64_t now);
  void stepRequest(uint64_t now);
  void stepSyncTime(uint64_t now);
  bool stepPoll();
  bool install(cJSON* body, std::string& code, std::string& msg);
  // A refusal or a transport failure: error event, back off, then `retry`.
  void refused(const HttpResult& r, Step retry);
  void restart(uint32_t delayS);
  void wait(uint32_t seconds, Step next);
  void errorEvent(const std::string& code, const std::string& message, uint32_t retryS);
  void showRequest(uint64_t now);
  void saveMeta();
  void loadMeta();
  int64_t serverNow(uint64_t now) const;
  void learnDate(const HttpResult& r, uint64_t now);
  uint32_t jitter();
  std::string model();

  Platform& p_;
  KvStore& cfg_;
  KvStore& dev_;
  HttpsClient& http_;
  Rng& rng_;
  FirmwareInfo fw_;
  Emit emit_;
  BootstrapSettings s_;
  std::string mac_;

  Step step_ = Step::idle;
  uint64_t nextMs_ = 0;
  uint32_t failures_ = 0;
  std::string key_, csrPem_, csrSha_, fingerprint_;
  std::string nonce_;
  uint64_t nonceAtMs_ = 0;
  // The request (bs_id, bs_meta).
  std::string id_, path_, code_, qr_, expiresAt_;
  uint32_t pollS_ = 5;
  uint64_t lastShownMs_ = 0;
  bool haveTime_ = false;
  int64_t timeBase_ = 0;  // server Unix time at timeBaseMs_
  uint64_t timeBaseMs_ = 0;
};

}  // namespace tds
