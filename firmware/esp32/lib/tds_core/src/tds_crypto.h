// Device-side X.509 work with mbedTLS (the TLS library of the ESP32 and of Debian's libmbedtls-dev):
// EC P-256 key generation, CSR whose CN is the MAC, certificate inspection and checks.
// mbedTLS 2.28 (ESP-IDF 4.4 / Arduino-ESP32 2.x, Debian bookworm) and 3.x (ESP-IDF 5) differ in a
// few signatures; tds_crypto.cpp isolates that behind MBEDTLS_VERSION_MAJOR.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace tds {

// A seeded CTR-DRBG. On the ESP32 the entropy comes from the hardware RNG, which is only truly random
// while the radio runs or bootloader_random_enable() is on (the firmware glue makes sure of that).
class Rng {
 public:
  Rng();
  ~Rng();
  Rng(const Rng&) = delete;
  Rng& operator=(const Rng&) = delete;
  bool ok() const;
  // mbedTLS f_rng signature, so this can be passed as (Rng::fill, &rng).
  static int fill(void* self, unsigned char* out, size_t len);
  bool bytes(uint8_t* out, size_t len);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CertInfo {
  std::string cn;
  std::string serialHex;    // lowercase hex of the serial as an integer (no leading zeros)
  std::string notBefore;    // ISO 8601 UTC
  std::string notAfter;     // ISO 8601 UTC
  int64_t notAfterEpoch = 0;
  int64_t notBeforeEpoch = 0;
};

// New EC P-256 private key as PEM ("-----BEGIN EC PRIVATE KEY-----").
bool generateEcKey(Rng& rng, std::string& keyPem, std::string& err);
// PKCS#10 CSR in PEM, subject CN=<cn>, signed with SHA-256 by keyPem.
bool makeCsr(Rng& rng, const std::string& keyPem, const std::string& cn, std::string& csrPem, std::string& err);
bool parseCert(const std::string& certPem, CertInfo& info, std::string& err);
bool isValidKey(Rng& rng, const std::string& keyPem, std::string& err);
// True when keyPem is the private half of certPem's public key.
bool keyMatchesCert(Rng& rng, const std::string& keyPem, const std::string& certPem);
// Signature chain certPem → one of the certificates in caPem. With checkTime=false, validity
// dates are ignored (a device without a synchronised clock cannot judge them).
bool verifyCertWithCa(const std::string& certPem, const std::string& caPem, bool checkTime, std::string& err);
// mbedTLS certificate verification flags as one line of text ("; "-separated reasons).
std::string verifyFlagsText(uint32_t flags);
// Number of certificates in a PEM bundle, 0 when it does not parse.
int countCerts(const std::string& pem);

// SHA-256 of data as 64 lowercase hex digits.
std::string sha256Hex(const uint8_t* data, size_t len);
inline std::string sha256Hex(const std::string& s) { return sha256Hex(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
// The DER bytes of the first PEM block (the base64 between its BEGIN and END lines).
bool pemToDer(const std::string& pem, std::string& der);
std::string base64Encode(const std::string& data);
// Signature over SHA-256(message) by keyPem (EC: ECDSA, DER SEQUENCE {r, s}; RSA: PKCS#1 v1.5), base64.
bool signSha256Base64(Rng& rng, const std::string& keyPem, const std::string& message, std::string& sigB64, std::string& err);
// Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo of keyPem's public half.
bool publicKeyFingerprint(Rng& rng, const std::string& keyPem, std::string& hex, std::string& err);

// Days since 1970-01-01 → civil date helpers used for ISO time text.
int64_t epochFromCivil(int year, int mon, int day, int hour, int min, int sec);
std::string isoFromEpoch(int64_t epoch);

}  // namespace tds
