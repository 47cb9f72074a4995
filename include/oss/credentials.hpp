// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CREDENTIALS_HPP
#define OSS_CREDENTIALS_HPP

#include <oss/detail/config.hpp>

#include <string>

namespace oss {

/// How requests are signed (the `Authorization` header).
///
/// OSS is phasing V1 out in favour of V4; use V1 only for deployments that do not accept V4.
enum class signature_version {
  /// OSS Signature V1: `OSS <AccessKeyId>:<base64 HMAC-SHA1>` over the `Date` header, the
  /// canonical `x-oss-*` headers and `/bucket/key` plus the signed sub-resources.
  v1,
  /// OSS Signature V4: `OSS4-HMAC-SHA256 Credential=...`, HMAC-SHA256 with a key derived from
  /// the secret, the day and the region; signs every query parameter and the `x-oss-date` header.
  v4,
};

/// An Alibaba Cloud AccessKey pair, optionally with an STS security token.
///
/// The secret is used only to compute signatures: the library never logs, prints or puts it (or
/// an `Authorization` header or a string-to-sign) into an error message. For the same reason this
/// type has no `operator<<`; do not add one in your code either.
struct credentials {
  /// The AccessKey ID (public part), sent in every `Authorization` header. Empty means anonymous
  /// access: requests are sent unsigned.
  std::string access_key_id;

  /// The AccessKey secret. Never sent; only used as the HMAC key.
  std::string access_key_secret;

  /// The STS security token of temporary credentials, sent (and signed) as
  /// `x-oss-security-token`. Leave empty for long-term AccessKeys.
  std::string security_token;

  /// True when no AccessKey ID is set, i.e. requests go out anonymous and unsigned.
  bool empty() const noexcept { return access_key_id.empty(); }
};

}  // namespace oss

#endif  // OSS_CREDENTIALS_HPP
