#include "tds_crypto.h"

#include <cstdio>
#include <cstring>
#include <vector>

#include "mbedtls/base64.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/sha256.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/x509_csr.h"
#include "tds_util.h"

// The only API differences between mbedTLS 2.28 and 3.x that this file meets.
#if MBEDTLS_VERSION_MAJOR >= 3
#define TDS_PK_PARSE_KEY(ctx, key, len, rng) mbedtls_pk_parse_key(ctx, key, len, nullptr, 0, tds::Rng::fill, rng)
#define TDS_PK_CHECK_PAIR(pub, prv, rng) mbedtls_pk_check_pair(pub, prv, tds::Rng::fill, rng)
#define TDS_SHA256(in, len, out) mbedtls_sha256(in, len, out, 0)
#define TDS_PK_SIGN(ctx, hash, sig, size, len, rng) \
  mbedtls_pk_sign(ctx, MBEDTLS_MD_SHA256, hash, 32, sig, size, len, tds::Rng::fill, rng)
#else
#define TDS_PK_PARSE_KEY(ctx, key, len, rng) ((void)(rng), mbedtls_pk_parse_key(ctx, key, len, nullptr, 0))
#define TDS_PK_CHECK_PAIR(pub, prv, rng) ((void)(rng), mbedtls_pk_check_pair(pub, prv))
#define TDS_SHA256(in, len, out) mbedtls_sha256_ret(in, len, out, 0)
#define TDS_PK_SIGN(ctx, hash, sig, size, len, rng) \
  ((void)(size), mbedtls_pk_sign(ctx, MBEDTLS_MD_SHA256, hash, 32, sig, len, tds::Rng::fill, rng))
#endif

namespace tds {

namespace {

std::string mbedErr(const char* what, int rc) {
  char buf[128];
  mbedtls_strerror(rc, buf, sizeof buf);
  char out[200];
  std::snprintf(out, sizeof out, "%s: %s (-0x%04x)", what, buf, static_cast<unsigned>(-rc));
  return out;
}

const unsigned char* pemBytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.c_str()); }

struct Pk {
  mbedtls_pk_context ctx;
  Pk() { mbedtls_pk_init(&ctx); }
  ~Pk() { mbedtls_pk_free(&ctx); }
};
struct Crt {
  mbedtls_x509_crt ctx;
  Crt() { mbedtls_x509_crt_init(&ctx); }
  ~Crt() { mbedtls_x509_crt_free(&ctx); }
};

int parseKey(Pk& pk, const std::string& pem, Rng& rng) {
  // PEM input must include the terminating NUL in its length.
  return TDS_PK_PARSE_KEY(&pk.ctx, pemBytes(pem), pem.size() + 1, &rng);
}

std::string iso(const mbedtls_x509_time& t) {
  char b[32];
  std::snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.year, t.mon, t.day, t.hour, t.min, t.sec);
  return b;
}

}  // namespace

struct Rng::Impl {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  bool ok = false;
};

Rng::Rng() : impl_(new Impl) {
  mbedtls_entropy_init(&impl_->entropy);
  mbedtls_ctr_drbg_init(&impl_->drbg);
  static const char pers[] = "tds-gateway";
  impl_->ok = mbedtls_ctr_drbg_seed(&impl_->drbg, mbedtls_entropy_func, &impl_->entropy,
                                    reinterpret_cast<const unsigned char*>(pers), sizeof pers - 1) == 0;
}

Rng::~Rng() {
  mbedtls_ctr_drbg_free(&impl_->drbg);
  mbedtls_entropy_free(&impl_->entropy);
}

bool Rng::ok() const { return impl_->ok; }

int Rng::fill(void* self, unsigned char* out, size_t len) {
  return mbedtls_ctr_drbg_random(&static_cast<Rng*>(self)->impl_->drbg, out, len);
}

bool Rng::bytes(uint8_t* out, size_t len) { return fill(this, out, len) == 0; }

bool generateEcKey(Rng& rng, std::string& keyPem, std::string& err) {
  if (!rng.ok()) {
    err = "random generator not seeded";
    return false;
  }
  Pk pk;
  int rc = mbedtls_pk_setup(&pk.ctx, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (rc == 0) rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk.ctx), Rng::fill, &rng);
  if (rc != 0) {
    err = mbedErr("EC key generation failed", rc);
    return false;
  }
  std::vector<unsigned char> buf(800);
  rc = mbedtls_pk_write_key_pem(&pk.ctx, buf.data(), buf.size());
  if (rc != 0) {
    err = mbedErr("writing the key failed", rc);
    return false;
  }
  keyPem.assign(reinterpret_cast<const char*>(buf.data()));
  mbedtls_platform_zeroize(buf.data(), buf.size());
  return true;
}

bool makeCsr(Rng& rng, const std::string& keyPem, const std::string& cn, std::string& csrPem, std::string& err) {
  Pk pk;
  int rc = parseKey(pk, keyPem, rng);
  if (rc != 0) {
    err = mbedErr("device key does not parse", rc);
    return false;
  }
  mbedtls_x509write_csr csr;
  mbedtls_x509write_csr_init(&csr);
  mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
  mbedtls_x509write_csr_set_key(&csr, &pk.ctx);
  const std::string subject = "CN=" + cn;
  rc = mbedtls_x509write_csr_set_subject_name(&csr, subject.c_str());
  std::vector<unsigned char> buf(1200);
  if (rc == 0) rc = mbedtls_x509write_csr_pem(&csr, buf.data(), buf.size(), Rng::fill, &rng);
  mbedtls_x509write_csr_free(&csr);
  if (rc != 0) {
    err = mbedErr("writing the CSR failed", rc);
    return false;
  }
  csrPem.assign(reinterpret_cast<const char*>(buf.data()));
  return true;
}

bool parseCert(const std::string& certPem, CertInfo& info, std::string& err) {
  Crt crt;
  const int rc = mbedtls_x509_crt_parse(&crt.ctx, pemBytes(certPem), certPem.size() + 1);
  if (rc != 0) {
    err = mbedErr("certificate does not parse", rc);
    return false;
  }
  info = CertInfo{};
  for (const mbedtls_x509_name* n = &crt.ctx.subject; n != nullptr; n = n->next) {
    if (n->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
      info.cn.assign(reinterpret_cast<const char*>(n->val.p), n->val.len);
    }
  }
  const unsigned char* s = crt.ctx.serial.p;
  size_t len = crt.ctx.serial.len;
  while (len > 1 && *s == 0) {
    ++s;
    --len;
  }
  info.serialHex = toHex(s, len);
  // Integer-like text (no leading zero nibbles), so it compares with any server's hex rendering.
  const size_t nz = info.serialHex.find_first_not_of('0');
  info.serialHex = nz == std::string::npos ? "0" : info.serialHex.substr(nz);
  const mbedtls_x509_time& a = crt.ctx.valid_from;
  const mbedtls_x509_time& b = crt.ctx.valid_to;
  info.notBefore = iso(a);
  info.notAfter = iso(b);
  info.notBeforeEpoch = epochFromCivil(a.year, a.mon, a.day, a.hour, a.min, a.sec);
  info.notAfterEpoch = epochFromCivil(b.year, b.mon, b.day, b.hour, b.min, b.sec);
  return true;
}

bool isValidKey(Rng& rng, const std::string& keyPem, std::string& err) {
  Pk pk;
  const int rc = parseKey(pk, keyPem, rng);
  if (rc != 0) {
    err = mbedErr("private key does not parse", rc);
    return false;
  }
  return true;
}

bool keyMatchesCert(Rng& rng, const std::string& keyPem, const std::string& certPem) {
  if (keyPem.empty() || certPem.empty()) return false;
  Pk pk;
  Crt crt;
  if (parseKey(pk, keyPem, rng) != 0) return false;
  if (mbedtls_x509_crt_parse(&crt.ctx, pemBytes(certPem), certPem.size() + 1) != 0) return false;
  return TDS_PK_CHECK_PAIR(&crt.ctx.pk, &pk.ctx, &rng) == 0;
}

std::string verifyFlagsText(uint32_t flags) {
  char buf[256];
  mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
  std::string info(buf);
  while (!info.empty() && (info.back() == '\n' || info.back() == ' ')) info.pop_back();
  for (char& c : info)
    if (c == '\n') c = ';';
  return info;
}

bool verifyCertWithCa(const std::string& certPem, const std::string& caPem, bool checkTime, std::string& err) {
  Crt crt, ca;
  int rc = mbedtls_x509_crt_parse(&crt.ctx, pemBytes(certPem), certPem.size() + 1);
  if (rc != 0) {
    err = mbedErr("certificate does not parse", rc);
    return false;
  }
  rc = mbedtls_x509_crt_parse(&ca.ctx, pemBytes(caPem), caPem.size() + 1);
  if (rc != 0) {
    err = mbedErr("CA certificate does not parse", rc);
    return false;
  }
  uint32_t flags = 0;
  rc = mbedtls_x509_crt_verify(&crt.ctx, &ca.ctx, nullptr, nullptr, &flags, nullptr, nullptr);
  if (!checkTime) flags &= ~static_cast<uint32_t>(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
  if (flags != 0 || (rc != 0 && rc != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)) {
    err = "certificate is not signed by the configured CA (" + verifyFlagsText(flags) + ")";
    return false;
  }
  return true;
}

int countCerts(const std::string& pem) {
  Crt crt;
  if (mbedtls_x509_crt_parse(&crt.ctx, pemBytes(pem), pem.size() + 1) != 0) return 0;
  int n = 0;
  for (const mbedtls_x509_crt* c = &crt.ctx; c != nullptr && c->raw.len > 0; c = c->next) ++n;
  return n;
}

std::string sha256Hex(const uint8_t* data, size_t len) {
  unsigned char h[32];
  TDS_SHA256(data, len, h);
  return toHex(h, sizeof h);
}

bool pemToDer(const std::string& pem, std::string& der) {
  const size_t begin = pem.find("-----BEGIN ");
  if (begin == std::string::npos) return false;
  const size_t body = pem.find('\n', begin);
  const size_t end = pem.find("-----END ", begin);
  if (body == std::string::npos || end == std::string::npos || end < body) return false;
  std::string b64;
  for (size_t i = body + 1; i < end; ++i)
    if (pem[i] != '\n' && pem[i] != '\r' && pem[i] != ' ') b64.push_back(pem[i]);
  size_t n = 0;
  mbedtls_base64_decode(nullptr, 0, &n, reinterpret_cast<const unsigned char*>(b64.data()), b64.size());
  std::vector<unsigned char> out(n + 1);
  if (mbedtls_base64_decode(out.data(), out.size(), &n, reinterpret_cast<const unsigned char*>(b64.data()), b64.size()) != 0 || n == 0)
    return false;
  der.assign(reinterpret_cast<const char*>(out.data()), n);
  return true;
}

std::string base64Encode(const std::string& data) {
  size_t n = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  mbedtls_base64_encode(nullptr, 0, &n, in, data.size());
  std::vector<unsigned char> out(n + 1);
  if (mbedtls_base64_encode(out.data(), out.size(), &n, in, data.size()) != 0) return std::string();
  return std::string(reinterpret_cast<const char*>(out.data()), n);
}

bool signSha256Base64(Rng& rng, const std::string& keyPem, const std::string& message, std::string& sigB64, std::string& err) {
  Pk pk;
  int rc = parseKey(pk, keyPem, rng);
  if (rc != 0) {
    err = mbedErr("signing key does not parse", rc);
    return false;
  }
  unsigned char hash[32];
  TDS_SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), hash);
  std::vector<unsigned char> sig(MBEDTLS_PK_SIGNATURE_MAX_SIZE);
  size_t len = 0;
  rc = TDS_PK_SIGN(&pk.ctx, hash, sig.data(), sig.size(), &len, &rng);
  if (rc != 0) {
    err = mbedErr("signing failed", rc);
    return false;
  }
  sigB64 = base64Encode(std::string(reinterpret_cast<const char*>(sig.data()), len));
  return true;
}

bool publicKeyFingerprint(Rng& rng, const std::string& keyPem, std::string& hex, std::string& err) {
  Pk pk;
  int rc = parseKey(pk, keyPem, rng);
  if (rc != 0) {
    err = mbedErr("key does not parse", rc);
    return false;
  }
  std::vector<unsigned char> buf(2200);  // an RSA-4096 SubjectPublicKeyInfo is ~550 bytes
  rc = mbedtls_pk_write_pubkey_der(&pk.ctx, buf.data(), buf.size());
  if (rc <= 0) {
    err = mbedErr("writing the public key failed", rc);
    return false;
  }
  // mbedTLS writes DER at the end of the buffer.
  hex = sha256Hex(buf.data() + buf.size() - static_cast<size_t>(rc), static_cast<size_t>(rc));
  return true;
}

int64_t epochFromCivil(int y, int m, int d, int hh, int mm, int ss) {
  // Howard Hinnant's days_from_civil.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = era * 146097 + static_cast<int64_t>(doe) - 719468;
  return days * 86400 + hh * 3600 + mm * 60 + ss;
}

std::string isoFromEpoch(int64_t t) {
  int64_t days = t / 86400;
  int64_t rem = t % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char b[32];
  std::snprintf(b, sizeof b, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d, static_cast<int>(rem / 3600),
                static_cast<int>(rem % 3600 / 60), static_cast<int>(rem % 60));
  return b;
}

}  // namespace tds
