// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_DOCUMENTS_IPP
#define OSS_DETAIL_OPS_IMPL_DOCUMENTS_IPP

#include <oss/detail/encoding.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/xml.hpp>
#include <oss/error.hpp>

#include <oss/detail/ascii.hpp>

#include <charconv>

namespace oss::detail {
namespace documents_impl {

inline std::string_view trim_xml_space(std::string_view s) noexcept {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

template <class T>
bool parse_number(std::string_view text, T& out) noexcept {
  text = trim_xml_space(text);
  if (text.empty() || text.front() < '0' || text.front() > '9') return false;
  T value{};
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size()) return false;
  out = value;
  return true;
}

inline bool set_malformed(std::error_code& ec) {
  ec = make_error_code(client_errc::malformed_xml);
  return false;
}

// Parses `xml` and checks its root. An <Error> root turns into the server's error code.
inline std::optional<xml_element> parse_document(std::string_view xml, std::string_view root_name,
                                                 std::error_code& ec) {
  std::optional<xml_element> root = parse_xml(xml, ec);
  if (!root) return std::nullopt;
  if (root->name == "Error") {
    ec = make_error_code(server_errc_from_code(trim_xml_space(root->child_text("Code"))));
    return std::nullopt;
  }
  if (root->name != root_name) {
    set_malformed(ec);
    return std::nullopt;
  }
  return root;
}

// An absent or empty element keeps the default; anything else must be a number.
template <class T>
bool optional_number(const xml_element& parent, std::string_view name, T& out) noexcept {
  const xml_element* e = parent.child(name);
  if (!e || trim_xml_space(e->text).empty()) return true;
  return parse_number(e->text, out);
}

template <class T>
bool required_number(const xml_element& parent, std::string_view name, T& out) noexcept {
  const xml_element* e = parent.child(name);
  return e && parse_number(e->text, out);
}

inline bool optional_bool(const xml_element& parent, std::string_view name, bool& out) noexcept {
  const std::string_view text = trim_xml_space(parent.child_text(name));
  if (text.empty()) return true;
  if (ascii_iequals(text, "true")) out = true;
  else if (ascii_iequals(text, "false")) out = false;
  else return false;
  return true;
}

inline bool is_url_encoded(const xml_element& root) noexcept {
  return ascii_iequals(trim_xml_space(root.child_text("EncodingType")), "url");
}

// OSS encodes space as %20 but go2 decodes with url.QueryUnescape ('+' is a space); a literal
// '+' always arrives as %2B, so accepting '+' as space costs nothing and matches the SDKs.
inline bool url_decode_in_place(std::string& s) {
  std::optional<std::string> decoded = percent_decode(s, true);
  if (!decoded) return false;
  s = std::move(*decoded);
  return true;
}

inline std::string maybe_encode(std::string_view s, bool url_encoding) {
  return url_encoding ? uri_encode(s, false) : std::string(s);
}

inline std::string_view bool_text(bool b) noexcept { return b ? "true" : "false"; }

}  // namespace documents_impl

OSS_DECL bool parse_xml_number(std::string_view text, std::uint64_t& out) noexcept {
  return documents_impl::parse_number(text, out);
}

OSS_DECL bool parse_xml_number(std::string_view text, int& out) noexcept {
  return documents_impl::parse_number(text, out);
}

// --- InitiateMultipartUploadResult ------------------------------------------------------------

OSS_DECL bool parse_initiate_result(std::string_view xml, initiate_result& out, std::error_code& ec) {
  using namespace documents_impl;
  out = {};
  const auto root = parse_document(xml, "InitiateMultipartUploadResult", ec);
  if (!root) return false;
  out.bucket = root->child_text("Bucket");
  out.key = root->child_text("Key");
  out.upload_id = root->child_text("UploadId");
  if (is_url_encoded(*root) && !url_decode_in_place(out.key)) return set_malformed(ec);
  if (trim_xml_space(out.upload_id).empty()) {
    ec = make_error_code(client_errc::missing_upload_id);
    return false;
  }
  ec.clear();
  return true;
}

OSS_DECL std::string build_initiate_result(const initiate_result& r, bool url_encoding) {
  using namespace documents_impl;
  xml_writer w;
  w.open("InitiateMultipartUploadResult");
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Bucket", r.bucket);
  w.element_text("Key", maybe_encode(r.key, url_encoding));
  w.element_text("UploadId", r.upload_id);
  w.close();
  return w.release();
}

// --- CompleteMultipartUpload (request body) ---------------------------------------------------

OSS_DECL std::string build_complete_body(std::span<const completed_part> parts) {
  return build_complete_body(parts, std::string_view());
}

OSS_DECL std::string build_complete_body(std::span<const completed_part> parts,
                                         std::string_view namespace_uri) {
  return write_complete_body(
      parts, namespace_uri, [](const completed_part& p) { return p.number; },
      [](const completed_part& p) -> std::string_view { return p.etag; });
}

OSS_DECL bool parse_complete_body(std::string_view xml, std::vector<completed_part>& out,
                                  std::error_code& ec) {
  using namespace documents_impl;
  out.clear();
  const auto root = parse_document(xml, "CompleteMultipartUpload", ec);
  if (!root) return false;
  for (const xml_element* part : root->children_named("Part")) {
    completed_part p;
    const xml_element* etag = part->child("ETag");
    if (!required_number(*part, "PartNumber", p.number) || !etag) {
      out.clear();
      return set_malformed(ec);
    }
    p.etag = etag->text;
    out.push_back(std::move(p));
  }
  ec.clear();
  return true;
}

// --- CompleteMultipartUploadResult ------------------------------------------------------------

OSS_DECL bool parse_complete_result(std::string_view xml, complete_result& out, std::error_code& ec) {
  using namespace documents_impl;
  out = {};
  const auto root = parse_document(xml, "CompleteMultipartUploadResult", ec);
  if (!root) return false;
  out.location = root->child_text("Location");
  out.bucket = root->child_text("Bucket");
  out.key = root->child_text("Key");
  out.etag = root->child_text("ETag");
  if (is_url_encoded(*root) && !url_decode_in_place(out.key)) return set_malformed(ec);
  ec.clear();
  return true;
}

OSS_DECL std::string build_complete_result(const complete_result& r, bool url_encoding) {
  using namespace documents_impl;
  xml_writer w;
  w.open("CompleteMultipartUploadResult");
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Location", r.location);
  w.element_text("Bucket", r.bucket);
  w.element_text("Key", maybe_encode(r.key, url_encoding));
  w.element_text("ETag", r.etag);
  w.close();
  return w.release();
}

// --- ListPartsResult --------------------------------------------------------------------------

OSS_DECL bool parse_list_parts_result(std::string_view xml, list_parts_result& out,
                                      std::error_code& ec) {
  using namespace documents_impl;
  out = {};
  const auto root = parse_document(xml, "ListPartsResult", ec);
  if (!root) return false;
  out.bucket = root->child_text("Bucket");
  out.key = root->child_text("Key");
  out.upload_id = root->child_text("UploadId");
  if (!optional_number(*root, "PartNumberMarker", out.part_number_marker) ||
      !optional_number(*root, "NextPartNumberMarker", out.next_part_number_marker) ||
      !optional_number(*root, "MaxParts", out.max_parts) ||
      !optional_bool(*root, "IsTruncated", out.is_truncated))
    return set_malformed(ec);
  for (const xml_element* part : root->children_named("Part")) {
    part_summary p;
    const xml_element* etag = part->child("ETag");
    // A resumer trusts number, ETag and size to skip re-uploading a part: all three must be
    // there. The CRC is optional (the go2 mock omits it).
    if (!etag || !required_number(*part, "PartNumber", p.number) || p.number < 1 ||
        !required_number(*part, "Size", p.size))
      return set_malformed(ec);
    p.etag = etag->text;
    if (const xml_element* crc = part->child("HashCrc64ecma");
        crc && !trim_xml_space(crc->text).empty()) {
      std::uint64_t value = 0;
      if (!parse_number(crc->text, value)) return set_malformed(ec);
      p.crc64 = value;
    }
    p.last_modified = part->child_text("LastModified");
    out.parts.push_back(std::move(p));
  }
  if (is_url_encoded(*root) && !url_decode_in_place(out.key)) return set_malformed(ec);
  ec.clear();
  return true;
}

OSS_DECL std::string build_list_parts_result(const list_parts_result& r, bool url_encoding) {
  using namespace documents_impl;
  xml_writer w;
  w.open("ListPartsResult");
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Bucket", r.bucket);
  w.element_text("Key", maybe_encode(r.key, url_encoding));
  w.element_text("UploadId", r.upload_id);
  w.element_text("PartNumberMarker", std::to_string(r.part_number_marker));
  w.element_text("NextPartNumberMarker", std::to_string(r.next_part_number_marker));
  w.element_text("MaxParts", std::to_string(r.max_parts));
  w.element_text("IsTruncated", bool_text(r.is_truncated));
  for (const part_summary& p : r.parts) {
    w.open("Part");
    w.element_text("PartNumber", std::to_string(p.number));
    w.element_text("LastModified", p.last_modified);
    w.element_text("ETag", p.etag);
    if (p.crc64) w.element_text("HashCrc64ecma", std::to_string(*p.crc64));
    w.element_text("Size", std::to_string(p.size));
    w.close();
  }
  w.close();
  return w.release();
}

// --- ListMultipartUploadsResult ---------------------------------------------------------------

OSS_DECL bool parse_list_uploads_result(std::string_view xml, list_uploads_result& out,
                                        std::error_code& ec) {
  using namespace documents_impl;
  out = {};
  const auto root = parse_document(xml, "ListMultipartUploadsResult", ec);
  if (!root) return false;
  out.bucket = root->child_text("Bucket");
  out.key_marker = root->child_text("KeyMarker");
  out.upload_id_marker = root->child_text("UploadIdMarker");
  out.next_key_marker = root->child_text("NextKeyMarker");
  out.next_upload_id_marker = root->child_text("NextUploadIdMarker");
  out.prefix = root->child_text("Prefix");
  out.delimiter = root->child_text("Delimiter");
  if (!optional_number(*root, "MaxUploads", out.max_uploads) ||
      !optional_bool(*root, "IsTruncated", out.is_truncated))
    return set_malformed(ec);
  for (const xml_element* upload : root->children_named("Upload")) {
    const xml_element* key = upload->child("Key");
    const xml_element* id = upload->child("UploadId");
    if (!key || !id) return set_malformed(ec);
    out.uploads.push_back({key->text, id->text, std::string(upload->child_text("Initiated"))});
  }
  for (const xml_element* common : root->children_named("CommonPrefixes"))
    for (const xml_element* prefix : common->children_named("Prefix"))
      out.common_prefixes.push_back(prefix->text);

  // The fields go2 decodes, plus CommonPrefixes, which OSS encodes like Prefix.
  if (is_url_encoded(*root)) {
    bool ok = url_decode_in_place(out.key_marker) && url_decode_in_place(out.next_key_marker) &&
              url_decode_in_place(out.prefix) && url_decode_in_place(out.delimiter);
    for (upload_summary& u : out.uploads) ok = ok && url_decode_in_place(u.key);
    for (std::string& p : out.common_prefixes) ok = ok && url_decode_in_place(p);
    if (!ok) return set_malformed(ec);
  }
  ec.clear();
  return true;
}

OSS_DECL std::string build_list_uploads_result(const list_uploads_result& r, bool url_encoding) {
  using namespace documents_impl;
  xml_writer w;
  w.open("ListMultipartUploadsResult");
  w.element_text("Bucket", r.bucket);
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("KeyMarker", maybe_encode(r.key_marker, url_encoding));
  w.element_text("UploadIdMarker", r.upload_id_marker);
  w.element_text("NextKeyMarker", maybe_encode(r.next_key_marker, url_encoding));
  w.element_text("NextUploadIdMarker", r.next_upload_id_marker);
  w.element_text("Delimiter", maybe_encode(r.delimiter, url_encoding));
  w.element_text("Prefix", maybe_encode(r.prefix, url_encoding));
  w.element_text("MaxUploads", std::to_string(r.max_uploads));
  w.element_text("IsTruncated", bool_text(r.is_truncated));
  for (const upload_summary& u : r.uploads) {
    w.open("Upload");
    w.element_text("Key", maybe_encode(u.key, url_encoding));
    w.element_text("UploadId", u.upload_id);
    w.element_text("Initiated", u.initiated);
    w.close();
  }
  for (const std::string& p : r.common_prefixes) {
    w.open("CommonPrefixes");
    w.element_text("Prefix", maybe_encode(p, url_encoding));
    w.close();
  }
  w.close();
  return w.release();
}

// --- Error ------------------------------------------------------------------------------------

OSS_DECL bool is_error_document(std::string_view xml) {
  std::error_code ec;
  const std::optional<xml_element> root = parse_xml(xml, ec);
  return root && root->name == "Error";
}

OSS_DECL bool parse_error_body(std::string_view xml, error_body& out) {
  using documents_impl::trim_xml_space;
  out = {};
  std::error_code ec;
  const std::optional<xml_element> root = parse_xml(xml, ec);
  if (!root || root->name != "Error") return false;
  const std::string_view code = trim_xml_space(root->child_text("Code"));
  if (code.empty()) return false;
  // Only these fields are read; StringToSign, SignatureProvided, OSSAccessKeyId and the like
  // stay in the parse tree, which dies here.
  out.code = sanitize_text(code, max_code_bytes);
  out.message = sanitize_text(root->child_text("Message"), max_message_bytes);
  out.request_id = sanitize_text(root->child_text("RequestId"), max_id_bytes);
  out.host_id = sanitize_text(root->child_text("HostId"), max_id_bytes);
  out.ec = sanitize_text(root->child_text("EC"), max_id_bytes);
  out.upload_id = sanitize_text(root->child_text("UploadId"), max_id_bytes);
  out.server_time = sanitize_text(root->child_text("ServerTime"), max_id_bytes);
  return true;
}

OSS_DECL bool parse_error_header(std::string_view x_oss_err, error_body& out) {
  out = {};
  const std::optional<std::string> xml = base64_decode(documents_impl::trim_xml_space(x_oss_err));
  return xml && parse_error_body(*xml, out);
}

OSS_DECL std::string build_error_body(
    std::string_view code, std::string_view message, std::string_view request_id,
    std::string_view host_id, std::string_view ec,
    std::span<const std::pair<std::string_view, std::string_view>> extra) {
  xml_writer w;
  w.open("Error");
  w.element_text("Code", code);
  w.element_text("Message", message);
  w.element_text("RequestId", request_id);
  w.element_text("HostId", host_id);
  for (const auto& [name, value] : extra) w.element_text(name, value);
  if (!ec.empty()) w.element_text("EC", ec);
  w.close();
  return w.release();
}

OSS_DECL void fill_diagnostics(const error_body& body, diagnostics& diag) {
  const auto copy = [](const std::string& from, std::string& to, std::size_t cap) {
    if (!from.empty()) to = sanitize_text(from, cap);
  };
  copy(body.code, diag.code, max_code_bytes);
  copy(body.message, diag.message, max_message_bytes);
  copy(body.request_id, diag.request_id, max_id_bytes);
  copy(body.host_id, diag.host_id, max_id_bytes);
  copy(body.ec, diag.ec, max_id_bytes);
}

OSS_DECL std::error_code make_server_error(const error_body& body, int http_status) {
  if (!body.code.empty()) return make_error_code(server_errc_from_code(body.code));
  return make_http_status_error(http_status);
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_DOCUMENTS_IPP
