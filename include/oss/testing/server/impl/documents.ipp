// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_DOCUMENTS_IPP
#define OSS_TESTING_SERVER_IMPL_DOCUMENTS_IPP

#include <oss/testing/server/documents.hpp>

#include <oss/detail/encoding.hpp>
#include <oss/detail/xml.hpp>
#include <oss/testing/server/rules.hpp>

#include <limits>

namespace oss::testing::detail {
namespace documents_impl {

using oss::detail::xml_writer;

constexpr std::string_view s3_namespace = "http://s3.amazonaws.com/doc/2006-03-01/";

// A document whose root may carry a default namespace, which xml_writer does not write.
class document {
 public:
  document(std::string_view root, api_dialect dialect) : root_(root), body_(false) {
    out_ = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<";
    out_ += root;
    if (dialect == api_dialect::s3) {
      out_ += " xmlns=\"";
      out_ += s3_namespace;
      out_ += '"';
    }
    out_ += '>';
  }
  xml_writer& body() noexcept { return body_; }
  std::string finish() {
    out_ += body_.release();
    out_ += "</";
    out_ += root_;
    out_ += '>';
    return std::move(out_);
  }

 private:
  std::string_view root_;
  xml_writer body_;
  std::string out_;
};

inline std::string encoded(std::string_view s, bool url_encoding) {
  return url_encoding ? oss::detail::uri_encode(s, false) : std::string(s);
}

inline std::string_view trim_xml_space(std::string_view s) noexcept {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace documents_impl

OSS_DECL bool read_complete_body(std::string_view xml, std::vector<part_selection>& out) {
  using documents_impl::trim_xml_space;
  out.clear();
  std::error_code ec;
  const auto root = oss::detail::parse_xml(xml, ec);
  if (!root || root->name != "CompleteMultipartUpload") return false;
  for (const oss::detail::xml_element* part : root->children_named("Part")) {
    const oss::detail::xml_element* number = part->child("PartNumber");
    const oss::detail::xml_element* etag = part->child("ETag");
    if (!number || !etag) return false;
    const auto n = parse_decimal(trim_xml_space(number->text));
    // Numbers outside 1..10000 that still fit are the store's InvalidPart, as for 0.
    if (!n || *n > static_cast<std::uint64_t>(std::numeric_limits<int>::max())) return false;
    out.push_back({static_cast<int>(*n), std::string(trim_xml_space(etag->text))});
  }
  return true;
}

OSS_DECL std::string initiate_result_document(std::string_view bucket, std::string_view key,
                                              std::string_view upload_id, bool url_encoding, api_dialect dialect) {
  documents_impl::document d("InitiateMultipartUploadResult", dialect);
  auto& w = d.body();
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Bucket", bucket);
  w.element_text("Key", documents_impl::encoded(key, url_encoding));
  w.element_text("UploadId", upload_id);
  return d.finish();
}

OSS_DECL std::string complete_result_document(std::string_view location, std::string_view bucket,
                                              std::string_view key, std::string_view etag, bool url_encoding,
                                              api_dialect dialect) {
  documents_impl::document d("CompleteMultipartUploadResult", dialect);
  auto& w = d.body();
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Location", location);
  w.element_text("Bucket", bucket);
  w.element_text("Key", documents_impl::encoded(key, url_encoding));
  w.element_text("ETag", etag);
  return d.finish();
}

OSS_DECL std::string list_parts_document(const parts_listing& listing, bool url_encoding, api_dialect dialect) {
  documents_impl::document d("ListPartsResult", dialect);
  auto& w = d.body();
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("Bucket", listing.bucket);
  w.element_text("Key", documents_impl::encoded(listing.key, url_encoding));
  w.element_text("UploadId", listing.upload_id);
  w.element_text("PartNumberMarker", std::to_string(listing.part_number_marker));
  w.element_text("NextPartNumberMarker", std::to_string(listing.next_part_number_marker));
  w.element_text("MaxParts", std::to_string(listing.max_parts));
  w.element_text("IsTruncated", listing.is_truncated ? "true" : "false");
  for (const listed_part& p : listing.parts) {
    w.open("Part");
    w.element_text("PartNumber", std::to_string(p.number));
    w.element_text("LastModified", p.last_modified);
    w.element_text("ETag", p.etag);
    if (p.crc64) w.element_text("HashCrc64ecma", std::to_string(*p.crc64));
    w.element_text("Size", std::to_string(p.size));
    w.close();
  }
  return d.finish();
}

OSS_DECL std::string list_uploads_document(const uploads_listing& listing, bool url_encoding, api_dialect dialect) {
  using documents_impl::encoded;
  documents_impl::document d("ListMultipartUploadsResult", dialect);
  auto& w = d.body();
  w.element_text("Bucket", listing.bucket);
  if (url_encoding) w.element_text("EncodingType", "url");
  w.element_text("KeyMarker", encoded(listing.key_marker, url_encoding));
  w.element_text("UploadIdMarker", listing.upload_id_marker);
  w.element_text("NextKeyMarker", encoded(listing.next_key_marker, url_encoding));
  w.element_text("NextUploadIdMarker", listing.next_upload_id_marker);
  w.element_text("Delimiter", encoded(listing.delimiter, url_encoding));
  w.element_text("Prefix", encoded(listing.prefix, url_encoding));
  w.element_text("MaxUploads", std::to_string(listing.max_uploads));
  w.element_text("IsTruncated", listing.is_truncated ? "true" : "false");
  for (const listed_upload& u : listing.uploads) {
    w.open("Upload");
    w.element_text("Key", encoded(u.key, url_encoding));
    w.element_text("UploadId", u.upload_id);
    w.element_text("Initiated", u.initiated);
    w.close();
  }
  for (const std::string& p : listing.common_prefixes) {
    w.open("CommonPrefixes");
    w.element_text("Prefix", encoded(p, url_encoding));
    w.close();
  }
  return d.finish();
}

OSS_DECL std::string error_document(const server_error& e, std::string_view request_id, std::string_view host_id,
                                    api_dialect dialect) {
  oss::detail::xml_writer w;
  w.open("Error");
  w.element_text("Code", e.code);
  w.element_text("Message", e.message);
  w.element_text("RequestId", request_id);
  w.element_text("HostId", host_id);
  for (const auto& [name, value] : e.extra) w.element_text(name, value);
  if (dialect == api_dialect::oss && !e.ec.empty()) w.element_text("EC", e.ec);
  w.close();
  return w.release();
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_DOCUMENTS_IPP
