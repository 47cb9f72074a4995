// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_CRYPTO_HPP
#define OSS_DETAIL_CRYPTO_HPP

#include <oss/detail/config.hpp>

#include <array>
#include <cstddef>
#include <string_view>

// OpenSSL's own name for EVP_MD_CTX; declared here so this header needs no OpenSSL include.
struct evp_md_ctx_st;

namespace oss::detail {

using md5_digest = std::array<unsigned char, 16>;
using sha1_digest = std::array<unsigned char, 20>;
using sha256_digest = std::array<unsigned char, 32>;

// One-shot digests and MACs through OpenSSL 3's EVP interface. They throw std::runtime_error only
// when OpenSSL cannot provide the algorithm (for example MD5 under a FIPS-only configuration).
OSS_DECL md5_digest md5(std::string_view data);
OSS_DECL sha1_digest sha1(std::string_view data);
OSS_DECL sha256_digest sha256(std::string_view data);
OSS_DECL sha1_digest hmac_sha1(std::string_view key, std::string_view message);
OSS_DECL sha256_digest hmac_sha256(std::string_view key, std::string_view message);

enum class digest_algorithm { md5, sha256 };

// Owns one EVP_MD_CTX. Move-only; a moved-from object must not be used except for destruction
// and assignment.
class evp_hasher {
 public:
  OSS_DECL explicit evp_hasher(digest_algorithm algorithm);
  OSS_DECL ~evp_hasher();
  OSS_DECL evp_hasher(evp_hasher&& other) noexcept;
  OSS_DECL evp_hasher& operator=(evp_hasher&& other) noexcept;
  evp_hasher(const evp_hasher&) = delete;
  evp_hasher& operator=(const evp_hasher&) = delete;

  OSS_DECL void update(const void* data, std::size_t n);
  // Writes the digest (out_size must be the digest size) and starts a new, empty digest.
  OSS_DECL void finish(unsigned char* out, std::size_t out_size);

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  digest_algorithm algorithm_;
};

// Streaming MD5 (Content-MD5 of a part read in chunks). finish() also resets the hasher.
class md5_hasher {
 public:
  md5_hasher() : impl_(digest_algorithm::md5) {}
  void update(const void* data, std::size_t n) { impl_.update(data, n); }
  void update(std::string_view data) { impl_.update(data.data(), data.size()); }
  md5_digest finish() {
    md5_digest d{};
    impl_.finish(d.data(), d.size());
    return d;
  }

 private:
  evp_hasher impl_;
};

// Streaming SHA-256. finish() also resets the hasher.
class sha256_hasher {
 public:
  sha256_hasher() : impl_(digest_algorithm::sha256) {}
  void update(const void* data, std::size_t n) { impl_.update(data, n); }
  void update(std::string_view data) { impl_.update(data.data(), data.size()); }
  sha256_digest finish() {
    sha256_digest d{};
    impl_.finish(d.data(), d.size());
    return d;
  }

 private:
  evp_hasher impl_;
};

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/crypto.ipp>
#endif

#endif  // OSS_DETAIL_CRYPTO_HPP
