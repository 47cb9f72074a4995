// oss::testing::local_server in the S3 dialect, over real sockets on 127.0.0.1.
//
// First the server alone, driven by raw HTTP requests signed with the library's SigV4 signer
// (sign_s3.hpp): the shape of every reply, the S3 error codes, signature rejection, and the
// ETag algorithm, checked against digests computed here with OpenSSL directly (not through the
// library's crypto wrappers). Then, further down, the client and the tools in the S3 dialect
// against it.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/detail/sign/sign_s3.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include "../support/fault_env.hpp"
#include "../support/process.hpp"
#include "../support/raw_http.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"

namespace {

namespace http = oss::detail::http;
using oss::testing::local_server_options;
using oss::testing::local_server_thread;
using query_list = std::vector<oss::detail::query_param>;
using oss_test::blocking_client;
using oss_test::encode_query;
using oss_test::http_reply;

constexpr const char* s3_key_id = "AKIDS3LOCALTEST";
constexpr const char* s3_secret = "s3-local-secret-Zk29xQ";
constexpr const char* s3_region = "us-local-1";
constexpr std::size_t mib = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Expected values, computed with OpenSSL's one-shot EVP_Digest

std::string evp_digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), out, &n, md, nullptr) == 1);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string md5_raw(std::string_view data) { return evp_digest(EVP_md5(), data); }
std::string sha256_hex(std::string_view data) { return to_hex(evp_digest(EVP_sha256(), data)); }
std::string md5_base64(std::string_view data) {
  std::string raw = md5_raw(data);
  return oss::detail::base64_encode(raw.data(), raw.size());
}

// S3's ETag of a single-request object or a part: the quoted lower-hex MD5.
std::string s3_etag(std::string_view data) { return "\"" + to_hex(md5_raw(data)) + "\""; }

// S3's ETag of a completed multipart object: MD5 of the concatenated binary part MD5s, then
// "-<number of parts>".
std::string s3_multipart_etag(const std::vector<std::string>& parts) {
  std::string digests;
  for (const auto& p : parts) digests += md5_raw(p);
  return "\"" + to_hex(md5_raw(digests)) + "-" + std::to_string(parts.size()) + "\"";
}

// ---------------------------------------------------------------------------------------------
// Requests, built and signed here and sent with tests/support/raw_http.hpp

struct request_spec {
  std::string method = "GET";
  std::string bucket = "s3-bucket";
  std::string key{};
  query_list query{};
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};
};

// How a request is signed: with `creds` empty it is sent anonymously.
struct s3_signer {
  oss::credentials creds{s3_key_id, s3_secret, ""};
  std::string region = s3_region;
  std::chrono::system_clock::duration clock_offset{};
  bool sign_payload = true;  // x-amz-content-sha256: hex digest, else UNSIGNED-PAYLOAD
};

// Path style (Host 127.0.0.1:PORT) unless `host` names a virtual host (then "/key").
http::request build(const request_spec& spec, std::uint16_t port, const s3_signer& s, std::string host = {}) {
  http::request req;
  req.method = spec.method;
  std::string path;
  if (host.empty()) {
    path = "/" + spec.bucket + "/" + spec.key;
    req.headers.set("Host", "127.0.0.1:" + std::to_string(port));
  } else {
    path = "/" + spec.key;
    req.headers.set("Host", host);
  }
  req.target = oss::detail::uri_encode(path, true) + encode_query(spec.query);
  for (const auto& [n, v] : spec.headers) req.headers.add(n, v);
  if ((spec.method == "PUT" || spec.method == "POST" || !spec.body.empty()) && !req.headers.find("content-length"))
    req.headers.set("Content-Length", std::to_string(spec.body.size()));
  if (!s.creds.access_key_id.empty()) {
    std::string hash = s.sign_payload ? sha256_hex(spec.body) : std::string(oss::detail::s3_unsigned_payload);
    oss::detail::s3_sign_request(req, path, spec.query, s.creds, s.region,
                                 std::chrono::system_clock::now() + s.clock_offset, hash);
  }
  return req;
}

// An S3-dialect server in a fresh temporary root, signed unless `anonymous`.
struct fixture {
  oss_test::temp_dir dir;
  std::optional<local_server_thread> server;
  s3_signer sign;

  explicit fixture(local_server_options options = {}, bool anonymous = false) {
    options.root = dir.path().string();
    options.dialect = oss::api_dialect::s3;
    options.region = s3_region;
    if (!anonymous && options.access_key_id.empty()) {
      options.access_key_id = s3_key_id;
      options.access_key_secret = s3_secret;
    }
    if (anonymous) sign.creds = {};
    sign.creds.security_token = options.security_token;
    server.emplace(options);
  }

  std::uint16_t port() const { return server->port(); }

  http_reply call(const request_spec& spec, const s3_signer& s, std::string host = {}) {
    blocking_client c(port());
    return c.exchange(build(spec, port(), s, std::move(host)), spec.body);
  }
  http_reply call(const request_spec& spec) { return call(spec, sign); }

  std::string initiate(const std::string& key, std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = call({.method = "POST", .key = key, .query = {{"uploads", ""}}, .headers = std::move(headers)});
    REQUIRE(r.status == 200);
    oss::detail::initiate_result result;
    std::error_code ec;
    REQUIRE(oss::detail::parse_initiate_result(r.body, result, ec));
    return result.upload_id;
  }

  http_reply upload_part(const std::string& key, const std::string& id, int n, const std::string& data,
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    return call({.method = "PUT",
                 .key = key,
                 .query = {{"partNumber", std::to_string(n)}, {"uploadId", id}},
                 .headers = std::move(headers),
                 .body = data});
  }

  http_reply complete(const std::string& key, const std::string& id, const std::vector<oss::detail::completed_part>& parts) {
    std::string body = oss::detail::build_complete_body(parts, oss::detail::s3_xmlns);
    return call({.method = "POST",
                 .key = key,
                 .query = {{"uploadId", id}},
                 .headers = {{"Content-Type", "application/xml"}},
                 .body = body});
  }
};

// The S3 reply envelope every reply carries, and nothing of OSS's.
void check_s3_envelope(const http_reply& r) {
  CHECK(r.header("Server") == "AmazonS3");
  CHECK(r.header("x-amz-request-id").size() >= 16);
  CHECK(!r.header("x-amz-id-2").empty());
  CHECK_FALSE(r.has_oss_header());
}

// An S3 error: status, Code, and the document S3 sends (no namespace, no EC; RequestId and
// HostId the same as the reply's headers).
oss::detail::error_body check_s3_error(const http_reply& r, int status, std::string_view code) {
  INFO("body: " << r.body);
  CHECK(r.status == status);
  check_s3_envelope(r);
  auto e = r.error();
  CHECK(e.code == code);
  CHECK(!e.message.empty());
  CHECK(e.request_id == r.header("x-amz-request-id"));
  CHECK(e.host_id == r.header("x-amz-id-2"));
  CHECK(e.ec.empty());
  CHECK(r.body.find("<Error><Code>") != std::string::npos);
  CHECK(r.body.find("xmlns") == std::string::npos);
  CHECK(r.header("Content-Type") == "application/xml");
  return e;
}

bool has_s3_namespace(const std::string& body, std::string_view root) {
  return body.find("<" + std::string(root) + " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The server alone

TEST_CASE("s3 local_server: PutObject, HeadObject, GetObject reply shapes and metadata") {
  // Setup
  fixture f;
  const std::string data = oss_test::random_bytes(300000, 31);

  // Run
  auto put = f.call({.method = "PUT",
                     .key = "dir/obj ect+1.bin",
                     .headers = {{"Content-Type", "text/plain"},
                                 {"x-amz-meta-Owner", "tests"},
                                 {"x-amz-meta-run_id", "42"},
                                 {"Cache-Control", "no-cache"},
                                 {"x-amz-storage-class", "STANDARD_IA"},
                                 {"Content-MD5", md5_base64(data)}},
                     .body = data});
  auto head = f.call({.method = "HEAD", .key = "dir/obj ect+1.bin"});
  auto get = f.call({.key = "dir/obj ect+1.bin"});
  auto range = f.call({.key = "dir/obj ect+1.bin", .headers = {{"Range", "bytes=10-19"}}});
  // UNSIGNED-PAYLOAD is accepted as well.
  s3_signer unsigned_payload = f.sign;
  unsigned_payload.sign_payload = false;
  auto put2 = f.call({.method = "PUT", .key = "small", .body = "abc"}, unsigned_payload);

  // Check
  CHECK(put.status == 200);
  check_s3_envelope(put);
  CHECK(put.header("ETag") == s3_etag(data));
  CHECK(put.body.empty());
  CHECK(head.status == 200);
  check_s3_envelope(head);
  CHECK(head.header("ETag") == s3_etag(data));
  CHECK(head.header("Content-Length") == std::to_string(data.size()));
  CHECK(head.header("Content-Type") == "text/plain");
  CHECK(head.header("x-amz-meta-owner") == "tests");
  CHECK(head.header("x-amz-meta-run_id") == "42");
  CHECK(head.header("Cache-Control") == "no-cache");
  CHECK(head.header("x-amz-storage-class") == "STANDARD_IA");
  CHECK(!head.header("Last-Modified").empty());
  CHECK(get.status == 200);
  check_s3_envelope(get);
  CHECK(get.body == data);
  CHECK(range.status == 206);
  CHECK(range.body == data.substr(10, 10));
  CHECK(put2.status == 200);
  CHECK(put2.header("ETag") == s3_etag("abc"));
  CHECK(f.server->stats().put_object == 2);
  CHECK(f.server->stats().errors == 0);
}

TEST_CASE("s3 local_server: ranged and conditional GET as S3 answers them (RFC 9110)") {
  // Setup
  fixture f;
  const std::string data = oss_test::random_bytes(300000, 37);
  const std::string key = "ranged/obj ect.bin";
  REQUIRE(f.call({.method = "PUT", .key = key, .body = data}).status == 200);
  const auto get = [&](std::vector<std::pair<std::string, std::string>> headers) {
    return f.call({.key = key, .headers = std::move(headers)});
  };

  // Run: S3 has no x-oss-range-behavior
  auto clipped = get({{"Range", "bytes=299990-400000"}});
  auto beyond = get({{"Range", "bytes=300000-"}});
  auto several = get({{"Range", "bytes=0-1,5-6"}});
  auto changed = get({{"If-Match", s3_etag("an older version")}});
  auto cached = get({{"If-None-Match", s3_etag(data)}});

  // Check
  CHECK(clipped.status == 206);
  CHECK(clipped.body == data.substr(299990));
  CHECK(clipped.header("Content-Range") == "bytes 299990-299999/300000");
  CHECK_FALSE(clipped.has_oss_header());
  check_s3_error(beyond, 416, "InvalidRange");
  CHECK(beyond.body.find("<ActualObjectSize>300000</ActualObjectSize>") != std::string::npos);
  CHECK(several.status == 200);
  CHECK(several.body == data);
  check_s3_error(changed, 412, "PreconditionFailed");
  CHECK(cached.status == 304);
  CHECK(cached.body.empty());
}

TEST_CASE("s3 local_server: @aws-sdk/client-s3's own ranged and conditional GetObject agrees with the server") {
  const auto node_dir = oss_test::env_or("OSS_TEST_NODE_DIR", "tests/node");
  if (!std::filesystem::exists(node_dir + "/node_modules/@aws-sdk/client-s3/package.json"))
    OSS_SKIP("@aws-sdk/client-s3 not found under OSS_TEST_NODE_DIR");
  // Setup (tests/node/ranged_get.js drives GetObjectCommand)
  fixture f;
  const std::string data = oss_test::random_bytes(300000, 37);
  const std::string key = "ranged/obj ect.bin";
  REQUIRE(f.call({.method = "PUT", .key = key, .body = data}).status == 200);
  const auto hex_md5 = [](std::string_view bytes) { return to_hex(evp_digest(EVP_md5(), bytes)); };
  boost::json::array requests;
  const auto add = [&](boost::json::object headers) { requests.push_back(boost::json::object{{"headers", headers}}); };
  add({{"Range", "bytes=100-199"}});
  add({{"Range", "bytes=299990-400000"}});
  add({{"Range", "bytes=300000-"}});
  add({{"Range", "bytes=0-9"}, {"If-Match", s3_etag(data)}});
  add({{"If-Match", s3_etag("an older version")}});
  add({{"If-None-Match", s3_etag(data)}});
  boost::json::object config{{"dialect", "s3"},        {"endpoint", f.server->endpoint()}, {"region", s3_region},
                             {"bucket", "s3-bucket"},  {"key", key},                       {"accessKeyId", s3_key_id},
                             {"accessKeySecret", s3_secret}, {"requests", requests}};

  // Run
  const auto run = oss_test::run_process({"node", node_dir + "/ranged_get.js"}, boost::json::serialize(config),
                                         std::chrono::seconds(60));
  INFO("node output: " << run.out);
  const auto out = boost::json::parse(oss_test::last_line(run.out)).as_object();

  // Check
  REQUIRE(out.at("ok").as_bool());
  const auto& r = out.at("replies").as_array();
  REQUIRE(r.size() == 6);
  const auto status = [&](std::size_t i) { return r[i].at("status").to_number<int>(); };
  const auto md5_of = [&](std::size_t i) { return std::string(r[i].at("md5").as_string()); };
  const auto code = [&](std::size_t i) {
    return r[i].at("code").is_string() ? std::string(r[i].at("code").as_string()) : std::string();
  };
  CHECK(status(0) == 206);
  CHECK(md5_of(0) == hex_md5(data.substr(100, 100)));
  CHECK(r[0].at("contentRange").as_string() == "bytes 100-199/300000");
  CHECK(status(1) == 206);
  CHECK(md5_of(1) == hex_md5(data.substr(299990)));
  CHECK(status(2) == 416);
  CHECK(code(2) == "InvalidRange");
  CHECK(status(3) == 206);
  CHECK(md5_of(3) == hex_md5(data.substr(0, 10)));
  CHECK(status(4) == 412);
  CHECK(code(4) == "PreconditionFailed");
  CHECK(status(5) == 304);
}

TEST_CASE("s3 local_server: multipart upload, list, complete with the S3 ETag, abort") {
  // Setup
  fixture f;
  const std::vector<std::string> parts = {oss_test::random_bytes(5 * mib, 1), oss_test::random_bytes(5 * mib, 2),
                                          oss_test::random_bytes(1234, 3)};
  const std::string key = "big/object.bin";

  // Run
  auto init = f.call({.method = "POST",
                      .key = key,
                      .query = {{"uploads", ""}},
                      .headers = {{"Content-Type", "application/x-test"}, {"x-amz-meta-origin", "multipart"}}});
  oss::detail::initiate_result initiated;
  std::error_code ec;
  REQUIRE(oss::detail::parse_initiate_result(init.body, initiated, ec));
  const std::string id = initiated.upload_id;
  std::vector<http_reply> part_replies;
  for (std::size_t i = 0; i < parts.size(); ++i)
    part_replies.push_back(f.upload_part(key, id, static_cast<int>(i + 1), parts[i], {{"Content-MD5", md5_base64(parts[i])}}));
  auto listed = f.call({.key = key, .query = {{"uploadId", id}}});
  auto uploads = f.call({.key = "", .query = {{"uploads", ""}}});
  std::vector<oss::detail::completed_part> selection;
  for (std::size_t i = 0; i < parts.size(); ++i)
    selection.push_back({static_cast<int>(i + 1), part_replies[i].header("ETag")});
  auto done = f.complete(key, id, selection);
  auto head = f.call({.method = "HEAD", .key = key});
  auto get = f.call({.key = key});
  auto after = f.call({.key = key, .query = {{"uploadId", id}}});

  const std::string other = f.initiate("aborted.bin");
  auto other_part = f.upload_part("aborted.bin", other, 1, "x");
  auto abort = f.call({.method = "DELETE", .key = "aborted.bin", .query = {{"uploadId", other}}});
  auto abort_again = f.call({.method = "DELETE", .key = "aborted.bin", .query = {{"uploadId", other}}});
  auto uploads_after = f.call({.key = "", .query = {{"uploads", ""}}});

  // Check
  CHECK(init.status == 200);
  check_s3_envelope(init);
  CHECK(has_s3_namespace(init.body, "InitiateMultipartUploadResult"));
  CHECK(initiated.bucket == "s3-bucket");
  CHECK(initiated.key == key);
  CHECK(!id.empty());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CHECK(part_replies[i].status == 200);
    check_s3_envelope(part_replies[i]);
    CHECK(part_replies[i].header("ETag") == s3_etag(parts[i]));
  }

  CHECK(listed.status == 200);
  check_s3_envelope(listed);
  CHECK(has_s3_namespace(listed.body, "ListPartsResult"));
  CHECK(listed.body.find("HashCrc64ecma") == std::string::npos);
  oss::detail::list_parts_result lp;
  REQUIRE(oss::detail::parse_list_parts_result(listed.body, lp, ec));
  REQUIRE(lp.parts.size() == 3);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CHECK(lp.parts[i].number == static_cast<int>(i + 1));
    CHECK(lp.parts[i].etag == s3_etag(parts[i]));
    CHECK(lp.parts[i].size == parts[i].size());
    CHECK_FALSE(lp.parts[i].crc64.has_value());
  }
  CHECK(uploads.status == 200);
  CHECK(has_s3_namespace(uploads.body, "ListMultipartUploadsResult"));
  oss::detail::list_uploads_result lu;
  REQUIRE(oss::detail::parse_list_uploads_result(uploads.body, lu, ec));
  REQUIRE(lu.uploads.size() == 1);
  CHECK(lu.uploads[0].key == key);
  CHECK(lu.uploads[0].upload_id == id);

  CHECK(done.status == 200);
  check_s3_envelope(done);
  CHECK(has_s3_namespace(done.body, "CompleteMultipartUploadResult"));
  oss::detail::complete_result cr;
  REQUIRE(oss::detail::parse_complete_result(done.body, cr, ec));
  CHECK(cr.etag == s3_multipart_etag(parts));
  CHECK(cr.key == key);
  CHECK(cr.bucket == "s3-bucket");
  CHECK(head.header("ETag") == s3_multipart_etag(parts));
  CHECK(head.header("Content-Length") == std::to_string(parts[0].size() + parts[1].size() + parts[2].size()));
  CHECK(head.header("Content-Type") == "application/x-test");
  CHECK(head.header("x-amz-meta-origin") == "multipart");
  CHECK(get.body == parts[0] + parts[1] + parts[2]);
  auto gone = check_s3_error(after, 404, "NoSuchUpload");
  CHECK(gone.upload_id == id);

  CHECK(other_part.status == 200);
  CHECK(abort.status == 204);
  check_s3_envelope(abort);
  check_s3_error(abort_again, 404, "NoSuchUpload");
  oss::detail::list_uploads_result lu2;
  REQUIRE(oss::detail::parse_list_uploads_result(uploads_after.body, lu2, ec));
  CHECK(lu2.uploads.empty());
  auto s = f.server->stats();
  CHECK(s.upload_part == 4);
  CHECK(s.complete_multipart_upload == 1);
  CHECK(s.abort_multipart_upload == 2);
  CHECK(s.list_parts == 2);
  CHECK(s.list_multipart_uploads == 2);
}

TEST_CASE("s3 local_server: EntityTooSmall names the part, the last part may be small, 5 GiB cap") {
  // Setup
  fixture f;
  const std::string small = oss_test::random_bytes(100 * 1024, 5);  // fine for OSS, not for S3
  const std::string full = oss_test::random_bytes(5 * mib, 6);

  // Run
  const std::string id = f.initiate("too-small");
  auto p1 = f.upload_part("too-small", id, 1, small);
  auto p2 = f.upload_part("too-small", id, 2, small);
  auto refused = f.complete("too-small", id, {{1, p1.header("ETag")}, {2, p2.header("ETag")}});
  const std::string id2 = f.initiate("ok");
  auto q1 = f.upload_part("ok", id2, 1, full);
  auto q2 = f.upload_part("ok", id2, 2, small);
  auto accepted = f.complete("ok", id2, {{1, q1.header("ETag")}, {2, q2.header("ETag")}});
  // A declared body above 5 GiB is refused from the head, before any byte of it.
  request_spec huge{.method = "PUT",
                    .key = "huge",
                    .headers = {{"Content-Length", std::to_string(5ull * 1024 * mib + 1)}, {"Expect", "100-continue"}}};
  s3_signer unsigned_payload = f.sign;
  unsigned_payload.sign_payload = false;
  http::request req = build(huge, f.port(), unsigned_payload);
  blocking_client c(f.port());
  auto too_large = c.exchange(req, "");

  // Check
  auto e = check_s3_error(refused, 400, "EntityTooSmall");
  CHECK(refused.body.find("<PartNumber>1</PartNumber>") != std::string::npos);
  CHECK(refused.body.find("<ProposedSize>102400</ProposedSize>") != std::string::npos);
  CHECK(refused.body.find("<MinSizeAllowed>5242880</MinSizeAllowed>") != std::string::npos);
  CHECK(refused.body.find("<ETag>&quot;" + to_hex(md5_raw(small)) + "&quot;</ETag>") != std::string::npos);
  CHECK(accepted.status == 200);
  oss::detail::complete_result cr;
  std::error_code ec;
  REQUIRE(oss::detail::parse_complete_result(accepted.body, cr, ec));
  CHECK(cr.etag == s3_multipart_etag({full, small}));
  check_s3_error(too_large, 400, "EntityTooLarge");
}

TEST_CASE("s3 local_server: SigV4 rejections (key, secret, skew, region, token, tampering, OSS signature)") {
  // Setup
  local_server_options with_token;
  with_token.security_token = "sts-token-s3-local";
  fixture f(with_token);
  const request_spec put{.method = "PUT", .key = "k", .headers = {{"x-amz-meta-a", "1"}}, .body = "payload"};

  s3_signer wrong_secret = f.sign;
  wrong_secret.creds.access_key_secret = "not-the-secret";
  s3_signer wrong_key = f.sign;
  wrong_key.creds.access_key_id = "AKIDUNKNOWN";
  s3_signer skewed = f.sign;
  skewed.clock_offset = -std::chrono::minutes(20);
  s3_signer wrong_region = f.sign;
  wrong_region.region = "eu-west-9";
  s3_signer no_token = f.sign;
  no_token.creds.security_token.clear();
  s3_signer bad_token = f.sign;
  bad_token.creds.security_token = "sts-token-other";

  // Run
  auto ok = f.call(put);
  auto r_secret = f.call(put, wrong_secret);
  auto r_key = f.call(put, wrong_key);
  auto r_skew = f.call(put, skewed);
  auto r_region = f.call(put, wrong_region);
  auto r_no_token = f.call(put, no_token);
  auto r_bad_token = f.call(put, bad_token);
  // Tampering after signing: a signed header changed, an unsigned x-amz-* header added.
  http::request tampered = build(put, f.port(), f.sign);
  tampered.headers.set("x-amz-meta-a", "2");
  auto r_tampered = blocking_client(f.port()).exchange(tampered, put.body);
  http::request extra = build(put, f.port(), f.sign);
  extra.headers.set("x-amz-meta-sneaky", "1");
  auto r_extra = blocking_client(f.port()).exchange(extra, put.body);
  // The body differs from the signed x-amz-content-sha256.
  http::request swapped = build(put, f.port(), f.sign);
  auto r_swapped = blocking_client(f.port()).exchange(swapped, "PAYLOAD");
  // No Authorization at all, and an OSS V4 signature sent to the S3 server.
  s3_signer anonymous = f.sign;
  anonymous.creds = {};
  auto r_anonymous = f.call(put, anonymous);
  http::request oss_signed;
  oss_signed.method = "PUT";
  oss_signed.target = "/s3-bucket/k";
  oss_signed.headers.set("Host", "127.0.0.1:" + std::to_string(f.port()));
  oss_signed.headers.set("Content-Length", "7");
  oss::detail::sign_request(oss_signed, "s3-bucket", "k", {}, {s3_key_id, s3_secret, ""}, oss::signature_version::v4,
                            s3_region, std::chrono::system_clock::now());
  auto r_oss = blocking_client(f.port()).exchange(oss_signed, put.body);
  auto head_denied = f.call({.method = "HEAD", .key = "k"}, wrong_secret);

  // Check
  CHECK(ok.status == 200);
  check_s3_error(r_secret, 403, "SignatureDoesNotMatch");
  check_s3_error(r_key, 403, "InvalidAccessKeyId");
  auto skew = check_s3_error(r_skew, 403, "RequestTimeTooSkewed");
  CHECK(!skew.server_time.empty());
  CHECK(r_skew.body.find("<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>") != std::string::npos);
  check_s3_error(r_region, 400, "AuthorizationHeaderMalformed");
  CHECK(r_region.body.find("<Region>us-local-1</Region>") != std::string::npos);
  check_s3_error(r_no_token, 400, "InvalidToken");
  check_s3_error(r_bad_token, 400, "InvalidToken");
  check_s3_error(r_tampered, 403, "SignatureDoesNotMatch");
  check_s3_error(r_extra, 403, "AccessDenied");
  auto mismatch = check_s3_error(r_swapped, 400, "XAmzContentSHA256Mismatch");
  CHECK(r_swapped.body.find("<S3ComputedContentSHA256>" + sha256_hex("PAYLOAD") + "<") != std::string::npos);
  check_s3_error(r_anonymous, 403, "AccessDenied");
  check_s3_error(r_oss, 400, "InvalidArgument");
  // HEAD errors carry no body (and no x-oss-err).
  CHECK(head_denied.status == 403);
  check_s3_envelope(head_denied);
  CHECK(head_denied.body.empty());
  // Nothing but the first PUT stored an object.
  auto head = f.call({.method = "HEAD", .key = "k"});
  CHECK(head.header("ETag") == s3_etag("payload"));
  CHECK(f.server->stats().parts_uploaded == 0);
}

TEST_CASE("s3 local_server: Content-MD5 and x-amz-content-sha256 checks") {
  // Setup
  fixture f;
  const std::string data = oss_test::random_bytes(70000, 8);
  const std::string id = f.initiate("digests");

  // Run
  auto bad_digest = f.call({.method = "PUT", .key = "a", .headers = {{"Content-MD5", md5_base64("other")}}, .body = data});
  auto invalid_digest = f.call({.method = "PUT", .key = "a", .headers = {{"Content-MD5", "not base64!"}}, .body = data});
  auto part_bad = f.upload_part("digests", id, 1, data, {{"Content-MD5", md5_base64(data + "x")}});
  auto part_ok = f.upload_part("digests", id, 1, data, {{"Content-MD5", md5_base64(data)}});
  auto head_missing = f.call({.method = "HEAD", .key = "a"});
  // Anonymous requests have their hex x-amz-content-sha256 checked too; junk values are refused.
  fixture anon({}, true);
  auto anon_bad = anon.call({.method = "PUT", .key = "b", .headers = {{"x-amz-content-sha256", sha256_hex("x")}}, .body = data});
  auto anon_ok = anon.call({.method = "PUT", .key = "b", .headers = {{"x-amz-content-sha256", sha256_hex(data)}}, .body = data});
  auto anon_junk = anon.call({.method = "PUT", .key = "b", .headers = {{"x-amz-content-sha256", "abc"}}, .body = data});
  auto anon_streaming = anon.call(
      {.method = "PUT", .key = "b", .headers = {{"x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}}, .body = data});

  // Check
  check_s3_error(bad_digest, 400, "BadDigest");
  check_s3_error(invalid_digest, 400, "InvalidDigest");
  check_s3_error(part_bad, 400, "BadDigest");
  CHECK(part_ok.status == 200);
  CHECK(head_missing.status == 404);
  CHECK(head_missing.body.empty());
  CHECK_FALSE(head_missing.has_oss_header());
  check_s3_error(anon_bad, 400, "XAmzContentSHA256Mismatch");
  CHECK(anon_ok.status == 200);
  check_s3_error(anon_junk, 400, "InvalidArgument");
  check_s3_error(anon_streaming, 501, "NotImplemented");
  CHECK(f.server->stats().parts_uploaded == 1);
}

TEST_CASE("s3 local_server: virtual-hosted addressing, dotted buckets, metadata limit") {
  // Setup
  fixture f;
  const std::string host = "vh-bucket.s3.local:" + std::to_string(f.port());

  // Run
  auto put = f.call({.method = "PUT", .bucket = "vh-bucket", .key = "v/key", .body = "virtual"}, f.sign, host);
  auto get = f.call({.bucket = "vh-bucket", .key = "v/key"});  // the same object, path style
  auto dotted = f.call({.method = "PUT", .bucket = "my.dotted.bucket", .key = "k", .body = "dots"});
  auto bad_bucket = f.call({.method = "PUT", .bucket = "Bad_Bucket", .key = "k", .body = "x"});
  auto big_meta = f.call({.method = "PUT", .key = "m", .headers = {{"x-amz-meta-big", std::string(2100, 'v')}}, .body = "x"});

  // Check
  CHECK(put.status == 200);
  CHECK(get.body == "virtual");
  CHECK(dotted.status == 200);
  check_s3_error(bad_bucket, 400, "InvalidBucketName");
  check_s3_error(big_meta, 400, "MetadataTooLarge");
}

TEST_CASE("s3 local_server: fault plans answer in S3 shapes; Complete may answer 200 with <Error>") {
  // Setup
  fixture f;
  const std::string data = oss_test::random_bytes(5 * mib, 9);
  const std::string id = f.initiate("faulted");
  f.server->set_fault_plan({
      {.operation = "UploadPart", .nth = 1, .action = oss::testing::fault_action::error_reply, .status = 503, .code = "SlowDown"},
      {.operation = "CompleteMultipartUpload", .nth = 1, .action = oss::testing::fault_action::error_in_200,
       .code = "InternalError"},
      {.operation = "PutObject", .nth = 1, .action = oss::testing::fault_action::wrong_crc64},
  });

  // Run
  auto slow = f.upload_part("faulted", id, 1, data);
  auto part = f.upload_part("faulted", id, 1, data);
  auto in_200 = f.complete("faulted", id, {{1, part.header("ETag")}});
  auto listed = f.call({.key = "faulted", .query = {{"uploadId", id}}});  // the upload is still there
  auto done = f.complete("faulted", id, {{1, part.header("ETag")}});
  auto crc = f.call({.method = "PUT", .key = "crc", .body = "crc"});

  // Check
  check_s3_error(slow, 503, "SlowDown");
  CHECK(part.status == 200);
  CHECK(in_200.status == 200);
  check_s3_envelope(in_200);
  auto e = in_200.error();
  CHECK(e.code == "InternalError");
  CHECK(e.request_id == in_200.header("x-amz-request-id"));
  CHECK(listed.status == 200);
  CHECK(done.status == 200);
  CHECK(done.body.find("<CompleteMultipartUploadResult") != std::string::npos);
  // wrong_crc64 models an S3-compatible store that does send a CRC-64 (OSS's S3 endpoint).
  CHECK(crc.status == 200);
  CHECK(crc.has("x-oss-hash-crc64ecma"));
  CHECK(f.server->stats().faults_injected == 3);
}

TEST_CASE("s3 oss-local-server: --dialect s3 serves S3, bad --dialect is a usage error") {
  // Setup
  oss_test::temp_dir root;
  const std::string binary = oss_test::tool_path("oss-local-server").string();
  auto bad = oss_test::run_process({binary, "--root", root.path().string(), "--dialect", "gcs"}, "");
  auto help = oss_test::run_process({binary, "--help"}, "");
  oss_test::child_process server({binary, "--root", (root / "store").string(), "--create-root", "--dialect", "s3", "--region", s3_region,
                                "--access-key-id", s3_key_id, "--access-key-secret", s3_secret});
  const std::string line = server.first_line(std::chrono::seconds(10));
  const auto colon = line.rfind(':');
  REQUIRE_MESSAGE(colon != std::string::npos, "no listening line: " << line);
  const auto port = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));

  // Run
  s3_signer sign;
  request_spec put{.method = "PUT", .key = "cli", .body = "from the tool"};
  auto r = blocking_client(port).exchange(build(put, port, sign), put.body);
  s3_signer wrong = sign;
  wrong.creds.access_key_secret = "nope";
  auto denied = blocking_client(port).exchange(build(put, port, wrong), put.body);
  server.signal(SIGTERM);
  const int code = server.wait();

  // Check
  CHECK(bad.exit_code == 2);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--dialect") != std::string::npos);
  CHECK(r.status == 200);
  check_s3_envelope(r);
  CHECK(r.header("ETag") == s3_etag("from the tool"));
  check_s3_error(denied, 403, "SignatureDoesNotMatch");
  CHECK(code == 0);
}

// ---------------------------------------------------------------------------------------------
// The client and the tools in the S3 dialect against the S3-mode server

namespace {

using namespace std::chrono_literals;
using oss::testing::fault_action;
using oss::testing::fault_rule;

constexpr std::uint64_t s3_part = 5 * mib;  // S3's minimum part size

// Per-part lengths of `size` bytes cut into `part` byte parts.
std::vector<std::string> split(const std::string& data, std::uint64_t part) {
  std::vector<std::string> out;
  for (std::uint64_t at = 0; at < data.size(); at += part) out.push_back(data.substr(at, part));
  return out;
}

// Progress seen by a sync handler: fraction and bytes strictly increasing, and exactly one
// final 1.0 on the completed stage.
struct s3_progress {
  struct entry {
    double fraction;
    std::uint64_t bytes_done;
    oss::progress_stage stage;
  };
  std::vector<entry> events;
  void add(const oss::progress_event& e) { events.push_back({e.fraction, e.bytes_done, e.stage}); }
  void check(std::uint64_t total) const {
    REQUIRE(events.size() >= 2);
    CHECK(events.front().stage == oss::progress_stage::started);
    CHECK(events.back().stage == oss::progress_stage::completed);
    CHECK(events.back().fraction == 1.0);
    CHECK(events.back().bytes_done == total);
    int ones = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].fraction == 1.0) ++ones;
      if (i == 0) continue;
      CHECK(events[i].fraction > events[i - 1].fraction);
      if (events[i].stage != oss::progress_stage::completed) CHECK(events[i].bytes_done > events[i - 1].bytes_done);
    }
    CHECK(ones == 1);
  }
};

struct s3_read {
  oss::object_meta meta;
  std::string bytes;
};

s3_read read_back(oss_test::fault_env& env, const std::string& name) {
  asio::io_context io;
  auto o = env.options();
  o.max_get_object_size = 256 * mib;
  oss::client client(io.get_executor(), o);
  s3_read out;
  auto run = [&]() -> asio::awaitable<void> {
    out.meta = co_await client.head(name);
    out.bytes = co_await client.get_object(name);
  };
  oss_test::fault_run(io, run, 60s);
  return out;
}

}  // namespace

TEST_CASE("s3 multipart_upload: several sizes, parallel bound, progress, ETag and bytes") {
  // Setup
  oss_test::fault_env env(2, 128 * mib, oss::api_dialect::s3);
  asio::io_context io;
  auto o = env.options();
  o.stall_timeout = 10s;
  oss::client client(io.get_executor(), o);
  struct size_case {
    std::uint64_t size;
    std::size_t parallel;
  };
  const size_case cases[] = {{1000, 2}, {s3_part, 2}, {s3_part + 1, 2}, {3 * s3_part + 12345, 3}};

  for (const auto& sc : cases) {
    CAPTURE(sc.size);
    const std::string data = oss_test::random_bytes(sc.size, sc.size);
    const auto file = env.files / ("s" + std::to_string(sc.size));
    oss_test::write_file(file, data);
    env.server.reset_stats();
    s3_progress progress;
    oss::upload_options opts;
    opts.parallel = sc.parallel;
    opts.part_size = s3_part;
    opts.progress = [&](const oss::progress_event& e) { progress.add(e); };

    // Run
    oss::upload_result r;
    oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
      r = co_await oss::multipart_upload(client, "sizes/" + std::to_string(sc.size), file, opts);
    });
    const auto st = env.server.stats();
    const auto stored = read_back(env, "sizes/" + std::to_string(sc.size));

    // Check
    CHECK(stored.bytes == data);
    CHECK(r.size == sc.size);
    const auto parts = split(data, s3_part);
    CHECK(r.parts == parts.size());
    if (r.multipart) {
      CHECK(r.etag == s3_multipart_etag(parts));
      CHECK(st.upload_part == parts.size());
      CHECK(st.complete_multipart_upload == 1);
    } else {
      CHECK(r.etag == s3_etag(data));
      CHECK(st.put_object == 1);
    }
    CHECK(stored.meta.etag == r.etag);
    if (sc.size < s3_part) CHECK_FALSE(r.multipart);
    if (sc.size > s3_part) CHECK(r.multipart);
    CHECK(st.peak_in_flight >= 1);
    CHECK(st.peak_in_flight <= sc.parallel);
    CHECK(st.errors == 0);
    progress.check(sc.size);
  }
}

TEST_CASE("s3 multipart_upload: a stream's parts spooled to temporary files carry their Content-MD5 and SHA-256") {
  oss_test::fault_env env(2, 128 * mib, oss::api_dialect::s3);
  asio::io_context io;
  auto o = env.options();
  o.s3_sign_payload = true;  // the signer needs each part's SHA-256 before its body goes
  oss::client client(io.get_executor(), o);
  const std::string data = oss_test::random_bytes(2 * s3_part + 1234, 77);
  std::size_t at = 0;
  oss::stream_source stream([&data, &at](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
    const std::size_t n = std::min({b.size(), data.size() - at, std::size_t(64 * 1024)});
    std::memcpy(b.data(), data.data() + at, n);
    at += n;
    co_return n;
  });
  oss::upload_options opts{.parallel = 2, .part_size = s3_part};
  opts.spool_parts_above = 1024 * 1024;
  opts.spool_directory = env.files;
  oss::upload_result r;
  oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(client, "spooled", std::move(stream), opts);
  });
  const auto stored = read_back(env, "spooled");
  CHECK(stored.bytes == data);
  CHECK(r.etag == s3_multipart_etag(split(data, s3_part)));
  CHECK(r.checks.parts_content_md5 == 3);
  CHECK(env.server.stats().errors == 0);
}

TEST_CASE("s3 multipart_upload: meta, mime and headers are stored as x-amz-*") {
  // Setup
  oss_test::fault_env env(2, 32 * mib, oss::api_dialect::s3);
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(s3_part + 100, 77);
  const auto file = env.files / "meta.bin";
  oss_test::write_file(file, data);
  oss::upload_options opts;
  opts.part_size = s3_part;
  opts.meta = {{"owner", "s3-tests"}, {"Run-Id", "7"}};
  opts.mime = "video/mp4";
  opts.headers = {{"Cache-Control", "no-store"}, {"Content-Disposition", "attachment"}};

  // Run
  oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
    co_await oss::multipart_upload(client, "meta/obj.mp4", file, opts);
  });
  const auto stored = read_back(env, "meta/obj.mp4");

  // Check
  CHECK(stored.bytes == data);
  CHECK(stored.meta.content_type == "video/mp4");
  CHECK(stored.meta.cache_control == "no-store");
  CHECK(stored.meta.content_disposition == "attachment");
  std::map<std::string, std::string> meta(stored.meta.meta.begin(), stored.meta.meta.end());
  CHECK(meta["owner"] == "s3-tests");
  CHECK(meta["run-id"] == "7");
  CHECK_FALSE(stored.meta.crc64.has_value());  // S3 replies carry no CRC-64
  bool oss_header = false;
  for (const auto& [name, value] : stored.meta.headers)
    oss_header = oss_header || http::iequals(std::string_view(name).substr(0, std::min<std::size_t>(name.size(), 6)), "x-oss-");
  CHECK_FALSE(oss_header);
}

TEST_CASE("s3 multipart_upload: cancelled, listed, resumed from the checkpoint; abort_upload") {
  // Setup
  oss_test::fault_env env(2, 96 * mib, oss::api_dialect::s3);
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(6 * s3_part + 4321, 55);
  const auto file = env.files / "resume.bin";
  oss_test::write_file(file, data);
  const auto ckpt = env.files / "resume.ckpt";
  oss::upload_options opts;
  opts.parallel = 2;
  opts.part_size = s3_part;
  opts.checkpoint = ckpt;

  // Run 1: cancelled once 2 parts are done.
  asio::cancellation_signal signal;
  bool emitted = false;
  auto cancelling = opts;
  cancelling.progress = [&](const oss::progress_event& e) {
    if (!emitted && e.parts_done >= 2) {
      emitted = true;
      signal.emit(asio::cancellation_type::terminal);
    }
  };
  std::error_code first_ec;
  bool first_done = false;
  oss::diagnostics diag;
  oss::async_multipart_upload(client, "resume.bin", oss::upload_source(file), cancelling, diag,
                              asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::upload_result) {
                                first_ec = ec;
                                first_done = true;
                              }));
  io.restart();
  io.run_for(60s);
  REQUIRE(first_done);
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  oss::list_parts_result listed;
  oss::list_uploads_result uploads;
  oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
    listed = co_await client.list_all_parts("resume.bin", saved.upload_id);
    uploads = co_await client.list_multipart_uploads();
  });
  env.server.reset_stats();

  // Run 2: the same call resumes.
  oss::upload_result r;
  oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(client, "resume.bin", file, opts);
  });
  const auto second = env.server.stats();
  const auto stored = read_back(env, "resume.bin");

  // Run 3: a second upload is started, cancelled, and aborted through its checkpoint.
  const auto ckpt2 = env.files / "abort.ckpt";
  auto opts2 = cancelling;
  opts2.checkpoint = ckpt2;
  emitted = false;
  bool third_done = false;
  oss::async_multipart_upload(client, "aborted.bin", oss::upload_source(file), opts2, diag,
                              asio::bind_cancellation_slot(signal.slot(), [&](std::error_code, oss::upload_result) {
                                third_done = true;
                              }));
  io.restart();
  io.run_for(60s);
  REQUIRE(third_done);
  const oss::checkpoint saved2 = oss::load_checkpoint(ckpt2);
  oss::list_uploads_result after_abort;
  std::error_code list_gone;
  oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
    co_await oss::abort_upload(client, ckpt2);
    after_abort = co_await client.list_multipart_uploads();
    oss::diagnostics d;
    oss::list_parts_options lpo;
    auto token = asio::experimental::as_tuple(asio::use_awaitable);
    std::tie(list_gone, std::ignore) = co_await client.async_list_parts("aborted.bin", saved2.upload_id, lpo, d, token);
  });

  // Check
  CHECK(first_ec == asio::error::operation_aborted);
  CHECK(saved.done_parts.size() >= 2);
  CHECK(saved.done_parts.size() < 7);
  CHECK(listed.parts.size() >= saved.done_parts.size());
  for (const auto& p : listed.parts) {
    CHECK(p.size == s3_part);
    CHECK(p.etag == s3_etag(data.substr((p.part_number - 1) * s3_part, s3_part)));
    CHECK_FALSE(p.crc64.has_value());
  }
  REQUIRE(uploads.uploads.size() == 1);
  CHECK(uploads.uploads[0].upload_id == saved.upload_id);
  CHECK(r.resumed);
  CHECK(r.upload_id == saved.upload_id);
  CHECK(r.parts == 7);
  CHECK(r.etag == s3_multipart_etag(split(data, s3_part)));
  CHECK(stored.bytes == data);
  CHECK(second.initiate_multipart_upload == 0);
  CHECK(second.list_parts >= 1);
  CHECK(second.upload_part >= 7 - saved.done_parts.size());
  CHECK(second.upload_part <= 7 - saved.done_parts.size() + opts.parallel);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  CHECK(after_abort.uploads.empty());
  CHECK(list_gone == oss::server_errc::no_such_upload);
  CHECK(env.server.stats().abort_multipart_upload == 1);
}

TEST_CASE("s3 multipart_upload: Complete answering 200 with <Error> is retried, or surfaced typed") {
  // Setup
  oss_test::fault_env env(2, 32 * mib, oss::api_dialect::s3);
  const std::string data = oss_test::random_bytes(s3_part + 999, 66);
  const auto file = env.files / "e200.bin";
  oss_test::write_file(file, data);
  auto upload = [&](const std::string& name, std::error_code& ec) {
    asio::io_context io;
    auto o = env.options();
    o.max_attempts = 3;
    oss::client client(io.get_executor(), o);
    oss::upload_options opts;
    opts.part_size = s3_part;
    opts.checkpoint = env.files / (name + ".ckpt");
    oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
      try {
        co_await oss::multipart_upload(client, name, file, opts);
      } catch (const oss::error& e) {
        ec = e.code();
      }
    });
  };

  // Run: once (retried), always (surfaced), and a non-retryable code.
  env.server.set_fault_plan({{.operation = "CompleteMultipartUpload", .times = 1, .action = fault_action::error_in_200,
                              .code = "InternalError"}});
  std::error_code once;
  upload("once.bin", once);
  const auto once_stats = env.server.stats();
  env.server.set_fault_plan({{.operation = "CompleteMultipartUpload", .times = 0, .action = fault_action::error_in_200,
                              .code = "InternalError"}});
  std::error_code always;
  upload("always.bin", always);
  env.server.set_fault_plan({{.operation = "CompleteMultipartUpload", .times = 1, .action = fault_action::error_in_200,
                              .code = "AccessDenied"}});
  std::error_code denied;
  upload("denied.bin", denied);
  env.server.clear_fault_plan();
  const auto stored = read_back(env, "once.bin");

  // Check
  CHECK_FALSE(once);
  CHECK(stored.bytes == data);
  CHECK(once_stats.complete_multipart_upload == 2);
  CHECK(always == oss::server_errc::internal_error);
  CHECK(denied == oss::server_errc::access_denied);
}

TEST_CASE("s3 fault subset: each fault action once; every finished object is byte-identical") {
  // Setup: 3 parts, so a fresh upload is Initiate, 3 UploadParts and Complete (requests 1..5).
  oss_test::fault_env env(2, 96 * mib, oss::api_dialect::s3);
  const std::string data = oss_test::random_bytes(2 * s3_part + 1000, 99);
  const auto file = env.files / "sweep.bin";
  oss_test::write_file(file, data);
  const std::vector<std::error_code> connection_lost = {
      asio::error::eof, asio::error::connection_reset, asio::error::broken_pipe, asio::error::connection_aborted,
      oss::client_errc::malformed_response};
  struct fault_case {
    const char* name;
    fault_rule rule;
    std::vector<std::error_code> allowed;
  };
  auto rule = [](fault_action a, std::uint64_t nth, const char* op = "any") {
    fault_rule r;
    r.operation = op;
    r.nth = nth;
    r.action = a;
    return r;
  };
  std::vector<fault_case> cases;
  {
    auto r = rule(fault_action::error_reply, 2);
    r.status = 503;
    r.code = "SlowDown";
    cases.push_back({"503 SlowDown", r, {oss::server_errc::slow_down}});
    r = rule(fault_action::error_reply, 3);
    r.status = 500;
    r.apply_then_fail = true;
    cases.push_back({"500 after the effect", r, {oss::server_errc::internal_error}});
    r = rule(fault_action::error_reply, 1);
    r.status = 403;
    r.code = "RequestTimeTooSkewed";
    cases.push_back({"403 RequestTimeTooSkewed", r, {oss::server_errc::request_time_too_skewed}});
    r = rule(fault_action::delay, 4);
    r.duration = 3s;
    cases.push_back({"delay", r, {oss::client_errc::connection_timeout}});
    r = rule(fault_action::stall, 2);
    r.after_bytes = 16 * 1024;
    r.duration = 3s;
    cases.push_back({"stall", r, {oss::client_errc::connection_timeout}});
    r = rule(fault_action::close_before_reply, 3);
    cases.push_back({"close before reply", r, connection_lost});
    r = rule(fault_action::close_before_reply, 1, "CompleteMultipartUpload");
    r.apply_then_fail = true;
    cases.push_back({"Complete applied, reply lost", r, connection_lost});
    r = rule(fault_action::reset_during_body, 2);
    r.after_bytes = 32 * 1024;
    cases.push_back({"reset in the body", r, connection_lost});
    r = rule(fault_action::truncated_reply, 1);
    r.after_bytes = 40;
    cases.push_back({"truncated reply", r, connection_lost});
    cases.push_back({"missing ETag", rule(fault_action::missing_etag, 3), {oss::client_errc::missing_etag}});
    cases.push_back({"wrong CRC-64", rule(fault_action::wrong_crc64, 4), {oss::client_errc::crc64_mismatch}});
    cases.push_back({"garbage body", rule(fault_action::garbage_body, 1), {oss::client_errc::malformed_xml}});
    r = rule(fault_action::error_in_200, 1, "CompleteMultipartUpload");
    r.apply_then_fail = true;
    cases.push_back({"200 <Error> after the effect", r, {oss::server_errc::internal_error, oss::server_errc::no_such_upload}});
  }

  auto upload_once = [&](const std::string& name, std::uint64_t& peak, std::string& what) {
    asio::io_context io;
    auto o = env.options();
    o.max_attempts = 3;
    oss::client client(io.get_executor(), o);
    oss::upload_options opts;
    opts.parallel = 2;
    opts.part_size = s3_part;
    opts.checkpoint = env.files / (name.substr(name.find('/') + 1) + ".ckpt");
    env.server.reset_stats();
    std::error_code ec;
    oss_test::fault_run(io, [&]() -> asio::awaitable<void> {
      try {
        co_await oss::multipart_upload(client, name, file, opts);
      } catch (const oss::error& e) {
        ec = e.code();
        what = e.what();
      }
    });
    peak = std::max(peak, env.server.stats().peak_in_flight);
    return ec;
  };

  int first_failed = 0;
  int fired = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string case_name = c.name;
    CAPTURE(case_name);
    const std::string name = "sweep/" + std::to_string(i);
    std::uint64_t peak = 0;

    // Run
    env.server.set_fault_plan({c.rule});
    std::string first_what, second_what;
    const std::error_code first = upload_once(name, peak, first_what);
    fired += env.server.stats().faults_injected > 0 ? 1 : 0;
    env.server.clear_fault_plan();
    std::error_code second;
    if (first) {
      ++first_failed;
      second = upload_once(name, peak, second_what);
    }

    // Check
    if (first) {
      bool expected = false;
      for (const auto& a : c.allowed) expected = expected || a == first;
      CHECK_MESSAGE(expected, "first run failed with " << first_what);
    }
    REQUIRE_MESSAGE(!second, "the resumed run failed with " << second_what);
    const auto stored = read_back(env, name);
    CHECK(stored.bytes == data);
    CHECK(stored.meta.etag == s3_multipart_etag(split(data, s3_part)));
    CHECK(peak <= 2);
    CHECK_FALSE(std::filesystem::exists(env.files / (std::to_string(i) + ".ckpt")));
  }
  MESSAGE("s3 fault subset: " << cases.size() << " actions, " << fired << " fired, " << first_failed
                              << " first runs failed and resumed");
  CHECK(fired == static_cast<int>(cases.size()));
}

TEST_CASE("s3 crash: oss-upload --dialect s3 SIGKILLed 3 times resumes and the object is intact") {
  const auto tool = oss_test::tool_path("oss-upload");
  if (!std::filesystem::exists(tool)) {
    OSS_SKIP(tool.string() << " not found");
  }
  // Setup
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  oss_test::fault_env env(2, 160 * mib, oss::api_dialect::s3);
  const std::string source = oss_test::random_bytes(8 * s3_part + 777, 4243);
  const auto file = env.files / "crash.bin";
  oss_test::write_file(file, source);
  const auto checkpoint = env.files / "crash.ckpt";
  const std::vector<std::string> args = {tool.string(),       "--quiet",          "--dialect",          "s3",
                                         "--parallel",        "2",                "--part-size",        std::to_string(s3_part),
                                         "--checkpoint",      checkpoint.string(), file.string(),        "crash/s3.bin"};
  const std::vector<std::string> environment = {
      "OSS_ENDPOINT=" + env.server.endpoint(), "OSS_REGION=cn-local",
      std::string("OSS_BUCKET=") + oss_test::fault_bucket, std::string("OSS_ACCESS_KEY_ID=") + oss_test::fault_key_id,
      std::string("OSS_ACCESS_KEY_SECRET=") + oss_test::fault_secret};

  // Run: killed once the server has stored 2, 4 and 6 parts, then a run that finishes.
  int killed = 0;
  for (std::uint64_t threshold : {2u, 4u, 6u}) {
    oss_test::child_process child(args, environment);
    bool reached = false;
    // Woken by the server's counter; the 5 ms bound is only how often the child's output is drained.
    const auto stored = [&](const oss::testing::local_server_stats& s) { return s.parts_uploaded >= threshold; };
    while (std::chrono::steady_clock::now() < deadline && !child.exited()) {
      if (env.server.wait_for(stored, 5ms)) {
        reached = true;
        break;
      }
      child.pump(0);
    }
    if (!reached) break;
    child.signal(SIGKILL);
    child.wait();
    killed += child.killed_by_signal() ? 1 : 0;
  }
  const bool checkpoint_after_kills = std::filesystem::exists(checkpoint);
  oss_test::child_process last(args, environment);
  while (!last.exited() && std::chrono::steady_clock::now() < deadline) last.pump(20);
  if (!last.exited()) last.signal(SIGKILL);
  const int exit_code = last.wait();
  while (last.pump(0)) {
  }
  const auto stats = env.server.stats();
  const auto stored = read_back(env, "crash/s3.bin");

  // Check
  CHECK(killed == 3);
  CHECK(checkpoint_after_kills);
  REQUIRE(exit_code == 0);
  CHECK(last.out().find(s3_multipart_etag(split(source, s3_part)).substr(1, 32)) != std::string::npos);
  CHECK(stored.bytes == source);
  CHECK(stats.initiate_multipart_upload == 1);  // every restart resumed the same upload
  CHECK(stats.complete_multipart_upload == 1);
  CHECK(!std::filesystem::exists(checkpoint));
  // Re-sent parts are bounded by what was in flight at each kill.
  CHECK(stats.parts_uploaded <= 9 + 3 * 2);
}
