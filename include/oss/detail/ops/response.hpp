// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_RESPONSE_HPP
#define OSS_DETAIL_OPS_RESPONSE_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/requests.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

// Judging one reply: success, a server error (from the body, the x-oss-err header or the bare
// status), or an integrity failure the client detects (CRC-64, missing ETag).
namespace oss::detail {

// Returns the error `reply` stands for (cleared on success) and fills `diag` (http status,
// request id, EC and S3's x-amz-id-2 as host id from the headers, then Code, Message,
// RequestId, HostId, EC from the error body; the body's values win) and `body` (the parsed <Error>, e.g. for ServerTime). Failures:
//  - a status outside 2xx, or 203 (CallbackFailed: OSS created the object but the callback
//    failed), or a 2xx XML reply whose root is <Error>: the server code, else (no error body,
//    e.g. HEAD) the code in the x-oss-err header, else HEAD 404 as server_errc::no_such_key,
//    else the status in http_status_category();
//  - op.sent_crc64 set and the reply's x-oss-hash-crc64ecma differs: client_errc::crc64_mismatch
//    (a header that is not a decimal number: client_errc::malformed_response);
//  - PutObject / UploadPart replies without an ETag: client_errc::missing_etag.
OSS_DECL std::error_code check_reply(const op_request& op, const http::response& reply,
                                     diagnostics& diag, error_body& body);

// The reply's x-oss-request-id, else its x-amz-request-id (S3), as the results carry it
// (sanitised like diagnostics::request_id), empty when absent.
OSS_DECL std::string reply_request_id(const http::response& reply);

// The decimal value of x-oss-hash-crc64ecma: nullopt when absent; `malformed` set when present
// but not a decimal uint64.
OSS_DECL std::optional<std::uint64_t> reply_crc64(const http::response& reply, bool& malformed);

// HeadObject reply -> object_meta (x-oss-meta-* and S3's x-amz-meta-*, x-oss-storage-class or
// x-amz-storage-class). client_errc::malformed_response when Content-Length or the
// CRC header is not a number.
OSS_DECL std::error_code to_object_meta(const http::response& reply, object_meta& out);

// S3's ETag of an object completed from parts whose ETags are their MD5s: the lower-hex MD5 of
// the concatenated binary part MD5s, then "-N" (no quotes). `part_etags` in part order, quotes
// optional. nullopt when a part ETag is not 32 hex digits (SSE-KMS / SSE-C objects, stores with
// other ETags): then the object ETag proves nothing.
OSS_DECL std::optional<std::string> s3_multipart_etag(std::span<const std::string_view> part_etags);

// ETags compared without quotes and letter case (OSS sends `"HEX"`, some tools store HEX or hex).
OSS_DECL bool etag_equal(std::string_view a, std::string_view b) noexcept;

// The MD5 an ETag stands for when it is one (32 hex digits, quotes and case aside): OSS and S3
// part ETags are the part's MD5 unless the store encrypts with its own keys.
OSS_DECL std::optional<md5_digest> etag_md5(std::string_view etag) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/response.ipp>
#endif

#endif  // OSS_DETAIL_OPS_RESPONSE_HPP
