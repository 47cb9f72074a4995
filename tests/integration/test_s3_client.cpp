// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// oss::client and oss::multipart_upload in the S3 dialect over real sockets: every operation
// against oss::testing::local_server in S3 mode (SigV4, x-amz-* headers, S3 XML and ETags, no
// CRC-64), the request shapes seen by a recording server, hostile S3 replies (200 with <Error>
// on Complete, a missing ETag, garbage XML in the S3 namespace), Complete reconciliation by
// HEAD without a server CRC, the checkpoint's dialect, and `oss-upload --dialect s3`.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../support/hostile_server.hpp"
#include "../support/process.hpp"
#include "../support/run_coro.hpp"
#include "../support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

constexpr const char* s3_key_id = "AKIDS3CLIENTTEST";
constexpr const char* s3_secret = "s3-client-secret-Wq81vB";
constexpr const char* s3_region = "us-test-1";
constexpr const char* s3_bucket = "s3.client-bucket";  // dotted: allowed in S3
constexpr std::size_t mib = 1024 * 1024;
constexpr std::string_view s3_ns = "http://s3.amazonaws.com/doc/2006-03-01/";

using oss_test::run_coro;

struct s3_env {
  oss_test::temp_dir store;
  oss::testing::local_server_thread server;

  explicit s3_env(std::string token = "")
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          o.dialect = oss::api_dialect::s3;
          o.region = s3_region;
          o.access_key_id = s3_key_id;
          o.access_key_secret = s3_secret;
          o.security_token = token;
          return o;
        }()) {}
};

oss::client_options s3_options(const std::string& endpoint) {
  oss::client_options o;
  o.dialect = oss::api_dialect::s3;
  o.endpoint = endpoint;
  o.region = s3_region;
  o.bucket = s3_bucket;
  o.creds = {s3_key_id, s3_secret, ""};
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  return o;
}

std::uint64_t crc_of(std::string_view s) { return oss::detail::crc64(0, s.data(), s.size()); }

std::string quoted_md5_hex(std::string_view s) {
  const auto d = oss::detail::md5(s);
  return "\"" + oss::detail::hex_lower(d.data(), d.size()) + "\"";
}

// S3's multipart ETag of `parts`: MD5 of the concatenated binary part MD5s, "-N".
std::string multipart_etag(const std::vector<std::string>& parts) {
  std::string md5s;
  for (const auto& p : parts) {
    const auto d = oss::detail::md5(p);
    md5s.append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  const auto d = oss::detail::md5(md5s);
  return "\"" + oss::detail::hex_lower(d.data(), d.size()) + "-" + std::to_string(parts.size()) + "\"";
}

const std::string* find_header(const oss_test::hostile_request& r, std::string_view name) {
  return r.headers.find(name);
}

bool has_oss_header(const oss_test::hostile_request& r) {
  for (const auto& f : r.headers)
    if (f.name.size() >= 6 && oss::detail::http::iequals(std::string_view(f.name).substr(0, 6), "x-oss-"))
      return true;
  return false;
}

std::string s3_xml(std::string_view root, std::string_view inner) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<" + std::string(root) + " xmlns=\"" + std::string(s3_ns) +
         "\">" + std::string(inner) + "</" + std::string(root) + ">";
}

std::string s3_reply(int status, std::string_view reason, std::string_view body,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
  headers.emplace_back("x-amz-request-id", "HOSTILE-S3-REQ");
  headers.emplace_back("x-amz-id-2", "hostile-host-id");
  if (!body.empty()) headers.emplace_back("Content-Type", "application/xml");
  return oss_test::http_reply(status, reason, headers, body);
}

std::string s3_error_body(std::string_view code) {
  // Real S3 error bodies carry no namespace; the test also sends one that does.
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + std::string(code) +
         "</Code><Message>We encountered an internal error. Please try again.</Message>"
         "<RequestId>ERR-REQ</RequestId><HostId>err-host</HostId></Error>";
}

bool is_complete(const oss_test::hostile_request& r) {
  return r.method == "POST" && r.target.find("uploadId=") != std::string::npos;
}
bool is_initiate(const oss_test::hostile_request& r) {
  return r.method == "POST" && r.target.find("?uploads") != std::string::npos;
}

// A bodiless HEAD reply (http_reply would add a second Content-Length).
std::string head_reply(std::string_view etag, std::uint64_t size) {
  return "HTTP/1.1 200 OK\r\nETag: " + std::string(etag) + "\r\nContent-Length: " + std::to_string(size) +
         "\r\nx-amz-request-id: HOSTILE-S3-REQ\r\nConnection: close\r\n\r\n";
}

// multipart_upload throws; the tests want the code and the diagnostics.
struct failure {
  std::error_code ec;
  oss::diagnostics diag;
};
asio::awaitable<failure> upload_failure(oss::client& c, std::string name, oss::upload_source source,
                                        oss::upload_options opts) {
  failure f;
  try {
    co_await oss::multipart_upload(c, std::move(name), std::move(source), std::move(opts));
  } catch (const oss::error& e) {
    f.ec = e.code();
    f.diag = e.get_diagnostics();
  }
  co_return f;
}

oss_test::hostile_reply raw_reply(std::string raw) {
  oss_test::hostile_reply r;
  r.raw = std::move(raw);
  return r;
}

// The Initiate reply of the recording server.
oss_test::hostile_reply initiate_reply() {
  return raw_reply(s3_reply(200, "OK", s3_xml("InitiateMultipartUploadResult",
                                              "<Bucket>s3.client-bucket</Bucket><Key>k</Key><UploadId>UP-1</UploadId>")));
}

}  // namespace

TEST_CASE("S3 client: every operation against the local server in S3 mode") {
  // Setup
  s3_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(env.server.endpoint()));
  const std::string small = oss_test::random_bytes(3000, 1);
  const std::vector<std::string> chunks{oss_test::random_bytes(5 * mib, 2), oss_test::random_bytes(5 * mib, 3),
                                        oss_test::random_bytes(1000, 4)};
  const std::string whole = chunks[0] + chunks[1] + chunks[2];
  const std::string name = "dir/vidéo a+b.bin";

  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run / Check: PutObject, GetObject, HeadObject.
    oss::object_options opts;
    opts.meta = {{"Kind", "sample"}};
    oss::put_result put = co_await client.put_object("small.txt", asio::buffer(small), opts);
    CHECK(put.etag == quoted_md5_hex(small));
    CHECK(put.crc64 == crc_of(small));
    CHECK_FALSE(put.request_id.empty());
    CHECK(co_await client.get_object("small.txt") == small);
    oss::object_meta meta = co_await client.head("small.txt");
    CHECK(meta.size == small.size());
    CHECK(meta.etag == put.etag);
    CHECK_FALSE(meta.crc64);
    REQUIRE(meta.meta.size() == 1);
    CHECK(meta.meta[0] == std::pair<std::string, std::string>{"kind", "sample"});
    CHECK(meta.content_type == "text/plain");

    // The multipart family, parts out of order.
    const std::string upload_id = co_await client.initiate_multipart_upload(name, opts);
    CHECK_FALSE(upload_id.empty());
    std::vector<oss::completed_part> done;
    for (int i : {2, 3, 1}) {
      const std::string& chunk = chunks[static_cast<std::size_t>(i - 1)];
      oss::part_result part = co_await client.upload_part(name, upload_id, i, asio::buffer(chunk), false);
      CHECK(part.etag == quoted_md5_hex(chunk));
      CHECK(part.crc64 == crc_of(chunk));
      CHECK_FALSE(part.request_id.empty());
      done.push_back({i, part.etag, chunk.size(), part.crc64});
    }
    oss::list_parts_options page;
    page.max_parts = 2;
    oss::list_parts_result first = co_await client.list_parts(name, upload_id, page);
    CHECK(first.is_truncated);
    REQUIRE(first.parts.size() == 2);
    CHECK(first.parts[0].part_number == 1);
    CHECK(first.parts[1].size == 5 * mib);
    oss::list_parts_result all = co_await client.list_all_parts(name, upload_id);
    REQUIRE(all.parts.size() == 3);
    CHECK(all.parts[2].etag == quoted_md5_hex(chunks[2]));
    oss::list_uploads_result uploads = co_await client.list_multipart_uploads();
    REQUIRE(uploads.uploads.size() == 1);
    CHECK(uploads.uploads[0].key == name);
    CHECK(uploads.uploads[0].upload_id == upload_id);

    oss::complete_result complete = co_await client.complete_multipart_upload(name, upload_id, done);
    CHECK(complete.etag == multipart_etag(chunks));
    CHECK_FALSE(complete.crc64);  // S3 keeps none
    CHECK_FALSE(complete.reconciled);
    CHECK(complete.key == name);
    CHECK_FALSE(complete.request_id.empty());
    oss::object_meta big = co_await client.head(name);
    CHECK(big.part_count() == 3);
    CHECK(big.size == whole.size());
    CHECK(co_await client.get_object(name) == whole);

    // A dead upload id: Abort still succeeds, UploadPart reports NoSuchUpload.
    co_await client.abort_multipart_upload(name, upload_id);
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_upload_part(name, upload_id, 4, asio::buffer(small), false, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_upload);
    CHECK(diag.code == "NoSuchUpload");
    CHECK(diag.part_number == 4);
    CHECK_FALSE(diag.request_id.empty());
    CHECK((co_await client.list_multipart_uploads()).uploads.empty());

    // Missing objects: GET has an error body, HEAD only a status.
    std::tie(ec, std::ignore) = co_await client.async_head("missing", diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_key);
    std::tie(ec, std::ignore) = co_await client.async_get_object("missing", diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::no_such_key);
    CHECK(diag.code == "NoSuchKey");
  });
}

TEST_CASE("S3 client: signed payloads, a wrong SHA-256 and a wrong secret are refused") {
  // Setup
  s3_env env;
  asio::io_context io;
  oss::client_options o = s3_options(env.server.endpoint());
  o.s3_sign_payload = true;
  oss::client signing(io.get_executor(), o);
  oss::client_options bad = s3_options(env.server.endpoint());
  bad.creds.access_key_secret = "not-the-secret-1234";
  oss::client wrong(io.get_executor(), bad);
  const std::string data = oss_test::random_bytes(70'000, 7);

  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run / Check: the real hash verifies.
    oss::put_result r = co_await signing.put_object("signed.bin", asio::buffer(data));
    CHECK(r.etag == quoted_md5_hex(data));
    CHECK(co_await signing.get_object("signed.bin") == data);

    // A caller's SHA-256 is trusted, so a wrong one reaches the server, which refuses it.
    oss::body_digests lie;
    lie.sha256 = oss::detail::sha256("something else");
    std::error_code ec;
    oss::diagnostics diag;
    const oss::object_options defaults;
    std::tie(ec, std::ignore) = co_await signing.async_put_object("signed.bin", asio::buffer(data), defaults, lie, diag, oss_test::tuple_token);
    CHECK(ec);
    CHECK(diag.code == "XAmzContentSHA256Mismatch");

    // multipart_upload's parts are signed with their hash too.
    const std::string big = oss_test::random_bytes(6 * mib, 8);
    oss::upload_options mp;
    mp.part_size = 5 * mib;
    const oss::upload_source source(std::span<const std::byte>(reinterpret_cast<const std::byte*>(big.data()), big.size()));
    oss::upload_result up = co_await oss::multipart_upload(signing, "signed-mp.bin", source, mp);
    CHECK(up.parts == 2);
    CHECK(co_await signing.get_object("signed-mp.bin") == big);

    std::tie(ec, std::ignore) = co_await wrong.async_put_object("x.bin", asio::buffer(data), defaults, diag, oss_test::tuple_token);
    CHECK(diag.code == "SignatureDoesNotMatch");
    const std::string what = oss::error(ec, diag).what();
    CHECK(what.find("not-the-secret") == std::string::npos);
    CHECK(what.find(s3_secret) == std::string::npos);
  });
}

TEST_CASE("S3 client: STS tokens travel as x-amz-security-token") {
  // Setup
  s3_env env("sts-token-abc");
  asio::io_context io;
  oss::client_options with = s3_options(env.server.endpoint());
  with.creds.security_token = "sts-token-abc";
  oss::client good(io.get_executor(), with);
  oss::client without(io.get_executor(), s3_options(env.server.endpoint()));
  const std::string data = "token test";

  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run / Check
    co_await good.put_object("t.txt", asio::buffer(data));
    CHECK(co_await good.get_object("t.txt") == data);
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await without.async_get_object("t.txt", diag, oss_test::tuple_token);
    CHECK(ec);
  });
}

TEST_CASE("S3 client: requests carry SigV4, x-amz-* headers and Content-MD5, never x-oss-*") {
  // Setup: a recording server that accepts every PutObject / UploadPart.
  oss_test::hostile_server server([](const oss_test::hostile_request& r) {
    if (is_initiate(r)) return initiate_reply();
    return raw_reply(s3_reply(200, "OK", "", {{"ETag", "\"0123456789abcdef0123456789abcdef\""}}));
  });
  asio::io_context io;
  oss::client_options o = s3_options(server.endpoint());
  o.creds.security_token = "tok-123";
  oss::client plain(io.get_executor(), o);
  o.s3_sign_payload = true;
  o.s3_content_md5 = false;
  oss::client hashed(io.get_executor(), o);
  const std::string data = "Welcome to Amazon S3.";

  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run
    oss::object_options opts;
    opts.meta = {{"kind", "x"}};
    opts.headers = {{"x-amz-storage-class", "STANDARD_IA"}};
    co_await plain.put_object("a b.txt", asio::buffer(data), opts);
    co_await hashed.upload_part("a b.txt", "UP-1", 2, asio::buffer(data), false);
    co_await plain.initiate_multipart_upload("k", opts);
  });

  // Check
  const auto seen = server.seen();
  REQUIRE(seen.size() == 3);
  const auto& put = seen[0];
  CHECK(put.method == "PUT");
  CHECK(put.target == "/s3.client-bucket/a%20b.txt");  // IP endpoint: path style
  REQUIRE(find_header(put, "Authorization"));
  const std::string& auth = *find_header(put, "Authorization");
  CHECK(auth.starts_with(std::string("AWS4-HMAC-SHA256 Credential=") + s3_key_id + "/"));
  CHECK(auth.find(std::string("/") + s3_region + "/s3/aws4_request") != std::string::npos);
  CHECK(auth.find(s3_secret) == std::string::npos);
  REQUIRE(find_header(put, "x-amz-date"));
  CHECK(*find_header(put, "x-amz-content-sha256") == "UNSIGNED-PAYLOAD");
  CHECK(*find_header(put, "x-amz-security-token") == "tok-123");
  CHECK(*find_header(put, "x-amz-meta-kind") == "x");
  CHECK(*find_header(put, "x-amz-storage-class") == "STANDARD_IA");
  const auto md5 = oss::detail::md5(data);
  CHECK(*find_header(put, "Content-MD5") == oss::detail::base64_encode(md5.data(), md5.size()));
  CHECK(*find_header(put, "Host") == server.endpoint().substr(7));
  CHECK_FALSE(has_oss_header(put));

  const auto& part = seen[1];
  CHECK(part.target.find("partNumber=2") != std::string::npos);
  CHECK(*find_header(part, "x-amz-content-sha256") ==
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  CHECK_FALSE(find_header(part, "Content-MD5"));  // s3_content_md5 = false
  CHECK_FALSE(has_oss_header(part));

  const auto& init = seen[2];
  CHECK(init.target == "/s3.client-bucket/k?uploads");
  CHECK(*find_header(init, "x-amz-meta-kind") == "x");
  CHECK_FALSE(has_oss_header(init));
}

TEST_CASE("S3 client: a 200 with <Error> on Complete is retried when retryable, final otherwise") {
  // Setup: the first Complete answers 200 with an InternalError body (as S3 does when it
  // failed after sending the status), the second succeeds; "fatal" answers AccessDenied.
  const std::string ok_body =
      s3_xml("CompleteMultipartUploadResult",
             "<Location>http://h/k</Location><Bucket>s3.client-bucket</Bucket><Key>k</Key><ETag>\"aa-1\"</ETag>");
  for (bool namespaced : {false, true}) {
    std::atomic<int> completes{0};
    oss_test::hostile_server server([&](const oss_test::hostile_request& r) {
      if (is_complete(r) && completes.fetch_add(1) == 0) {
        std::string err = s3_error_body("InternalError");
        if (namespaced) err.replace(err.find("<Error>"), 7, "<Error xmlns=\"" + std::string(s3_ns) + "\">");
        return raw_reply(s3_reply(200, "OK", err));
      }
      return raw_reply(s3_reply(200, "OK", ok_body));
    });
    asio::io_context io;
    oss::client client(io.get_executor(), s3_options(server.endpoint()));
    std::vector<oss::completed_part> parts{{1, "\"0123456789abcdef0123456789abcdef\""}};

    run_coro(io, [&]() -> asio::awaitable<void> {
      // Run
      oss::complete_result r = co_await client.complete_multipart_upload("k", "UP-1", parts);

      // Check
      CHECK(r.etag == "\"aa-1\"");
      CHECK_FALSE(r.reconciled);
    });
    CHECK(completes.load() == 2);
    CHECK(client.counters().retries == 1);
    const auto seen = server.seen();
    REQUIRE_FALSE(seen.empty());
    CHECK(seen[0].body.find("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">") !=
          std::string::npos);
  }

  // Setup: a non-retryable code inside the 200.
  oss_test::hostile_server denied([](const oss_test::hostile_request&) {
    return raw_reply(s3_reply(200, "OK", s3_error_body("AccessDenied")));
  });
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(denied.endpoint()));
  std::vector<oss::completed_part> parts{{1, "\"0123456789abcdef0123456789abcdef\""}};
  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run
    std::error_code ec;
    oss::diagnostics diag;
    std::tie(ec, std::ignore) = co_await client.async_complete_multipart_upload("k", "UP-1", parts, diag, oss_test::tuple_token);

    // Check
    CHECK(ec == oss::server_errc::access_denied);
    CHECK(diag.attempts == 1);
    CHECK(diag.request_id == "ERR-REQ");
    CHECK(diag.host_id == "err-host");
  });
  CHECK(denied.requests() == 1);
}

TEST_CASE("S3 client: a missing ETag and garbage XML in the S3 namespace are refused") {
  // Setup
  oss_test::hostile_server server([](const oss_test::hostile_request& r) {
    if (is_initiate(r) && r.target.starts_with("/s3.client-bucket/garbage"))
      return raw_reply(
          s3_reply(200, "OK", "<?xml version=\"1.0\"?><InitiateMultipartUploadResult xmlns=\"" + std::string(s3_ns) +
                                  "\"><Bucket>b</Bucket><UploadId>UP"));
    if (is_initiate(r))
      return raw_reply(s3_reply(200, "OK", s3_xml("InitiateMultipartUploadResult", "<Bucket>b</Bucket>")));
    return raw_reply(s3_reply(200, "OK", ""));  // no ETag
  });
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(server.endpoint()));
  const std::string data = "part";

  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    // Run / Check
    std::tie(ec, std::ignore) = co_await client.async_upload_part("k", "UP-1", 1, asio::buffer(data), false, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::missing_etag);
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("k", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::missing_etag);
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("garbage", none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::malformed_xml);
    std::tie(ec, std::ignore) = co_await client.async_initiate_multipart_upload("no-id", none, diag, oss_test::tuple_token);
    CHECK(ec == oss::client_errc::missing_upload_id);
  });
}

TEST_CASE("S3 client: a Complete whose replies were lost is reconciled by HEAD and the S3 ETag") {
  // Setup: Complete never answers (the connection closes); HEAD shows an object of the right
  // size whose ETag is (good) or is not (forged) the one the listed parts make.
  const std::vector<std::string> chunks{oss_test::random_bytes(5 * mib, 11), oss_test::random_bytes(777, 12)};
  const std::string right = multipart_etag(chunks);
  const std::string forged = "\"00000000000000000000000000000000-2\"";
  for (const std::string& head_etag : {right, forged}) {
    oss_test::hostile_server server([&](const oss_test::hostile_request& r) {
      if (is_complete(r)) return raw_reply("");  // close without a reply
      return raw_reply(head_reply(head_etag, chunks[0].size() + chunks[1].size()));
    });
    asio::io_context io;
    oss::client_options o = s3_options(server.endpoint());
    o.max_attempts = 2;
    oss::client client(io.get_executor(), o);
    std::vector<oss::completed_part> parts;
    for (int i = 1; i <= 2; ++i) {
      const std::string& c = chunks[static_cast<std::size_t>(i - 1)];
      parts.push_back({i, quoted_md5_hex(c), c.size(), crc_of(c)});
    }

    run_coro(io, [&]() -> asio::awaitable<void> {
      // Run
      std::error_code ec;
      oss::diagnostics diag;
      oss::complete_result r;
      std::tie(ec, r) = co_await client.async_complete_multipart_upload("k", "UP-1", parts, diag, oss_test::tuple_token);

      // Check
      if (head_etag == right) {
        CHECK_FALSE(ec);
        CHECK(r.reconciled);
        CHECK(r.etag == right);
        CHECK_FALSE(r.crc64);
        CHECK(r.request_id == "HOSTILE-S3-REQ");
      } else {
        CHECK(ec);
        CHECK_FALSE(r.reconciled);
      }
    });
    const auto seen = server.seen();
    // Two Completes, then one HEAD; the forged object is looked for again up to 6 HEADs in all
    // (the earlier Complete might have been still running).
    REQUIRE(seen.size() == (head_etag == right ? 3u : 8u));
    CHECK(seen[2].method == "HEAD");
    CHECK(seen.back().method == "HEAD");
  }
}

TEST_CASE("S3 multipart_upload: end to end, failure, resume, lost Complete reply, checkpoint dialect") {
  // Setup
  s3_env env;
  oss_test::temp_dir work;
  const std::string data = oss_test::random_bytes(12 * mib + 1234, 31);
  const auto file = work.path() / "data.bin";
  oss_test::write_file(file, data);
  const auto cp_path = work.path() / "upload.cp";
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(env.server.endpoint()));

  // Run: part 2 fails for good on the first run (AccessDenied is not retried).
  oss::testing::fault_rule deny;
  deny.operation = "UploadPart";
  deny.part_number = 2;
  deny.status = 403;
  deny.code = "AccessDenied";
  env.server.set_fault_plan({deny});
  oss::upload_options opts;
  opts.parallel = 1;
  opts.part_size = 5 * mib;
  opts.checkpoint = cp_path;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source(file);
    failure f = co_await upload_failure(client, "video.bin", source, opts);
    CHECK(f.ec == oss::server_errc::access_denied);
  });

  // Check: the checkpoint records the S3 dialect and part 1.
  oss::checkpoint cp = oss::load_checkpoint(cp_path);
  CHECK(cp.dialect == "s3");
  REQUIRE(cp.done_parts.size() == 1);
  CHECK(cp.done_parts[0].etag == quoted_md5_hex(std::string_view(data).substr(0, 5 * mib)));

  // Run: the same checkpoint written as an OSS one is refused before any request.
  env.server.clear_fault_plan();
  oss::checkpoint as_oss = cp;
  as_oss.dialect = "oss";
  const auto oss_cp_path = work.path() / "oss.cp";
  oss::save_checkpoint(oss_cp_path, as_oss);
  env.server.reset_stats();
  oss::upload_options wrong = opts;
  wrong.checkpoint = oss_cp_path;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source(file);
    failure f = co_await upload_failure(client, "video.bin", source, wrong);
    CHECK(f.ec == oss::client_errc::checkpoint_mismatch);
    CHECK(f.diag.client_message.find("dialect") != std::string::npos);
  });
  CHECK(env.server.stats().requests == 0);

  // Run: resume; the Complete's reply is lost once (applied, then the connection closes), so
  // the result comes from HEAD without any server CRC.
  oss::testing::fault_rule lose;
  lose.operation = "CompleteMultipartUpload";
  lose.action = oss::testing::fault_action::close_before_reply;
  lose.apply_then_fail = true;
  env.server.set_fault_plan({lose});
  oss::upload_result result;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source(file);
    result = co_await oss::multipart_upload(client, "video.bin", source, opts);
  });

  // Check
  CHECK(result.resumed);
  CHECK(result.parts == 3);
  CHECK(result.parts_uploaded == 2);
  CHECK(result.size == data.size());
  CHECK(result.crc64 == crc_of(data));  // computed locally; S3 sends none
  CHECK(oss::detail::multipart_etag_part_count(result.etag) == 3);
  CHECK_FALSE(std::filesystem::exists(cp_path));
  run_coro(io, [&]() -> asio::awaitable<void> {
    CHECK(co_await client.get_object("video.bin") == data);
  });
}

TEST_CASE("S3 multipart_upload: a resume finds the upload completed earlier by its S3 ETag") {
  // Setup: Complete takes effect but answers AccessDenied (final, not ambiguous), so the first
  // run fails with every part recorded and the upload already completed on the server.
  s3_env env;
  oss_test::temp_dir work;
  const std::string data = oss_test::random_bytes(10 * mib + 99, 61);
  const auto file = work.path() / "done.bin";
  oss_test::write_file(file, data);
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(env.server.endpoint()));
  oss::testing::fault_rule denied;
  denied.operation = "CompleteMultipartUpload";
  denied.status = 403;
  denied.code = "AccessDenied";
  denied.apply_then_fail = true;
  env.server.set_fault_plan({denied});
  oss::upload_options opts;
  opts.part_size = 5 * mib;
  opts.checkpoint = work.path() / "done.cp";
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source(file);
    failure f = co_await upload_failure(client, "done.bin", source, opts);
    CHECK(f.ec == oss::server_errc::access_denied);
  });
  REQUIRE(std::filesystem::exists(work.path() / "done.cp"));
  env.server.clear_fault_plan();
  env.server.reset_stats();

  // Run
  oss::upload_result r;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source(file);
    r = co_await oss::multipart_upload(client, "done.bin", source, opts);
  });

  // Check: nothing uploaded again; the object was recognised by HEAD (no server CRC).
  CHECK(r.resumed);
  CHECK(r.parts_uploaded == 0);
  CHECK(r.parts == 3);
  CHECK(r.crc64 == crc_of(data));
  CHECK_FALSE(r.request_id.empty());
  CHECK(env.server.stats().upload_part == 0);
  CHECK(env.server.stats().complete_multipart_upload == 0);
  CHECK_FALSE(std::filesystem::exists(work.path() / "done.cp"));
}

TEST_CASE("S3 multipart_upload: parts under 5 MiB are refused before any request; small files use PutObject") {
  // Setup
  s3_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), s3_options(env.server.endpoint()));
  const std::string data = oss_test::random_bytes(300'000, 41);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data.data()), data.size());

  run_coro(io, [&]() -> asio::awaitable<void> {
    // Run / Check
    oss::upload_options small_parts;
    small_parts.part_size = 1 * mib;
    const oss::upload_source source(bytes);
    failure f = co_await upload_failure(client, "a.bin", source, small_parts);
    CHECK(f.ec == oss::client_errc::invalid_part_size);
    CHECK(f.diag.client_message.find("5 MiB") != std::string::npos);
    CHECK(env.server.stats().requests == 0);

    oss::upload_options ok;
    ok.part_size = 5 * mib;
    oss::upload_result r = co_await oss::multipart_upload(client, "a.bin", source, ok);
    CHECK_FALSE(r.multipart);
    CHECK(r.etag == quoted_md5_hex(data));
    CHECK(r.crc64 == crc_of(data));
  });
}

TEST_CASE("S3 oss-upload --dialect s3: exit 0 uploaded, 2 bad input, 3 refused") {
  // Setup
  const char* build = std::getenv("OSS_BUILD_DIR");
  std::filesystem::path tool;
  if (build && *build) {
    tool = std::filesystem::path(build) / "examples" / "oss-upload";
  } else {
    std::error_code ec;
    tool = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "examples" / "oss-upload";
  }
  REQUIRE_MESSAGE(std::filesystem::exists(tool), "build examples/oss-upload first: " << tool.string());
  s3_env env;
  oss_test::temp_dir work;
  const std::string data = oss_test::random_bytes(9 * mib + 5, 51);
  const auto file = work.path() / "f.bin";
  oss_test::write_file(file, data);
  const std::string key_env = std::string("OSS_ACCESS_KEY_ID=") + s3_key_id;
  const std::string secret_env = std::string("OSS_ACCESS_KEY_SECRET=") + s3_secret;
  auto run = [&](std::vector<std::string> env_vars, std::vector<std::string> args) {
    std::vector<std::string> argv{"env", "-i"};
    argv.insert(argv.end(), env_vars.begin(), env_vars.end());
    argv.push_back(tool.string());
    argv.insert(argv.end(), args.begin(), args.end());
    return oss_test::run_process(argv, "", 120s);
  };
  const std::vector<std::string> where{"--endpoint", env.server.endpoint(), "--region", s3_region,
                                       "--bucket", s3_bucket, "-q"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = where;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };

  // Run / Check: uploaded with the S3 default part size (8 MiB: two parts).
  auto ok = run({key_env, secret_env}, with({"--dialect", "s3", file.string(), "f.bin"}));
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("\"parts\":2") != std::string::npos);
  CHECK(ok.out.find("\"crc64\":\"" + std::to_string(crc_of(data)) + "\"") != std::string::npos);
  // The dialect from the environment.
  auto via_env = run({key_env, secret_env, "OSS_DIALECT=s3"}, with({file.string(), "g.bin"}));
  CHECK(via_env.exit_code == 0);

  env.server.reset_stats();
  CHECK(run({key_env, secret_env}, with({"--dialect", "s3", "--part-size", "1M", file.string(), "h.bin"})).exit_code == 2);
  CHECK(run({key_env, secret_env}, with({"--dialect", "s4", file.string(), "h.bin"})).exit_code == 2);
  CHECK(run({key_env, secret_env, "OSS_DIALECT=gcs"}, with({file.string(), "h.bin"})).exit_code == 2);
  CHECK(run({key_env, secret_env}, with({"--dialect", "s3", "--signature", "v1", file.string(), "h.bin"})).exit_code == 2);
  CHECK(env.server.stats().requests == 0);
  CHECK(run({key_env, "OSS_ACCESS_KEY_SECRET=wrong-secret-000"}, with({"--dialect", "s3", file.string(), "h.bin"}))
            .exit_code == 3);

  // oss-head: the S3 store keeps no CRC-64, so --verify compares the size.
  const auto head_tool = tool.parent_path() / "oss-head";
  auto head = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{"env", "-i", key_env, secret_env, head_tool.string(), "--dialect", "s3",
                                  "--endpoint", env.server.endpoint(), "--region", s3_region, "--bucket", s3_bucket};
    argv.insert(argv.end(), args.begin(), args.end());
    return oss_test::run_process(argv, "", 60s);
  };
  auto verified = head({"f.bin", "--verify", file.string()});
  CHECK(verified.exit_code == 0);
  CHECK(verified.out.find("size matches") != std::string::npos);
  const auto other = work.path() / "other.bin";
  oss_test::write_file(other, data.substr(1));
  CHECK(head({"f.bin", "--verify", other.string()}).exit_code == 1);
  CHECK(head({"missing.bin"}).exit_code == 3);
}
