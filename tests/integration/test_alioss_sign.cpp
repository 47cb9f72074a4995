// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Cross-check of our V1/V4 signer against the real ali-oss 6.23.0 signing code: a seeded
// generator builds several hundred varied requests, sign_request() signs them, and
// tests/node/sign_oracle.js computes the Authorization that ali-oss's lib/common/signUtils.js
// gives for the same request. Every pair must be identical. The credentials are random fake
// ones; failure messages still describe the request only, never a signature.

#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/sign/sign.hpp>

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/signing_oracle.hpp"

namespace {

using namespace oss::detail;
using oss::credentials;
using oss::signature_version;
using oss_test::signing::alnum;
using oss_test::signing::generator;
using oss_test::signing::oracle_reply;

// ---------------------------------------------------------------------------------------------
// Running the oracle

// Sends the JSON lines to sign_oracle.js. REQUIREs that ali-oss is installed and that it ran.
oracle_reply ask_oracle(const std::string& lines) {
  const char* node_dir = std::getenv("OSS_TEST_NODE_DIR");
  REQUIRE_MESSAGE(node_dir != nullptr, "OSS_TEST_NODE_DIR is not set (meson sets it to tests/node)");
  const std::filesystem::path dir(node_dir);
  REQUIRE_MESSAGE(std::filesystem::exists(dir / "node_modules" / "ali-oss" / "package.json"),
                  "ali-oss is not installed under " << dir.string() << " (run scripts/install-deps)");
  return oss_test::signing::ask_oracle(dir / "sign_oracle.js", lines);
}

std::string ali_oss_version(const oracle_reply& reply) {
  const auto* v = reply.banner.if_contains("ali_oss_version");
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string("(not said)");
}

boost::json::array pairs_to_json(const std::vector<query_param>& params) {
  boost::json::array out;
  for (const auto& [name, value] : params) {
    boost::json::array pair;
    pair.emplace_back(name);
    // ali-oss writes a bare "name" only for null (createRequest turns '' sub-resources into null).
    if (value.empty())
      pair.emplace_back(nullptr);
    else
      pair.emplace_back(value);
    out.push_back(std::move(pair));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The generated requests

struct signed_case {
  std::int64_t id = 0;
  signature_version version = signature_version::v4;
  std::string bucket;
  std::string key;
  std::vector<query_param> subres;    // what ali-oss's operation passes as sub-resources
  std::vector<query_param> ordinary;  // and as plain query parameters
  std::vector<query_param> query;     // both, in URL order: what our signer sees
  std::vector<std::string> additional;
  std::string region;
  credentials creds;
  http::request req;                  // signed by sign_request
  bool has_x_oss_date_v1 = false;
};

std::string to_json_line(const signed_case& c) {
  boost::json::object o;
  o["id"] = c.id;
  o["version"] = c.version == signature_version::v1 ? "v1" : "v4";
  o["method"] = c.req.method;
  o["bucket"] = c.bucket;
  o["key"] = c.key;
  boost::json::array headers;
  for (const auto& f : c.req.headers) {
    if (http::iequals(f.name, "Authorization")) continue;
    boost::json::array pair;
    pair.emplace_back(f.name);
    pair.emplace_back(f.value);
    headers.push_back(std::move(pair));
  }
  o["headers"] = std::move(headers);
  o["subres"] = pairs_to_json(c.subres);
  o["query"] = pairs_to_json(c.ordinary);
  boost::json::array additional;
  for (const auto& a : c.additional) additional.emplace_back(a);
  o["additional_headers"] = std::move(additional);
  o["region"] = c.region;
  o["access_key_id"] = c.creds.access_key_id;
  o["access_key_secret"] = c.creds.access_key_secret;
  return boost::json::serialize(o) + "\n";
}

// What a failure message may say about a case: the request shape, no credentials or signatures.
std::string describe(const signed_case& c) {
  std::string s = "case " + std::to_string(c.id) + (c.version == signature_version::v1 ? " V1 " : " V4 ") +
                  c.req.method + " bucket='" + c.bucket + "' key='" + c.key + "' query:";
  for (const auto& [n, v] : c.query) s += " " + n + (v.empty() ? "" : "=" + v);
  s += " headers:";
  for (const auto& f : c.req.headers)
    if (!http::iequals(f.name, "Authorization") && !http::iequals(f.name, "x-oss-security-token"))
      s += " [" + f.name + ": " + f.value + "]";
  s += " additional:";
  for (const auto& a : c.additional) s += " " + a;
  return s;
}

// Object-key fragments: every character class that encodes differently somewhere (RFC 3986
// reserved, JavaScript's encodeURIComponent exceptions !'()*, '+' vs space, multi-byte UTF-8).
const std::string_view key_fragments[] = {
    "photos",  "2024",   "dir/",   "a/b/",      " ",      "+",      "?",       "%",       "&",    "=",
    "#",       "~",      "*",      "!",         "'",      "(",      ")",       "%2F",     "%20",  "a b",
    "x+y",     ".txt",   ".tar.gz", "-",        "_",      ",",      ";",       ":",       "@",    "$",
    "[",       "]",      "{",      "}",         "|",      "^",      "`",       "\"",      "<",    ">",
    "\xc3\xa9",                   // é
    "\xe4\xb8\xad\xe6\x96\x87",   // 中文
    "\xf0\x9f\x98\x80",           // an emoji (4-byte UTF-8)
    "\xe2\x82\xac",               // €
    "\xc3\xbc\xc3\x9f",           // üß
    "report", "multipart.data", "..", "~user", "UPPER", "MiXeD", "0", "9",
};

const std::string_view value_fragments[] = {
    "abc", "a b", "x+y", "/", "%", "&", "=", "?", "#", "*", "~", "\xc3\xa9", "\xe4\xb8\xad", "dir/", "1", "-", ".",
    "'", "(", ")", "!", ",", ";", ":", "@",
};

std::string make_key(generator& g) {
  std::string key = g.join(key_fragments, 6);
  // ali-oss strips leading '/' from names (_objectName); keep generated keys in that form.
  while (!key.empty() && key.front() == '/') key.erase(0, 1);
  if (key.empty()) key = "k";
  return key;
}

std::string make_value(generator& g) { return g.join(value_fragments, 4); }

enum class level { object, bucket, service };

struct operation {
  const char* name;
  level where;
  const char* methods;  // one letter per allowed method: P(UT) O(POST) G(ET) D(ELETE) H(EAD)
};

// The operations whose sub-resources/parameters ali-oss sends (lib/common/multipart.js,
// lib/object.js, lib/common/object/*.js, lib/bucket.js).
const operation operations[] = {
    {"initiate", level::object, "O"},     {"upload_part", level::object, "P"},
    {"complete", level::object, "O"},     {"abort", level::object, "D"},
    {"list_parts", level::object, "G"},   {"list_uploads", level::bucket, "G"},
    {"put_object", level::object, "P"},   {"get_object", level::object, "G"},
    {"head_object", level::object, "H"},  {"delete_object", level::object, "D"},
    {"acl", level::object, "GP"},         {"bucket_acl", level::bucket, "GP"},
    {"tagging", level::object, "GPD"},    {"symlink", level::object, "GP"},
    {"object_meta", level::object, "H"},  {"append", level::object, "O"},
    {"restore", level::object, "O"},      {"delete_multi", level::bucket, "O"},
    {"list_objects_v2", level::bucket, "G"}, {"list_buckets", level::service, "G"},
    {"versioned_get", level::object, "GH"},
};

std::string method_from(char letter) {
  switch (letter) {
    case 'P': return "PUT";
    case 'O': return "POST";
    case 'G': return "GET";
    case 'D': return "DELETE";
    default: return "HEAD";
  }
}

void add_params(generator& g, std::string_view op, signed_case& c) {
  auto sub = [&](std::string name, std::string value) { c.subres.emplace_back(std::move(name), std::move(value)); };
  auto ord = [&](std::string name, std::string value) { c.ordinary.emplace_back(std::move(name), std::move(value)); };
  const std::string upload_id = g.token("0123456789ABCDEF", 20, 32);
  if (op == "initiate") {
    sub("uploads", "");
    if (g.chance(30)) ord("encoding-type", "url");
  } else if (op == "upload_part") {
    sub("partNumber", std::to_string(1 + g.below(10000)));
    sub("uploadId", upload_id);
  } else if (op == "complete" || op == "abort") {
    sub("uploadId", upload_id);
    if (op == "complete" && g.chance(30)) ord("encoding-type", "url");
  } else if (op == "list_parts") {
    sub("uploadId", upload_id);
    if (g.chance(70)) ord("max-parts", std::to_string(1 + g.below(1000)));
    if (g.chance(50)) ord("part-number-marker", std::to_string(g.below(10000)));
    if (g.chance(30)) ord("encoding-type", "url");
  } else if (op == "list_uploads") {
    sub("uploads", "");
    if (g.chance(50)) ord("max-uploads", std::to_string(1 + g.below(1000)));
    if (g.chance(50)) ord("key-marker", make_key(g));
    if (g.chance(40)) ord("upload-id-marker", upload_id);
    if (g.chance(50)) ord("prefix", make_value(g));
    if (g.chance(30)) ord("delimiter", "/");
    if (g.chance(30)) ord("encoding-type", "url");
  } else if (op == "get_object") {
    if (g.chance(40)) sub("response-content-type", "text/plain; charset=utf-8");
    if (g.chance(40)) sub("response-content-disposition", "attachment; filename=\"" + make_value(g) + "\"");
    if (g.chance(30)) sub("response-cache-control", "no-cache");
    if (g.chance(30)) sub("x-oss-process", "image/resize,w_" + std::to_string(10 + g.below(500)));
  } else if (op == "acl" || op == "bucket_acl") {
    sub("acl", "");
  } else if (op == "tagging") {
    sub("tagging", "");
  } else if (op == "symlink") {
    sub("symlink", "");
  } else if (op == "object_meta") {
    sub("objectMeta", "");
  } else if (op == "append") {
    sub("append", "");
    sub("position", std::to_string(g.raw() % 100000000));
  } else if (op == "restore") {
    sub("restore", "");
  } else if (op == "delete_multi") {
    sub("delete", "");
  } else if (op == "list_objects_v2") {
    ord("list-type", "2");
    if (g.chance(50)) sub("continuation-token", g.token(alnum, 8, 40));
    if (g.chance(50)) ord("prefix", make_value(g));
    if (g.chance(40)) ord("delimiter", "/");
    if (g.chance(40)) ord("max-keys", std::to_string(1 + g.below(1000)));
    if (g.chance(30)) ord("start-after", make_key(g));
  } else if (op == "list_buckets") {
    if (g.chance(50)) ord("prefix", make_value(g));
    if (g.chance(40)) ord("marker", make_value(g));
    if (g.chance(40)) ord("max-keys", std::to_string(1 + g.below(1000)));
  } else if (op == "versioned_get") {
    sub("versionId", "CAEQ" + g.token(alnum, 10, 30));
  }
}

void add_headers(generator& g, signed_case& c) {
  auto value = [&](std::string v) {
    // Surrounding whitespace is trimmed by every signer; make sure ours agrees.
    if (g.chance(8)) v = " " + v;
    if (g.chance(8)) v += g.chance(50) ? " " : "\t";
    return v;
  };
  static const char* const content_types[] = {"application/octet-stream", "text/plain; charset=utf-8",
                                              "application/xml", "image/png", "video/mp4"};
  if (g.chance(60)) c.req.headers.add(g.random_case("Content-Type"), g.pick(content_types));
  if (g.chance(35)) {
    const std::string body = g.token(alnum, 0, 64);
    const auto digest = md5(body);
    c.req.headers.add(g.chance(50) ? "Content-MD5" : "content-md5", base64_encode(digest.data(), digest.size()));
  }
  static const char* const meta_names[] = {"author", "project", "Owner", "x", "long-name-with-dashes", "k1"};
  const std::size_t metas = g.below(4);
  for (std::size_t i = 0; i < metas; ++i) {
    std::string v = make_value(g);
    c.req.headers.set(g.random_case(std::string("x-oss-meta-") + g.pick(meta_names)), value(v));
  }
  if (g.chance(20)) c.req.headers.add("x-oss-storage-class", g.chance(50) ? "Standard" : "IA");
  if (g.chance(20)) c.req.headers.add("x-oss-forbid-overwrite", "true");
  if (g.chance(15)) c.req.headers.add("X-Oss-Server-Side-Encryption", "AES256");
  if (g.chance(15)) c.req.headers.add("x-oss-tagging", "k1=v1&k2=" + g.token(alnum, 1, 8));
  // Headers that are not signed by default: candidates for V4 AdditionalHeaders.
  if (g.chance(50)) c.req.headers.add("Host", c.bucket.empty() ? "oss-cn-hangzhou.aliyuncs.com"
                                                               : c.bucket + ".oss-cn-hangzhou.aliyuncs.com");
  if (g.chance(40)) c.req.headers.add("User-Agent", "asio-oss/0.1.0");
  if (g.chance(40)) c.req.headers.add("Content-Length", std::to_string(g.below(1 << 30)));
  if (g.chance(25)) c.req.headers.add("Range", "bytes=0-" + std::to_string(g.below(100000)));
  if (g.chance(25)) c.req.headers.add("Cache-Control", "no-cache");
  if (g.chance(20)) c.req.headers.add("abc", value("value"));
  if (g.chance(20)) c.req.headers.add("ZAbc", value(make_value(g)));
}

void choose_additional(generator& g, signed_case& c) {
  std::vector<std::string> candidates;
  for (const auto& f : c.req.headers) {
    const std::string lower = [&] {
      std::string s = f.name;
      for (auto& ch : s)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      return s;
    }();
    if (lower == "content-type" || lower == "content-md5" || lower.starts_with("x-oss-")) continue;
    candidates.push_back(f.name);
  }
  for (const auto& name : candidates)
    if (g.chance(50)) c.additional.push_back(g.chance(30) ? g.random_case(name) : name);
  if (!c.additional.empty() && g.chance(25)) c.additional.push_back(c.additional.front());  // duplicate
  if (g.chance(20)) c.additional.emplace_back("Date");                    // set by sign_request
  if (g.chance(20)) c.additional.emplace_back("x-oss-meta-author");       // signed anyway: dropped
  if (g.chance(15)) c.additional.emplace_back("Content-Type");            // signed anyway: dropped
  if (g.chance(15)) c.additional.emplace_back("if-match");                // absent: dropped
}

std::vector<signed_case> generate_cases(std::size_t count, std::uint64_t seed) {
  generator g(seed);
  static const char* const buckets[] = {"examplebucket", "my-bucket-01", "b123", "oss-test-bucket", "a-b-c"};
  static const char* const regions[] = {"oss-cn-hangzhou", "cn-shanghai", "oss-ap-southeast-1", "us-west-1",
                                        "oss-cn-beijing", "eu-central-1"};
  std::vector<signed_case> cases;
  cases.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    signed_case c;
    c.id = static_cast<std::int64_t>(i + 1);
    // Alternate so both versions get half of every kind of request.
    c.version = i % 2 == 0 ? signature_version::v1 : signature_version::v4;
    const operation& op = g.pick(operations);
    c.req.method = method_from(op.methods[g.below(std::strlen(op.methods))]);
    if (op.where != level::service) c.bucket = g.pick(buckets);
    if (op.where == level::object) c.key = make_key(g);
    add_params(g, op.name, c);
    c.query = c.subres;
    c.query.insert(c.query.end(), c.ordinary.begin(), c.ordinary.end());
    g.shuffle(c.query);
    c.region = g.pick(regions);
    c.creds.access_key_id = "LTAI" + g.token(alnum, 12, 20);
    c.creds.access_key_secret = g.token(std::string(alnum) + "+/=-_!~", 20, 40);
    if (g.chance(30)) c.creds.security_token = "CAIS" + g.token(std::string(alnum) + "+/=", 40, 200);
    add_headers(g, c);
    if (c.version == signature_version::v1 && g.chance(50)) {
      // ali-oss's habit: x-oss-date beside (or instead of) Date; sign_request makes them equal.
      c.req.headers.add("x-oss-date", "placeholder");
      c.has_x_oss_date_v1 = true;
    }
    if (c.version == signature_version::v4 && g.chance(50)) choose_additional(g, c);
    c.req.target = "/";  // not signed; the sign input carries bucket, key and query
    // 2015-01-01 .. 2035-01-01
    const auto when = std::chrono::system_clock::time_point{std::chrono::seconds{1420070400 + g.raw() % 631152000}};
    sign_request(c.req, c.bucket, c.key, c.query, c.creds, c.version, c.region, when, c.additional);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

TEST_CASE("ali-oss oracle reproduces the protocol document's vectors") {
  // Setup: V1 vectors 1 and 2 (x-oss-date in the date slot, as ali-oss signs) and V4-1/V4-3.
  std::vector<signed_case> cases(4);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto& c = cases[i];
    c.id = static_cast<std::int64_t>(i + 1);
    c.region = "oss-cn-hangzhou";
    c.creds = credentials{"ak", "sk", ""};
    c.req.method = "PUT";
    if (i < 2) {
      c.version = signature_version::v1;
      c.bucket = "examplebucket";
      c.key = "nelson";
      for (const auto& [n, v] : std::initializer_list<std::pair<const char*, const char*>>{
               {"Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="}, {"Content-Type", "text/html"},
               {"x-oss-meta-author", "alice"}, {"x-oss-meta-magic", "abracadabra"},
               {"x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT"}})
        c.req.headers.add(n, v);
      if (i == 1) c.subres = {{"acl", ""}};
    } else {
      c.version = signature_version::v4;
      c.bucket = "bucket";
      c.key = "1234+-/123/1.txt";
      for (const auto& [n, v] : std::initializer_list<std::pair<const char*, const char*>>{
               {"x-oss-head1", "value"}, {"abc", "value"}, {"ZAbc", "value"}, {"XYZ", "value"},
               {"content-type", "text/plain"}, {"x-oss-content-sha256", "UNSIGNED-PAYLOAD"}})
        c.req.headers.add(n, v);
      c.req.headers.add("x-oss-date", i == 2 ? "20231216T162057Z" : "20231216T172512Z");
      c.ordinary = {{"param1", "value1"}, {"+param1", "value3"}, {"|param1", "value4"},
                    {"+param2", ""},      {"|param2", ""},       {"param2", ""}};
      if (i == 3) c.additional = {"ZAbc", "abc", "x-oss-head1", "x-oss-no-exist"};
    }
  }
  std::string lines;
  for (const auto& c : cases) lines += to_json_line(c);
  const std::string expected[] = {
      "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M=",
      "OSS ak:/afkugFbmWDQ967j1vr6zygBLQk=",
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature="
      "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe",
      "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,"
      "Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f",
  };

  // Run
  const oracle_reply reply = ask_oracle(lines);

  // Check: the harness feeds ali-oss correctly, and our lower-level functions agree too.
  CHECK(ali_oss_version(reply) == "6.23.0");
  CHECK(reply.error.empty());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i + 1);
    REQUIRE(reply.authorization.count(cases[i].id) == 1);
    CHECK(reply.authorization.at(cases[i].id) == expected[i]);
    const auto& c = cases[i];
    const sign_input in{c.req.method, c.bucket, c.key, c.subres.empty() ? c.ordinary : c.subres, c.req.headers};
    if (c.version == signature_version::v1)
      CHECK("OSS ak:" + v1_signature(in, "sk") == expected[i]);
    else
      CHECK(std::string_view(expected[i]).ends_with(v4_signature(in, "sk", "cn-hangzhou", c.additional)));
  }
}

TEST_CASE("ali-oss 6.23.0 computes the same Authorization as sign_request for generated requests") {
  // Setup
  constexpr std::size_t count = 400;
  constexpr std::uint64_t seed = 0x0A5105516E;
  const std::vector<signed_case> cases = generate_cases(count, seed);
  std::string lines;
  for (const auto& c : cases) lines += to_json_line(c);

  // Run
  const oracle_reply reply = ask_oracle(lines);

  // Check
  CHECK(ali_oss_version(reply) == "6.23.0");
  std::size_t compared = 0, matched = 0, v1 = 0, v4 = 0, additional = 0, sts = 0, v1_x_oss_date = 0,
              non_ascii_keys = 0, ordinary = 0;
  for (const auto& c : cases) {
    const auto it = reply.authorization.find(c.id);
    if (it == reply.authorization.end()) {
      const auto err = reply.error.find(c.id);
      FAIL_CHECK("ali-oss could not sign " << describe(c) << ": "
                                           << (err == reply.error.end() ? "no answer" : err->second));
      continue;
    }
    ++compared;
    const std::string* ours = c.req.headers.find("Authorization");
    REQUIRE(ours != nullptr);
    const bool same = *ours == it->second;
    matched += same ? 1 : 0;
    CHECK_MESSAGE(same, "Authorization differs from ali-oss for " << describe(c));

    // Our own verifier (the local server's) accepts every generated request too.
    const auto parsed = parse_authorization(*ours);
    REQUIRE(parsed.has_value());
    const sign_input in{c.req.method, c.bucket, c.key, c.query, c.req.headers};
    CHECK_MESSAGE(verify_signature(in, *parsed, c.creds.access_key_secret), "verify failed for " << describe(c));
    CHECK_FALSE(verify_signature(in, *parsed, c.creds.access_key_secret + "x"));

    (c.version == signature_version::v1 ? v1 : v4) += 1;
    additional += ours->find("AdditionalHeaders=") != std::string::npos ? 1 : 0;
    sts += c.creds.security_token.empty() ? 0 : 1;
    v1_x_oss_date += c.has_x_oss_date_v1 ? 1 : 0;
    non_ascii_keys += std::any_of(c.key.begin(), c.key.end(), [](char ch) { return (ch & 0x80) != 0; }) ? 1 : 0;
    ordinary += c.ordinary.empty() ? 0 : 1;
  }
  CHECK(compared == count);
  CHECK(matched == compared);
  // The generator must keep covering what it claims to cover.
  CHECK(additional >= count / 10);
  CHECK(sts >= count / 10);
  CHECK(v1_x_oss_date >= count / 10);
  CHECK(non_ascii_keys >= count / 10);
  CHECK(ordinary >= count / 10);
  MESSAGE("compared " << compared << " Authorization headers with ali-oss " << ali_oss_version(reply) << ": " << matched
                      << " identical (" << v1 << " V1, of which " << v1_x_oss_date << " with x-oss-date; " << v4
                      << " V4, of which " << additional << " with AdditionalHeaders; " << sts << " with STS token; "
                      << non_ascii_keys << " non-ASCII keys; " << ordinary << " with non-sub-resource parameters)");
}
