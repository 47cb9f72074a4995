// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_IMPL_CRYPTO_IPP
#define OSS_DETAIL_IMPL_CRYPTO_IPP

#include <oss/detail/crypto.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace oss::detail {

namespace crypto_impl {

// Explicit fetches are the OpenSSL 3 way; the implicit EVP_sha256() path repeats the provider
// lookup on every init. Fetched objects are immutable and safe to share between threads, so each is
// fetched once and kept for the life of the process.
inline const EVP_MD* fetch_md(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) throw std::runtime_error(std::string("OpenSSL does not provide digest ") + name);
  return md;
}

inline const EVP_MD* md5_md() {
  static const EVP_MD* const md = fetch_md("MD5");
  return md;
}
inline const EVP_MD* sha1_md() {
  static const EVP_MD* const md = fetch_md("SHA1");
  return md;
}
inline const EVP_MD* sha256_md() {
  static const EVP_MD* const md = fetch_md("SHA256");
  return md;
}

inline const EVP_MD* md_for(digest_algorithm a) {
  return a == digest_algorithm::md5 ? md5_md() : sha256_md();
}

inline EVP_MAC* hmac_mac() {
  static EVP_MAC* const mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL does not provide HMAC");
    return m;
  }();
  return mac;
}

template <std::size_t N>
std::array<unsigned char, N> digest(const EVP_MD* md, std::string_view data) {
  std::array<unsigned char, N> out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 || len != N)
    throw std::runtime_error("OpenSSL digest failed");
  return out;
}

template <std::size_t N>
std::array<unsigned char, N> hmac(const char* digest_name, std::string_view key, std::string_view message) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac_mac());
  if (ctx == nullptr) throw std::runtime_error("OpenSSL HMAC context allocation failed");
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest_name), 0),
      OSSL_PARAM_construct_end()};
  // EVP_MAC_init treats a null key as "keep the previous key"; an empty key needs a real pointer.
  static const unsigned char empty_key = 0;
  const auto* key_bytes = key.empty() ? &empty_key : reinterpret_cast<const unsigned char*>(key.data());
  std::array<unsigned char, N> out{};
  std::size_t len = 0;
  const bool ok = EVP_MAC_init(ctx, key_bytes, key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == N;
  EVP_MAC_CTX_free(ctx);
  if (!ok) throw std::runtime_error("OpenSSL HMAC failed");
  return out;
}

}  // namespace crypto_impl

OSS_DECL md5_digest md5(std::string_view data) {
  return crypto_impl::digest<16>(crypto_impl::md5_md(), data);
}

OSS_DECL sha1_digest sha1(std::string_view data) {
  return crypto_impl::digest<20>(crypto_impl::sha1_md(), data);
}

OSS_DECL sha256_digest sha256(std::string_view data) {
  return crypto_impl::digest<32>(crypto_impl::sha256_md(), data);
}

OSS_DECL sha1_digest hmac_sha1(std::string_view key, std::string_view message) {
  return crypto_impl::hmac<20>("SHA1", key, message);
}

OSS_DECL sha256_digest hmac_sha256(std::string_view key, std::string_view message) {
  return crypto_impl::hmac<32>("SHA256", key, message);
}

OSS_DECL evp_hasher::evp_hasher(digest_algorithm algorithm) : algorithm_(algorithm) {
  ctx_ = EVP_MD_CTX_new();
  if (ctx_ == nullptr) throw std::runtime_error("OpenSSL digest context allocation failed");
  if (EVP_DigestInit_ex2(ctx_, crypto_impl::md_for(algorithm_), nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error("OpenSSL digest init failed");
  }
}

OSS_DECL evp_hasher::~evp_hasher() { EVP_MD_CTX_free(ctx_); }

OSS_DECL evp_hasher::evp_hasher(evp_hasher&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)), algorithm_(other.algorithm_) {}

OSS_DECL evp_hasher& evp_hasher::operator=(evp_hasher&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    algorithm_ = other.algorithm_;
  }
  return *this;
}

OSS_DECL void evp_hasher::update(const void* data, std::size_t n) {
  if (n == 0) return;
  if (EVP_DigestUpdate(ctx_, data, n) != 1) throw std::runtime_error("OpenSSL digest update failed");
}

OSS_DECL void evp_hasher::finish(unsigned char* out, std::size_t out_size) {
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &len) != 1 || len != out_size)
    throw std::runtime_error("OpenSSL digest final failed");
  // Re-arm so the same object can hash the next part without reallocating its context.
  if (EVP_DigestInit_ex2(ctx_, crypto_impl::md_for(algorithm_), nullptr) != 1)
    throw std::runtime_error("OpenSSL digest init failed");
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_IMPL_CRYPTO_IPP
