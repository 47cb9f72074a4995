// oss::testing::local_server over real sockets on 127.0.0.1: every operation, every error it
// promises, signatures, addressing, persistence, TLS, the oss-local-server executable and the
// counters. Expected ETags and CRCs are computed here from the bytes, independently of the
// server's code paths.
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

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

// ---------------------------------------------------------------------------------------------
// Expected values, computed from the bytes

std::string md5_etag(std::string_view data) {
  auto d = oss::detail::md5(data);
  return "\"" + oss::detail::hex_upper(d.data(), d.size()) + "\"";
}

std::string md5_base64(std::string_view data) {
  auto d = oss::detail::md5(data);
  return oss::detail::base64_encode(d.data(), d.size());
}

std::string crc_text(std::string_view data) { return std::to_string(oss::detail::crc64(0, data.data(), data.size())); }

// "<hex of MD5(md5(p1) || md5(p2) || ...)>-<n>", quoted.
std::string multipart_etag(const std::vector<std::string>& parts) {
  std::string digests;
  for (const auto& p : parts) {
    auto d = oss::detail::md5(p);
    digests.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  auto d = oss::detail::md5(digests);
  return "\"" + oss::detail::hex_upper(d.data(), d.size()) + "-" + std::to_string(parts.size()) + "\"";
}

// ---------------------------------------------------------------------------------------------
// Requests, built and signed here and sent with tests/support/raw_http.hpp

// What a request carries, before it becomes an http::request.
struct request_spec {
  std::string method = "GET";
  std::string bucket = "bucket";
  std::string key{};
  query_list query{};
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};
};

// Path style with Host 127.0.0.1:PORT unless `host` says otherwise (then virtual-hosted, /key).
http::request build(const request_spec& spec, std::uint16_t port, std::string host = {}) {
  http::request req;
  req.method = spec.method;
  if (host.empty()) {
    req.target = "/" + spec.bucket + "/" + oss::detail::uri_encode(spec.key, true) + encode_query(spec.query);
    req.headers.set("Host", "127.0.0.1:" + std::to_string(port));
  } else {
    req.target = "/" + oss::detail::uri_encode(spec.key, true) + encode_query(spec.query);
    req.headers.set("Host", host);
  }
  for (const auto& [n, v] : spec.headers) req.headers.add(n, v);
  if (spec.method == "PUT" || spec.method == "POST" || !spec.body.empty())
    req.headers.set("Content-Length", std::to_string(spec.body.size()));
  return req;
}

struct signer {
  oss::credentials creds{};
  oss::signature_version version = oss::signature_version::v4;
  std::string region = "cn-local";
  std::chrono::system_clock::duration clock_offset{};
};

http::request build_signed(const request_spec& spec, std::uint16_t port, const signer& s, std::string host = {}) {
  http::request req = build(spec, port, std::move(host));
  oss::detail::sign_request(req, spec.bucket, spec.key, spec.query, s.creds, s.version, s.region,
                            std::chrono::system_clock::now() + s.clock_offset);
  return req;
}

// A server in a fresh temporary root plus helpers for the common calls.
struct fixture {
  oss_test::temp_dir dir;
  std::optional<local_server_thread> server;
  std::optional<signer> sign;

  explicit fixture(local_server_options options = {}) {
    options.root = dir.path().string();
    if (!options.access_key_id.empty()) sign = signer{{options.access_key_id, options.access_key_secret, options.security_token}};
    server.emplace(options);
  }

  std::uint16_t port() const { return server->port(); }

  http_reply call(blocking_client& c, const request_spec& spec) {
    auto req = sign ? build_signed(spec, port(), *sign) : build(spec, port());
    return c.exchange(req, spec.body);
  }
  http_reply call(const request_spec& spec) {
    blocking_client c(port());
    return call(c, spec);
  }

  std::string initiate(const std::string& key, std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = call({.method = "POST", .key = key, .query = {{"uploads", ""}}, .headers = std::move(headers)});
    REQUIRE(r.status == 200);
    oss::detail::initiate_result result;
    std::error_code ec;
    REQUIRE(oss::detail::parse_initiate_result(r.body, result, ec));
    CHECK(result.key == key);
    CHECK(result.bucket == "bucket");
    return result.upload_id;
  }

  http_reply upload_part(const std::string& key, const std::string& id, int n, const std::string& data) {
    return call({.method = "PUT", .key = key, .query = {{"partNumber", std::to_string(n)}, {"uploadId", id}}, .body = data});
  }

  http_reply complete(const std::string& key, const std::string& id, const std::vector<oss::detail::completed_part>& parts,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    std::string body = oss::detail::build_complete_body(parts);
    headers.emplace_back("Content-Type", "application/xml");
    return call({.method = "POST", .key = key, .query = {{"uploadId", id}}, .headers = std::move(headers), .body = body});
  }

  oss::detail::list_parts_result list_parts(const std::string& key, const std::string& id, query_list extra = {}) {
    query_list q{{"uploadId", id}};
    q.insert(q.end(), extra.begin(), extra.end());
    auto r = call({.key = key, .query = q});
    REQUIRE(r.status == 200);
    oss::detail::list_parts_result result;
    std::error_code ec;
    REQUIRE(oss::detail::parse_list_parts_result(r.body, result, ec));
    return result;
  }

  oss::detail::list_uploads_result list_uploads(query_list extra = {}) {
    query_list q{{"uploads", ""}};
    q.insert(q.end(), extra.begin(), extra.end());
    auto r = call({.key = "", .query = q});
    REQUIRE(r.status == 200);
    oss::detail::list_uploads_result result;
    std::error_code ec;
    REQUIRE(oss::detail::parse_list_uploads_result(r.body, result, ec));
    return result;
  }
};

void check_error(const http_reply& r, int status, std::string_view code) {
  INFO("body: " << r.body);
  CHECK(r.status == status);
  auto e = r.error();
  CHECK(e.code == code);
  CHECK(!e.message.empty());
  CHECK(e.request_id == r.header("x-oss-request-id"));
  CHECK(!e.host_id.empty());
  CHECK(!e.ec.empty());
  CHECK(e.ec == r.header("x-oss-ec"));
  CHECK(r.header("Content-Type") == "application/xml");
}

std::string part_data(std::size_t size, std::uint64_t seed) { return oss_test::random_bytes(size, seed); }

}  // namespace

// The sans-io pieces (routing, names, records, documents, ranges) are tested without sockets in
// tests/unit/test_server_handler.cpp.

// ---------------------------------------------------------------------------------------------
// Objects

TEST_CASE("PutObject, GetObject, HeadObject and DeleteObject") {
  // Setup
  fixture f;
  const std::string data = part_data(300'001, 1);
  const std::string key = "dir/ä ö+ü?.bin";

  // Run
  auto put = f.call({.method = "PUT",
                     .key = key,
                     .headers = {{"Content-Type", "video/mp4"},
                                 {"Cache-Control", "no-cache"},
                                 {"Content-Disposition", "attachment"},
                                 {"x-oss-meta-Year", "2020"},
                                 {"x-oss-storage-class", "IA"},
                                 {"Content-MD5", md5_base64(data)}},
                     .body = data});
  auto get = f.call({.key = key});
  auto head = f.call({.method = "HEAD", .key = key});
  auto del = f.call({.method = "DELETE", .key = key});
  auto get_after = f.call({.key = key});
  auto del_again = f.call({.method = "DELETE", .key = key});

  // Check
  CHECK(put.status == 200);
  CHECK(put.header("ETag") == md5_etag(data));
  CHECK(put.header("x-oss-hash-crc64ecma") == crc_text(data));
  CHECK(put.header("Content-MD5") == md5_base64(data));
  CHECK(put.header("x-oss-request-id").size() == 24);
  CHECK(put.has("Date"));
  CHECK(get.status == 200);
  CHECK(get.body == data);
  CHECK(get.header("ETag") == md5_etag(data));
  CHECK(get.header("Content-Type") == "video/mp4");
  CHECK(get.header("x-oss-object-type") == "Normal");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("Content-Length") == std::to_string(data.size()));
  CHECK(head.header("x-oss-hash-crc64ecma") == crc_text(data));
  CHECK(head.header("x-oss-meta-year") == "2020");
  CHECK(head.header("Cache-Control") == "no-cache");
  CHECK(head.header("Content-Disposition") == "attachment");
  CHECK(head.header("x-oss-storage-class") == "IA");
  CHECK(oss::detail::parse_http_date(head.header("Last-Modified")));
  CHECK(del.status == 204);
  check_error(get_after, 404, "NoSuchKey");
  CHECK(get_after.error().ec == "0026-00000001");
  CHECK(del_again.status == 204);
  CHECK(put.header("x-oss-request-id") != get.header("x-oss-request-id"));
}

TEST_CASE("wait_for: wakes when the counters reach the predicate, gives up at its timeout") {
  // Setup: a thread waits for the second PutObject while this one sends them.
  fixture f;
  const auto two_puts = [](const oss::testing::local_server_stats& s) { return s.put_object >= 2; };
  std::optional<bool> waited;
  std::thread waiter([&] { waited = f.server->wait_for(two_puts, std::chrono::seconds(20)); });

  // Run
  f.call({.method = "PUT", .key = "a", .body = "1"});
  f.call({.method = "PUT", .key = "b", .body = "2"});
  waiter.join();
  const auto before = std::chrono::steady_clock::now();
  const bool never = f.server->wait_for([](const oss::testing::local_server_stats& s) { return s.put_object > 2; },
                                        std::chrono::milliseconds(50));
  const auto waited_for = std::chrono::steady_clock::now() - before;

  // Check
  REQUIRE(waited.has_value());
  CHECK(*waited);
  CHECK_FALSE(never);
  CHECK(waited_for >= std::chrono::milliseconds(50));
  CHECK(f.server->wait_for(two_puts, std::chrono::milliseconds(0)));  // already true: no wait
}

TEST_CASE("HEAD errors have no body but the error document in x-oss-err") {
  // Setup
  fixture f;
  blocking_client c(f.port());

  // Run
  auto head = f.call(c, {.method = "HEAD", .key = "missing"});
  auto next = f.call(c, {.method = "PUT", .key = "k", .body = "x"});  // same connection still in sync

  // Check
  CHECK(head.status == 404);
  CHECK(head.body.empty());
  oss::detail::error_body e;
  REQUIRE(oss::detail::parse_error_header(head.header("x-oss-err"), e));
  CHECK(e.code == "NoSuchKey");
  CHECK(e.request_id == head.header("x-oss-request-id"));
  CHECK(head.header("x-oss-ec") == "0026-00000001");
  CHECK(next.status == 200);
}

TEST_CASE("GetObject with a Range, x-oss-range-behavior and preconditions") {
  // Setup
  fixture f;
  const std::string data = part_data(1000, 2);
  REQUIRE(f.call({.method = "PUT", .key = "r", .body = data}).status == 200);
  blocking_client c(f.port());
  const auto get = [&](std::vector<std::pair<std::string, std::string>> headers) {
    return f.call(c, {.key = "r", .headers = std::move(headers)});
  };

  // Run: all on one keep-alive connection, which must stay in step through 206, 304, 412, 416
  auto middle = get({{"Range", "bytes=10-19"}});
  auto tail = get({{"Range", "bytes=-5"}});
  auto open_end = get({{"Range", "bytes=995-"}});
  auto beyond = get({{"Range", "bytes=1000-"}});
  auto beyond_standard = get({{"Range", "bytes=1000-"}, {"x-oss-range-behavior", "standard"}});
  auto past_end = get({{"Range", "bytes=500-2000"}});
  auto past_end_standard = get({{"Range", "bytes=500-2000"}, {"x-oss-range-behavior", "standard"}});
  auto junk = get({{"Range", "lines=1-2"}});
  auto pinned = get({{"Range", "bytes=0-99"}, {"If-Match", md5_etag(data)}});
  auto changed = get({{"Range", "bytes=0-99"}, {"If-Match", md5_etag("an older version")}});
  auto cached = get({{"If-None-Match", md5_etag(data)}});
  auto after = get({});

  // Check
  CHECK(middle.status == 206);
  CHECK(middle.body == data.substr(10, 10));
  CHECK(middle.header("Content-Range") == "bytes 10-19/1000");
  CHECK(middle.header("x-oss-hash-crc64ecma") == crc_text(data));
  CHECK(tail.body == data.substr(995));
  CHECK(open_end.body == data.substr(995));
  CHECK(beyond.status == 200);  // OSS ignores a range it cannot serve (oss-protocol.md 11b)
  CHECK(beyond.body == data);
  check_error(beyond_standard, 416, "InvalidRange");
  CHECK(beyond_standard.header("Content-Range") == "bytes */1000");
  CHECK(past_end.status == 200);
  CHECK(past_end.body == data);
  CHECK(past_end_standard.status == 206);
  CHECK(past_end_standard.body == data.substr(500));
  CHECK(junk.status == 200);
  CHECK(junk.body == data);
  CHECK(pinned.status == 206);
  CHECK(pinned.body == data.substr(0, 100));
  check_error(changed, 412, "PreconditionFailed");
  CHECK(cached.status == 304);
  CHECK(cached.body.empty());
  CHECK(after.body == data);
  CHECK(f.server->stats().connections == 2);  // the PUT's, then the one every GET shared
}

TEST_CASE("x-oss-traffic-limit holds a PutObject's body and a GetObject's reply to that rate, as OSS does") {
  // Setup: OSS's lowest limit, 819200 bit/s (100 KiB/s), on 120,000 bytes: 1.17 s at the least
  fixture f;
  const std::string data = part_data(120'000, 5);
  const std::pair<std::string, std::string> limit{"x-oss-traffic-limit", "819200"};
  const auto seconds_of = [](auto&& call) {
    const auto start = std::chrono::steady_clock::now();
    auto reply = call();
    return std::pair{reply, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
  };

  // Run
  auto [put_limited, put_limited_s] = seconds_of([&] { return f.call({.method = "PUT", .key = "t", .headers = {limit}, .body = data}); });
  auto [put_free, put_free_s] = seconds_of([&] { return f.call({.method = "PUT", .key = "u", .body = data}); });
  auto [get_limited, get_limited_s] = seconds_of([&] { return f.call({.key = "t", .headers = {limit}}); });
  auto [get_free, get_free_s] = seconds_of([&] { return f.call({.key = "t"}); });

  // Check: the limited requests take their time; the same bytes without a limit do not
  CHECK(put_limited.status == 200);
  CHECK(get_limited.status == 200);
  CHECK(get_limited.body == data);
  CHECK(put_limited_s >= 1.1);
  CHECK(get_limited_s >= 1.1);
  CHECK(put_free_s < put_limited_s / 2);
  CHECK(get_free_s < get_limited_s / 2);
  CHECK(put_free.status == 200);
  CHECK(get_free.body == data);
  CHECK(f.server->stats().traffic_limited == 2);
}

TEST_CASE("ali-oss's own ranged and conditional get agrees with the server") {
  // Setup: the reference SDK reads an object the server stored (tests/node/ranged_get.js)
  fixture f({.access_key_id = "LTAI-range-key", .access_key_secret = "range-secret-7Qp"});
  const std::string data = part_data(300'000, 61);
  const std::string key = "ranged/äö data.bin";
  REQUIRE(f.call({.method = "PUT", .bucket = "ranged", .key = key, .body = data}).status == 200);
  const std::string etag = md5_etag(data);
  boost::json::array requests;
  const auto add = [&](boost::json::object headers) { requests.push_back(boost::json::object{{"headers", headers}}); };
  add({{"Range", "bytes=100-199"}});
  add({{"Range", "bytes=-1000"}});
  add({{"Range", "bytes=299990-400000"}});
  add({{"Range", "bytes=299990-400000"}, {"x-oss-range-behavior", "standard"}});
  add({{"Range", "bytes=300000-"}, {"x-oss-range-behavior", "standard"}});
  add({{"Range", "bytes=0-9"}, {"If-Match", etag}});
  add({{"Range", "bytes=0-9"}, {"If-Match", "\"0123456789ABCDEF0123456789ABCDEF\""}});
  add({{"If-None-Match", etag}});
  boost::json::object config{{"dialect", "oss"},
                             {"endpoint", f.server->endpoint()},
                             {"region", "oss-cn-local"},
                             {"bucket", "ranged"},
                             {"key", key},
                             {"accessKeyId", "LTAI-range-key"},
                             {"accessKeySecret", "range-secret-7Qp"},
                             {"requests", requests}};
  const auto node_dir = oss_test::env_or("OSS_TEST_NODE_DIR", "tests/node");
  if (!std::filesystem::exists(node_dir + "/node_modules/ali-oss")) OSS_SKIP("ali-oss not found under OSS_TEST_NODE_DIR");

  // Run
  const auto run = oss_test::run_process({"node", node_dir + "/ranged_get.js"}, boost::json::serialize(config),
                                         std::chrono::seconds(60));
  INFO("node output: " << run.out);
  const auto out = boost::json::parse(oss_test::last_line(run.out)).as_object();

  // Check
  REQUIRE(out.at("ok").as_bool());
  const auto& r = out.at("replies").as_array();
  REQUIRE(r.size() == 8);
  const auto status = [&](std::size_t i) { return r[i].at("status").to_number<int>(); };
  const auto md5_of = [&](std::size_t i) { return std::string(r[i].at("md5").as_string()); };
  const auto hex_md5 = [](std::string_view bytes) {
    const auto d = oss::detail::md5(bytes);
    return oss::detail::hex_lower(d.data(), d.size());
  };
  const auto code = [&](std::size_t i) {
    return r[i].at("code").is_string() ? std::string(r[i].at("code").as_string()) : std::string();
  };
  CHECK(status(0) == 206);
  CHECK(md5_of(0) == hex_md5(data.substr(100, 100)));
  CHECK(r[0].at("contentRange").as_string() == "bytes 100-199/300000");
  CHECK(r[0].at("crc64").as_string() == crc_text(data));
  CHECK(status(1) == 206);
  CHECK(md5_of(1) == hex_md5(data.substr(299'000)));
  CHECK(status(2) == 200);
  CHECK(md5_of(2) == hex_md5(data));
  CHECK(status(3) == 206);
  CHECK(md5_of(3) == hex_md5(data.substr(299'990)));
  CHECK(status(4) == 416);
  CHECK(code(4) == "InvalidRange");
  CHECK(status(5) == 206);
  CHECK(md5_of(5) == hex_md5(data.substr(0, 10)));
  CHECK(status(6) == 412);
  CHECK(code(6) == "PreconditionFailed");
  CHECK(status(7) == 304);
  CHECK(r[7].at("size").to_number<int>() == 0);
}

TEST_CASE("PutObject errors: Content-MD5, Content-Length, names, forbid-overwrite, metadata") {
  // Setup
  fixture f;
  REQUIRE(f.call({.method = "PUT", .key = "exists", .body = "old"}).status == 200);

  // Run
  auto bad_md5 = f.call({.method = "PUT", .key = "m", .headers = {{"Content-MD5", md5_base64("other")}}, .body = "data"});
  auto junk_md5 = f.call({.method = "PUT", .key = "m", .headers = {{"Content-MD5", "not base64"}}, .body = "data"});
  auto after_bad_md5 = f.call({.key = "m"});
  auto too_long = f.call({.method = "PUT", .key = std::string(1024, 'k'), .body = "x"});
  auto backslash = f.call({.method = "PUT", .key = "\\k", .body = "x"});
  auto forbidden = f.call({.method = "PUT", .key = "exists", .headers = {{"x-oss-forbid-overwrite", "true"}}, .body = "new"});
  auto kept = f.call({.key = "exists"});
  auto bad_meta = f.call({.method = "PUT", .key = "m2", .headers = {{"x-oss-meta-a_b", "1"}}, .body = "x"});
  auto big_meta = f.call({.method = "PUT", .key = "m3", .headers = {{"x-oss-meta-big", std::string(8200, 'v')}}, .body = "x"});
  auto bad_bucket = f.call({.method = "PUT", .bucket = "No_Such", .key = "k", .body = "x"});
  blocking_client raw(f.port());
  raw.send_raw("PUT /bucket/nolength HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto no_length = raw.read_reply();
  // A raw target with an invalid UTF-8 key
  raw.send_raw("PUT /bucket/%FF%FE HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nx");
  auto bad_utf8 = raw.read_reply();

  // Check
  check_error(bad_md5, 400, "InvalidDigest");
  check_error(junk_md5, 400, "InvalidDigest");
  check_error(after_bad_md5, 404, "NoSuchKey");
  check_error(too_long, 400, "InvalidObjectName");
  check_error(backslash, 400, "InvalidObjectName");
  check_error(forbidden, 409, "FileAlreadyExists");
  CHECK(kept.body == "old");
  check_error(bad_meta, 400, "InvalidArgument");
  check_error(big_meta, 400, "InvalidArgument");
  check_error(bad_bucket, 400, "InvalidBucketName");
  check_error(no_length, 411, "MissingContentLength");
  check_error(bad_utf8, 400, "InvalidObjectName");
}

TEST_CASE("chunked bodies, Expect: 100-continue, keep-alive and pipelining") {
  // Setup
  fixture f;
  blocking_client c(f.port());
  const std::string data = part_data(70'000, 3);

  // Run: a chunked PutObject in three chunks with a trailer
  std::string chunked = "PUT /bucket/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < data.size(); at += 30'000) {
    auto piece = data.substr(at, 30'000);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    chunked += size + piece + "\r\n";
  }
  chunked += "0\r\nX-Trailer: 1\r\n\r\n";
  c.send_raw(chunked);
  auto put_chunked = c.read_reply();

  // Run: Expect: 100-continue, body only after the interim reply
  c.send_raw("PUT /bucket/continued HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.read_head_raw();
  c.send_raw("hello");
  auto put_continued = c.read_reply();

  // Run: two requests in one write
  c.send_raw("GET /bucket/continued HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /bucket/chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  auto first = c.read_reply();
  auto second = c.read_reply();

  // Check
  CHECK(put_chunked.status == 200);
  CHECK(put_chunked.header("ETag") == md5_etag(data));
  CHECK(put_chunked.header("x-oss-hash-crc64ecma") == crc_text(data));
  CHECK(interim.starts_with("HTTP/1.1 100 Continue\r\n"));
  CHECK(put_continued.status == 200);
  CHECK(first.body == "hello");
  CHECK(second.body == data);
  CHECK(f.server->stats().connections == 1);
  CHECK(f.server->stats().requests == 4);
}

TEST_CASE("an early error with Expect: 100-continue answers without 100 and closes") {
  // Setup
  fixture f;
  blocking_client c(f.port());

  // Run: part number 0 is refused before the body is read
  c.send_raw("PUT /bucket/k?partNumber=0&uploadId=X HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
             "Expect: 100-continue\r\n\r\n");
  auto reply = c.read_reply();

  // Check
  check_error(reply, 400, "InvalidArgument");
  CHECK(reply.header("Connection") == "close");
  CHECK(c.closed_by_peer());
}

TEST_CASE("an early error without Expect drains the body and keeps the connection") {
  // Setup
  fixture f;
  blocking_client c(f.port());
  const std::string body = part_data(200'000, 4);

  // Run
  auto refused = f.call(c, {.method = "PUT", .key = "k", .query = {{"partNumber", "1"}, {"uploadId", "0123456789ABCDEF0123456789ABCDEF"}}, .body = body});
  auto next = f.call(c, {.method = "PUT", .key = "k", .body = "ok"});

  // Check
  check_error(refused, 404, "NoSuchUpload");
  CHECK(next.status == 200);
  CHECK(f.server->stats().connections == 1);
}

TEST_CASE("malformed requests get 400 and a closed connection") {
  // Setup
  fixture f;

  // Run
  blocking_client bad_line(f.port());
  bad_line.send_raw("THIS IS NOT HTTP\r\n\r\n");
  auto r1 = bad_line.read_reply();
  blocking_client bad_chunk(f.port());
  bad_chunk.send_raw("PUT /bucket/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  auto r2 = bad_chunk.read_reply();
  blocking_client huge_head(f.port());
  huge_head.send_raw("GET /bucket/k HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(70'000, 'a') + "\r\n\r\n");
  auto r3 = huge_head.read_reply();

  // Check
  check_error(r1, 400, "InvalidRequest");
  CHECK(bad_line.closed_by_peer());
  check_error(r2, 400, "InvalidRequest");
  CHECK(bad_chunk.closed_by_peer());
  CHECK(r3.status == 431);
  CHECK(huge_head.closed_by_peer());
  CHECK(f.server->stats().errors == 3);
}

// ---------------------------------------------------------------------------------------------
// Multipart upload

TEST_CASE("multipart upload: initiate, parts, re-sent part, list, complete, read back") {
  // Setup
  fixture f;
  const std::string key = "videos/a b.mp4";
  std::vector<std::string> parts{part_data(102'400, 10), part_data(150'000, 11), part_data(777, 12)};
  const std::string first_try = part_data(102'400, 99);

  // Run
  auto id = f.initiate(key, {{"Content-Type", "video/mp4"},
                             {"Cache-Control", "no-cache"},
                             {"Expires", "Wed, 21 Oct 2015 07:28:00 GMT"},
                             {"x-oss-meta-people", "test"},
                             {"x-oss-storage-class", "Archive"}});
  auto p2_first = f.upload_part(key, id, 2, first_try);
  std::vector<http_reply> replies;
  for (int n = 1; n <= 3; ++n) replies.push_back(f.upload_part(key, id, n, parts[n - 1]));
  auto listed = f.list_parts(key, id);
  auto uploads = f.list_uploads();
  std::vector<oss::detail::completed_part> done;
  for (int n = 1; n <= 3; ++n) done.push_back({n, replies[n - 1].header("ETag")});
  auto completed = f.complete(key, id, done);
  auto head = f.call({.method = "HEAD", .key = key});
  auto get = f.call({.key = key});
  auto list_after = f.call({.key = key, .query = {{"uploadId", id}}});

  // Check
  const std::string whole = parts[0] + parts[1] + parts[2];
  CHECK(p2_first.header("ETag") == md5_etag(first_try));
  for (int n = 0; n < 3; ++n) {
    CHECK(replies[n].status == 200);
    CHECK(replies[n].header("ETag") == md5_etag(parts[n]));
    CHECK(replies[n].header("x-oss-hash-crc64ecma") == crc_text(parts[n]));
  }
  REQUIRE(listed.parts.size() == 3);
  CHECK(listed.upload_id == id);
  CHECK_FALSE(listed.is_truncated);
  CHECK(listed.parts[1].etag == md5_etag(parts[1]));  // the re-sent part replaced the first try
  CHECK(listed.parts[1].size == parts[1].size());
  CHECK(listed.parts[1].crc64 == oss::detail::crc64(0, parts[1].data(), parts[1].size()));
  CHECK(listed.parts[2].last_modified.ends_with("Z"));
  REQUIRE(uploads.uploads.size() == 1);
  CHECK(uploads.uploads[0].key == key);
  CHECK(uploads.uploads[0].upload_id == id);
  CHECK(completed.status == 200);
  oss::detail::complete_result cr;
  std::error_code ec;
  REQUIRE(oss::detail::parse_complete_result(completed.body, cr, ec));
  CHECK(cr.etag == multipart_etag(parts));
  CHECK(cr.key == key);
  CHECK(cr.bucket == "bucket");
  CHECK(completed.header("x-oss-hash-crc64ecma") == crc_text(whole));
  CHECK(head.header("ETag") == multipart_etag(parts));
  CHECK(head.header("x-oss-object-type") == "Multipart");
  CHECK(head.header("Content-Length") == std::to_string(whole.size()));
  CHECK(head.header("Content-Type") == "video/mp4");
  CHECK(head.header("Cache-Control") == "no-cache");
  CHECK(head.header("Expires") == "Wed, 21 Oct 2015 07:28:00 GMT");
  CHECK(head.header("x-oss-meta-people") == "test");
  CHECK(head.header("x-oss-storage-class") == "Archive");
  CHECK(head.header("x-oss-hash-crc64ecma") == crc_text(whole));
  CHECK(get.body == whole);
  check_error(list_after, 404, "NoSuchUpload");
  CHECK(list_after.error().ec == "0042-00000203");
  CHECK(list_after.error().upload_id == id);
  CHECK(f.server->stats().parts_uploaded == 4);
  CHECK(f.server->stats().upload_part == 4);
  CHECK(f.server->stats().complete_multipart_upload == 1);
  CHECK(std::filesystem::is_empty(f.dir / "bucket/uploads"));
  CHECK(std::filesystem::is_empty(f.dir / "bucket/tmp"));
}

TEST_CASE("UploadPart errors: part number range, unknown upload, upload of another key") {
  // Setup
  fixture f;
  auto id = f.initiate("k");

  // Run
  auto zero = f.upload_part("k", id, 0, "x");
  auto too_big = f.upload_part("k", id, 10001, "x");
  auto junk = f.call({.method = "PUT", .key = "k", .query = {{"partNumber", "1a"}, {"uploadId", id}}, .body = "x"});
  auto max_ok = f.upload_part("k", id, 10000, "x");
  auto unknown = f.upload_part("k", "0123456789ABCDEF0123456789ABCDEF", 1, "x");
  auto traversal = f.upload_part("k", "../../etc", 1, "x");
  auto other_key = f.upload_part("other", id, 1, "x");

  // Check
  check_error(zero, 400, "InvalidArgument");
  check_error(too_big, 400, "InvalidArgument");
  check_error(junk, 400, "InvalidArgument");
  CHECK(max_ok.status == 200);
  check_error(unknown, 404, "NoSuchUpload");
  check_error(traversal, 404, "NoSuchUpload");
  check_error(other_key, 404, "NoSuchUpload");
  CHECK(f.server->stats().parts_uploaded == 1);
}

TEST_CASE("CompleteMultipartUpload errors") {
  // Setup
  fixture f;
  auto id = f.initiate("k");
  auto p1 = f.upload_part("k", id, 1, part_data(102'400, 1)).header("ETag");
  auto p2 = f.upload_part("k", id, 2, part_data(102'399, 2)).header("ETag");
  auto p3 = f.upload_part("k", id, 3, part_data(10, 3)).header("ETag");

  // Run
  auto order = f.complete("k", id, {{2, p2}, {1, p1}});
  auto duplicate = f.complete("k", id, {{1, p1}, {1, p1}});
  auto wrong_etag = f.complete("k", id, {{1, p2}});
  auto missing = f.complete("k", id, {{1, p1}, {4, p1}});
  auto too_small = f.complete("k", id, {{1, p1}, {2, p2}, {3, p3}});
  auto malformed = f.call({.method = "POST", .key = "k", .query = {{"uploadId", id}}, .body = "<Complete"});
  auto empty_list = f.call({.method = "POST", .key = "k", .query = {{"uploadId", id}},
                            .body = "<CompleteMultipartUpload></CompleteMultipartUpload>"});
  auto bad_md5 = f.complete("k", id, {{1, p1}}, {{"Content-MD5", md5_base64("x")}});
  auto unknown = f.complete("k", "0123456789ABCDEF0123456789ABCDEF", {{1, p1}});
  // Gaps are allowed and an unquoted, lower-case ETag still matches.
  std::string loose = p3.substr(1, p3.size() - 2);
  for (auto& ch : loose) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto gap = f.complete("k", id, {{1, p1}, {3, loose}});

  // Check
  check_error(order, 400, "InvalidPartOrder");
  CHECK(order.error().ec == "0042-00000209");
  check_error(duplicate, 400, "InvalidPartOrder");
  check_error(wrong_etag, 400, "InvalidPart");
  check_error(missing, 400, "InvalidPart");
  check_error(too_small, 400, "EntityTooSmall");
  CHECK(too_small.error().ec == "0042-00000213");
  check_error(malformed, 400, "MalformedXML");
  check_error(empty_list, 400, "MalformedXML");
  check_error(bad_md5, 400, "InvalidDigest");
  check_error(unknown, 404, "NoSuchUpload");
  CHECK(gap.status == 200);
  auto head = f.call({.method = "HEAD", .key = "k"});
  CHECK(head.header("Content-Length") == "102410");
  CHECK(head.header("ETag").ends_with("-2\""));
}

TEST_CASE("forbid-overwrite on Initiate or Complete, and x-oss-complete-all") {
  // Setup
  fixture f;
  REQUIRE(f.call({.method = "PUT", .key = "taken", .body = "original"}).status == 200);
  auto id1 = f.initiate("taken", {{"x-oss-forbid-overwrite", "true"}});
  auto e1 = f.upload_part("taken", id1, 1, "new").header("ETag");
  auto id2 = f.initiate("taken");
  auto e2 = f.upload_part("taken", id2, 1, "new").header("ETag");
  auto id3 = f.initiate("all");
  const std::string a = part_data(102'400, 5), b = part_data(5, 6);
  f.upload_part("all", id3, 2, b);
  f.upload_part("all", id3, 1, a);

  // Run
  auto refused_by_initiate = f.complete("taken", id1, {{1, e1}});
  auto refused_by_complete = f.complete("taken", id2, {{1, e2}}, {{"x-oss-forbid-overwrite", "true"}});
  auto allowed = f.complete("taken", id2, {{1, e2}});
  auto all_with_body = f.complete("all", id3, {{1, "x"}}, {{"x-oss-complete-all", "yes"}});
  auto all = f.call({.method = "POST", .key = "all", .query = {{"uploadId", id3}}, .headers = {{"x-oss-complete-all", "yes"}}});

  // Check
  check_error(refused_by_initiate, 409, "FileAlreadyExists");
  CHECK(refused_by_initiate.error().ec == "0042-00000214");
  check_error(refused_by_complete, 409, "FileAlreadyExists");
  CHECK(allowed.status == 200);
  CHECK(f.call({.key = "taken"}).body == "new");
  check_error(all_with_body, 400, "InvalidArgument");
  CHECK(all_with_body.error().ec == "0042-00000216");
  CHECK(all.status == 200);
  CHECK(all.header("ETag") == multipart_etag({a, b}));
  CHECK(f.call({.key = "all"}).body == a + b);
}

TEST_CASE("AbortMultipartUpload") {
  // Setup
  fixture f;
  auto id = f.initiate("k");
  f.upload_part("k", id, 1, "data");

  // Run
  auto wrong_key = f.call({.method = "DELETE", .key = "other", .query = {{"uploadId", id}}});
  auto aborted = f.call({.method = "DELETE", .key = "k", .query = {{"uploadId", id}}});
  auto again = f.call({.method = "DELETE", .key = "k", .query = {{"uploadId", id}}});
  auto part = f.upload_part("k", id, 2, "late");

  // Check
  check_error(wrong_key, 404, "NoSuchUpload");
  CHECK(aborted.status == 204);
  check_error(again, 404, "NoSuchUpload");
  check_error(part, 404, "NoSuchUpload");
  CHECK(f.list_uploads().uploads.empty());
  CHECK_FALSE(std::filesystem::exists(f.dir / "bucket/uploads" / id));
}

TEST_CASE("ListParts pagination") {
  // Setup
  fixture f;
  auto id = f.initiate("k");
  for (int n : {5, 1, 3, 2, 4}) REQUIRE(f.upload_part("k", id, n, std::string(n, 'x')).status == 200);

  // Run
  std::vector<oss::detail::list_parts_result> pages;
  int marker = 0;
  for (int guard = 0; guard < 10; ++guard) {
    pages.push_back(f.list_parts("k", id, {{"max-parts", "2"}, {"part-number-marker", std::to_string(marker)}}));
    if (!pages.back().is_truncated) break;
    marker = pages.back().next_part_number_marker;
  }
  auto capped = f.list_parts("k", id, {{"max-parts", "5000"}});
  auto bad = f.call({.key = "k", .query = {{"uploadId", id}, {"max-parts", "0"}}});

  // Check
  REQUIRE(pages.size() == 3);
  std::vector<int> numbers;
  for (const auto& p : pages)
    for (const auto& part : p.parts) {
      numbers.push_back(part.number);
      CHECK(part.size == static_cast<std::uint64_t>(part.number));
      CHECK(part.etag == md5_etag(std::string(part.number, 'x')));
    }
  CHECK(numbers == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(pages[0].is_truncated);
  CHECK(pages[0].next_part_number_marker == 2);
  CHECK(pages[0].max_parts == 2);
  CHECK(pages[1].part_number_marker == 2);
  CHECK(pages[1].next_part_number_marker == 4);
  CHECK_FALSE(pages[2].is_truncated);
  CHECK(capped.max_parts == 1000);
  CHECK(capped.parts.size() == 5);
  check_error(bad, 400, "InvalidArgument");
}

TEST_CASE("ListMultipartUploads pagination, prefix and delimiter") {
  // Setup
  fixture f;
  std::set<std::pair<std::string, std::string>> expected;
  for (std::string key : {"a/1", "a/2", "b", "b", "c/d/e"}) expected.emplace(key, f.initiate(key));

  // Run
  std::vector<oss::detail::list_uploads_result> pages;
  std::string key_marker, id_marker;
  for (int guard = 0; guard < 10; ++guard) {
    pages.push_back(f.list_uploads({{"max-uploads", "2"}, {"key-marker", key_marker}, {"upload-id-marker", id_marker}}));
    if (!pages.back().is_truncated) break;
    key_marker = pages.back().next_key_marker;
    id_marker = pages.back().next_upload_id_marker;
  }
  auto prefixed = f.list_uploads({{"prefix", "a/"}});
  auto rolled = f.list_uploads({{"delimiter", "/"}});

  // Check
  REQUIRE(pages.size() == 3);
  std::vector<std::pair<std::string, std::string>> seen;
  for (const auto& p : pages)
    for (const auto& u : p.uploads) seen.emplace_back(u.key, u.upload_id);
  CHECK(seen == std::vector<std::pair<std::string, std::string>>(expected.begin(), expected.end()));
  CHECK(pages[0].is_truncated);
  CHECK(pages[0].max_uploads == 2);
  CHECK(pages[1].key_marker == pages[0].next_key_marker);
  CHECK_FALSE(pages[2].is_truncated);
  REQUIRE(prefixed.uploads.size() == 2);
  CHECK(prefixed.prefix == "a/");
  CHECK(prefixed.uploads[0].key == "a/1");
  CHECK(rolled.common_prefixes == std::vector<std::string>{"a/", "c/"});
  REQUIRE(rolled.uploads.size() == 2);
  CHECK(rolled.uploads[0].key == "b");
  CHECK_FALSE(rolled.uploads[0].initiated.empty());
  CHECK(f.server->stats().list_multipart_uploads == 5);
}

// ---------------------------------------------------------------------------------------------
// Authentication

TEST_CASE("V1 and V4 signatures are verified") {
  // Setup
  fixture f({.access_key_id = "ak-test", .access_key_secret = "sk-test"});
  signer v1{{"ak-test", "sk-test", ""}, oss::signature_version::v1};
  signer v4{{"ak-test", "sk-test", ""}, oss::signature_version::v4};
  signer wrong_secret{{"ak-test", "not-the-secret", ""}, oss::signature_version::v4};
  signer wrong_secret_v1{{"ak-test", "not-the-secret", ""}, oss::signature_version::v1};
  signer wrong_key{{"ak-other", "sk-test", ""}, oss::signature_version::v4};
  signer wrong_region{{"ak-test", "sk-test", ""}, oss::signature_version::v4, "cn-hangzhou"};
  signer skewed{{"ak-test", "sk-test", ""}, oss::signature_version::v1, "cn-local", std::chrono::minutes(20)};
  blocking_client c(f.port());
  auto send = [&](const signer& s, const request_spec& spec) {
    return c.exchange(build_signed(spec, f.port(), s), spec.body);
  };
  const request_spec put{.method = "PUT", .key = "dir/ключ +1", .headers = {{"Content-Type", "text/plain"}, {"x-oss-meta-a", "b"}}, .body = "signed"};

  // Run
  auto put_v1 = send(v1, put);
  auto get_v4 = send(v4, {.key = "dir/ключ +1"});
  auto init_v4 = send(v4, {.method = "POST", .key = "mp", .query = {{"uploads", ""}}});
  oss::detail::initiate_result ir;
  std::error_code ec;
  REQUIRE(oss::detail::parse_initiate_result(init_v4.body, ir, ec));
  auto part_v1 = send(v1, {.method = "PUT", .key = "mp", .query = {{"partNumber", "1"}, {"uploadId", ir.upload_id}}, .body = "p"});
  auto list_v4 = send(v4, {.key = "mp", .query = {{"uploadId", ir.upload_id}, {"max-parts", "10"}}});
  auto bad_v4 = send(wrong_secret, put);
  auto bad_v1 = send(wrong_secret_v1, put);
  auto bad_key = send(wrong_key, put);
  auto bad_region = send(wrong_region, put);
  auto bad_time = send(skewed, put);
  auto unsigned_req = c.exchange(build({.key = "dir/ключ +1"}, f.port()));
  auto garbage = c.exchange([&] {
    auto req = build({.key = "x"}, f.port());
    req.headers.set("Authorization", "Bearer token");
    return req;
  }());
  // A tampered request: signed, then a signed header changed on the way.
  auto tampered_req = build_signed(put, f.port(), v4);
  tampered_req.headers.set("x-oss-meta-a", "c");
  auto tampered = c.exchange(tampered_req, put.body);

  // Check
  CHECK(put_v1.status == 200);
  CHECK(get_v4.status == 200);
  CHECK(get_v4.body == "signed");
  CHECK(part_v1.status == 200);
  CHECK(list_v4.status == 200);
  check_error(bad_v4, 403, "SignatureDoesNotMatch");
  check_error(bad_v1, 403, "SignatureDoesNotMatch");
  CHECK(bad_v1.body.find("StringToSign") == std::string::npos);  // never echo what was signed
  check_error(bad_key, 403, "InvalidAccessKeyId");
  check_error(bad_region, 403, "SignatureDoesNotMatch");
  check_error(bad_time, 403, "RequestTimeTooSkewed");
  CHECK_FALSE(bad_time.error().server_time.empty());
  check_error(unsigned_req, 403, "AccessDenied");
  check_error(garbage, 400, "InvalidArgument");
  check_error(tampered, 403, "SignatureDoesNotMatch");
  CHECK(f.server->stats().parts_uploaded == 1);
}

TEST_CASE("V1 dated by x-oss-date only (as ali-oss signs)") {
  // Setup
  fixture f({.access_key_id = "ak", .access_key_secret = "sk"});
  request_spec spec{.method = "PUT", .key = "k", .body = "v"};
  auto req = build(spec, f.port());
  req.headers.set("x-oss-date", oss::detail::http_date(std::chrono::system_clock::now()));
  oss::detail::sign_input in{"PUT", "bucket", "k", spec.query, req.headers};
  req.headers.set("Authorization", "OSS ak:" + oss::detail::v1_signature(in, "sk"));
  blocking_client c(f.port());

  // Run
  auto r = c.exchange(req, spec.body);

  // Check
  CHECK(r.status == 200);
}

TEST_CASE("a security token is required when configured") {
  // Setup
  fixture f({.access_key_id = "ak", .access_key_secret = "sk", .security_token = "sts-token"});
  signer good{{"ak", "sk", "sts-token"}, oss::signature_version::v4};
  signer none{{"ak", "sk", ""}, oss::signature_version::v4};
  signer other{{"ak", "sk", "expired-token"}, oss::signature_version::v1};
  blocking_client c(f.port());

  // Run
  auto ok = c.exchange(build_signed({.method = "PUT", .key = "k", .body = "v"}, f.port(), good), "v");
  auto missing = c.exchange(build_signed({.key = "k"}, f.port(), none));
  auto wrong = c.exchange(build_signed({.key = "k"}, f.port(), other));

  // Check
  CHECK(ok.status == 200);
  check_error(missing, 403, "InvalidSecurityToken");
  check_error(wrong, 403, "InvalidSecurityToken");
}

TEST_CASE("anonymous mode accepts unsigned and signed requests") {
  // Setup
  fixture f;
  signer someone{{"whoever", "whatever", ""}, oss::signature_version::v1};
  blocking_client c(f.port());

  // Run
  auto plain = c.exchange(build({.method = "PUT", .key = "k", .body = "1"}, f.port()), "1");
  auto signed_req = c.exchange(build_signed({.key = "k"}, f.port(), someone));

  // Check
  CHECK(plain.status == 200);
  CHECK(signed_req.status == 200);
  CHECK(signed_req.body == "1");
}

// ---------------------------------------------------------------------------------------------
// Addressing, buckets

TEST_CASE("virtual-hosted and path-style requests reach the same object") {
  // Setup
  fixture f({.access_key_id = "ak", .access_key_secret = "sk"});
  signer s{{"ak", "sk", ""}, oss::signature_version::v4};
  blocking_client c(f.port());
  const request_spec put{.method = "PUT", .bucket = "media", .key = "a/b.txt", .body = "vhost"};

  // Run: ali-oss with an IP endpoint sends Host: <bucket>.oss-<region>.aliyuncs.com and /key
  auto put_vhost = c.exchange(build_signed(put, f.port(), s, "media.oss-cn-local.aliyuncs.com"), put.body);
  auto get_path = c.exchange(build_signed({.bucket = "media", .key = "a/b.txt"}, f.port(), s));
  auto get_localhost = c.exchange([&] {
    auto req = build({.bucket = "media", .key = "a/b.txt"}, f.port());
    req.headers.set("Host", "localhost:" + std::to_string(f.port()));
    oss::detail::sign_request(req, "media", "a/b.txt", {}, s.creds, s.version, s.region, std::chrono::system_clock::now());
    return req;
  }());

  // Check
  CHECK(put_vhost.status == 200);
  CHECK(get_path.body == "vhost");
  CHECK(get_localhost.body == "vhost");
  CHECK(std::filesystem::exists(f.dir / "media/objects"));
}

TEST_CASE("a configured bucket list refuses other buckets") {
  // Setup
  fixture f({.buckets = {"only-this"}});

  // Run
  auto ok = f.call({.method = "PUT", .bucket = "only-this", .key = "k", .body = "x"});
  auto other = f.call({.method = "PUT", .bucket = "not-this", .key = "k", .body = "x"});
  auto service = f.call({.bucket = "", .key = ""});

  // Check
  CHECK(ok.status == 200);
  check_error(other, 404, "NoSuchBucket");
  CHECK(other.header("x-oss-ec") == "0015-00000101");
  CHECK_FALSE(std::filesystem::exists(f.dir / "not-this"));
  check_error(service, 501, "NotImplemented");
}

// ---------------------------------------------------------------------------------------------
// Persistence, discard, TLS

TEST_CASE("objects and unfinished uploads survive a restart on the same root") {
  // Setup
  oss_test::temp_dir root;
  const std::string key = "line\nbreak/ключ";  // escaped in the records
  const std::string a = part_data(102'400, 21), b = part_data(333, 22);
  std::string id, etag_a;
  {
    local_server_thread first({.root = root.path().string()});
    blocking_client c(first.port());
    REQUIRE(c.exchange(build({.method = "PUT", .key = key, .headers = {{"x-oss-meta-k", "v"}}, .body = "persist"}, first.port()), "persist").status == 200);
    auto init = c.exchange(build({.method = "POST", .key = "mp", .query = {{"uploads", ""}},
                                  .headers = {{"Content-Type", "image/png"}}}, first.port()));
    oss::detail::initiate_result ir;
    std::error_code ec;
    REQUIRE(oss::detail::parse_initiate_result(init.body, ir, ec));
    id = ir.upload_id;
    etag_a = c.exchange(build({.method = "PUT", .key = "mp", .query = {{"partNumber", "1"}, {"uploadId", id}}, .body = a},
                              first.port()), a).header("ETag");
  }

  // Run
  local_server_thread second({.root = root.path().string()});
  blocking_client c(second.port());
  auto get = c.exchange(build({.key = key}, second.port()));
  auto head = c.exchange(build({.method = "HEAD", .key = key}, second.port()));
  auto parts = c.exchange(build({.key = "mp", .query = {{"uploadId", id}}}, second.port()));
  auto etag_b = c.exchange(build({.method = "PUT", .key = "mp", .query = {{"partNumber", "2"}, {"uploadId", id}}, .body = b},
                                 second.port()), b).header("ETag");
  std::vector<oss::detail::completed_part> done{{1, etag_a}, {2, etag_b}};
  auto complete_body = oss::detail::build_complete_body(done);
  auto complete = c.exchange(build({.method = "POST", .key = "mp", .query = {{"uploadId", id}}, .body = complete_body},
                                   second.port()), complete_body);
  auto whole = c.exchange(build({.key = "mp"}, second.port()));

  // Check
  CHECK(get.body == "persist");
  CHECK(head.header("x-oss-meta-k") == "v");
  oss::detail::list_parts_result lp;
  std::error_code ec;
  REQUIRE(oss::detail::parse_list_parts_result(parts.body, lp, ec));
  REQUIRE(lp.parts.size() == 1);
  CHECK(lp.parts[0].etag == md5_etag(a));
  CHECK(complete.status == 200);
  CHECK(complete.header("x-oss-hash-crc64ecma") == crc_text(a + b));
  CHECK(whole.body == a + b);
  CHECK(whole.header("Content-Type") == "image/png");
}

TEST_CASE("discard mode keeps sizes and checksums only") {
  // Setup
  fixture f({.discard = true});
  const std::string a = part_data(102'400, 31), b = part_data(10, 32);

  // Run
  auto put = f.call({.method = "PUT", .key = "small", .body = "abc"});
  auto id = f.initiate("big");
  auto ea = f.upload_part("big", id, 1, a).header("ETag");
  auto eb = f.upload_part("big", id, 2, b).header("ETag");
  auto listed = f.list_parts("big", id);
  auto complete = f.complete("big", id, {{1, ea}, {2, eb}});
  auto head = f.call({.method = "HEAD", .key = "big"});
  auto get = f.call({.key = "big"});

  // Check
  CHECK(put.header("ETag") == md5_etag("abc"));
  CHECK(listed.parts.size() == 2);
  CHECK(complete.status == 200);
  CHECK(complete.header("x-oss-hash-crc64ecma") == crc_text(a + b));
  CHECK(head.header("ETag") == multipart_etag({a, b}));
  CHECK(head.header("Content-Length") == std::to_string(a.size() + b.size()));
  check_error(get, 501, "NotImplemented");
  std::size_t data_files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.dir.path()))
    data_files += e.path().extension() == ".data";
  CHECK(data_files == 0);
  CHECK(f.server->stats().bytes_received == 3 + a.size() + b.size() + oss::detail::build_complete_body(
                                                 std::vector<oss::detail::completed_part>{{1, ea}, {2, eb}}).size());
}

TEST_CASE("HTTPS with a certificate made at test time") {
  // Setup
  oss_test::temp_dir certs;
  auto cert = (certs / "cert.pem").string();
  auto key = (certs / "key.pem").string();
  auto gen = oss_test::run_process({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                    "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                                    "-addext", "subjectAltName=IP:127.0.0.1"},
                                   "");
  REQUIRE(gen.exit_code == 0);
  oss_test::temp_dir root;
  local_server_thread server({.root = root.path().string(), .tls_cert_file = cert, .tls_key_file = key});
  asio::ssl::context client_tls(asio::ssl::context::tls_client);
  client_tls.load_verify_file(cert);
  client_tls.set_verify_mode(asio::ssl::verify_peer);
  client_tls.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));

  // Run
  blocking_client c(server.port(), &client_tls);
  const std::string data = part_data(500'000, 41);
  auto put = c.exchange(build({.method = "PUT", .key = "secure", .body = data}, server.port()), data);
  auto get = c.exchange(build({.key = "secure"}, server.port()));
  asio::ssl::context old_tls(asio::ssl::context::tls_client);
  SSL_CTX_set_max_proto_version(old_tls.native_handle(), TLS1_1_VERSION);
  bool old_refused = false;
  try {
    blocking_client legacy(server.port(), &old_tls);
  } catch (const std::system_error&) {
    old_refused = true;
  }

  // Check
  CHECK(server.endpoint() == "https://127.0.0.1:" + std::to_string(server.port()));
  CHECK(put.status == 200);
  CHECK(get.body == data);
  CHECK(old_refused);
  CHECK_THROWS_AS(local_server_thread({.root = root.path().string(), .tls_cert_file = cert + ".missing", .tls_key_file = key}),
                  std::system_error);
}

// ---------------------------------------------------------------------------------------------
// Options, counters, lifetime

TEST_CASE("invalid options are refused at construction") {
  oss_test::temp_dir root;
  CHECK_THROWS_AS(local_server_thread({}), std::invalid_argument);
  CHECK_THROWS_AS(local_server_thread({.root = root.path().string(), .access_key_id = "ak"}), std::invalid_argument);
  CHECK_THROWS_AS(local_server_thread({.root = root.path().string(), .buckets = {"Bad_Name"}}), std::invalid_argument);
  CHECK_THROWS_AS(local_server_thread({.root = root.path().string(), .host = "not an address"}), std::invalid_argument);
  local_server_thread first({.root = root.path().string()});
  std::string in_use;
  try {
    local_server_thread second({.root = root.path().string(), .port = first.port()});
  } catch (const std::system_error& e) {
    in_use = e.what();
    CHECK(e.code() == std::errc::address_in_use);
  }
  CHECK(in_use.find("127.0.0.1:" + std::to_string(first.port()) + " is in use") != std::string::npos);
}

TEST_CASE("in-flight counters see concurrent requests") {
  // Setup
  fixture f;
  constexpr int n = 4;
  std::vector<std::unique_ptr<blocking_client>> clients;

  // Run: each client's head is admitted (the server says 100 Continue) but its body is held back
  for (int i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<blocking_client>(f.port()));
    clients.back()->send_raw("PUT /bucket/k" + std::to_string(i) +
                             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    REQUIRE(clients.back()->read_head_raw().starts_with("HTTP/1.1 100"));
  }
  auto during = f.server->stats();
  for (auto& c : clients) {
    c->send_raw("abc");
    CHECK(c->read_reply().status == 200);
  }
  // The counter drops right after the reply is written; poll (bounded) for that last step.
  auto after = f.server->stats();
  for (int i = 0; i < 1000 && after.in_flight != 0; ++i) {
    std::this_thread::yield();
    after = f.server->stats();
  }
  f.server->reset_stats();
  auto reset = f.server->stats();

  // Check
  CHECK(during.in_flight == n);
  CHECK(during.peak_in_flight == n);
  CHECK(after.in_flight == 0);
  CHECK(after.peak_in_flight == n);
  CHECK(after.put_object == n);
  CHECK(after.requests == n);
  CHECK(after.connections == n);
  CHECK(after.bytes_received == 3 * n);
  CHECK(reset.requests == 0);
  CHECK(reset.peak_in_flight == 0);
}

TEST_CASE("parts uploaded concurrently from several threads to a two-thread server") {
  // Setup
  oss_test::temp_dir root;
  local_server_thread server({.root = root.path().string()}, 2);
  constexpr int workers = 4, per_worker = 3;
  std::vector<std::string> parts;
  for (int i = 0; i < workers * per_worker; ++i) parts.push_back(part_data(102'400 + 1000 * i, 50 + i));
  blocking_client control(server.port());
  auto init = control.exchange(build({.method = "POST", .key = "concurrent", .query = {{"uploads", ""}}}, server.port()));
  oss::detail::initiate_result ir;
  std::error_code ec;
  REQUIRE(oss::detail::parse_initiate_result(init.body, ir, ec));

  // Run: every worker thread sends its parts on its own keep-alive connection, and re-sends
  // its first part, so part replacement races with other parts being stored
  std::vector<std::string> etags(parts.size());
  std::vector<int> statuses(parts.size() + workers);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      blocking_client c(server.port());
      auto send_part = [&](int index) {
        request_spec spec{.method = "PUT", .key = "concurrent",
                          .query = {{"partNumber", std::to_string(index + 1)}, {"uploadId", ir.upload_id}},
                          .body = parts[index]};
        auto r = c.exchange(build(spec, server.port()), spec.body);
        etags[index] = r.header("ETag");
        return r.status;
      };
      for (int k = 0; k < per_worker; ++k) statuses[w * per_worker + k] = send_part(w * per_worker + k);
      statuses[parts.size() + w] = send_part(w * per_worker);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<oss::detail::completed_part> done;
  for (std::size_t i = 0; i < parts.size(); ++i) done.push_back({static_cast<int>(i) + 1, etags[i]});
  auto body = oss::detail::build_complete_body(done);
  auto complete = control.exchange(build({.method = "POST", .key = "concurrent", .query = {{"uploadId", ir.upload_id}},
                                          .body = body}, server.port()), body);
  auto get = control.exchange(build({.key = "concurrent"}, server.port()));

  // Check
  for (int s : statuses) CHECK(s == 200);
  std::string whole;
  for (const auto& p : parts) whole += p;
  CHECK(complete.status == 200);
  CHECK(complete.header("ETag") == multipart_etag(parts));
  CHECK(complete.header("x-oss-hash-crc64ecma") == crc_text(whole));
  CHECK(get.body == whole);
  CHECK(server.stats().parts_uploaded == parts.size() + workers);
  CHECK(server.stats().peak_in_flight <= workers + 1);
}

TEST_CASE("stop() closes idle keep-alive connections and refuses new ones") {
  // Setup
  fixture f;
  blocking_client c(f.port());
  REQUIRE(f.call(c, {.method = "PUT", .key = "k", .body = "x"}).status == 200);
  auto port = f.port();

  // Run
  f.server->stop();

  // Check
  CHECK(c.closed_by_peer());
  CHECK_THROWS_AS(blocking_client{port}, std::system_error);
}

// ---------------------------------------------------------------------------------------------
// The oss-local-server executable

TEST_CASE("oss-local-server prints its endpoint first and exits 0 on SIGTERM") {
  const std::string binary = oss_test::tool_path("oss-local-server").string();
  if (!std::filesystem::exists(binary)) OSS_SKIP(binary + " not found");
  // Setup
  oss_test::temp_dir root;
  oss_test::child_process server({binary, "--root", root.path().string(), "--bucket", "cli-bucket", "--access-key-id",
                                 "ak", "--access-key-secret", "cli-secret-value"});

  // Run
  const std::string first = server.first_line(std::chrono::seconds(10));
  std::uint16_t port = 0;
  if (first.starts_with("listening on http://127.0.0.1:")) port = static_cast<std::uint16_t>(std::stoi(first.substr(30)));
  http_reply put, get;
  if (port != 0) {
    signer s{{"ak", "cli-secret-value", ""}, oss::signature_version::v4};
    blocking_client c(port);
    put = c.exchange(build_signed({.method = "PUT", .bucket = "cli-bucket", .key = "k", .body = "cli"}, port, s), "cli");
    get = c.exchange(build_signed({.bucket = "other-bucket", .key = "k"}, port, s));
  }
  server.signal(SIGTERM);
  const int code = server.wait();
  for (int i = 0; i < 100 && server.pump(100); ++i) {
  }
  const std::string& everything = server.out();
  auto usage = oss_test::run_process({binary}, "");
  auto bad_port = oss_test::run_process({binary, "--root", root.path().string(), "--port", "70000"}, "");
  auto help = oss_test::run_process({binary, "--help"}, "");

  // Check
  CHECK(port != 0);
  CHECK(put.status == 200);
  CHECK(get.status == 404);
  CHECK(code == 0);
  CHECK(everything.find("cli-secret-value") == std::string::npos);
  CHECK(usage.exit_code == 2);
  CHECK(bad_port.exit_code == 2);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--root") != std::string::npos);
}

namespace {

// Runs oss-local-server with stderr merged into stdout: what a person sees in a terminal.
oss_test::process_result run_cli(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", binary};
  argv.insert(argv.end(), args.begin(), args.end());
  return oss_test::run_process(argv, "", std::chrono::seconds(30));
}

std::size_t lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

}  // namespace

TEST_CASE("oss-local-server: a missing --root, a port in use and usage errors are one clear line") {
  const std::string binary = oss_test::tool_path("oss-local-server").string();
  if (!std::filesystem::exists(binary)) OSS_SKIP(binary + " not found");
  // Setup
  oss_test::temp_dir dir;
  const std::string missing = (dir / "no-such-store").string();
  const std::string created = (dir / "new-store").string();
  oss_test::write_file(dir / "a-file", "not a folder");
  local_server_thread taken({.root = (dir / "taken").string()});
  const std::string root = dir.path().string();

  // Run
  const auto refused = run_cli(binary, {"--root", missing});
  const auto file_root = run_cli(binary, {"--root", (dir / "a-file").string()});
  const auto busy = run_cli(binary, {"--root", root, "--port", std::to_string(taken.port())});
  const auto unknown = run_cli(binary, {"--root", root, "--prot", "80"});
  const auto mistyped_secret = run_cli(binary, {"--root", root, "--acess-key-secret=hunter2-secret"});
  const auto no_root = run_cli(binary, {});
  const auto bad_port = run_cli(binary, {"--root", root, "--port", "70000"});
  oss_test::child_process server({binary, "--root", created, "--create-root"});
  const std::string listening = server.first_line(std::chrono::seconds(10));
  server.signal(SIGTERM);
  const int code = server.wait();

  // Check
  CHECK(refused.exit_code == 2);
  CHECK(lines(refused.out) == 1);
  CHECK(refused.out.find("--root " + missing + " does not exist") != std::string::npos);
  CHECK(refused.out.find("--create-root") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(missing));
  CHECK(file_root.exit_code == 2);
  CHECK(file_root.out.find("is not a folder") != std::string::npos);
  CHECK(busy.exit_code == 1);
  CHECK(busy.out == "oss-local-server: 127.0.0.1:" + std::to_string(taken.port()) +
                        " is in use (choose another --port, or 0 for a free one)\n");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.out == "oss-local-server: unknown option --prot (see --help)\n");
  CHECK(mistyped_secret.exit_code == 2);
  CHECK(mistyped_secret.out.find("--acess-key-secret") != std::string::npos);
  CHECK(mistyped_secret.out.find("hunter2") == std::string::npos);
  CHECK(no_root.exit_code == 2);
  CHECK(no_root.out == "oss-local-server: --root DIR is required (see --help)\n");
  CHECK(bad_port.exit_code == 2);
  CHECK(lines(bad_port.out) == 1);
  CHECK(listening.starts_with("listening on http://127.0.0.1:"));
  CHECK(code == 0);
  CHECK(std::filesystem::is_directory(created));
}
