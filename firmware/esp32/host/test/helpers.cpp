#include "helpers.h"

#include <cstring>

#include "mbedtls/bignum.h"
#include "mbedtls/pk.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/x509_csr.h"

namespace testing {

namespace {

std::string write(tds::Rng& rng, mbedtls_x509write_cert& w) {
  std::vector<unsigned char> buf(4096);
  if (mbedtls_x509write_crt_pem(&w, buf.data(), buf.size(), tds::Rng::fill, &rng) != 0) return "";
  return reinterpret_cast<const char*>(buf.data());
}

std::string sign(tds::Rng& rng, mbedtls_pk_context* subjectKey, const std::string& subject, mbedtls_pk_context* issuerKey,
                 const std::string& issuer, const std::string& serialHex, bool isCa, const char* nb, const char* na) {
  mbedtls_x509write_cert w;
  mbedtls_x509write_crt_init(&w);
  mbedtls_mpi serial;
  mbedtls_mpi_init(&serial);
  mbedtls_mpi_read_string(&serial, 16, serialHex.c_str());
  mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_serial(&w, &serial);
  mbedtls_x509write_crt_set_subject_key(&w, subjectKey);
  mbedtls_x509write_crt_set_issuer_key(&w, issuerKey);
  mbedtls_x509write_crt_set_subject_name(&w, subject.c_str());
  mbedtls_x509write_crt_set_issuer_name(&w, issuer.c_str());
  mbedtls_x509write_crt_set_validity(&w, nb, na);
  mbedtls_x509write_crt_set_basic_constraints(&w, isCa ? 1 : 0, -1);
  const std::string pem = write(rng, w);
  mbedtls_mpi_free(&serial);
  mbedtls_x509write_crt_free(&w);
  return pem;
}

bool parseKey(mbedtls_pk_context& pk, const std::string& pem) {
  return mbedtls_pk_parse_key(&pk, reinterpret_cast<const unsigned char*>(pem.c_str()), pem.size() + 1, nullptr, 0) == 0;
}

}  // namespace

TestCa::TestCa(tds::Rng& rng, const std::string& cn) : rng_(rng), name_("CN=" + cn) {
  std::string err;
  tds::generateEcKey(rng_, keyPem, err);
  mbedtls_pk_context k;
  mbedtls_pk_init(&k);
  parseKey(k, keyPem);
  caPem = sign(rng_, &k, name_, &k, name_, "01", true, "20240101000000", "20440101000000");
  mbedtls_pk_free(&k);
}

std::string TestCa::issue(const std::string& csrPem, const std::string& serialHex, const char* nb, const char* na) {
  mbedtls_x509_csr csr;
  mbedtls_x509_csr_init(&csr);
  std::string pem;
  if (mbedtls_x509_csr_parse(&csr, reinterpret_cast<const unsigned char*>(csrPem.c_str()), csrPem.size() + 1) == 0) {
    char subject[256];
    mbedtls_x509_dn_gets(subject, sizeof subject, &csr.subject);
    mbedtls_pk_context ca;
    mbedtls_pk_init(&ca);
    parseKey(ca, keyPem);
    pem = sign(rng_, &csr.pk, subject, &ca, name_, serialHex, false, nb, na);
    mbedtls_pk_free(&ca);
  }
  mbedtls_x509_csr_free(&csr);
  return pem;
}

std::string TestCa::issueForKey(const std::string& subjectKeyPem, const std::string& cn, const std::string& serialHex) {
  mbedtls_pk_context sk, ca;
  mbedtls_pk_init(&sk);
  mbedtls_pk_init(&ca);
  parseKey(sk, subjectKeyPem);
  parseKey(ca, keyPem);
  const std::string pem = sign(rng_, &sk, "CN=" + cn, &ca, name_, serialHex, false, "20240101000000", "20340101000000");
  mbedtls_pk_free(&sk);
  mbedtls_pk_free(&ca);
  return pem;
}

std::vector<std::string> FakePlatform::takeTdsLines() {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (true) {
    const size_t at = out.find("TDS {", pos);
    if (at == std::string::npos) break;
    const size_t nl = out.find('\n', at);
    if (nl == std::string::npos) break;
    lines.push_back(out.substr(at + 4, nl - at - 4));
    pos = nl + 1;
  }
  out.clear();
  return lines;
}

std::vector<uint8_t> FakeBus::transact(const std::vector<uint8_t>& req, size_t, uint32_t) {
  if (silent || req.size() != 8 || req[0] != slave) return {};
  const uint16_t start = static_cast<uint16_t>((req[2] << 8) | req[3]);
  const uint16_t count = static_cast<uint16_t>((req[4] << 8) | req[5]);
  std::vector<uint8_t> r = {req[0], req[1]};
  for (uint16_t i = 0; i < count; ++i)
    if (regs.count(static_cast<uint16_t>(start + i)) == 0) {
      r = {req[0], static_cast<uint8_t>(req[1] | 0x80), 0x02};  // illegal data address
      const uint16_t crc = tds::modbusCrc16(r.data(), r.size());
      r.push_back(crc & 0xFF);
      r.push_back(crc >> 8);
      return r;
    }
  r.push_back(static_cast<uint8_t>(count * 2));
  for (uint16_t i = 0; i < count; ++i) {
    const uint16_t v = regs[static_cast<uint16_t>(start + i)];
    r.push_back(v >> 8);
    r.push_back(v & 0xFF);
  }
  const uint16_t crc = tds::modbusCrc16(r.data(), r.size());
  r.push_back(crc & 0xFF);
  r.push_back(crc >> 8);
  return r;
}

}  // namespace testing
