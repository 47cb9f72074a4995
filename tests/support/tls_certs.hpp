// Test support: self-signed certificates made with the openssl CLI in a temporary folder.
//
// The certificate names DNS:<host> only (no IP SAN), so a client connecting to "127.0.0.1"
// meets a certificate for another host, and one that does not trust the file meets a
// self-signed certificate. Both are what TLS failure tests need.
#ifndef OSS_TESTS_SUPPORT_TLS_CERTS_HPP
#define OSS_TESTS_SUPPORT_TLS_CERTS_HPP

#include <filesystem>
#include <stdexcept>
#include <string>

#include "process.hpp"
#include "temp_dir.hpp"

namespace oss_test {

class self_signed_cert {
 public:
  explicit self_signed_cert(const std::string& host = "localhost")
      : cert_((dir_ / "cert.pem").string()), key_((dir_ / "key.pem").string()) {
    auto gen = run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", key_, "-out", cert_, "-days", "2", "-subj", "/CN=" + host,
                            "-addext", "subjectAltName=DNS:" + host},
                           "", std::chrono::seconds(60));
    if (gen.exit_code != 0 || !std::filesystem::exists(cert_) || !std::filesystem::exists(key_))
      throw std::runtime_error("openssl req failed to make a test certificate");
  }

  const std::string& cert_file() const noexcept { return cert_; }
  const std::string& key_file() const noexcept { return key_; }

 private:
  temp_dir dir_;
  std::string cert_;
  std::string key_;
};

}  // namespace oss_test

#endif
