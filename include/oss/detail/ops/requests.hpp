// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_REQUESTS_HPP
#define OSS_DETAIL_OPS_REQUESTS_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/sign/sign.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

// One OSS call described as data: what to send and how to judge the reply. The builders below
// validate their input completely, so a request that leaves the client is well-formed; they do
// no I/O and sign nothing (the retry loop signs each attempt with a fresh date).
namespace oss::detail {

// A request body read as it is sent (transport::exchange_options::read_body), not held in
// memory: a file part. `crc64()` is the CRC-64 of the bytes the last attempt read, which the
// reply's is checked against.
struct streamed_body {
  std::uint64_t size = 0;
  std::function<asio::awaitable<std::pair<std::error_code, asio::const_buffer>>(std::uint64_t offset)> read;
  std::function<std::uint64_t()> crc64;
};

// A reply body written out as it arrives (a ranged GET into a file), never buffered whole:
// transport::exchange_options::on_head, body_sink and body_drain, called on every attempt.
struct body_receiver {
  std::function<bool(int status, const http::fields& headers, std::error_code& ec)> on_head;
  std::function<void(std::string_view)> sink;
  std::function<asio::awaitable<std::error_code>(bool last)> drain;
};

struct op_request {
  std::string_view operation;  // OSS API name ("UploadPart"), for diagnostics
  std::string method;
  std::string key;             // raw UTF-8 object key; empty for bucket-level calls
  std::vector<query_param> query;                           // decoded, in sending order
  std::vector<std::pair<std::string, std::string>> headers; // besides Host, User-Agent, signing
  asio::const_buffer body;     // caller-owned payload (PutObject, UploadPart)
  std::string owned_body;      // payload the request owns (the Complete XML); wins when set
  const streamed_body* streamed = nullptr;  // instead of `body` (UploadPart of a file part)
  const body_receiver* receiver = nullptr;  // where a 2xx body goes (ranged GetObject)
  int part_number = 0;
  bool head = false;           // HEAD: the reply has no body
  bool xml_reply = false;      // a 2xx body is an XML document; an <Error> root is a failure
  // False for InitiateMultipartUpload: a retry after the request may have reached the server
  // could create a second, orphaned upload (oss-protocol.md 3.1). A failure before any request
  // byte was written (transport::exchange_report) is retried all the same.
  bool retry_after_sending = true;
  // transport::exchange_options::fresh_connection: send on a newly opened connection, never an
  // idle pooled one. The transport replays a request whose reused connection died before the
  // first reply byte; for Initiate and Complete that replay could act twice (the server may
  // have processed the first copy), so these two calls, made once per upload, pay for a
  // handshake instead. The connection then joins the pool like any other.
  bool fresh_connection = false;
  std::optional<std::uint64_t> sent_crc64;  // CRC-64 of the payload, checked against the reply
  // SHA-256 of the payload when the caller computed it (body_digests::sha256): the S3 signer's
  // x-amz-content-sha256 with client_options::s3_sign_payload. Computed at signing otherwise.
  std::optional<std::array<unsigned char, 32>> payload_sha256;
  bool verify_body_crc64 = false;           // GetObject: check the body against the reply's CRC
  std::size_t max_response_body = 4u << 20; // XML replies are small; GetObject raises it

  // The CRC-64 the reply is checked against: a streamed body's is known once it has been read,
  // that is, sent.
  std::optional<std::uint64_t> payload_crc64() const {
    return streamed ? std::optional<std::uint64_t>(streamed->crc64()) : sent_crc64;
  }

  asio::const_buffer payload() const noexcept {
    return owned_body.empty() ? body : asio::const_buffer(owned_body.data(), owned_body.size());
  }
};

// OSS's per-request cap (x-oss-traffic-limit, bits per second) for a budget of
// `bytes_per_second` shared by `requests` at once (0: not limited): its share, within the
// range OSS accepts.
inline constexpr std::uint64_t traffic_limit_min_bits = 819200;     // 100 KiB/s
inline constexpr std::uint64_t traffic_limit_max_bits = 838860800;  // 100 MiB/s
inline constexpr std::uint64_t traffic_limit_bits(std::uint64_t bytes_per_second, std::uint64_t requests) noexcept {
  const std::uint64_t share = bytes_per_second / (requests == 0 ? 1 : requests);
  const std::uint64_t bits = share > traffic_limit_max_bits / 8 ? traffic_limit_max_bits : share * 8;
  return bits < traffic_limit_min_bits ? traffic_limit_min_bits : bits;
}

// Each builder fills `out` or returns the validation error (with `problem` explaining it).
//
// PutObject and UploadPart: `out.sent_crc64` is `given.crc64`, else computed over `body`;
// Content-MD5 is `given.md5`, else computed when `opts.content_md5` / `content_md5` asks for it.
// The forms without `given` compute whatever is needed.
OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, op_request& out,
                                         std::string& problem);
OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, const body_digests& given,
                                         op_request& out, std::string& problem);
// In `dialect`: S3 metadata headers (x-amz-meta-*) and x-amz-* reservations (object_headers).
OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, const body_digests& given,
                                         api_dialect dialect, op_request& out,
                                         std::string& problem);
OSS_DECL std::error_code make_get_object(std::string_view name, std::uint64_t max_size,
                                         op_request& out, std::string& problem);
// A ranged GetObject of bytes first..last (inclusive) for a download: `Range`, OSS's
// `x-oss-range-behavior: standard` (an unsatisfiable range is 416, not the whole object), and
// `If-Match: etag` when `etag` is not empty, so the bytes come from the object pinned at the
// start (412 when it was overwritten).
OSS_DECL std::error_code make_get_range(std::string_view name, std::uint64_t first, std::uint64_t last,
                                        std::string_view etag, api_dialect dialect, op_request& out,
                                        std::string& problem);
OSS_DECL std::error_code make_head_object(std::string_view name, op_request& out,
                                          std::string& problem);
OSS_DECL std::error_code make_initiate(std::string_view name, const object_options& opts,
                                       op_request& out, std::string& problem);
OSS_DECL std::error_code make_initiate(std::string_view name, const object_options& opts,
                                       api_dialect dialect, op_request& out, std::string& problem);
OSS_DECL std::error_code make_upload_part(std::string_view name, std::string_view upload_id,
                                          int part_number, asio::const_buffer body,
                                          bool content_md5, op_request& out, std::string& problem);
OSS_DECL std::error_code make_upload_part(std::string_view name, std::string_view upload_id,
                                          int part_number, asio::const_buffer body,
                                          bool content_md5, const body_digests& given,
                                          op_request& out, std::string& problem);
// Sorts `parts` by number; refuses an empty list, duplicates, numbers outside 1..10000 and
// empty ETags (std::errc::invalid_argument).
OSS_DECL std::error_code make_complete(std::string_view name, std::string_view upload_id,
                                       std::vector<oss::completed_part>& parts, op_request& out,
                                       std::string& problem);
// In the S3 dialect the body's root carries xmlns="http://s3.amazonaws.com/doc/2006-03-01/".
OSS_DECL std::error_code make_complete(std::string_view name, std::string_view upload_id,
                                       std::vector<oss::completed_part>& parts, api_dialect dialect,
                                       op_request& out, std::string& problem);
// The Complete body of `sorted_parts` (ascending numbers, validated), written by
// write_complete_body straight from the client's list, without a copy into completed_parts.
// `namespace_uri` as in build_complete_body.
OSS_DECL std::string complete_body_of(std::span<const oss::completed_part> sorted_parts,
                                      std::string_view namespace_uri);
OSS_DECL std::error_code make_abort(std::string_view name, std::string_view upload_id,
                                    op_request& out, std::string& problem);
OSS_DECL std::error_code make_list_parts(std::string_view name, std::string_view upload_id,
                                         const list_parts_options& opts, op_request& out,
                                         std::string& problem);
// S3's ListParts knows no encoding-type (its keys are XML-escaped), so the S3 form omits it.
OSS_DECL std::error_code make_list_parts(std::string_view name, std::string_view upload_id,
                                         const list_parts_options& opts, api_dialect dialect,
                                         op_request& out, std::string& problem);
OSS_DECL std::error_code make_list_uploads(const list_uploads_options& opts, op_request& out,
                                           std::string& problem);

// Content-MD5 value: base64 of the MD5 of `data`.
OSS_DECL std::string content_md5_of(asio::const_buffer data);

// The x-amz-content-sha256 of `op` in the S3 dialect: UNSIGNED-PAYLOAD unless `sign_payload`,
// else the lower-hex SHA-256 of op.payload() (op.payload_sha256 when the caller computed it).
OSS_DECL std::string s3_payload_hash(const op_request& op, bool sign_payload);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/requests.ipp>
#endif

#endif  // OSS_DETAIL_OPS_REQUESTS_HPP
