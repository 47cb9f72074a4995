// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Fuzz target: the XML reader (oss/detail/xml.hpp) and the OSS document parsers built on it
// (oss/detail/ops/documents.hpp). The whole input is one document.
// Invariants, beyond "no crash, no sanitizer report":
//  - parse_xml fails exactly with client_errc::malformed_xml; a tree it returns respects the
//    depth limit, has prefix-free names and no NUL in any text;
//  - the tree written out again (xml_writer, xml_escape) parses back to the same tree, and a
//    leading BOM changes nothing;
//  - every document parser that accepts the input yields a value that its builder writes and
//    the parser reads back unchanged (with the input's URL encoding); a parser that fails
//    leaves a clear error (malformed_xml, missing_upload_id, or the <Error> body's code);
//  - an <Error> body's fields come out sanitised: valid UTF-8, no control characters, capped.
#include "fuzz_check.hpp"

#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/xml.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <string>
#include <vector>

namespace {

using namespace oss::detail;

bool same_tree(const xml_element& a, const xml_element& b) {
  if (a.name != b.name || a.text != b.text || a.children.size() != b.children.size()) return false;
  for (std::size_t i = 0; i < a.children.size(); ++i)
    if (!same_tree(a.children[i], b.children[i])) return false;
  return true;
}

void check_tree(const xml_element& e, std::size_t depth) {
  FUZZ_CHECK(depth <= xml_max_depth);
  FUZZ_CHECK(!e.name.empty() && e.name.find(':') == std::string::npos);
  FUZZ_CHECK(e.text.find('\0') == std::string::npos);
  for (const xml_element& c : e.children) check_tree(c, depth + 1);
}

// The tree as XML again, through the library's escaping.
void write_tree(std::string& out, const xml_element& e) {
  out += '<';
  out += e.name;
  out += '>';
  const bool whitespace_only = e.text.find_first_not_of(" \t\n\r") == std::string::npos;
  if (!e.children.empty() && whitespace_only) {
    // Literal whitespace between children is layout the reader drops; the input must have
    // written this text as references (or CDATA) for the reader to keep it, so do the same.
    for (char c : e.text) out += "&#" + std::to_string(static_cast<unsigned char>(c)) + ";";
  } else {
    xml_escape(out, e.text);
  }
  for (const xml_element& c : e.children) write_tree(out, c);
  out += "</";
  out += e.name;
  out += '>';
}

bool valid_server_text(const std::string& s, std::size_t cap) {
  if (s.size() > cap) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return is_valid_utf8(s);
}

void check_error_body(const error_body& b) {
  FUZZ_CHECK(!b.code.empty());
  FUZZ_CHECK(valid_server_text(b.code, max_code_bytes));
  FUZZ_CHECK(valid_server_text(b.message, max_message_bytes));
  FUZZ_CHECK(valid_server_text(b.request_id, max_id_bytes));
  FUZZ_CHECK(valid_server_text(b.host_id, max_id_bytes));
  FUZZ_CHECK(valid_server_text(b.ec, max_id_bytes));
  FUZZ_CHECK(valid_server_text(b.upload_id, max_id_bytes));
  FUZZ_CHECK(valid_server_text(b.server_time, max_id_bytes));
}

// A parse_* failure must say why with one of the codes the client acts on.
void check_failure(const std::error_code& ec, bool error_root) {
  FUZZ_CHECK(ec);
  if (error_root) {
    FUZZ_CHECK(&ec.category() == &oss::server_category());
  } else {
    FUZZ_CHECK(ec == oss::client_errc::malformed_xml || ec == oss::client_errc::missing_upload_id);
  }
}

void check_documents(std::string_view xml, const std::optional<xml_element>& root) {
  const bool error_root = root && root->name == "Error";
  const bool url = root && root->child("EncodingType") != nullptr;
  std::error_code ec;

  initiate_result ir;
  if (parse_initiate_result(xml, ir, ec)) {
    FUZZ_CHECK(!ec && root);
    initiate_result back;
    std::error_code ec2;
    FUZZ_CHECK(parse_initiate_result(build_initiate_result(ir, url), back, ec2));
    FUZZ_CHECK(back.bucket == ir.bucket && back.key == ir.key && back.upload_id == ir.upload_id);
  } else {
    check_failure(ec, error_root);
  }

  std::vector<completed_part> parts;
  if (parse_complete_body(xml, parts, ec)) {
    FUZZ_CHECK(!ec && root);
    std::vector<completed_part> back;
    std::error_code ec2;
    FUZZ_CHECK(parse_complete_body(build_complete_body(parts), back, ec2));
    FUZZ_CHECK(back.size() == parts.size());
    for (std::size_t i = 0; i < parts.size(); ++i)
      FUZZ_CHECK(back[i].number == parts[i].number && back[i].etag == parts[i].etag);
  } else {
    check_failure(ec, error_root);
    FUZZ_CHECK(parts.empty());
  }

  complete_result cr;
  if (parse_complete_result(xml, cr, ec)) {
    FUZZ_CHECK(!ec && root);
    complete_result back;
    std::error_code ec2;
    FUZZ_CHECK(parse_complete_result(build_complete_result(cr, url), back, ec2));
    FUZZ_CHECK(back.location == cr.location && back.bucket == cr.bucket && back.key == cr.key &&
               back.etag == cr.etag);
  } else {
    check_failure(ec, error_root);
  }

  list_parts_result lp;
  if (parse_list_parts_result(xml, lp, ec)) {
    FUZZ_CHECK(!ec && root);
    list_parts_result back;
    std::error_code ec2;
    FUZZ_CHECK(parse_list_parts_result(build_list_parts_result(lp, url), back, ec2));
    FUZZ_CHECK(back.bucket == lp.bucket && back.key == lp.key && back.upload_id == lp.upload_id);
    FUZZ_CHECK(back.part_number_marker == lp.part_number_marker &&
               back.next_part_number_marker == lp.next_part_number_marker &&
               back.max_parts == lp.max_parts && back.is_truncated == lp.is_truncated);
    FUZZ_CHECK(back.parts.size() == lp.parts.size());
    for (std::size_t i = 0; i < lp.parts.size(); ++i) {
      FUZZ_CHECK(lp.parts[i].number >= 1);
      FUZZ_CHECK(back.parts[i].number == lp.parts[i].number && back.parts[i].etag == lp.parts[i].etag &&
                 back.parts[i].size == lp.parts[i].size && back.parts[i].crc64 == lp.parts[i].crc64 &&
                 back.parts[i].last_modified == lp.parts[i].last_modified);
    }
  } else {
    check_failure(ec, error_root);
  }

  list_uploads_result lu;
  if (parse_list_uploads_result(xml, lu, ec)) {
    FUZZ_CHECK(!ec && root);
    list_uploads_result back;
    std::error_code ec2;
    FUZZ_CHECK(parse_list_uploads_result(build_list_uploads_result(lu, url), back, ec2));
    FUZZ_CHECK(back.bucket == lu.bucket && back.key_marker == lu.key_marker &&
               back.upload_id_marker == lu.upload_id_marker && back.next_key_marker == lu.next_key_marker &&
               back.next_upload_id_marker == lu.next_upload_id_marker && back.prefix == lu.prefix &&
               back.delimiter == lu.delimiter && back.max_uploads == lu.max_uploads &&
               back.is_truncated == lu.is_truncated && back.common_prefixes == lu.common_prefixes);
    FUZZ_CHECK(back.uploads.size() == lu.uploads.size());
    for (std::size_t i = 0; i < lu.uploads.size(); ++i)
      FUZZ_CHECK(back.uploads[i].key == lu.uploads[i].key &&
                 back.uploads[i].upload_id == lu.uploads[i].upload_id &&
                 back.uploads[i].initiated == lu.uploads[i].initiated);
  } else {
    check_failure(ec, error_root);
  }

  FUZZ_CHECK(is_error_document(xml) == error_root);
  error_body eb;
  if (parse_error_body(xml, eb)) {
    FUZZ_CHECK(error_root);
    check_error_body(eb);
    // The code is a server error whatever it says (unknown codes have their own value).
    FUZZ_CHECK(&make_server_error(eb, 500).category() == &oss::server_category());
    oss::diagnostics diag;
    fill_diagnostics(eb, diag);
    FUZZ_CHECK(diag.code == eb.code && diag.message == eb.message);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);

  std::error_code ec;
  const std::optional<xml_element> root = parse_xml(xml, ec);
  if (!root) {
    FUZZ_CHECK(ec == oss::client_errc::malformed_xml);
  } else {
    FUZZ_CHECK(!ec);
    check_tree(*root, 1);

    std::string written = xml_writer().release();  // the declaration
    write_tree(written, *root);
    std::error_code ec2;
    const std::optional<xml_element> again = parse_xml(written, ec2);
    FUZZ_CHECK(again && same_tree(*root, *again));

    if (!xml.starts_with("\xEF\xBB\xBF")) {
      std::string with_bom = "\xEF\xBB\xBF";
      with_bom += xml;
      const std::optional<xml_element> bom = parse_xml(with_bom, ec2);
      FUZZ_CHECK(bom && same_tree(*root, *bom));
    }
  }

  check_documents(xml, root);

  error_body header_body;
  if (parse_error_header(xml, header_body)) check_error_body(header_body);
  return 0;
}
