// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// The S3 dialect against a server we did not write: the real s3rver (npm, tests/node), with
// objects read back by the real AWS SDK for JavaScript (@aws-sdk/client-s3 GetObjectCommand,
// tests/node/s3_get.js). multipart_upload of several sizes, put_object/head/get_object, and the
// oss-upload tool with --dialect s3. Skipped (not failed) where node or the npm modules are
// missing.
//
// s3rver 3.7.1 checks the access key id, the Authorization layout, x-amz-content-sha256 and the
// clock, but does not recompute SigV4 signatures (tests/node/s3rver_run.js); the signatures
// themselves are checked against the AWS SDK's signer in test_s3_sign.cpp. So the refused-
// credentials case here is an unknown access key id, not a wrong secret.

#include <oss/client.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../support/process.hpp"
#include "../support/run_coro.hpp"
#include "../support/s3rver.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"

using namespace std::chrono_literals;

namespace {

constexpr const char* bucket = "s3rver-bucket";
constexpr std::uint64_t mib = 1024 * 1024;

#define S3RVER_OR_SKIP(server)                                                  \
  if (!(server).available()) {                                                  \
    OSS_SKIP((server).skip_reason());                                           \
  }                                                                             \
  REQUIRE_MESSAGE((server).running(), "s3rver did not start: " << (server).failure())

// s3rver is a node process writing to disk: give it twice the usual watchdog.
template <typename Fn>
void run_coro(asio::io_context& io, Fn fn) {
  oss_test::run_coro(io, std::move(fn), std::chrono::seconds(120));
}

oss::client_options s3_options(const oss_test::s3rver& server,
                               std::string access_key = oss_test::s3rver::access_key_id) {
  oss::client_options o;
  o.dialect = oss::api_dialect::s3;
  o.region = oss_test::s3rver::region;
  o.endpoint = server.endpoint();
  o.bucket = bucket;
  o.address_style = oss::addressing_style::path_style;
  o.creds = {std::move(access_key), oss_test::s3rver::access_key_secret, ""};
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  return o;
}

std::string sha256_hex(const std::string& data) {
  const auto d = oss::detail::sha256(data);
  return oss::detail::hex_lower(d.data(), d.size());
}

}  // namespace

TEST_CASE("multipart_upload to s3rver reads back byte-identical with the AWS SDK") {
  // Setup
  oss_test::s3rver server({bucket});
  S3RVER_OR_SKIP(server);
  oss_test::temp_dir files;
  struct sized {
    std::uint64_t size;
    std::uint32_t parts;  // parts of the object
    bool multipart;       // false: smaller than one part, sent with one PutObject
  };
  const sized sizes[] = {{0, 1, false}, {1, 1, false}, {5 * mib, 1, true}, {5 * mib + 1, 2, true}, {23 * mib, 5, true}};

  for (const auto& [size, parts, multipart] : sizes) {
    CAPTURE(size);
    const std::string data = oss_test::random_bytes(size, 0x53330000 + size);
    const auto path = files / ("source-" + std::to_string(size));
    oss_test::write_file(path, data);
    const std::string key = "uploads/s3 dialect+\xc3\xbc\xe2\x82\xac/" + std::to_string(size) + ".bin";
    oss::upload_options opts;
    opts.part_size = 5 * mib;
    opts.parallel = 4;
    opts.meta = {{"author", "asio-oss"}, {"size", std::to_string(size)}};
    opts.mime = "application/x-asio-oss-test";
    opts.headers = {{"Content-Disposition", "attachment; filename=\"part.bin\""}, {"Cache-Control", "no-cache"}};
    // s3rver stores a completed upload as a plain object whose ETag is the MD5 of all its bytes,
    // not S3's multipart ETag, and keeps no CRC-64: nothing can confirm the whole object (each
    // part is confirmed by its Content-MD5), so this store needs the explicit opt-out.
    opts.require_server_crc = false;
    asio::io_context io;
    oss::client c(io.get_executor(), s3_options(server));

    // Run
    oss::upload_result result;
    const oss::upload_source source(path);
    run_coro(io, [&]() -> asio::awaitable<void> {
      result = co_await oss::multipart_upload(c, key, source, opts);
    });
    const auto out = files / ("readback-" + std::to_string(size));
    const oss_test::s3_object_info info = server.s3_get(bucket, key, out.string());

    // Check: what the AWS SDK reads is what we sent, with the object settings.
    CHECK(result.size == size);
    CHECK(result.parts == parts);
    CHECK(result.multipart == multipart);
    REQUIRE_MESSAGE(info.ok, info.error);
    CHECK(info.size == size);
    CHECK(info.sha256 == sha256_hex(data));
    CHECK(oss_test::read_file(out) == data);
    CHECK(info.content_type == "application/x-asio-oss-test");
    CHECK(info.content_disposition == "attachment; filename=\"part.bin\"");
    CHECK(info.cache_control == "no-cache");
    REQUIRE(info.meta("author") != nullptr);
    CHECK(*info.meta("author") == "asio-oss");
    REQUIRE(info.meta("size") != nullptr);
    CHECK(*info.meta("size") == std::to_string(size));
    // s3rver stores a completed upload as one plain object (ETag: MD5 of all bytes, not S3's
    // "<hex>-N"); we report the ETag its Complete reply gave.
    CHECK(info.etag == result.etag);
  }
}

TEST_CASE("put_object, head and get_object against s3rver") {
  // Setup
  oss_test::s3rver server({bucket});
  S3RVER_OR_SKIP(server);
  asio::io_context io;
  for (bool sign_payload : {false, true}) {
    CAPTURE(sign_payload);
    oss::client_options o = s3_options(server);
    o.s3_sign_payload = sign_payload;
    oss::client c(io.get_executor(), o);
    const std::string key = std::string("small/") + (sign_payload ? "signed" : "unsigned") + " ~$=&+ key.txt";
    const std::string body = oss_test::random_bytes(70'000, sign_payload ? 1 : 2);
    oss::object_options opts;
    opts.meta = {{"colour", "blue"}};
    opts.mime = "text/plain";
    opts.headers = {{"x-amz-storage-class", "STANDARD"}};

    // Run
    oss::put_result put;
    oss::object_meta meta;
    std::string got;
    std::error_code missing_ec;
    run_coro(io, [&]() -> asio::awaitable<void> {
      put = co_await c.put_object(key, asio::buffer(body), opts);
      meta = co_await c.head(key);
      got = co_await c.get_object(key);
      oss::diagnostics diag;
      const std::string missing = "no/such/key";
      std::tie(missing_ec, std::ignore) = co_await c.async_head(missing, diag, oss_test::tuple_token);
    });
    const oss_test::s3_object_info info = server.s3_get(bucket, key);

    // Check
    CHECK(put.etag == "\"" + [&] {
      const auto d = oss::detail::md5(body);
      return oss::detail::hex_lower(d.data(), d.size());
    }() + "\"");
    CHECK(meta.size == body.size());
    CHECK(meta.etag == put.etag);
    CHECK(meta.content_type == "text/plain");
    REQUIRE(meta.meta.size() == 1);
    CHECK(meta.meta[0].first == "colour");
    CHECK(meta.meta[0].second == "blue");
    CHECK(got == body);
    CHECK(missing_ec == oss::server_errc::no_such_key);
    REQUIRE_MESSAGE(info.ok, info.error);
    CHECK(info.sha256 == sha256_hex(body));
    CHECK(info.content_type == "text/plain");
  }
}

TEST_CASE("s3rver refuses an unknown access key id with a typed error") {
  // Setup
  oss_test::s3rver server({bucket});
  S3RVER_OR_SKIP(server);
  asio::io_context io;
  oss::client c(io.get_executor(), s3_options(server, "AKIAUNKNOWNKEY000000"));
  const std::string body = "refused";

  // Run
  std::error_code ec;
  oss::diagnostics diag;
  const oss::object_options opts;
  const std::string key = "refused.txt";
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::tie(ec, std::ignore) = co_await c.async_put_object(key, asio::buffer(body), opts, diag, oss_test::tuple_token);
  });

  // Check
  CHECK(ec == oss::server_errc::invalid_access_key_id);
  CHECK(diag.http_status == 403);
  CHECK_FALSE(server.s3_get(bucket, "refused.txt").ok);
}

TEST_CASE("oss-upload --dialect s3 uploads to s3rver; an unknown key id exits 3") {
  // Setup
  const auto tool = oss_test::tool_path("oss-upload");
  if (!std::filesystem::exists(tool)) {
    OSS_SKIP(tool.string() << " is not built");
  }
  oss_test::s3rver server({bucket});
  S3RVER_OR_SKIP(server);
  oss_test::temp_dir files;
  const std::string data = oss_test::random_bytes(12 * mib + 4321, 0x0C11);
  const auto path = files / "upload.dat";
  oss_test::write_file(path, data);
  const std::string key = "cli/tool upload.dat";
  const auto run_tool = [&](const std::string& access_key, const std::string& name) {
    return oss_test::run_process({"env", "-u", "OSS_ENDPOINT", "-u", "OSS_REGION", "-u", "OSS_BUCKET",
                                  "-u", "OSS_SESSION_TOKEN", "-u", "OSS_DIALECT", "OSS_ACCESS_KEY_ID=" + access_key,
                                  std::string("OSS_ACCESS_KEY_SECRET=") + oss_test::s3rver::access_key_secret,
                                  tool.string(), "--dialect", "s3", "--endpoint", server.endpoint(), "--region",
                                  oss_test::s3rver::region, "--bucket", bucket, "--part-size", "5MiB",
                                  "--parallel", "3", "--meta", "tool=oss-upload", "--mime", "application/x-cli",
                                  "--no-server-crc",  // see multipart_upload to s3rver above
                                  "--quiet", path.string(), name},
                                 "", 180s);
  };

  // Run
  const oss_test::process_result ok = run_tool(oss_test::s3rver::access_key_id, key);
  const oss_test::process_result refused = run_tool("AKIAUNKNOWNKEY000000", "cli/refused.dat");

  // Check
  INFO("oss-upload output: " << ok.out);
  REQUIRE_FALSE(ok.timed_out);
  CHECK(ok.exit_code == 0);
  boost::json::error_code ec;
  const auto summary = boost::json::parse(oss_test::last_line(ok.out), ec);
  REQUIRE_FALSE(ec);
  CHECK(summary.at("size").to_number<std::uint64_t>() == data.size());
  CHECK(summary.at("parts").to_number<std::uint64_t>() == 3);
  const oss_test::s3_object_info info = server.s3_get(bucket, key);
  REQUIRE_MESSAGE(info.ok, info.error);
  CHECK(info.sha256 == sha256_hex(data));
  CHECK(info.content_type == "application/x-cli");
  REQUIRE(info.meta("tool") != nullptr);
  CHECK(*info.meta("tool") == "oss-upload");
  CHECK(info.etag == summary.at("etag").as_string());

  REQUIRE_FALSE(refused.timed_out);
  CHECK(refused.exit_code == 3);
  CHECK_FALSE(server.s3_get(bucket, "cli/refused.dat").ok);
}
