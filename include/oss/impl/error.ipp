// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_ERROR_IPP
#define OSS_IMPL_ERROR_IPP

#include <oss/error.hpp>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>

#include <array>
#include <string>
#include <utility>

namespace oss {
namespace detail {

class client_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oss.client"; }

  std::string message(int value) const override {
    switch (static_cast<client_errc>(value)) {
      case client_errc::connection_timeout:
        return "no byte moved within the connect or stall timeout; run again with the same "
               "checkpoint to resume, or raise the timeout";
      case client_errc::malformed_response:
        return "the HTTP reply could not be parsed; check that the endpoint points at OSS and "
               "not at a proxy or another service";
      case client_errc::response_too_large:
        return "the reply exceeded the header or body size limit; check that the endpoint "
               "points at OSS, or raise the limit";
      case client_errc::malformed_xml:
        return "an XML body was malformed or not the expected document; check that the "
               "endpoint points at OSS";
      case client_errc::missing_etag:
        return "the reply carried no ETag; if a proxy or a CORS rule strips headers, let ETag "
               "through";
      case client_errc::missing_upload_id:
        return "InitiateMultipartUpload returned no UploadId; check that the endpoint is OSS "
               "and supports multipart upload";
      case client_errc::crc64_mismatch:
        return "the server's CRC-64 differs from the local one, so the data changed in "
               "transit; the part is retried, and a lasting mismatch means something between "
               "us and OSS rewrites the body";
      case client_errc::invalid_object_name:
        return "the object name must be 1 to 1023 bytes of UTF-8 and must not start with '/' "
               "or '\\'";
      case client_errc::invalid_bucket_name:
        return "the bucket name must be 3 to 63 characters from a-z, 0-9 and '-', and must not "
               "start or end with '-'";
      case client_errc::invalid_endpoint:
        return "the endpoint could not be used; give a URL such as "
               "https://oss-cn-hangzhou.aliyuncs.com or a region such as cn-hangzhou (S3: "
               "https://s3.us-east-1.amazonaws.com or region us-east-1)";
      case client_errc::invalid_part_size:
        return "the part size must be between 100 KiB (102400 bytes; 5 MiB on S3) and 5 GiB";
      case client_errc::invalid_parallel:
        return "parallel must be at least 1";
      case client_errc::too_many_parts:
        return "the upload would need more than 10000 parts; raise the part size";
      case client_errc::invalid_header_value:
        return "a header name or value contains characters HTTP does not allow (CR, LF, NUL, "
               "or a non-token character in the name); remove them";
      case client_errc::invalid_metadata:
        return "metadata names may only contain letters, digits and '-', and values must be "
               "printable ASCII without line breaks; fix the metadata";
      case client_errc::metadata_too_large:
        return "user metadata (all x-oss-meta-* names and values together) must not exceed "
               "8 KB; shorten it";
      case client_errc::file_not_found:
        return "the file to upload does not exist; check the path";
      case client_errc::file_not_readable:
        return "the file to upload could not be opened or read; check its permissions";
      case client_errc::not_a_regular_file:
        return "the path to upload is not a regular file (a directory, device or pipe); give a "
               "regular file, or upload it as a stream";
      case client_errc::file_changed:
        return "the file changed (size or modification time) since the upload began; upload "
               "it again without the old checkpoint";
      case client_errc::checkpoint_corrupt:
        return "the checkpoint file is not a valid checkpoint and was left untouched; delete "
               "it to start a new upload";
      case client_errc::checkpoint_mismatch:
        return "the checkpoint belongs to another upload (endpoint, bucket, name, file or part "
               "size differ); use another checkpoint path, or delete it";
      case client_errc::upload_vanished:
        return "the server no longer knows the checkpoint's upload (completed, aborted or "
               "removed by a lifecycle rule); delete the checkpoint, or allow a restart, to "
               "upload again";
      case client_errc::missing_credentials:
        return "no credentials were configured; set the access key id and secret (for example "
               "OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET)";
      case client_errc::unexpected_status:
        return "the server replied with an HTTP status this operation does not expect and no "
               "OSS error body; check the endpoint and any proxy in between";
      case client_errc::tls_handshake_failed:
        return "the TLS handshake failed; check the endpoint's host name and the trusted CA "
               "certificates";
      case client_errc::credentials_unavailable:
        return "the credentials provider failed or returned unusable credentials (no key id, "
               "or CR, LF or control characters); check the provider and its source";
      case client_errc::unverified:
        return "the server never confirmed the bytes: its replies carried no CRC-64 to compare "
               "with ours (a proxy that strips headers, or a store that computes none); the "
               "data may be intact, but nothing proved it";
      case client_errc::invalid_upload_id:
        return "the UploadId is not printable ASCII or is too long to be a real upload id; when "
               "the server sent it, check that the endpoint is OSS and not a proxy that rewrites "
               "replies";
      case client_errc::checkpoint_locked:
        return "another run is using the checkpoint file; wait for it to end, or use another "
               "checkpoint path";
      case client_errc::object_changed:
        return "the object was overwritten since the download began, so its parts would mix "
               "two versions; download it again from the start";
      case client_errc::handler_exception:
        return "a function the caller supplied (the progress handler or a stream reader) threw "
               "an exception, which stopped the operation; the diagnostics keep the exception";
      case client_errc::unexpected_exception:
        return "an unexpected exception escaped the library and stopped the operation (a bug; "
               "please report it); the diagnostics keep the exception";
      case client_errc::range_ignored:
        return "the server answered a ranged GET with the whole object (it does not support "
               "Range); resumable_download then fetches the object in one request";
      case client_errc::invalid_share:
        return "the share of a shared upload cannot work: it needs the upload id, a part range "
               "within 1..10000 that holds the source's parts, and no abort or restart (other "
               "shares use the same upload); fix the share";
      case client_errc::parts_missing:
        return "the shared upload does not hold every part yet; upload the missing parts, then "
               "complete it again";
    }
    return "unknown oss.client error " + std::to_string(value);
  }
};

class server_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oss.server"; }

  std::string message(int value) const override {
    switch (static_cast<server_errc>(value)) {
      case server_errc::unknown:
        return "the server returned an error code this library does not know; see the code and "
               "message in the diagnostics";
      case server_errc::no_such_upload:
        return "the upload id does not exist (completed, aborted or never created); start a new "
               "upload";
      case server_errc::invalid_part:
        return "a listed part is missing or its ETag does not match; list the parts, upload the "
               "missing ones and complete again";
      case server_errc::invalid_part_order:
        return "CompleteMultipartUpload must list the parts in ascending part-number order";
      case server_errc::entity_too_small:
        return "every part except the last must be at least 100 KiB (5 MiB on S3); use a larger part "
               "size";
      case server_errc::entity_too_large:
        return "the body is larger than the store accepts (5 GiB per part or per PutObject); use "
               "multipart upload or a smaller part size";
      case server_errc::file_already_exists:
        return "the object exists and overwriting was forbidden (x-oss-forbid-overwrite); pick "
               "another name or allow overwriting";
      case server_errc::signature_does_not_match:
        return "the server rejected the request signature; check the access key secret, the "
               "region (V4) and the signature version";
      case server_errc::access_denied:
        return "access denied; check the RAM or bucket policy for this bucket and object";
      case server_errc::invalid_access_key_id:
        return "the access key id is unknown or disabled (an expired STS key gives this too); "
               "check or refresh the credentials";
      case server_errc::security_token_expired:
        return "the STS security token expired; refresh the temporary credentials";
      case server_errc::invalid_security_token:
        return "the STS security token is invalid; refresh the temporary credentials";
      case server_errc::request_time_too_skewed:
        return "the request time differs from the server's by more than 15 minutes; fix the "
               "system clock";
      case server_errc::no_such_bucket:
        return "the bucket does not exist; check the bucket name and the endpoint's region";
      case server_errc::no_such_key:
        return "the object does not exist; check the object name";
      case server_errc::missing_content_length:
        return "the request had no Content-Length; this is a client bug, please report it";
      case server_errc::invalid_digest:
        return "the body the server received does not match its Content-MD5, so it changed in "
               "transit; retry";
      case server_errc::request_timeout:
        return "the server timed out waiting for the request body; check the network, or lower "
               "parallel";
      case server_errc::internal_error:
        return "OSS failed internally; retry later";
      case server_errc::service_unavailable:
        return "OSS is temporarily unavailable; retry later with back-off";
      case server_errc::slow_down:
        return "OSS is throttling requests; lower parallel, or retry with a longer back-off";
      case server_errc::invalid_argument:
        return "the server rejected an argument of the request; the message says which";
      case server_errc::invalid_object_name:
        return "the server rejected the object name; names are 1 to 1023 bytes of UTF-8 and "
               "must not start with '/' or '\\'";
      case server_errc::invalid_bucket_name:
        return "the server rejected the bucket name; names are 3 to 63 characters from a-z, "
               "0-9 and '-'";
      case server_errc::method_not_allowed:
        return "the server does not allow this method on this resource; check the bucket type "
               "and the object name";
      case server_errc::not_implemented:
        return "the server does not implement this operation; check that the endpoint is OSS";
      case server_errc::callback_failed:
        return "the object was created but the upload callback failed; fix the callback "
               "server, and do not upload again";
      case server_errc::malformed_xml:
        return "the server could not parse the request's XML body; this is a client bug, "
               "please report it";
      case server_errc::invalid_request:
        return "the server rejected the request as invalid; the message says why";
    }
    return "unknown oss.server error " + std::to_string(value);
  }
};

// Reason phrases of RFC 9110 (plus 429 from RFC 6585), for the "HTTP 404 Not Found" messages.
inline std::string_view http_reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return {};
  }
}

class http_status_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oss.http"; }

  std::string message(int status) const override {
    std::string out = "HTTP " + std::to_string(status);
    std::string_view reason = http_reason_phrase(status);
    if (!reason.empty()) {
      out += ' ';
      out += reason;
    }
    return out;
  }
};

// One table for both directions, so the two can never disagree.
inline constexpr std::array<std::pair<server_errc, std::string_view>, 28> server_code_table{{
    {server_errc::no_such_upload, "NoSuchUpload"},
    {server_errc::invalid_part, "InvalidPart"},
    {server_errc::invalid_part_order, "InvalidPartOrder"},
    {server_errc::entity_too_small, "EntityTooSmall"},
    {server_errc::entity_too_large, "EntityTooLarge"},
    {server_errc::file_already_exists, "FileAlreadyExists"},
    {server_errc::signature_does_not_match, "SignatureDoesNotMatch"},
    {server_errc::access_denied, "AccessDenied"},
    {server_errc::invalid_access_key_id, "InvalidAccessKeyId"},
    {server_errc::security_token_expired, "SecurityTokenExpired"},
    {server_errc::invalid_security_token, "InvalidSecurityToken"},
    {server_errc::request_time_too_skewed, "RequestTimeTooSkewed"},
    {server_errc::no_such_bucket, "NoSuchBucket"},
    {server_errc::no_such_key, "NoSuchKey"},
    {server_errc::missing_content_length, "MissingContentLength"},
    {server_errc::invalid_digest, "InvalidDigest"},
    {server_errc::request_timeout, "RequestTimeout"},
    {server_errc::internal_error, "InternalError"},
    {server_errc::service_unavailable, "ServiceUnavailable"},
    {server_errc::slow_down, "SlowDown"},
    {server_errc::invalid_argument, "InvalidArgument"},
    {server_errc::invalid_object_name, "InvalidObjectName"},
    {server_errc::invalid_bucket_name, "InvalidBucketName"},
    {server_errc::method_not_allowed, "MethodNotAllowed"},
    {server_errc::not_implemented, "NotImplemented"},
    {server_errc::callback_failed, "CallbackFailed"},
    {server_errc::malformed_xml, "MalformedXML"},
    {server_errc::invalid_request, "InvalidRequest"},
}};

// Failures of the connection rather than of the request: the same bytes sent on a fresh
// connection may well succeed (ali-oss and go2 retry exactly these, oss-protocol.md 5.3).
// Standalone Asio reports socket errors in its own "asio.system" category, which does not map
// to std::errc conditions, so both spellings are checked.
inline bool is_transient_network_error(const std::error_code& ec) noexcept {
  namespace ae = asio::error;
  if (ec == ae::eof || ec == ae::host_not_found_try_again || ec == ae::connection_reset ||
      ec == ae::connection_aborted || ec == ae::connection_refused || ec == ae::broken_pipe ||
      ec == ae::timed_out || ec == ae::network_unreachable || ec == ae::network_down ||
      ec == ae::network_reset || ec == ae::host_unreachable || ec == ae::not_connected ||
      ec == ae::shut_down || ec == asio::ssl::error::stream_truncated)
    return true;
  return ec == std::errc::connection_reset || ec == std::errc::connection_aborted ||
         ec == std::errc::connection_refused || ec == std::errc::broken_pipe ||
         ec == std::errc::timed_out || ec == std::errc::network_unreachable ||
         ec == std::errc::network_down || ec == std::errc::network_reset ||
         ec == std::errc::host_unreachable || ec == std::errc::not_connected;
}

inline retry_class classify_http_status(int status) noexcept {
  if (status == 408) return retry_class::transient;  // the server gave up waiting for us
  if (status == 429 || status == 503) return retry_class::throttled;
  // 501 is a permanent property of the server, unlike every other 5xx.
  if (status == 501) return retry_class::fatal;
  if (status >= 500 && status <= 599) return retry_class::server;
  return retry_class::fatal;
}

}  // namespace detail

OSS_DECL const std::error_category& client_category() noexcept {
  static const detail::client_category_impl instance;
  return instance;
}

OSS_DECL const std::error_category& server_category() noexcept {
  static const detail::server_category_impl instance;
  return instance;
}

OSS_DECL const std::error_category& http_status_category() noexcept {
  static const detail::http_status_category_impl instance;
  return instance;
}

OSS_DECL server_errc server_errc_from_code(std::string_view code) noexcept {
  for (const auto& [value, name] : detail::server_code_table)
    if (name == code) return value;
  return server_errc::unknown;
}

OSS_DECL std::string_view server_errc_code(server_errc e) noexcept {
  for (const auto& [value, name] : detail::server_code_table)
    if (value == e) return name;
  return "Unknown";
}

OSS_DECL retry_class classify(std::error_code ec, int http_status) noexcept {
  if (ec.category() == http_status_category()) {
    if (http_status == 0) http_status = ec.value();
    return detail::classify_http_status(http_status);
  }
  if (ec.category() == client_category()) {
    switch (static_cast<client_errc>(ec.value())) {
      // A stalled or lost connection: resending on a fresh one is the cure.
      case client_errc::connection_timeout:
      // Bytes were damaged in flight; the part is re-read and sent again.
      case client_errc::crc64_mismatch:
        return retry_class::transient;
      // Everything else we detect is about the input, the local file, the checkpoint or a
      // reply that will not change when asked again (including a TLS certificate failure).
      default:
        return retry_class::fatal;
    }
  }
  if (ec.category() == server_category()) {
    switch (static_cast<server_errc>(ec.value())) {
      // The server timed out reading our body, or received it damaged: send it again.
      case server_errc::request_timeout:
      case server_errc::invalid_digest:
      // The client re-signs with the server's clock (Date / ServerTime) before retrying.
      case server_errc::request_time_too_skewed:
        return retry_class::transient;
      case server_errc::slow_down:
      case server_errc::service_unavailable:
        return retry_class::throttled;
      case server_errc::internal_error:
        return retry_class::server;
      // An unknown Code says nothing; the status still tells a 503 from a 400.
      case server_errc::unknown:
        return detail::classify_http_status(http_status);
      // Every other known code (NoSuchUpload, InvalidPart, AccessDenied, credential errors,
      // NotImplemented, CallbackFailed, ...) describes the request or the account, not luck.
      default:
        return retry_class::fatal;
    }
  }
  if (ec) {
    // Never retry a cancellation: the caller asked us to stop.
    if (ec == asio::error::operation_aborted || ec == std::errc::operation_canceled)
      return retry_class::fatal;
    return detail::is_transient_network_error(ec) ? retry_class::transient : retry_class::fatal;
  }
  // No error code: only a failing status can make this a failure at all.
  return detail::classify_http_status(http_status);
}

}  // namespace oss

#endif  // OSS_IMPL_ERROR_IPP
