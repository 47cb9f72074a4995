// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_ERROR_HPP
#define OSS_ERROR_HPP

#include <oss/detail/config.hpp>

#include <string_view>
#include <system_error>
#include <type_traits>

namespace oss {

/// Failures the library itself detects (bad input, broken replies, local files, checkpoints).
///
/// Values are stable: new enumerators are only ever appended. Each code's category message says
/// what to change. Asio, OpenSSL and operating-system codes are never translated into these;
/// they reach the caller untouched.
enum class client_errc {
  connection_timeout = 1,  ///< no byte moved within the connect or stall timeout
  malformed_response,      ///< the HTTP reply could not be parsed
  response_too_large,      ///< the reply exceeded the header or body size limit
  malformed_xml,           ///< an XML body was not well-formed or not the expected document
  missing_etag,            ///< a part or object reply carried no ETag
  missing_upload_id,       ///< InitiateMultipartUpload returned no UploadId
  crc64_mismatch,          ///< the server's x-oss-hash-crc64ecma differs from ours
  invalid_object_name,     ///< the object key is empty, too long or starts with '/' or '\'
  invalid_bucket_name,     ///< the bucket name breaks the OSS naming rules
  invalid_endpoint,        ///< the endpoint or region could not be turned into a URL
  invalid_part_size,       ///< part size outside 100 KiB .. 5 GiB
  invalid_parallel,        ///< parallel < 1
  too_many_parts,          ///< the upload would need more than 10 000 parts
  invalid_header_value,    ///< a header name or value contains forbidden characters
  invalid_metadata,        ///< an x-oss-meta-* name or value breaks the OSS rules
  metadata_too_large,      ///< user metadata exceeds 8 KB
  file_not_found,          ///< the file to upload does not exist
  file_not_readable,       ///< the file exists but cannot be opened or read
  not_a_regular_file,      ///< the path names a directory, device, FIFO, ...
  file_changed,            ///< size or mtime changed since the upload (or checkpoint) began
  checkpoint_corrupt,      ///< the checkpoint file is not a valid checkpoint
  checkpoint_mismatch,     ///< the checkpoint belongs to another upload
  upload_vanished,         ///< the server no longer knows the checkpoint's upload id
  missing_credentials,     ///< no access key id / secret were configured
  unexpected_status,       ///< an HTTP status the operation does not expect, without an error body
  tls_handshake_failed,    ///< the TLS handshake (or certificate verification) failed
  credentials_unavailable, ///< the credentials provider failed or returned unusable credentials
  unverified,              ///< the server never confirmed the bytes (no CRC-64 to compare)
  invalid_upload_id,       ///< the server's UploadId is not printable ASCII or is too long
  checkpoint_locked,       ///< another run is using the checkpoint file
  object_changed,          ///< the object was overwritten while it was being downloaded
  handler_exception,       ///< a function the caller supplied (progress handler, stream reader) threw
  unexpected_exception,    ///< an exception escaped the library's own code (a bug)
  range_ignored,           ///< the server answered a ranged GET with the whole object
  invalid_share,           ///< `upload_options::share` cannot work (no upload id, bad part range)
  parts_missing,           ///< a shared upload lacks parts it must have before Complete
};

/// The OSS error `Code` strings (oss-protocol.md section 5.2), one enumerator each.
///
/// `unknown` stands for any code this list does not name; the raw string is kept in
/// `oss::diagnostics::code`. Values are stable: new codes are only ever appended.
enum class server_errc {
  unknown = 1,
  no_such_upload,
  invalid_part,
  invalid_part_order,
  entity_too_small,
  entity_too_large,
  file_already_exists,
  signature_does_not_match,
  access_denied,
  invalid_access_key_id,
  security_token_expired,
  invalid_security_token,
  request_time_too_skewed,
  no_such_bucket,
  no_such_key,
  missing_content_length,
  invalid_digest,
  request_timeout,
  internal_error,
  service_unavailable,
  slow_down,
  invalid_argument,
  invalid_object_name,
  invalid_bucket_name,
  method_not_allowed,
  not_implemented,
  callback_failed,
  malformed_xml,
  invalid_request,
};

/// Category of `client_errc`; `name()` is "oss.client".
OSS_DECL const std::error_category& client_category() noexcept;

/// Category of `server_errc`; `name()` is "oss.server".
OSS_DECL const std::error_category& server_category() noexcept;

/// Category for replies that failed without an OSS error body (HEAD, proxies, some 403/404).
/// The value is the HTTP status; `message(404)` is "HTTP 404 Not Found". `name()` is "oss.http".
OSS_DECL const std::error_category& http_status_category() noexcept;

inline std::error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}

inline std::error_code make_error_code(server_errc e) noexcept {
  return {static_cast<int>(e), server_category()};
}

/// An error code in `http_status_category()` whose value is `status`.
inline std::error_code make_http_status_error(int status) noexcept {
  return {status, http_status_category()};
}

/// Maps the `Code` element of an OSS error body ("NoSuchUpload") to its enumerator. Matching is
/// exact (OSS codes are case-sensitive); anything not listed gives `server_errc::unknown`.
OSS_DECL server_errc server_errc_from_code(std::string_view code) noexcept;

/// The OSS `Code` string of `e` ("NoSuchUpload"); "Unknown" for `server_errc::unknown` and for
/// values outside the enumeration. Used by the local server to write error bodies.
OSS_DECL std::string_view server_errc_code(server_errc e) noexcept;

/// How a failed request may be retried; the retry loop picks the back-off from this.
enum class retry_class {
  transient,  ///< the network or the request's bytes failed; retry soon with the same request
  throttled,  ///< the server asked us to slow down; retry with a longer back-off
  server,     ///< the server failed internally; retry with back-off
  fatal,      ///< retrying the same request cannot succeed
};

/// Classifies a failed request from its error code and HTTP status (0 when no reply was read).
///
/// A server `Code` decides when it is known; otherwise the HTTP status (or the value of an
/// `http_status_category()` code) decides: 408 transient, 429 and 503 throttled, other 5xx
/// server, the rest fatal. Operation cancellation is always fatal, so a cancelled upload is
/// never restarted behind the caller's back. Credential errors are fatal here: only a layer that
/// can refresh credentials may decide to try again.
OSS_DECL retry_class classify(std::error_code ec, int http_status) noexcept;

}  // namespace oss

namespace std {
template <>
struct is_error_code_enum<oss::client_errc> : true_type {};
template <>
struct is_error_code_enum<oss::server_errc> : true_type {};
}  // namespace std

#ifdef OSS_HEADER_ONLY
#include <oss/impl/error.ipp>
#endif

#endif  // OSS_ERROR_HPP
