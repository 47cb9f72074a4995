// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Cross-check of our AWS SigV4 signer against the AWS SDK for JavaScript v3's own signer
// (@smithy/signature-v4 5.7.5 with @aws-crypto/sha256-js, configured as @aws-sdk/client-s3 does):
// a seeded generator builds several hundred varied S3 requests, s3_sign_request() signs them, and
// tests/node/s3_sign_oracle.js computes the Authorization the SDK gives for the same request.
// Every pair must be identical, and our own verifier (the local server's) must accept each
// request. The credentials are random fake ones; failure messages describe the request only,
// never a signature. The last case turns the check around: requests the AWS SDK itself signs
// (@aws-sdk/client-s3 GetObject, tests/node/s3_get.js) must pass s3_verify_signature in the
// local server's S3 mode.

#include <oss/client.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/sign/sign_s3.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/process.hpp"
#include "../support/signing_oracle.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"

namespace {

using namespace oss::detail;
using oss::credentials;
using oss_test::signing::alnum;
using oss_test::signing::generator;
using oss_test::signing::oracle_reply;

// ---------------------------------------------------------------------------------------------
// Running the oracle

// The tests/node folder when node and the two npm modules are there, else nullopt (the test is
// then skipped: this check is about the SDK, and machines without node cannot run it).
std::optional<std::filesystem::path> oracle_dir() {
  const std::filesystem::path dir = oss_test::env_or("OSS_TEST_NODE_DIR", "tests/node");
  for (const char* module : {"@smithy/signature-v4", "@aws-crypto/sha256-js"})
    if (!std::filesystem::exists(dir / "node_modules" / module / "package.json")) return std::nullopt;
  try {
    const auto probe = oss_test::run_process({"node", "--version"}, "", std::chrono::seconds(30));
    if (probe.exit_code != 0) return std::nullopt;
  } catch (const std::runtime_error&) {
    return std::nullopt;  // node is not installed
  }
  return dir;
}

// Sends the JSON lines to s3_sign_oracle.js. REQUIREs that it ran.
oracle_reply ask_oracle(const std::filesystem::path& dir, const std::string& lines) {
  return oss_test::signing::ask_oracle(dir / "s3_sign_oracle.js", lines);
}

std::string smithy_version(const oracle_reply& reply) {
  const auto* versions = reply.banner.if_contains("versions");
  const auto* v = versions != nullptr && versions->is_object() ? versions->as_object().if_contains("@smithy/signature-v4")
                                                                 : nullptr;
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string("(not said)");
}

// ---------------------------------------------------------------------------------------------
// The generated requests

struct s3_case {
  std::int64_t id = 0;
  std::string operation;
  bool path_style = false;
  std::string path;                 // decoded
  std::vector<query_param> query;   // decoded, in URL order
  std::string region;
  std::int64_t time = 0;
  credentials creds;
  std::string payload_hash;
  http::request req;                // signed by s3_sign_request
};

std::string to_json_line(const s3_case& c) {
  boost::json::object o;
  o["id"] = c.id;
  o["method"] = c.req.method;
  o["host"] = *c.req.headers.find("Host");
  o["path"] = c.path;
  boost::json::array query;
  for (const auto& [name, value] : c.query)
    query.push_back(boost::json::array{boost::json::string(name), boost::json::string(value)});
  o["query"] = std::move(query);
  boost::json::array headers;
  for (const auto& f : c.req.headers) {
    if (http::iequals(f.name, "Authorization")) continue;
    headers.push_back(boost::json::array{boost::json::string(f.name), boost::json::string(f.value)});
  }
  o["headers"] = std::move(headers);
  o["region"] = c.region;
  o["time"] = c.time;
  o["access_key_id"] = c.creds.access_key_id;
  o["access_key_secret"] = c.creds.access_key_secret;
  o["session_token"] = c.creds.security_token;
  return boost::json::serialize(o) + "\n";
}

// What a failure message may say about a case: the request shape, no credentials or signatures.
std::string describe(const s3_case& c) {
  std::string s = "case " + std::to_string(c.id) + " " + c.operation + " " + c.req.method +
                  (c.path_style ? " path-style" : " virtual-hosted") + " path='" + c.path + "' query:";
  for (const auto& [n, v] : c.query) s += " " + n + "=" + v;
  s += " headers:";
  for (const auto& f : c.req.headers)
    if (!http::iequals(f.name, "Authorization") && !http::iequals(f.name, "x-amz-security-token"))
      s += " [" + f.name + ": " + f.value + "]";
  return s;
}

// Object-key fragments: every character class that encodes differently somewhere (RFC 3986
// reserved, JavaScript's encodeURIComponent exceptions !'()*, '+' vs space, '%', '$', '~',
// multi-byte UTF-8, empty segments and trailing slashes).
const std::string_view key_fragments[] = {
    "photos", "2024",  "dir/",  "a/b/",  " ",     "+",     "?",     "%",     "&",     "=",     "#",
    "~",      "*",     "!",     "'",     "(",     ")",     "%2F",   "%20",   "a b",   "x+y",   ".txt",
    ".tar.gz", "-",    "_",     ",",     ";",     ":",     "@",     "$",     "[",     "]",     "{",
    "}",      "|",     "^",     "`",     "\"",    "<",     ">",     "//",    "/",     "\\",
    "\xc3\xa9",                  // é
    "\xe4\xb8\xad\xe6\x96\x87",  // 中文
    "\xf0\x9f\x98\x80",          // an emoji (4-byte UTF-8)
    "\xe2\x82\xac",              // €
    "\xc3\xbc\xc3\x9f",          // üß
    "report", "multipart.data", "..", ".", "~user", "UPPER", "MiXeD", "0", "9",
};

const std::string_view value_fragments[] = {
    "abc", "a b", "x+y", "/", "%", "&", "=", "?", "#", "*", "~", "\xc3\xa9", "\xe4\xb8\xad", "dir/", "1",
    "-", ".", "'", "(", ")", "!", ",", ";", ":", "@", "$",
};

std::string make_key(generator& g) { return g.join(key_fragments, 6); }

std::string make_value(generator& g) { return g.join(value_fragments, 4); }

// Runs of spaces and tabs inside and around a value: both signers fold them.
std::string pad(generator& g, std::string v) {
  if (g.chance(8)) v = " " + v;
  if (g.chance(8)) v += g.chance(50) ? "  " : "\t";
  if (g.chance(8) && v.size() > 2) {
    // Between characters, never inside a UTF-8 sequence (the value must stay valid UTF-8).
    std::size_t at = 1 + g.below(v.size() - 1);
    while (at < v.size() && (static_cast<unsigned char>(v[at]) & 0xC0) == 0x80) ++at;
    v.insert(at, g.chance(50) ? "   " : " \t ");
  }
  return v;
}

enum class level { object, bucket, service };

struct operation {
  const char* name;
  level where;
  const char* method;
  bool has_body;
};

// The requests an S3 client sends for uploads and around them (@aws-sdk/client-s3 commands).
const operation operations[] = {
    {"PutObject", level::object, "PUT", true},
    {"GetObject", level::object, "GET", false},
    {"HeadObject", level::object, "HEAD", false},
    {"DeleteObject", level::object, "DELETE", false},
    {"CreateMultipartUpload", level::object, "POST", false},
    {"UploadPart", level::object, "PUT", true},
    {"CompleteMultipartUpload", level::object, "POST", true},
    {"AbortMultipartUpload", level::object, "DELETE", false},
    {"ListParts", level::object, "GET", false},
    {"ListMultipartUploads", level::bucket, "GET", false},
    {"ListObjectsV2", level::bucket, "GET", false},
    {"DeleteObjects", level::bucket, "POST", true},
    {"HeadBucket", level::bucket, "HEAD", false},
    {"ListBuckets", level::service, "GET", false},
};

void add_query(generator& g, std::string_view op, s3_case& c) {
  auto q = [&](std::string name, std::string value) { c.query.emplace_back(std::move(name), std::move(value)); };
  const std::string upload_id = g.token(std::string(alnum) + "._-", 20, 60);
  if (op == "CreateMultipartUpload") {
    q("uploads", "");
  } else if (op == "UploadPart") {
    q("partNumber", std::to_string(1 + g.below(10000)));
    q("uploadId", upload_id);
  } else if (op == "CompleteMultipartUpload" || op == "AbortMultipartUpload") {
    q("uploadId", upload_id);
  } else if (op == "ListParts") {
    q("uploadId", upload_id);
    if (g.chance(60)) q("max-parts", std::to_string(1 + g.below(1000)));
    if (g.chance(50)) q("part-number-marker", std::to_string(g.below(10000)));
  } else if (op == "ListMultipartUploads") {
    q("uploads", "");
    if (g.chance(50)) q("max-uploads", std::to_string(1 + g.below(1000)));
    if (g.chance(50)) q("key-marker", make_key(g));
    if (g.chance(40)) q("upload-id-marker", upload_id);
    if (g.chance(50)) q("prefix", make_value(g));
    if (g.chance(30)) q("delimiter", "/");
    if (g.chance(30)) q("encoding-type", "url");
  } else if (op == "ListObjectsV2") {
    q("list-type", "2");
    if (g.chance(50)) q("continuation-token", g.token(std::string(alnum) + "+/=", 8, 60));
    if (g.chance(50)) q("prefix", make_value(g));
    if (g.chance(40)) q("delimiter", "/");
    if (g.chance(40)) q("max-keys", std::to_string(1 + g.below(1000)));
    if (g.chance(30)) q("start-after", make_key(g));
  } else if (op == "GetObject" || op == "HeadObject") {
    if (g.chance(30)) q("response-content-type", "text/plain; charset=utf-8");
    if (g.chance(30)) q("response-content-disposition", "attachment; filename=\"" + make_value(g) + "\"");
    if (g.chance(20)) q("versionId", g.token(std::string(alnum) + "._", 32, 32));
    if (g.chance(20)) q("partNumber", std::to_string(1 + g.below(100)));
  } else if (op == "DeleteObjects") {
    q("delete", "");
  } else if (op == "DeleteObject") {
    if (g.chance(30)) q("versionId", g.token(alnum, 32, 32));
  }
  // @aws-sdk/client-s3 adds x-id=<Command> to several requests; it is signed like any other.
  if (g.chance(30)) q("x-id", std::string(op));
  // Names that sort differently by raw and by encoded bytes, and a repeated name.
  if (g.chance(10)) q(g.chance(50) ? "a-b" : "a", make_value(g));
  if (g.chance(8)) q("\xc3\xa9t\xc3\xa9", make_value(g));
  if (g.chance(8)) q("+plus", "");
  if (g.chance(6)) {
    q("tag", make_value(g));
    q("tag", make_value(g));
  }
  g.shuffle(c.query);
}

void add_headers(generator& g, const operation& op, s3_case& c) {
  auto& h = c.req.headers;
  static const char* const content_types[] = {"application/octet-stream", "text/plain; charset=utf-8",
                                              "application/xml", "image/png", "video/mp4"};
  const bool writes = std::string_view(op.name) == "PutObject" || std::string_view(op.name) == "CreateMultipartUpload";
  if (op.has_body || writes) {
    if (g.chance(70)) h.add(g.random_case("Content-Type"), pad(g, g.pick(content_types)));
    if (op.has_body && g.chance(80)) h.add(g.random_case("Content-Length"), std::to_string(g.below(1 << 30)));
    if (op.has_body && g.chance(60)) {
      const auto digest = md5(g.token(alnum, 0, 64));
      h.add(g.random_case("Content-MD5"), base64_encode(digest.data(), digest.size()));
    }
  }
  if (writes) {
    static const char* const meta_names[] = {"author", "project", "Owner", "x", "long-name-with-dashes", "k1", "empty"};
    const std::size_t metas = g.below(5);
    for (std::size_t i = 0; i < metas; ++i) {
      const std::string name = std::string("x-amz-meta-") + g.pick(meta_names);
      if (h.find(name) != nullptr) continue;  // the JS request model has one value per name
      h.add(g.random_case(name), name.ends_with("empty") ? std::string() : pad(g, make_value(g)));
    }
    if (g.chance(25)) h.add("x-amz-storage-class", g.chance(50) ? "STANDARD" : "REDUCED_REDUNDANCY");
    if (g.chance(20)) h.add("x-amz-acl", "private");
    if (g.chance(15)) h.add("X-Amz-Server-Side-Encryption", "AES256");
    if (g.chance(15)) h.add("x-amz-tagging", "k1=v1&k2=" + g.token(alnum, 1, 8));
    if (g.chance(20)) h.add("Content-Disposition", "attachment; filename=\"" + make_value(g) + "\"");
    if (g.chance(15)) h.add("Content-Encoding", "gzip");
    if (g.chance(10)) h.add("Expires", "Thu, 01 Dec 2044 16:00:00 GMT");
  }
  if (std::string_view(op.name) == "GetObject" && g.chance(40))
    h.add("Range", "bytes=" + std::to_string(g.below(1000)) + "-" + std::to_string(1000 + g.below(100000)));
  if ((std::string_view(op.name) == "GetObject" || std::string_view(op.name) == "HeadObject") && g.chance(20))
    h.add("If-None-Match", "\"" + g.token("0123456789abcdef", 32, 32) + "\"");
  // Headers the JS signer never signs, and ones it does although no S3 client sends them.
  if (g.chance(50)) h.add("User-Agent", "asio-oss/0.1.0");
  if (g.chance(20)) h.add("Cache-Control", "no-cache");
  if (g.chance(15)) h.add("Expect", "100-continue");
  if (g.chance(10)) h.add("X-Amzn-Trace-Id", "Root=1-" + g.token("0123456789abcdef", 8, 8));
  if (g.chance(10)) h.add("Proxy-Authorization", "Basic dTpw");
  if (g.chance(10)) h.add("Accept-Encoding", "identity");
  if (g.chance(10)) h.add("x-amz-user-agent", "aws-sdk-js/3");
  if (g.chance(10)) h.add("amz-sdk-invocation-id", g.token("0123456789abcdef-", 36, 36));
}

std::vector<s3_case> generate_cases(std::size_t count, std::uint64_t seed) {
  generator g(seed);
  static const char* const buckets[] = {"examplebucket", "my-bucket-01", "b123", "bucket.with.dots", "a-b-c"};
  static const char* const regions[] = {"us-east-1", "eu-west-1", "ap-southeast-2", "cn-hangzhou", "us-gov-west-1"};
  std::vector<s3_case> cases;
  cases.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    s3_case c;
    c.id = static_cast<std::int64_t>(i + 1);
    const operation& op = operations[i % std::size(operations)];  // every operation equally often
    c.operation = op.name;
    c.req.method = op.method;
    c.region = g.pick(regions);
    const std::string bucket = g.pick(buckets);
    // Dotted bucket names cannot be virtual-hosted over TLS, so clients use path style for them.
    c.path_style = bucket.find('.') != std::string::npos || g.chance(50);
    const bool local = c.path_style && g.chance(40);
    const std::string service_host = local ? "127.0.0.1:" + std::to_string(1024 + g.below(60000))
                                           : "s3." + c.region + ".amazonaws.com";
    std::string host = service_host;
    if (op.where == level::service) {
      c.path = "/";
    } else if (c.path_style) {
      // Path style: the bucket level is "/bucket" for the SDK and "/bucket/" for asio-oss.
      c.path = "/" + bucket + (op.where == level::object ? "/" + make_key(g) : (g.chance(50) ? "/" : ""));
    } else {
      host = bucket + "." + service_host;
      c.path = "/" + (op.where == level::object ? make_key(g) : "");
    }
    add_query(g, op.name, c);
    c.creds.access_key_id = "AKIA" + g.token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 16);
    c.creds.access_key_secret = g.token(std::string(alnum) + "+/", 40, 40);
    if (g.chance(30)) c.creds.security_token = "IQoJb3JpZ2luX2Vj" + g.token(std::string(alnum) + "+/=", 40, 300);
    c.req.headers.add(g.chance(80) ? "Host" : "host", host);
    add_headers(g, op, c);
    if (g.chance(50))
      c.payload_hash = std::string(s3_unsigned_payload);
    else if (op.has_body)
      c.payload_hash = [&] {
        const auto d = sha256(g.token(alnum, 0, 200));
        return hex_lower(d.data(), d.size());
      }();
    else
      c.payload_hash = std::string(s3_empty_payload_sha256);
    c.req.target = "/";  // not signed; path and query are
    // 2015-01-01 .. 2035-01-01
    c.time = 1420070400 + static_cast<std::int64_t>(g.raw() % 631152000);
    s3_sign_request(c.req, c.path, c.query, c.creds, c.region,
                    std::chrono::system_clock::time_point{std::chrono::seconds{c.time}}, c.payload_hash);
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

TEST_CASE("AWS JS signer oracle reproduces the AWS example vectors") {
  const auto dir = oracle_dir();
  if (!dir) {
    OSS_SKIP("node or @smithy/signature-v4 / @aws-crypto/sha256-js not found under OSS_TEST_NODE_DIR");
  }
  // Setup: vectors 1, 3 and 4 of oss-protocol.md 2.8 (vector 2 signs a Date header, which the JS
  // signer removes from every request it signs, so it cannot express it).
  const credentials aws{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  std::vector<s3_case> cases(3);
  const char* paths[] = {"/test.txt", "/", "/"};
  const std::vector<query_param> queries[] = {{}, {{"lifecycle", ""}}, {{"max-keys", "2"}, {"prefix", "J"}}};
  const char* signatures[] = {"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                              "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
                              "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"};
  std::string lines;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto& c = cases[i];
    c.id = static_cast<std::int64_t>(i + 1);
    c.req.method = "GET";
    c.req.headers.add("Host", "examplebucket.s3.amazonaws.com");
    if (i == 0) c.req.headers.add("Range", "bytes=0-9");
    c.path = paths[i];
    c.query = queries[i];
    c.region = "us-east-1";
    c.time = 1369353600;
    c.creds = aws;
    s3_sign_request(c.req, c.path, c.query, c.creds, c.region,
                    std::chrono::system_clock::time_point{std::chrono::seconds{c.time}}, s3_empty_payload_sha256);
    lines += to_json_line(c);
  }

  // Run
  const oracle_reply reply = ask_oracle(*dir, lines);

  // Check
  CHECK(smithy_version(reply) == "5.7.5");
  CHECK(reply.error.empty());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    REQUIRE(reply.authorization.count(cases[i].id) == 1);
    CHECK(reply.authorization.at(cases[i].id).ends_with(std::string("Signature=") + signatures[i]));
    CHECK(reply.authorization.at(cases[i].id) == *cases[i].req.headers.find("Authorization"));
  }
}

TEST_CASE("AWS JS signer computes the same Authorization as s3_sign_request for generated requests") {
  const auto dir = oracle_dir();
  if (!dir) {
    OSS_SKIP("node or @smithy/signature-v4 / @aws-crypto/sha256-js not found under OSS_TEST_NODE_DIR");
  }
  // Setup
  constexpr std::size_t count = 420;
  constexpr std::uint64_t seed = 0x5356344A53;
  const std::vector<s3_case> cases = generate_cases(count, seed);
  std::string lines;
  for (const auto& c : cases) lines += to_json_line(c);

  // Run
  const oracle_reply reply = ask_oracle(*dir, lines);

  // Check
  CHECK(smithy_version(reply) == "5.7.5");
  std::size_t compared = 0, matched = 0, path_style = 0, sts = 0, unsigned_payload = 0, non_ascii_keys = 0,
              multipart = 0, metadata = 0, md5 = 0, unsignable = 0;
  for (const auto& c : cases) {
    const auto it = reply.authorization.find(c.id);
    if (it == reply.authorization.end()) {
      const auto err = reply.error.find(c.id);
      FAIL_CHECK("the JS signer could not sign " << describe(c) << ": "
                                                 << (err == reply.error.end() ? "no answer" : err->second));
      continue;
    }
    ++compared;
    const std::string* ours = c.req.headers.find("Authorization");
    REQUIRE(ours != nullptr);
    const bool same = *ours == it->second;
    matched += same ? 1 : 0;
    CHECK_MESSAGE(same, "Authorization differs from the AWS JS signer for " << describe(c));

    // Our own verifier (the local server's) accepts every generated request, with that secret only.
    const auto parsed = s3_parse_authorization(*ours);
    REQUIRE(parsed.has_value());
    CHECK(s3_format_authorization(*parsed) == *ours);
    const s3_sign_input in{c.req.method, c.path, c.query, c.req.headers};
    CHECK_MESSAGE(s3_verify_signature(in, *parsed, c.creds.access_key_secret), "verify failed for " << describe(c));
    CHECK_FALSE(s3_verify_signature(in, *parsed, c.creds.access_key_secret + "x"));

    path_style += c.path_style ? 1 : 0;
    sts += c.creds.security_token.empty() ? 0 : 1;
    unsigned_payload += c.payload_hash == s3_unsigned_payload ? 1 : 0;
    non_ascii_keys += std::any_of(c.path.begin(), c.path.end(), [](char ch) { return (ch & 0x80) != 0; }) ? 1 : 0;
    multipart += std::any_of(c.query.begin(), c.query.end(),
                             [](const query_param& p) { return p.first == "uploads" || p.first == "uploadId"; })
                     ? 1
                     : 0;
    metadata += ours->find("x-amz-meta-") != std::string::npos ? 1 : 0;
    md5 += ours->find("content-md5") != std::string::npos ? 1 : 0;
    unsignable += c.req.headers.find("User-Agent") != nullptr || c.req.headers.find("Cache-Control") != nullptr ? 1 : 0;
  }
  CHECK(compared == count);
  CHECK(matched == compared);
  // The generator must keep covering what it claims to cover.
  CHECK(path_style >= count / 5);
  CHECK(path_style <= count - count / 5);
  CHECK(sts >= count / 10);
  CHECK(unsigned_payload >= count / 5);
  CHECK(unsigned_payload <= count - count / 5);
  CHECK(non_ascii_keys >= count / 10);
  CHECK(multipart >= count / 5);
  CHECK(metadata >= count / 20);
  CHECK(md5 >= count / 10);
  CHECK(unsignable >= count / 5);
  MESSAGE("compared " << compared << " Authorization headers with @smithy/signature-v4 " << smithy_version(reply)
                      << ": " << matched << " identical (" << path_style << " path-style, " << sts
                      << " with STS token, "
                      << unsigned_payload << " UNSIGNED-PAYLOAD, " << non_ascii_keys << " non-ASCII keys, "
                      << multipart << " multipart sub-resources, " << metadata << " with x-amz-meta-*, " << md5
                      << " with Content-MD5, " << unsignable << " with unsignable headers)");
}

TEST_CASE("requests signed by @aws-sdk/client-s3 pass s3_verify_signature in the local server's S3 mode") {
  const auto dir = oracle_dir();
  if (!dir || !std::filesystem::exists(*dir / "node_modules" / "@aws-sdk" / "client-s3" / "package.json")) {
    OSS_SKIP("node or @aws-sdk/client-s3 not found under OSS_TEST_NODE_DIR");
  }
  // Setup: an S3-mode server with credentials; our client stores an object whose key needs
  // encoding, so the server must rebuild the SDK's canonical path from what it decoded.
  constexpr const char* key_id = "AKIAS3SIGNTESTKEY001";
  constexpr const char* secret = "sdk/secret+With=Chars";
  constexpr const char* bucket = "sdk-bucket";
  oss_test::temp_dir store;
  oss::testing::local_server_options so;
  so.root = store.path().string();
  so.dialect = oss::api_dialect::s3;
  so.region = "us-east-1";
  so.access_key_id = key_id;
  so.access_key_secret = secret;
  so.buckets = {bucket};
  oss::testing::local_server_thread server(so);
  const std::string key = "dir/a b+c~\xc3\xa9 (1)!.txt";
  const std::string body = "signed by the AWS SDK, verified by asio-oss";
  {
    asio::io_context io;
    oss::client_options o;
    o.dialect = oss::api_dialect::s3;
    o.endpoint = server.endpoint();
    o.region = "us-east-1";
    o.bucket = bucket;
    o.creds = {key_id, secret, ""};
    oss::client c(io.get_executor(), o);
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { co_await c.put_object(key, asio::buffer(body)); },
        [&](std::exception_ptr e) {
          done = true;
          failure = e;
        });
    io.run_for(std::chrono::seconds(60));
    REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
  }
  const auto sdk_get = [&](const std::string& with_secret, const std::string& name) {
    return oss_test::run_process({"env", std::string("S3_ACCESS_KEY_ID=") + key_id,
                                  "S3_SECRET_ACCESS_KEY=" + with_secret, "node", "--no-warnings",
                                  (*dir / "s3_get.js").string(), server.endpoint(), bucket, name},
                                 "", std::chrono::seconds(120));
  };

  // Run
  const auto good = sdk_get(secret, key);
  const auto missing = sdk_get(secret, "no such key");
  const auto wrong = sdk_get(std::string(secret) + "x", key);

  // Check: the right secret passes (200, or 404 past authentication), a wrong one does not.
  const auto verdict = [](const oss_test::process_result& r) {
    REQUIRE_FALSE(r.timed_out);
    boost::json::error_code ec;
    const auto v = boost::json::parse(oss_test::last_line(r.out), ec);
    REQUIRE_MESSAGE(!ec, "s3_get.js printed no JSON: " << r.out);
    return v.as_object();
  };
  const auto g = verdict(good);
  INFO("good: " << boost::json::serialize(g));
  REQUIRE(g.at("ok").as_bool());
  CHECK(g.at("size").to_number<std::uint64_t>() == body.size());
  const auto digest = sha256(body);
  CHECK(g.at("sha256").as_string() == hex_lower(digest.data(), digest.size()));
  const auto m = verdict(missing);
  CHECK_FALSE(m.at("ok").as_bool());
  CHECK(m.at("name").as_string() == "NoSuchKey");
  const auto w = verdict(wrong);
  CHECK_FALSE(w.at("ok").as_bool());
  CHECK(w.at("name").as_string() == "SignatureDoesNotMatch");
  CHECK(w.at("status").to_number<int>() == 403);
}
