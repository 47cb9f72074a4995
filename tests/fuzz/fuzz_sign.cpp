// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Fuzz target: the signers' canonicalisation (oss/detail/sign/sign.hpp), V1 and V4.
//
// Input: newline-separated fields (method, bucket, key, query names and values, header names
// and values, AdditionalHeaders requests, secret, region) with a few count/flag bytes between.
// Headers that a request could not carry (invalid name or value: serialize_head refuses them,
// the server's parser never produces them) are dropped, as the client's validation would.
// Invariants, beyond "no crash, no sanitizer report":
//  - determinism, and independence from query order, header order and header-name case;
//  - V4 CanonicalRequest: the URI line is uri_encode'd (only unreserved, '%', '/'; it decodes
//    back to /bucket/key), the query line holds only unreserved, '%', '=', '&', there is never
//    a CR, and the LF count is exactly the structure's, so no input can forge a line;
//  - V1 StringToSign: no CR, and the LF count is the structure's whenever the key and query
//    carry no CR/LF (OSS V1 signs the raw key; client validation is what keeps CR/LF out);
//  - sign_request writes an Authorization that is a valid header value, that
//    parse_authorization reads back, and that verify_signature accepts with the secret and
//    refuses with another secret or a changed header.
#include "fuzz_check.hpp"

#include <oss/credentials.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/sign/sign.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace oss::detail;
namespace http = oss::detail::http;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool only_chars(std::string_view s, std::string_view extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || extra.find(c) != std::string_view::npos;
  });
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    auto nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) return out;
    s.remove_prefix(nl + 1);
  }
}

struct fuzz_request {
  std::string method, bucket, key, secret, region;
  std::vector<query_param> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::string> additional;
  std::uint32_t when = 0;  // seconds after 2020-01-01
  bool v4 = false;
  bool token = false;
};

fuzz_request read_request(oss::fuzz::byte_reader& in) {
  fuzz_request r;
  const std::uint8_t flags = in.byte();
  r.v4 = (flags & 1) != 0;
  r.token = (flags & 2) != 0;
  for (int i = 0; i < 3; ++i) r.when = (r.when << 8) | in.byte();
  r.method = std::string(in.take(12, '\n'));
  if (!http::is_valid_field_name(r.method)) r.method = "PUT";
  r.bucket = std::string(in.take(64, '\n'));
  r.key = std::string(in.take(300, '\n'));
  const int queries = in.byte() % 6;
  for (int i = 0; i < queries; ++i) {
    std::string name(in.take(40, '\n'));
    std::string value(in.take(40, '\n'));
    r.query.emplace_back(std::move(name), std::move(value));
  }
  const int headers = in.byte() % 10;
  for (int i = 0; i < headers; ++i) {
    std::string name(in.take(40, '\n'));
    std::string value(in.take(80, '\n'));
    if (http::is_valid_field_name(name) && http::is_valid_field_value(value))
      r.headers.emplace_back(std::move(name), std::move(value));
  }
  const int additional = in.byte() % 4;
  for (int i = 0; i < additional; ++i) {
    std::string name(in.take(40, '\n'));
    if (http::is_valid_field_name(name)) r.additional.push_back(std::move(name));
  }
  r.secret = std::string(in.take(64, '\n'));
  r.region = std::string(in.take(32, '\n'));
  if (r.region.empty() || !only_chars(r.region, "")) r.region = "cn-hangzhou";
  return r;
}

http::fields make_fields(const std::vector<std::pair<std::string, std::string>>& headers) {
  http::fields f;
  for (const auto& [n, v] : headers) f.add(n, v);
  return f;
}

bool distinct_names(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::set<std::string> names;
  for (const auto& h : headers)
    if (!names.insert(lower(h.first)).second) return false;
  return true;
}

void check_canonical_forms(const fuzz_request& r) {
  const http::fields fields = make_fields(r.headers);
  const sign_input in{r.method, r.bucket, r.key, r.query, fields};

  const std::string v1 = v1_string_to_sign(in);
  const std::string v4 = v4_canonical_request(in, r.additional);
  FUZZ_CHECK(v1 == v1_string_to_sign(in));
  FUZZ_CHECK(v4 == v4_canonical_request(in, r.additional));

  // Order of query parameters never matters.
  std::vector<query_param> reversed_query(r.query.rbegin(), r.query.rend());
  const sign_input in_rq{r.method, r.bucket, r.key, reversed_query, fields};
  FUZZ_CHECK(v1_string_to_sign(in_rq) == v1);
  FUZZ_CHECK(v4_canonical_request(in_rq, r.additional) == v4);

  // Header names are case-insensitive; with distinct names their order does not matter.
  std::vector<std::pair<std::string, std::string>> upper_headers;
  for (const auto& [n, v] : r.headers) upper_headers.emplace_back(upper(n), v);
  const http::fields upper_fields = make_fields(upper_headers);
  const sign_input in_uc{r.method, r.bucket, r.key, r.query, upper_fields};
  FUZZ_CHECK(v1_string_to_sign(in_uc) == v1);
  FUZZ_CHECK(v4_canonical_request(in_uc, r.additional) == v4);
  if (distinct_names(r.headers)) {
    std::vector<std::pair<std::string, std::string>> reversed(r.headers.rbegin(), r.headers.rend());
    const http::fields reversed_fields = make_fields(reversed);
    const sign_input in_rh{r.method, r.bucket, r.key, r.query, reversed_fields};
    FUZZ_CHECK(v1_string_to_sign(in_rh) == v1);
    FUZZ_CHECK(v4_canonical_request(in_rh, r.additional) == v4);
  }

  // The canonical header names, computed independently of the signer.
  const std::vector<std::string> additional = v4_additional_headers(fields, r.additional);
  FUZZ_CHECK(std::is_sorted(additional.begin(), additional.end()));
  std::set<std::string> v4_names, v1_names;
  for (const auto& [n, v] : r.headers) {
    const std::string name = lower(n);
    if (name.starts_with("x-oss-")) v1_names.insert(name);
    if (name == "content-type" || name == "content-md5" || name.starts_with("x-oss-") ||
        std::binary_search(additional.begin(), additional.end(), name))
      v4_names.insert(name);
  }

  // V4: every line is where the structure puts it.
  FUZZ_CHECK(v4.find('\r') == std::string::npos);
  const std::vector<std::string_view> lines = split_lines(v4);
  FUZZ_CHECK(lines.size() == 6 + v4_names.size());
  FUZZ_CHECK(lines[0] == r.method);
  FUZZ_CHECK(only_chars(lines[1], "%/"));
  std::string path = "/";
  if (!r.bucket.empty()) path += r.bucket + "/";
  path += r.key;
  FUZZ_CHECK(percent_decode(lines[1]) == path);
  FUZZ_CHECK(only_chars(lines[2], "%=&"));
  std::size_t at = 3;
  std::string previous;
  for (const std::string& name : v4_names) {
    FUZZ_CHECK(lines[at].starts_with(name + ":"));
    FUZZ_CHECK(previous.empty() || previous < name);
    previous = name;
    ++at;
  }
  FUZZ_CHECK(lines[at].empty());
  std::string joined;
  for (std::size_t i = 0; i < additional.size(); ++i) joined += (i ? ";" : "") + additional[i];
  FUZZ_CHECK(lines[at + 1] == joined);

  // V1: no CR/LF beyond the structure's unless the bucket, the key or a signed sub-resource
  // put it there.
  bool raw_breaks = has_line_break(r.key) || has_line_break(r.bucket);
  for (const auto& [n, v] : r.query)
    if (is_v1_sub_resource(n) && (has_line_break(n) || has_line_break(v))) raw_breaks = true;
  if (!raw_breaks) {
    FUZZ_CHECK(v1.find('\r') == std::string::npos);
    FUZZ_CHECK(static_cast<std::size_t>(std::count(v1.begin(), v1.end(), '\n')) == 4 + v1_names.size());
  }
}

void check_sign_verify(const fuzz_request& r) {
  // The client refuses a V4 region that is empty once "oss-" is stripped (resolve_endpoint:
  // invalid_endpoint), so such a request is never signed; its scope could not be parsed back.
  if (r.v4 && standard_region(r.region).empty()) return;
  http::request req;
  req.method = r.method;
  req.target = "/";
  for (const auto& [n, v] : r.headers) req.headers.add(n, v);
  oss::credentials creds;
  creds.access_key_id = "LTAI5tFuzzAccessKeyId";
  creds.access_key_secret = r.secret;
  if (r.token) creds.security_token = "CAIS.fuzz+token/value==";
  const auto version = r.v4 ? oss::signature_version::v4 : oss::signature_version::v1;
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1577836800 + r.when));
  sign_request(req, r.bucket, r.key, r.query, creds, version, r.region, now, r.additional);

  const std::string* authorization = req.headers.find("Authorization");
  FUZZ_CHECK(authorization != nullptr);
  FUZZ_CHECK(req.headers.count("Authorization") == 1);
  for (const http::field& f : req.headers) FUZZ_CHECK(http::is_valid_field_value(f.value));
  const auto parsed = parse_authorization(*authorization);
  FUZZ_CHECK(parsed.has_value());
  FUZZ_CHECK(parsed->access_key_id == creds.access_key_id);
  FUZZ_CHECK(parsed->version == version);

  const sign_input in{req.method, r.bucket, r.key, r.query, req.headers};
  FUZZ_CHECK(verify_signature(in, *parsed, r.secret));
  FUZZ_CHECK(!verify_signature(in, *parsed, r.secret + "x"));

  // A signed header changed in transit is detected.
  http::fields tampered = req.headers;
  const std::string* old = tampered.find("x-oss-meta-tampered");
  tampered.set("x-oss-meta-tampered", old ? *old + "-changed" : std::string("1"));
  const sign_input in_t{req.method, r.bucket, r.key, r.query, tampered};
  FUZZ_CHECK(!verify_signature(in_t, *parsed, r.secret));
  // So is another object key.
  const std::string other_key = r.key + "~";
  const sign_input in_k{req.method, r.bucket, other_key, r.query, req.headers};
  FUZZ_CHECK(!verify_signature(in_k, *parsed, r.secret));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  oss::fuzz::byte_reader in(data, size);
  const fuzz_request r = read_request(in);
  check_canonical_forms(r);
  check_sign_verify(r);
  return 0;
}
