// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_DOCUMENTS_HPP
#define OSS_DETAIL_OPS_DOCUMENTS_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/xml.hpp>
#include <oss/diagnostics.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oss::detail {

// The XML documents of multipart upload (oss-protocol.md section 3 and 5.1), in both
// directions: the client builds request bodies and parses replies, the local server does the
// opposite, and each side's tests parse what the other builds.
//
// Every parse_* function returns true on success. On failure it returns false and sets `ec`:
//  - the server error when the root is <Error> (an error inside a 200 reply, which S3 does and
//    OSS might; see oss-protocol.md section 11.7), from `server_errc_from_code`;
//  - client_errc::malformed_xml for XML that is not well-formed, has another root, lacks a
//    required element, or holds a number that does not parse (junk, sign, overflow);
//  - client_errc::missing_upload_id when InitiateMultipartUploadResult has no UploadId.
// When the document says <EncodingType>url</EncodingType>, the fields OSS URL-encodes (Key,
// Prefix, Delimiter, KeyMarker, NextKeyMarker) are decoded; a bad escape is malformed_xml.
// The build_* functions write those fields encoded when `url_encoding` is true (what the
// server does when the request carried encoding-type=url).

/// InitiateMultipartUploadResult.
struct initiate_result {
  std::string bucket, key, upload_id;
};
OSS_DECL bool parse_initiate_result(std::string_view xml, initiate_result& out, std::error_code& ec);
OSS_DECL std::string build_initiate_result(const initiate_result& r, bool url_encoding = false);

/// One <Part> of the CompleteMultipartUpload request body.
struct completed_part {
  int number = 0;
  /// As UploadPart returned it, quotes included.
  std::string etag;
};
/// The CompleteMultipartUpload body. The caller passes the parts sorted by ascending number.
OSS_DECL std::string build_complete_body(std::span<const completed_part> parts);
/// The same with a default namespace on the root: `s3_xmlns` for the S3 dialect, whose
/// documents all carry it (stores that validate the body against the schema want it).
OSS_DECL std::string build_complete_body(std::span<const completed_part> parts,
                                         std::string_view namespace_uri);

/// The namespace of every S3 XML document.
inline constexpr std::string_view s3_xmlns = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The one writer of the CompleteMultipartUpload body, for any part type: `number_of(p)` and
/// `etag_of(p)` read a part, so the client writes its own part list without copying it into
/// `completed_part`s. Two passes: the first sizes the string (escaped ETags through a scratch
/// buffer, so the escaping rules stay xml_escape's), the second writes it. With 10 000 parts
/// the body (about 1 MiB) is an upload's largest allocation, so it is allocated once.
template <class Part, class NumberOf, class EtagOf>
std::string write_complete_body(std::span<const Part> sorted_parts, std::string_view namespace_uri,
                                NumberOf number_of, EtagOf etag_of) {
  static constexpr std::string_view declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  static constexpr std::string_view root = "CompleteMultipartUpload";
  static constexpr std::string_view part_open = "<Part><PartNumber>";
  static constexpr std::string_view number_close = "</PartNumber><ETag>";
  static constexpr std::string_view part_close = "</ETag></Part>";
  char digits[16];
  std::string scratch;
  std::size_t size = declaration.size() + 2 * root.size() + 5;  // <root></root>
  if (!namespace_uri.empty()) {
    xml_escape(scratch, namespace_uri);
    size += 9 + scratch.size();  // ` xmlns=""`
  }
  for (const Part& p : sorted_parts) {
    scratch.clear();
    // The quotes become &quot;, which OSS accepts like go2's &#34; (oss-protocol.md 3.3).
    xml_escape(scratch, etag_of(p));
    const auto [end, err] = std::to_chars(digits, digits + sizeof digits, number_of(p));
    size += part_open.size() + static_cast<std::size_t>(end - digits) + number_close.size() +
            scratch.size() + part_close.size();
  }
  std::string out;
  out.reserve(size);
  out += declaration;
  out += '<';
  out += root;
  if (!namespace_uri.empty()) {
    out += " xmlns=\"";
    xml_escape(out, namespace_uri);
    out += '"';
  }
  out += '>';
  for (const Part& p : sorted_parts) {
    out += part_open;
    const auto [end, err] = std::to_chars(digits, digits + sizeof digits, number_of(p));
    out.append(digits, end);
    out += number_close;
    xml_escape(out, etag_of(p));
    out += part_close;
  }
  out += "</";
  out += root;
  out += '>';
  return out;
}
/// Server side: reads the body's parts in document order (ordering rules are the caller's).
OSS_DECL bool parse_complete_body(std::string_view xml, std::vector<completed_part>& out,
                                  std::error_code& ec);

/// CompleteMultipartUploadResult.
struct complete_result {
  std::string location, bucket, key, etag;
};
OSS_DECL bool parse_complete_result(std::string_view xml, complete_result& out, std::error_code& ec);
OSS_DECL std::string build_complete_result(const complete_result& r, bool url_encoding = false);

/// One <Part> of ListPartsResult.
struct part_summary {
  int number = 0;
  std::string etag;
  std::uint64_t size = 0;
  /// HashCrc64ecma, when the server reported one.
  std::optional<std::uint64_t> crc64;
  std::string last_modified;
};
/// ListPartsResult. Paginate with part-number-marker = next_part_number_marker while
/// is_truncated.
struct list_parts_result {
  std::string bucket, key, upload_id;
  int part_number_marker = 0;
  int next_part_number_marker = 0;
  int max_parts = 0;
  bool is_truncated = false;
  std::vector<part_summary> parts;
};
OSS_DECL bool parse_list_parts_result(std::string_view xml, list_parts_result& out,
                                      std::error_code& ec);
OSS_DECL std::string build_list_parts_result(const list_parts_result& r, bool url_encoding = false);

/// One <Upload> of ListMultipartUploadsResult.
struct upload_summary {
  std::string key, upload_id, initiated;
};
/// ListMultipartUploadsResult.
struct list_uploads_result {
  std::string bucket, key_marker, upload_id_marker, next_key_marker, next_upload_id_marker,
      prefix, delimiter;
  int max_uploads = 0;
  bool is_truncated = false;
  std::vector<upload_summary> uploads;
  std::vector<std::string> common_prefixes;
};
OSS_DECL bool parse_list_uploads_result(std::string_view xml, list_uploads_result& out,
                                        std::error_code& ec);
OSS_DECL std::string build_list_uploads_result(const list_uploads_result& r,
                                               bool url_encoding = false);

/// The fields of an OSS <Error> body we keep. Echoes that carry secrets (StringToSign,
/// OSSAccessKeyId, SignatureProvided, CanonicalRequest) are never read.
struct error_body {
  std::string code, message, request_id, host_id, ec, upload_id, server_time;
};

/// True when `xml` is a well-formed document whose root is <Error>.
OSS_DECL bool is_error_document(std::string_view xml);

/// Reads an <Error> body; false when it is not one or has no Code. Text fields are sanitised
/// and length-capped as for `diagnostics`.
OSS_DECL bool parse_error_body(std::string_view xml, error_body& out);

/// Reads the Base64-encoded <Error> body OSS may send in the `x-oss-err` header of a bodiless
/// reply (HEAD); false when the value is not Base64 or not an error body.
OSS_DECL bool parse_error_header(std::string_view x_oss_err, error_body& out);

/// Server side: an <Error> body with Code, Message, RequestId, HostId, then `extra` elements
/// (UploadId, ServerTime, ...) in order, then EC when not empty.
OSS_DECL std::string build_error_body(
    std::string_view code, std::string_view message, std::string_view request_id,
    std::string_view host_id, std::string_view ec,
    std::span<const std::pair<std::string_view, std::string_view>> extra = {});

/// Copies the body's code, message, request id, host id and EC into `diag`; empty fields of
/// the body leave `diag` untouched (so a request id taken from the header survives).
OSS_DECL void fill_diagnostics(const error_body& body, diagnostics& diag);

/// The error code a failed reply stands for: the server code when the body named one, else the
/// HTTP status in `http_status_category()`.
OSS_DECL std::error_code make_server_error(const error_body& body, int http_status);

/// Strict decimal conversion for XML numbers: surrounding XML whitespace is allowed, a sign,
/// junk or overflow is not.
OSS_DECL bool parse_xml_number(std::string_view text, std::uint64_t& out) noexcept;
OSS_DECL bool parse_xml_number(std::string_view text, int& out) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/documents.ipp>
#endif

#endif  // OSS_DETAIL_OPS_DOCUMENTS_HPP
