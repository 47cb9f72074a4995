// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_REQUESTS_IPP
#define OSS_DETAIL_OPS_IMPL_REQUESTS_IPP

#include <oss/detail/ops/requests.hpp>

#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/sign/sign_s3.hpp>
#include <oss/detail/xml.hpp>
#include <oss/error.hpp>

#include <algorithm>
#include <string>

namespace oss::detail {

namespace requests_impl {

inline std::error_code invalid(std::string& problem, std::string why) {
  problem = std::move(why);
  return std::make_error_code(std::errc::invalid_argument);
}

inline std::error_code check_upload_id(std::string_view upload_id, std::string& problem) {
  if (upload_id.empty()) return invalid(problem, "the upload id is empty");
  // Upload ids are opaque, but one with spaces, control or non-ASCII characters, or longer than
  // any store makes, cannot have come from a real one (the id itself is not quoted: it may
  // hold the very bytes that would corrupt a log line).
  if (upload_id.size() > max_upload_id_bytes) {
    problem = "the upload id is " + std::to_string(upload_id.size()) + " bytes long, more than the " +
              std::to_string(max_upload_id_bytes) + " any store uses";
    return client_errc::invalid_upload_id;
  }
  if (!is_valid_upload_id(upload_id)) {
    problem = "the upload id contains spaces, control or non-ASCII characters";
    return client_errc::invalid_upload_id;
  }
  return {};
}

inline std::error_code check_part_number(int n, std::string& problem) {
  if (n < 1 || n > max_part_number)
    return invalid(problem, "part number " + std::to_string(n) + " is outside 1..10000");
  return {};
}

inline std::uint64_t crc_of(asio::const_buffer b) noexcept {
  return crc64(0, b.data(), b.size());
}

// The integrity half of PutObject / UploadPart: values the caller computed are taken as they
// are, the rest costs one pass over the body each.
inline void set_body_integrity(op_request& out, asio::const_buffer body, bool content_md5,
                               const body_digests& given) {
  if (given.md5)
    out.headers.emplace_back("Content-MD5", base64_encode(given.md5->data(), given.md5->size()));
  else if (content_md5)
    out.headers.emplace_back("Content-MD5", content_md5_of(body));
  out.sent_crc64 = given.crc64 ? *given.crc64 : crc_of(body);
  out.payload_sha256 = given.sha256;
}

}  // namespace requests_impl

OSS_DECL std::string content_md5_of(asio::const_buffer data) {
  md5_digest d = md5(std::string_view(static_cast<const char*>(data.data()), data.size()));
  return base64_encode(d.data(), d.size());
}

OSS_DECL std::string s3_payload_hash(const op_request& op, bool sign_payload) {
  if (!sign_payload) return std::string(s3_unsigned_payload);
  if (op.payload_sha256) return hex_lower(op.payload_sha256->data(), op.payload_sha256->size());
  const asio::const_buffer p = op.payload();
  if (p.size() == 0) return std::string(s3_empty_payload_sha256);
  const sha256_digest d = sha256(std::string_view(static_cast<const char*>(p.data()), p.size()));
  return hex_lower(d.data(), d.size());
}

OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, const body_digests& given,
                                         op_request& out, std::string& problem) {
  return make_put_object(name, body, opts, given, api_dialect::oss, out, problem);
}

OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, const body_digests& given,
                                         api_dialect dialect, op_request& out,
                                         std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  out = {};
  if (auto ec = object_headers(name, opts, true, dialect, out.headers, problem)) return ec;
  out.operation = "PutObject";
  out.method = "PUT";
  out.key = std::string(name);
  out.body = body;
  requests_impl::set_body_integrity(out, body, opts.content_md5, given);
  return {};
}

OSS_DECL std::error_code make_put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, op_request& out,
                                         std::string& problem) {
  const body_digests none;
  return make_put_object(name, body, opts, none, out, problem);
}

OSS_DECL std::error_code make_get_object(std::string_view name, std::uint64_t max_size,
                                         op_request& out, std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  out = {};
  out.operation = "GetObject";
  out.method = "GET";
  out.key = std::string(name);
  out.verify_body_crc64 = true;
  out.max_response_body = static_cast<std::size_t>(
      std::min<std::uint64_t>(max_size, static_cast<std::uint64_t>(SIZE_MAX)));
  return {};
}

OSS_DECL std::error_code make_get_range(std::string_view name, std::uint64_t first, std::uint64_t last,
                                        std::string_view etag, api_dialect dialect, op_request& out,
                                        std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  if (last < first) {
    problem = "the range's last byte comes before its first";
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (!http::is_valid_field_value(etag)) {
    problem = "the ETag to match is not a valid header value";
    return client_errc::invalid_header_value;
  }
  out = {};
  out.operation = "GetObject";
  out.method = "GET";
  out.key = std::string(name);
  out.headers.emplace_back("Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last));
  if (dialect == api_dialect::oss) out.headers.emplace_back("x-oss-range-behavior", "standard");
  if (!etag.empty()) out.headers.emplace_back("If-Match", std::string(etag));
  return {};
}

OSS_DECL std::error_code make_head_object(std::string_view name, op_request& out,
                                          std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  out = {};
  out.operation = "HeadObject";
  out.method = "HEAD";
  out.key = std::string(name);
  out.head = true;
  return {};
}

OSS_DECL std::error_code make_initiate(std::string_view name, const object_options& opts,
                                       op_request& out, std::string& problem) {
  return make_initiate(name, opts, api_dialect::oss, out, problem);
}

OSS_DECL std::error_code make_initiate(std::string_view name, const object_options& opts,
                                       api_dialect dialect, op_request& out, std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  out = {};
  if (auto ec = object_headers(name, opts, true, dialect, out.headers, problem)) return ec;
  out.operation = "InitiateMultipartUpload";
  out.method = "POST";
  out.key = std::string(name);
  out.query.emplace_back("uploads", "");
  out.xml_reply = true;
  out.retry_after_sending = false;
  out.fresh_connection = true;
  return {};
}

OSS_DECL std::error_code make_upload_part(std::string_view name, std::string_view upload_id,
                                          int part_number, asio::const_buffer body,
                                          bool content_md5, op_request& out, std::string& problem) {
  const body_digests none;
  return make_upload_part(name, upload_id, part_number, body, content_md5, none, out, problem);
}

OSS_DECL std::error_code make_upload_part(std::string_view name, std::string_view upload_id,
                                          int part_number, asio::const_buffer body,
                                          bool content_md5, const body_digests& given,
                                          op_request& out, std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  if (auto ec = requests_impl::check_upload_id(upload_id, problem)) return ec;
  if (auto ec = requests_impl::check_part_number(part_number, problem)) return ec;
  out = {};
  out.operation = "UploadPart";
  out.method = "PUT";
  out.key = std::string(name);
  out.query.emplace_back("partNumber", std::to_string(part_number));
  out.query.emplace_back("uploadId", std::string(upload_id));
  out.part_number = part_number;
  out.body = body;
  requests_impl::set_body_integrity(out, body, content_md5, given);
  return {};
}

OSS_DECL std::error_code make_complete(std::string_view name, std::string_view upload_id,
                                       std::vector<oss::completed_part>& parts, op_request& out,
                                       std::string& problem) {
  return make_complete(name, upload_id, parts, api_dialect::oss, out, problem);
}

OSS_DECL std::error_code make_complete(std::string_view name, std::string_view upload_id,
                                       std::vector<oss::completed_part>& parts, api_dialect dialect,
                                       op_request& out, std::string& problem) {
  using requests_impl::invalid;
  if (auto ec = check_object_name(name, problem)) return ec;
  if (auto ec = requests_impl::check_upload_id(upload_id, problem)) return ec;
  if (parts.empty()) return invalid(problem, "the part list of Complete is empty");
  std::sort(parts.begin(), parts.end(),
            [](const oss::completed_part& a, const oss::completed_part& b) { return a.part_number < b.part_number; });
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (auto ec = requests_impl::check_part_number(p.part_number, problem)) return ec;
    if (i > 0 && parts[i - 1].part_number == p.part_number)
      return invalid(problem, "part " + std::to_string(p.part_number) + " is listed twice");
    if (p.etag.empty())
      return invalid(problem, "part " + std::to_string(p.part_number) + " has an empty ETag");
  }
  out = {};
  out.operation = "CompleteMultipartUpload";
  out.method = "POST";
  out.key = std::string(name);
  out.query.emplace_back("uploadId", std::string(upload_id));
  out.owned_body = complete_body_of(parts, dialect == api_dialect::s3 ? s3_xmlns : std::string_view());
  out.headers.emplace_back("Content-Type", "application/xml");
  // Cheap for a small XML body, and what ali-oss sends: a damaged part list is refused instead
  // of completing the wrong object.
  out.headers.emplace_back("Content-MD5", content_md5_of(asio::buffer(out.owned_body)));
  out.xml_reply = true;
  out.fresh_connection = true;
  return {};
}

OSS_DECL std::string complete_body_of(std::span<const oss::completed_part> sorted_parts,
                                      std::string_view namespace_uri) {
  return write_complete_body(
      sorted_parts, namespace_uri, [](const oss::completed_part& p) { return p.part_number; },
      [](const oss::completed_part& p) -> std::string_view { return p.etag; });
}

OSS_DECL std::error_code make_abort(std::string_view name, std::string_view upload_id,
                                    op_request& out, std::string& problem) {
  if (auto ec = check_object_name(name, problem)) return ec;
  if (auto ec = requests_impl::check_upload_id(upload_id, problem)) return ec;
  out = {};
  out.operation = "AbortMultipartUpload";
  out.method = "DELETE";
  out.key = std::string(name);
  out.query.emplace_back("uploadId", std::string(upload_id));
  return {};
}

OSS_DECL std::error_code make_list_parts(std::string_view name, std::string_view upload_id,
                                         const list_parts_options& opts, op_request& out,
                                         std::string& problem) {
  return make_list_parts(name, upload_id, opts, api_dialect::oss, out, problem);
}

OSS_DECL std::error_code make_list_parts(std::string_view name, std::string_view upload_id,
                                         const list_parts_options& opts, api_dialect dialect,
                                         op_request& out, std::string& problem) {
  using requests_impl::invalid;
  if (auto ec = check_object_name(name, problem)) return ec;
  if (auto ec = requests_impl::check_upload_id(upload_id, problem)) return ec;
  if (opts.max_parts < 1 || opts.max_parts > max_list_page)
    return invalid(problem, "max_parts must be in 1..1000");
  if (opts.part_number_marker < 0 || opts.part_number_marker > max_part_number)
    return invalid(problem, "part_number_marker must be in 0..10000");
  out = {};
  out.operation = "ListParts";
  out.method = "GET";
  out.key = std::string(name);
  out.query.emplace_back("uploadId", std::string(upload_id));
  out.query.emplace_back("max-parts", std::to_string(opts.max_parts));
  if (opts.part_number_marker > 0)
    out.query.emplace_back("part-number-marker", std::to_string(opts.part_number_marker));
  // Keys travel URL-encoded, so a key with characters XML cannot carry still comes back intact.
  if (dialect == api_dialect::oss) out.query.emplace_back("encoding-type", "url");
  out.xml_reply = true;
  return {};
}

OSS_DECL std::error_code make_list_uploads(const list_uploads_options& opts, op_request& out,
                                           std::string& problem) {
  using requests_impl::invalid;
  if (opts.max_uploads < 1 || opts.max_uploads > max_list_page)
    return invalid(problem, "max_uploads must be in 1..1000");
  for (const std::string* s : {&opts.prefix, &opts.delimiter, &opts.key_marker})
    if (!is_valid_utf8(*s)) return invalid(problem, "prefix, delimiter and key_marker must be UTF-8");
  out = {};
  out.operation = "ListMultipartUploads";
  out.method = "GET";
  out.query.emplace_back("uploads", "");
  if (!opts.prefix.empty()) out.query.emplace_back("prefix", opts.prefix);
  if (!opts.delimiter.empty()) out.query.emplace_back("delimiter", opts.delimiter);
  if (!opts.key_marker.empty()) out.query.emplace_back("key-marker", opts.key_marker);
  if (!opts.upload_id_marker.empty())
    out.query.emplace_back("upload-id-marker", opts.upload_id_marker);
  out.query.emplace_back("max-uploads", std::to_string(opts.max_uploads));
  out.query.emplace_back("encoding-type", "url");
  out.xml_reply = true;
  return {};
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_REQUESTS_IPP
