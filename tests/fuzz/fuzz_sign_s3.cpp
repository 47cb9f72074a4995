// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Fuzz target: AWS SigV4 for S3 (oss/detail/sign/sign_s3.hpp), both sides.
//
// The first byte picks the mode:
//  - even: the rest is an Authorization header for s3_parse_authorization. Invariants: a parsed
//    header has the documented form (8-digit calendar date, 64 lower-hex signature, strictly
//    sorted lower-case SignedHeaders containing host); parse -> s3_format_authorization ->
//    parse gives the same fields and the same text again; and s3_verify_signature of a fixed
//    signed request with those fields is true only when they are exactly the ones the signer
//    wrote.
//  - odd: the rest is a request (flags, time, method, path, query, headers, secret, region, a
//    mutation position), newline-separated as in fuzz_sign.cpp; headers a request could not
//    carry are dropped. Invariants: determinism; independence from query order, header order
//    (distinct names) and header-name case; CanonicalRequest has exactly the structure's line
//    count, a URI line of unreserved/'%'/'/' that decodes back to the path, a query line of
//    unreserved/'%'/'='/'&'; s3_sign_request writes valid header values and an Authorization
//    that parses and round-trips; s3_verify_signature accepts with the secret and refuses a
//    wrong secret, any one-digit change of the signature, another path, a changed signed header
//    and an added unsigned x-amz-* header.
#include "fuzz_check.hpp"

#include <oss/credentials.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/sign/sign_s3.hpp>

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

bool only_chars(std::string_view s, std::string_view extra) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || extra.find(c) != std::string_view::npos;
  });
}

bool is_lower_hex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
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

// A fixed request signed once, against which parsed headers are verified.
struct fixed_request {
  http::request req;
  std::string path = "/bucket/key";
  std::vector<query_param> query{{"partNumber", "1"}, {"uploadId", "id"}};
  s3_authorization auth;

  fixed_request() {
    req.method = "PUT";
    req.target = "/bucket/key?partNumber=1&uploadId=id";
    req.headers.add("Host", "127.0.0.1:9000");
    req.headers.add("Content-Length", "0");
    oss::credentials creds{"AKIDFUZZ", "fuzz-secret", ""};
    s3_sign_request(req, path, query, creds, "us-east-1",
                    std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)), s3_empty_payload_sha256);
    auth = *s3_parse_authorization(*req.headers.find("Authorization"));
  }
};

void check_parser(std::string_view text) {
  static const fixed_request fixed;
  const auto parsed = s3_parse_authorization(text);
  if (!parsed) return;

  FUZZ_CHECK(!parsed->access_key_id.empty() && !parsed->region.empty());
  FUZZ_CHECK(parsed->date.size() == 8 && parsed->date.find_first_not_of("0123456789") == std::string::npos);
  FUZZ_CHECK(parsed->signature.size() == 64 && is_lower_hex(parsed->signature));
  FUZZ_CHECK(!parsed->signed_headers.empty());
  FUZZ_CHECK(std::adjacent_find(parsed->signed_headers.begin(), parsed->signed_headers.end(),
                                [](const std::string& a, const std::string& b) { return !(a < b); }) ==
             parsed->signed_headers.end());
  FUZZ_CHECK(std::binary_search(parsed->signed_headers.begin(), parsed->signed_headers.end(), std::string("host")));
  for (const auto& h : parsed->signed_headers) FUZZ_CHECK(http::is_valid_field_name(h) && lower(h) == h);

  const std::string formatted = s3_format_authorization(*parsed);
  FUZZ_CHECK(http::is_valid_field_value(formatted));
  const auto again = s3_parse_authorization(formatted);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == *parsed);
  FUZZ_CHECK(s3_format_authorization(*again) == formatted);

  // Only the signer's own fields verify the fixed request; the fuzzer cannot forge them.
  const s3_sign_input in{fixed.req.method, fixed.path, fixed.query, fixed.req.headers};
  const bool ok = s3_verify_signature(in, *parsed, "fuzz-secret");
  FUZZ_CHECK(ok == (parsed->date == fixed.auth.date && parsed->region == fixed.auth.region &&
                    parsed->signed_headers == fixed.auth.signed_headers &&
                    parsed->signature == fixed.auth.signature));
}

struct fuzz_request {
  std::string method, path, secret, region;
  std::vector<query_param> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint32_t when = 0;  // seconds after 2020-01-01
  bool token = false;
  bool signed_payload = false;
  std::uint8_t mutate_at = 0;
};

fuzz_request read_request(oss::fuzz::byte_reader& in) {
  fuzz_request r;
  const std::uint8_t flags = in.byte();
  r.token = (flags & 1) != 0;
  r.signed_payload = (flags & 2) != 0;
  r.mutate_at = in.byte();
  for (int i = 0; i < 3; ++i) r.when = (r.when << 8) | in.byte();
  r.method = std::string(in.take(12, '\n'));
  if (!http::is_valid_field_name(r.method)) r.method = "PUT";
  r.path = std::string(in.take(300, '\n'));
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
    // The signer sets these itself; a fuzzed copy would only be replaced.
    const std::string l = lower(name);
    if (l == "authorization" || l == "x-amz-date" || l == "x-amz-content-sha256" || l == "x-amz-security-token")
      continue;
    if (http::is_valid_field_name(name) && http::is_valid_field_value(value))
      r.headers.emplace_back(std::move(name), std::move(value));
  }
  r.secret = std::string(in.take(64, '\n'));
  r.region = std::string(in.take(32, '\n'));
  if (r.region.empty() || !only_chars(r.region, "")) r.region = "us-east-1";
  return r;
}

http::fields make_fields(const std::vector<std::pair<std::string, std::string>>& headers) {
  http::fields f;
  f.add("Host", "bucket.s3.amazonaws.com");
  for (const auto& [n, v] : headers) f.add(n, v);
  f.add("x-amz-date", "20240229T235959Z");
  f.add("x-amz-content-sha256", "UNSIGNED-PAYLOAD");
  return f;
}

bool distinct_names(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::set<std::string> names{"host", "x-amz-date", "x-amz-content-sha256"};
  for (const auto& h : headers)
    if (!names.insert(lower(h.first)).second) return false;
  return true;
}

void check_canonical_request(const fuzz_request& r) {
  const http::fields fields = make_fields(r.headers);
  const s3_sign_input in{r.method, r.path, r.query, fields};
  const auto names = s3_signed_header_names(fields);
  const std::string canonical = s3_canonical_request(in, names);
  FUZZ_CHECK(canonical == s3_canonical_request(in, names));

  // Query order never matters.
  std::vector<query_param> reversed_query(r.query.rbegin(), r.query.rend());
  FUZZ_CHECK(s3_canonical_request({r.method, r.path, reversed_query, fields}, names) == canonical);

  // Header names are case-insensitive; with distinct names their order does not matter.
  std::vector<std::pair<std::string, std::string>> upper_headers;
  for (const auto& [n, v] : r.headers) upper_headers.emplace_back(upper(n), v);
  const http::fields upper_fields = make_fields(upper_headers);
  FUZZ_CHECK(s3_signed_header_names(upper_fields) == names);
  FUZZ_CHECK(s3_canonical_request({r.method, r.path, r.query, upper_fields}, names) == canonical);
  if (distinct_names(r.headers)) {
    std::vector<std::pair<std::string, std::string>> reversed(r.headers.rbegin(), r.headers.rend());
    const http::fields reversed_fields = make_fields(reversed);
    FUZZ_CHECK(s3_canonical_request({r.method, r.path, r.query, reversed_fields}, names) == canonical);
  }

  // The signed names, computed independently of the signer.
  std::set<std::string> expected;
  for (const auto& f : fields) {
    const std::string n = lower(f.name);
    if (!s3_is_unsignable_header(n)) expected.insert(n);
  }
  FUZZ_CHECK(std::vector<std::string>(expected.begin(), expected.end()) == names);

  // Every line is where the structure puts it: no input can forge a line.
  FUZZ_CHECK(canonical.find('\r') == std::string::npos);
  const auto lines = split_lines(canonical);
  FUZZ_CHECK(lines.size() == 6 + names.size());
  FUZZ_CHECK(lines[0] == r.method);
  FUZZ_CHECK(only_chars(lines[1], "%/"));
  FUZZ_CHECK(percent_decode(lines[1]) == (r.path.empty() ? std::string("/") : r.path));
  FUZZ_CHECK(only_chars(lines[2], "%=&"));
  FUZZ_CHECK(static_cast<std::size_t>(std::count(lines[2].begin(), lines[2].end(), '=')) == r.query.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    FUZZ_CHECK(lines[3 + i].starts_with(names[i] + ":"));
    const std::string_view value = lines[3 + i].substr(names[i].size() + 1);
    FUZZ_CHECK(value.find("  ") == std::string_view::npos && value.find('\t') == std::string_view::npos);
    FUZZ_CHECK(value.empty() || (value.front() != ' ' && value.back() != ' '));
  }
  FUZZ_CHECK(lines[3 + names.size()].empty());
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) joined += (i ? ";" : "") + names[i];
  FUZZ_CHECK(lines[4 + names.size()] == joined);
  FUZZ_CHECK(lines[5 + names.size()] == "UNSIGNED-PAYLOAD");
}

void check_sign_verify(const fuzz_request& r) {
  http::request req;
  req.method = r.method;
  req.target = "/";
  req.headers.add("Host", "127.0.0.1:9000");
  for (const auto& [n, v] : r.headers)
    if (!http::iequals(n, "Host")) req.headers.add(n, v);
  oss::credentials creds;
  creds.access_key_id = "AKIAFUZZACCESSKEYID0";
  creds.access_key_secret = r.secret;
  if (r.token) creds.security_token = "IQoJb3JpZ2luX2Vj/fuzz+token==";
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1577836800 + r.when));
  std::string payload(s3_unsigned_payload);
  if (r.signed_payload) {
    const auto d = sha256(r.path);
    payload = hex_lower(d.data(), d.size());
  }
  s3_sign_request(req, r.path, r.query, creds, r.region, now, payload);

  const std::string* authorization = req.headers.find("Authorization");
  FUZZ_CHECK(authorization != nullptr);
  FUZZ_CHECK(req.headers.count("Authorization") == 1);
  for (const http::field& f : req.headers) FUZZ_CHECK(http::is_valid_field_value(f.value));
  const auto parsed = s3_parse_authorization(*authorization);
  FUZZ_CHECK(parsed.has_value());
  FUZZ_CHECK(parsed->access_key_id == creds.access_key_id);
  FUZZ_CHECK(parsed->region == r.region);
  FUZZ_CHECK(s3_format_authorization(*parsed) == *authorization);
  FUZZ_CHECK(parsed->signed_headers == s3_signed_header_names(req.headers));

  const s3_sign_input in{req.method, r.path, r.query, req.headers};
  FUZZ_CHECK(s3_check_request(in, *parsed) == s3_request_problem::none);
  FUZZ_CHECK(s3_verify_signature(in, *parsed, r.secret));
  FUZZ_CHECK(!s3_verify_signature(in, *parsed, r.secret + "x"));

  // Any one-digit change of the signature is refused.
  s3_authorization mutated = *parsed;
  char& digit = mutated.signature[r.mutate_at % 64];
  const char* hex = "0123456789abcdef";
  digit = hex[(std::string_view(hex).find(digit) + 1 + r.mutate_at / 64) % 16];
  FUZZ_CHECK(!s3_verify_signature(in, mutated, r.secret));

  // Another path (one more byte) is refused.
  const std::string other_path = r.path + "~";
  FUZZ_CHECK(!s3_verify_signature({req.method, other_path, r.query, req.headers}, *parsed, r.secret));

  // A signed header changed in transit is refused; so is an added, unsigned x-amz-* header.
  http::fields tampered = req.headers;
  tampered.set("Host", "127.0.0.1:9001");
  FUZZ_CHECK(!s3_verify_signature({req.method, r.path, r.query, tampered}, *parsed, r.secret));
  if (!std::binary_search(parsed->signed_headers.begin(), parsed->signed_headers.end(), std::string("x-amz-fuzz"))) {
    http::fields added = req.headers;
    added.add("X-Amz-Fuzz", "1");
    FUZZ_CHECK(s3_check_request({req.method, r.path, r.query, added}, *parsed) ==
               s3_request_problem::unsigned_amz_header);
    FUZZ_CHECK(!s3_verify_signature({req.method, r.path, r.query, added}, *parsed, r.secret));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  oss::fuzz::byte_reader in(data, size);
  const std::uint8_t mode = in.byte();
  if (mode % 2 == 0) {
    check_parser(in.rest());
    return 0;
  }
  const fuzz_request r = read_request(in);
  check_canonical_request(r);
  check_sign_verify(r);
  return 0;
}
