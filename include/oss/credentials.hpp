// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CREDENTIALS_HPP
#define OSS_CREDENTIALS_HPP

#include <oss/detail/config.hpp>

#include <asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
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
  std::string access_key_id{};

  /// The AccessKey secret. Never sent; only used as the HMAC key.
  std::string access_key_secret{};

  /// The STS security token of temporary credentials, sent (and signed) as
  /// `x-oss-security-token`. Leave empty for long-term AccessKeys.
  std::string security_token{};

  /// True when no AccessKey ID is set, i.e. requests go out anonymous and unsigned.
  bool empty() const noexcept { return access_key_id.empty(); }
};

/// Credentials together with the moment they stop working, as a `credentials_provider`
/// returns them (an STS `AssumeRole` reply carries both).
struct expiring_credentials {
  /// The AccessKey pair and, for STS credentials, the security token.
  credentials creds{};

  /// When the credentials expire (UTC, on the clock of `client_options::clock.now`). Empty:
  /// they do not expire, and the client asks the provider again only after the server refused
  /// them.
  std::optional<std::chrono::system_clock::time_point> expiration{};
};

/// A source of credentials that may change over time (STS tokens, rotated keys).
///
/// Give one to `client_options::creds_provider` and the client fetches credentials from it
/// before its first signed request, again shortly before they expire
/// (`client_options::creds_refresh_margin`), and once more when the server rejects them as
/// expired or unknown (`SecurityTokenExpired`, `InvalidSecurityToken`, `InvalidAccessKeyId`,
/// `AccessKeyIdAndSecurityTokenNotMatch`); the rejected request is then repeated once with the
/// new credentials. Refused again, it fails, unless still newer credentials arrived while it
/// was under way (a request signed just before another rotation); then it is repeated with
/// those, without another fetch, at most 3 times in all.
///
/// **One fetch at a time.** However many requests run in parallel (the parts of an upload,
/// several uploads, several threads of one `io_context`), a client calls `fetch()` at most once
/// at a time; every request that needs the new credentials waits for that one call. `fetch()`
/// is started on the client's executor and is never cancelled by the client, so it should bound
/// its own waiting (a request that waits for it may still be cancelled).
///
/// **Failures.** `fetch()` reports failure by throwing. The request that needed the credentials
/// then fails with the thrown `oss::error`'s code and message, or with
/// `client_errc::credentials_unavailable` for any other exception (whose `what()` is not
/// copied, since it may quote a secret; a `std::system_error`'s category message is). When the
/// credentials in hand have not expired yet, a failed early refresh is not an error: they stay
/// in use, and the refresh is tried again after a pause.
///
/// Implement it for your own source, or use the factories below.
class credentials_provider {
 public:
  virtual ~credentials_provider() = default;

  /// Returns the current credentials. Runs on the client's executor.
  virtual asio::awaitable<expiring_credentials> fetch() = 0;
};

/// A provider that always returns `creds`, which never expire. `fetch()` throws `oss::error`
/// with `client_errc::missing_credentials` when `creds` has no AccessKey ID or no secret.
OSS_DECL std::shared_ptr<credentials_provider> make_static_credentials_provider(credentials creds);

/// A provider that reads `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and the optional
/// `OSS_SESSION_TOKEN` from the environment at every `fetch()` (the names the oss-upload tool
/// and ali-oss examples use). No expiration. `fetch()` throws `oss::error` with
/// `client_errc::missing_credentials` when the key id or the secret is unset or empty.
OSS_DECL std::shared_ptr<credentials_provider> make_environment_credentials_provider();

/// A provider that calls `fetch` (synchronously, on the client's executor: keep it quick, or
/// use the awaitable form) each time credentials are needed. Exceptions leave it as described
/// for `credentials_provider`. Throws `std::invalid_argument` when `fetch` is empty.
OSS_DECL std::shared_ptr<credentials_provider> make_callback_credentials_provider(
    std::function<expiring_credentials()> fetch);

/// A provider that awaits `fetch()`: for sources that need I/O, such as an STS `AssumeRole`
/// call or an ECS RAM-role metadata request made with your own HTTP client.
/// Throws `std::invalid_argument` when `fetch` is empty.
OSS_DECL std::shared_ptr<credentials_provider> make_async_callback_credentials_provider(
    std::function<asio::awaitable<expiring_credentials>()> fetch);

/// `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_SESSION_TOKEN` from the environment;
/// empty when the key id or the secret is unset or empty.
OSS_DECL std::optional<credentials> credentials_from_environment();

}  // namespace oss

#ifdef OSS_HEADER_ONLY
#include <oss/impl/credentials.ipp>
#endif

#endif  // OSS_CREDENTIALS_HPP
