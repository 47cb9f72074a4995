// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_RESPONSE_IPP
#define OSS_DETAIL_OPS_IMPL_RESPONSE_IPP

#include <oss/detail/ops/response.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/error.hpp>

#include <array>
#include <charconv>

namespace oss::detail {

namespace response_impl {

// A header's decimal value; optional whitespace around it (RFC 9110 OWS) is not part of it.
inline bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  const std::optional<std::uint64_t> v = parse_decimal(s);
  if (v) out = *v;
  return v.has_value();
}

}  // namespace response_impl

OSS_DECL std::optional<std::uint64_t> reply_crc64(const http::response& reply, bool& malformed) {
  malformed = false;
  const std::string* h = reply.headers.find("x-oss-hash-crc64ecma");
  if (!h) return std::nullopt;
  std::uint64_t v = 0;
  if (!response_impl::parse_u64(*h, v)) {
    malformed = true;
    return std::nullopt;
  }
  return v;
}

OSS_DECL std::string reply_request_id(const http::response& reply) {
  // Either dialect's name: OSS's own S3 endpoint may send both, and then they agree.
  const std::string* id = reply.headers.find("x-oss-request-id");
  if (!id) id = reply.headers.find("x-amz-request-id");
  return id ? sanitize_text(*id, max_id_bytes) : std::string();
}

OSS_DECL std::error_code check_reply(const op_request& op, const http::response& reply,
                                     diagnostics& diag, error_body& body) {
  body = {};
  diag.http_status = reply.status;
  diag.request_id = reply_request_id(reply);
  if (const std::string* ec = reply.headers.find("x-oss-ec")) diag.ec = sanitize_text(*ec, max_id_bytes);
  // S3's extended request id, what AWS support asks for next to the request id; an error body's
  // <HostId> (the same value on S3) replaces it below.
  if (const std::string* id2 = reply.headers.find("x-amz-id-2")) diag.host_id = sanitize_text(*id2, max_id_bytes);

  bool success_status = reply.status >= 200 && reply.status <= 299 && reply.status != 203;
  if (success_status) {
    // S3 (and possibly OSS, oss-protocol.md 11.7) may report a failed Complete as 200 <Error>.
    if (op.xml_reply && is_error_document(reply.body) && parse_error_body(reply.body, body)) {
      fill_diagnostics(body, diag);
      return make_server_error(body, reply.status);
    }
  } else {
    if (!reply.body.empty() && parse_error_body(reply.body, body)) {
      fill_diagnostics(body, diag);
      return make_server_error(body, reply.status);
    }
    if (const std::string* err = reply.headers.find("x-oss-err"); err && parse_error_header(*err, body)) {
      fill_diagnostics(body, diag);
      return make_server_error(body, reply.status);
    }
    if (op.head && reply.status == 404) {
      diag.client_message = "the object does not exist (HEAD replies carry no error body)";
      return server_errc::no_such_key;
    }
    if (reply.status == 203) {
      diag.client_message = "the upload callback failed; the object was created";
      return server_errc::callback_failed;
    }
    return make_http_status_error(reply.status);
  }

  if (const std::optional<std::uint64_t> sent = op.payload_crc64()) {
    bool malformed = false;
    std::optional<std::uint64_t> crc = reply_crc64(reply, malformed);
    if (malformed) {
      diag.client_message = "the reply's x-oss-hash-crc64ecma is not a decimal number";
      return client_errc::malformed_response;
    }
    // A server that keeps no CRC (S3-compatible stores) sends none; nothing to compare then.
    if (crc && *crc != *sent) {
      diag.client_message = "the server computed CRC-64 " + std::to_string(*crc) +
                            " over the body, the client sent " + std::to_string(*sent);
      return client_errc::crc64_mismatch;
    }
  }
  if (op.verify_body_crc64 && reply.status == 200) {
    bool malformed = false;
    std::optional<std::uint64_t> crc = reply_crc64(reply, malformed);
    if (malformed) {
      diag.client_message = "the reply's x-oss-hash-crc64ecma is not a decimal number";
      return client_errc::malformed_response;
    }
    if (crc) {
      std::uint64_t got = crc64(0, reply.body.data(), reply.body.size());
      if (got != *crc) {
        diag.client_message = "the object's bytes have CRC-64 " + std::to_string(got) +
                              ", the server announced " + std::to_string(*crc);
        return client_errc::crc64_mismatch;
      }
    }
  }
  if ((op.operation == "UploadPart" || op.operation == "PutObject")) {
    const std::string* etag = reply.headers.find("ETag");
    if (!etag || etag->empty()) {
      diag.client_message = "the reply has no ETag";
      return client_errc::missing_etag;
    }
  }
  return {};
}

OSS_DECL std::optional<std::string> s3_multipart_etag(std::span<const std::string_view> part_etags) {
  md5_hasher hasher;
  for (std::string_view e : part_etags) {
    const std::optional<md5_digest> part_md5 = etag_md5(e);
    if (!part_md5) return std::nullopt;
    hasher.update(part_md5->data(), part_md5->size());
  }
  const md5_digest d = hasher.finish();
  return hex_lower(d.data(), d.size()) + "-" + std::to_string(part_etags.size());
}

OSS_DECL bool etag_equal(std::string_view a, std::string_view b) noexcept {
  auto strip = [](std::string_view e) {
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
    return e;
  };
  return ascii_iequals(strip(a), strip(b));
}

OSS_DECL std::optional<md5_digest> etag_md5(std::string_view etag) noexcept {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  md5_digest d{};
  if (etag.size() != 2 * d.size()) return std::nullopt;
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int hi = hex_digit_value(etag[2 * i]), lo = hex_digit_value(etag[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return d;
}

OSS_DECL std::error_code to_object_meta(const http::response& reply, object_meta& out) {
  out = {};
  constexpr std::string_view meta_prefix = "x-oss-meta-";
  constexpr std::string_view s3_meta_prefix = "x-amz-meta-";
  if (const std::string* len = reply.headers.find("Content-Length")) {
    if (!response_impl::parse_u64(*len, out.size)) return client_errc::malformed_response;
  }
  bool malformed = false;
  out.crc64 = reply_crc64(reply, malformed);
  if (malformed) return client_errc::malformed_response;
  for (const auto& f : reply.headers) {
    out.headers.emplace_back(f.name, f.value);
    if (http::iequals(f.name, "ETag")) out.etag = f.value;
    else if (http::iequals(f.name, "Content-Type")) out.content_type = f.value;
    else if (http::iequals(f.name, "Last-Modified")) out.last_modified = f.value;
    else if (http::iequals(f.name, "x-oss-object-type")) out.object_type = f.value;
    else if (http::iequals(f.name, "x-oss-storage-class")) out.storage_class = f.value;
    else if (http::iequals(f.name, "x-amz-storage-class")) {
      if (out.storage_class.empty()) out.storage_class = f.value;
    }
    else if (http::iequals(f.name, "Cache-Control")) out.cache_control = f.value;
    else if (http::iequals(f.name, "Content-Disposition")) out.content_disposition = f.value;
    else if (http::iequals(f.name, "Content-Encoding")) out.content_encoding = f.value;
    else if (http::iequals(f.name, "Expires")) out.expires = f.value;
    else if (f.name.size() > meta_prefix.size() && (ascii_istarts_with(f.name, meta_prefix) ||
                                                    ascii_istarts_with(f.name, s3_meta_prefix))) {
      static_assert(meta_prefix.size() == s3_meta_prefix.size());
      std::string name = f.name.substr(meta_prefix.size());
      ascii_lower_in_place(name);
      out.meta.emplace_back(std::move(name), f.value);
    }
  }
  return {};
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_RESPONSE_IPP
