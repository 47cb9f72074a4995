// The bad input catalogue (issue 4, item 5): every way a caller, a file, a checkpoint, the
// credentials, the network or the server can be wrong, one test each. Each asserts a typed error
// whose message says what to fix, and that nothing was lost: the source file is untouched, a
// checkpoint that belongs to another upload is neither overwritten nor deleted, and an object
// stored under the same name keeps its bytes. Input errors must be found before any request:
// the server's request counter stays 0.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/dates.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/buffer.hpp>
#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ssl/error.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "../support/hostile_server.hpp"
#include "../support/run_coro.hpp"
#include "../support/temp_dir.hpp"
#include "../support/tls_certs.hpp"
#include "../support/skip.hpp"

using namespace std::chrono_literals;

namespace {

constexpr const char* bi_key_id = "LTAI-bad-input-id";
constexpr const char* bi_secret = "bad-input-secret-Hq3vT8";
constexpr const char* bi_bucket = "bad-input-bucket";
constexpr std::uint64_t kib100 = 100 * 1024;

// What one multipart_upload call ended with.
struct outcome {
  bool done = false;
  std::error_code ec;
  oss::diagnostics diag;
  oss::upload_result result;
  std::string what;                         // oss::error(ec, diag).what()
  std::chrono::milliseconds clock_offset{};  // the client's, afterwards
};

// Runs one upload with a fresh client on its own io_context, bounded by a watchdog.
outcome run_upload(const oss::client_options& copts, std::string name, oss::upload_source source,
                   oss::upload_options opts) {
  asio::io_context io;
  oss::client c(io.get_executor(), copts);
  outcome out;
  oss::async_multipart_upload(c, std::move(name), std::move(source), std::move(opts), out.diag,
                              [&out](std::error_code ec, oss::upload_result r) {
                                out.done = true;
                                out.ec = ec;
                                out.result = std::move(r);
                              });
  io.run_for(60s);
  REQUIRE_MESSAGE(out.done, "watchdog: the upload did not finish in time");
  out.what = oss::error(out.ec, out.diag).what();
  out.clock_offset = c.clock_offset();
  return out;
}

bool contains(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

// The error is `expected`, its category message (what to change) is set, and what() names it.
void check_error(const outcome& out, std::error_code expected, std::string_view hint) {
  INFO("what(): " << out.what);
  CHECK(out.ec == expected);
  CHECK(!out.ec.message().empty());
  const bool names_it = contains(out.what, out.ec.message()) || contains(out.what, out.diag.code);
  CHECK(names_it);
  CHECK_MESSAGE(contains(out.what + " / " + out.ec.message(), hint), "missing hint: " << hint);
  // One line: user input echoed into a message must not split a log line.
  CHECK(out.what.find_first_of("\r\n") == std::string::npos);
}

// A local server with credentials, a scratch folder, and an object already stored under the
// names the tests use, to prove that a failed upload never damages it.
struct bi_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  oss::testing::local_server_thread server;
  std::string existing = oss_test::random_bytes(123'457, 99);
  std::string token;

  explicit bi_env(std::string server_token = "")
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          o.access_key_id = bi_key_id;
          o.access_key_secret = bi_secret;
          o.security_token = server_token;
          return o;
        }()),
        token(server_token) {}

  oss::client_options options() const {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = bi_bucket;
    o.creds = {bi_key_id, bi_secret, token};
    o.address_style = oss::addressing_style::path_style;
    o.retry_base_delay = 1ms;
    o.retry_max_delay = 5ms;
    return o;
  }

  std::filesystem::path write(const std::string& name, const std::string& data) const {
    auto p = files / name;
    oss_test::write_file(p, data);
    return p;
  }

  // Stores `existing` as `name`, then zeroes the request counter.
  void seed(const std::string& name) {
    asio::io_context io;
    oss::client c(io.get_executor(), options());
    bool ok = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          oss::object_options none;
          co_await c.put_object(name, asio::buffer(existing), none);
        },
        [&](std::exception_ptr e) { ok = !e; });
    io.run_for(30s);
    REQUIRE(ok);
    server.reset_stats();
  }

  // The object `name` still holds `existing`.
  void check_intact(const std::string& name) {
    asio::io_context io;
    oss::client c(io.get_executor(), options());
    std::string got;
    bool ok = false;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { got = co_await c.get_object(name); },
        [&](std::exception_ptr e) { ok = !e; });
    io.run_for(30s);
    REQUIRE(ok);
    CHECK(got.size() == existing.size());
    CHECK(got == existing);
  }
};

oss::upload_options small_parts(std::size_t parallel = 2) {
  oss::upload_options o;
  o.parallel = parallel;
  o.part_size = kib100;
  return o;
}

// A checkpoint that matches `file` uploaded as `name` through `env`, except what the test changes.
oss::checkpoint matching_checkpoint(const bi_env& env, const std::filesystem::path& file, const std::string& name) {
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  oss::checkpoint cp;
  cp.endpoint = c.endpoint_url();
  cp.bucket = bi_bucket;
  cp.name = name;
  cp.file = std::filesystem::absolute(file).lexically_normal().string();
  cp.file_size = static_cast<std::uint64_t>(st.st_size);
  cp.file_mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  cp.part_size = kib100;
  cp.upload_id = "0004B9895DBBB6EC98E36-not-on-this-server";
  cp.done_parts.push_back(oss::part_record{1, "\"95714944FBE90D6B77FE6BA931A5A99E\"", kib100, 11051210869376104954ull});
  return cp;
}

// Sets a file's modification time `delta` away from now, keeping its bytes.
void touch(const std::filesystem::path& p, std::chrono::seconds delta) {
  const auto t = std::chrono::system_clock::now() + delta;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  times[0].tv_nsec = times[1].tv_nsec = static_cast<long>(ns % 1'000'000'000);
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

// A progress handler that stops the upload (by throwing) after `parts` parts are recorded.
oss::progress_handler stop_after(int parts) {
  auto seen = std::make_shared<int>(0);
  return [seen, parts](const oss::progress_event& e) {
    if (e.stage == oss::progress_stage::part_done && ++*seen >= parts) throw std::runtime_error("stop here");
  };
}

// Input that must be refused before any request: the error, its hint, a quiet server, and an
// intact object under the same name. Returns the outcome for further checks.
outcome refused_before_sending(bi_env& env, const std::string& name, oss::upload_source source,
                               oss::upload_options opts, std::error_code expected, std::string_view hint,
                               const std::string& stored_name = "kept/object.bin") {
  env.seed(stored_name);
  outcome out = run_upload(env.options(), name, std::move(source), std::move(opts));
  check_error(out, expected, hint);
  CHECK(env.server.stats().requests == 0);
  env.check_intact(stored_name);
  return out;
}

const std::string small_data = oss_test::random_bytes(350'000, 1);

}  // namespace

// ---- the file to upload ---------------------------------------------------------------------

TEST_CASE("bad input: a file that does not exist") {
  bi_env env;
  auto out = refused_before_sending(env, "kept/object.bin", env.files / "no-such-file.bin", small_parts(),
                                    oss::client_errc::file_not_found, "check the path");
  CHECK(contains(out.what, "no-such-file.bin"));
}

TEST_CASE("bad input: a dangling symbolic link") {
  bi_env env;
  std::filesystem::create_symlink(env.files / "gone.bin", env.files / "link.bin");
  refused_before_sending(env, "kept/object.bin", env.files / "link.bin", small_parts(),
                         oss::client_errc::file_not_found, "does not exist");
}

TEST_CASE("bad input: a file without read permission") {
  bi_env env;
  const auto path = env.write("secret.bin", small_data);
  REQUIRE(::chmod(env.files.path().c_str(), 0755) == 0);
  REQUIRE(::chmod(path.c_str(), 0) == 0);
  // Root reads anything; as root, this thread checks file access as "nobody" instead (setfsuid
  // is per thread and drops CAP_DAC_OVERRIDE with it). The open happens on this thread: the
  // upload's validation runs inside run_upload's io_context.run_for.
  env.seed("kept/object.bin");
  struct as_nobody {  // restores the thread's file-system uid however the test ends
    bool root = ::geteuid() == 0;
    as_nobody() {
      if (root) ::setfsuid(65534);
    }
    ~as_nobody() {
      if (root) ::setfsuid(0);
    }
  };
  outcome out;
  {
    as_nobody nobody;
    const int probe = ::open(path.c_str(), O_RDONLY);
    if (probe >= 0) {
      ::close(probe);
      OSS_SKIP("file permissions are not enforced here");
    }
    out = run_upload(env.options(), "kept/object.bin", path, small_parts());
  }
  check_error(out, oss::client_errc::file_not_readable, "permissions");
  CHECK(contains(out.what, "Permission denied"));
  CHECK(env.server.stats().requests == 0);
  env.check_intact("kept/object.bin");
  ::chmod(path.c_str(), 0600);
  CHECK(oss_test::read_file(path) == small_data);
}

TEST_CASE("bad input: a symbolic link loop cannot be opened (file_not_readable, also as root)") {
  bi_env env;
  std::filesystem::create_symlink(env.files / "b.lnk", env.files / "a.lnk");
  std::filesystem::create_symlink(env.files / "a.lnk", env.files / "b.lnk");
  auto out = refused_before_sending(env, "kept/object.bin", env.files / "a.lnk", small_parts(),
                                    oss::client_errc::file_not_readable, "cannot open");
  CHECK(contains(out.what, "symbolic links"));
}

TEST_CASE("bad input: a directory") {
  bi_env env;
  refused_before_sending(env, "kept/object.bin", env.files.path(), small_parts(),
                         oss::client_errc::not_a_regular_file, "regular file");
}

TEST_CASE("bad input: a character device (/dev/zero, endless)") {
  bi_env env;
  refused_before_sending(env, "kept/object.bin", std::filesystem::path("/dev/zero"), small_parts(),
                         oss::client_errc::not_a_regular_file, "regular file");
}

TEST_CASE("bad input: a FIFO with no writer (must not hang)") {
  bi_env env;
  const auto fifo = env.files / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  refused_before_sending(env, "kept/object.bin", fifo, small_parts(), oss::client_errc::not_a_regular_file,
                         "as a stream");
}

// ---- a file that changes -------------------------------------------------------------------

TEST_CASE("bad input: the file grows during the upload") {
  bi_env env;
  env.seed("kept/object.bin");
  const std::string data = oss_test::random_bytes(10 * kib100 + 7, 2);
  const auto path = env.write("growing.bin", data);
  const auto ckpt = env.files / "growing.ckpt";
  auto opts = small_parts(1);
  opts.checkpoint = ckpt;
  bool appended = false;
  opts.progress = [&](const oss::progress_event& e) {
    if (e.stage == oss::progress_stage::part_done && !appended) {
      std::ofstream(path, std::ios::binary | std::ios::app) << "more bytes";
      appended = true;
    }
  };
  auto out = run_upload(env.options(), "kept/object.bin", path, std::move(opts));
  REQUIRE(appended);
  check_error(out, oss::client_errc::file_changed, "upload it again");
  CHECK(env.server.stats().complete_multipart_upload == 0);  // never completed with mixed content
  env.check_intact("kept/object.bin");
  // The checkpoint stays, valid, for the caller to inspect or abort.
  std::error_code ec;
  const auto cp = oss::load_checkpoint(ckpt, ec);
  CHECK(!ec);
  CHECK(!cp.upload_id.empty());
}

TEST_CASE("bad input: the file is truncated during the upload") {
  bi_env env;
  env.seed("kept/object.bin");
  const std::string data = oss_test::random_bytes(10 * kib100, 3);
  const auto path = env.write("shrinking.bin", data);
  auto opts = small_parts(1);
  opts.checkpoint = env.files / "shrinking.ckpt";
  bool truncated = false;
  opts.progress = [&](const oss::progress_event& e) {
    if (e.stage == oss::progress_stage::part_done && !truncated) {
      REQUIRE(::truncate(path.c_str(), static_cast<off_t>(kib100 + kib100 / 2)) == 0);
      truncated = true;
    }
  };
  auto out = run_upload(env.options(), "kept/object.bin", path, std::move(opts));
  REQUIRE(truncated);
  check_error(out, oss::client_errc::file_changed, "became shorter");
  CHECK(env.server.stats().complete_multipart_upload == 0);
  env.check_intact("kept/object.bin");
  CHECK(std::filesystem::exists(env.files / "shrinking.ckpt"));
}

TEST_CASE("bad input: the file's modification time changes during the upload (same size)") {
  bi_env env;
  env.seed("kept/object.bin");
  const auto path = env.write("touched.bin", oss_test::random_bytes(6 * kib100, 4));
  auto opts = small_parts(1);
  bool touched = false;
  opts.progress = [&](const oss::progress_event& e) {
    if (e.stage == oss::progress_stage::part_done && !touched) {
      touch(path, -3600s);
      touched = true;
    }
  };
  auto out = run_upload(env.options(), "kept/object.bin", path, std::move(opts));
  REQUIRE(touched);
  check_error(out, oss::client_errc::file_changed, "modified during the upload");
  CHECK(env.server.stats().complete_multipart_upload == 0);
  env.check_intact("kept/object.bin");
}

TEST_CASE("bad input: the file is modified between runs (same size, new mtime)") {
  bi_env env;
  const std::string data = oss_test::random_bytes(8 * kib100, 5);
  const auto path = env.write("between.bin", data);
  const auto ckpt = env.files / "between.ckpt";
  auto first_opts = small_parts(1);
  first_opts.checkpoint = ckpt;
  first_opts.progress = stop_after(2);
  auto first = run_upload(env.options(), "between.bin", path, std::move(first_opts));
  REQUIRE(first.ec == oss::client_errc::handler_exception);
  REQUIRE(std::filesystem::exists(ckpt));
  const std::string saved = oss_test::read_file(ckpt);

  // Same size, other bytes, a new mtime.
  std::string changed = data;
  changed[0] = static_cast<char>(~changed[0]);
  oss_test::write_file(path, changed);
  touch(path, 7200s);
  env.server.reset_stats();
  auto opts = small_parts(1);
  opts.checkpoint = ckpt;
  auto out = run_upload(env.options(), "between.bin", path, std::move(opts));
  check_error(out, oss::client_errc::file_changed, "modified since the upload began");
  CHECK(oss_test::read_file(ckpt) == saved);  // untouched
  CHECK(env.server.stats().requests == 0);
  CHECK(oss_test::read_file(path) == changed);
}

TEST_CASE("bad input: the file changes size between runs") {
  bi_env env;
  const std::string data = oss_test::random_bytes(8 * kib100, 6);
  const auto path = env.write("resized.bin", data);
  const auto ckpt = env.files / "resized.ckpt";
  auto first_opts = small_parts(1);
  first_opts.checkpoint = ckpt;
  first_opts.progress = stop_after(1);
  auto first = run_upload(env.options(), "resized.bin", path, std::move(first_opts));
  REQUIRE(first.ec == oss::client_errc::handler_exception);
  const std::string saved = oss_test::read_file(ckpt);
  REQUIRE(!saved.empty());

  oss_test::write_file(path, data + "appended");
  env.server.reset_stats();
  auto opts = small_parts(1);
  opts.checkpoint = ckpt;
  auto out = run_upload(env.options(), "resized.bin", path, std::move(opts));
  check_error(out, oss::client_errc::file_changed, std::to_string(data.size()) + " bytes");
  CHECK(oss_test::read_file(ckpt) == saved);
  CHECK(env.server.stats().requests == 0);
}

// ---- options, object names, metadata and headers (header injection) -------------------------

namespace {

// Upload options or an object name the client must refuse before it sends anything.
struct refused_input {
  const char* label;
  std::string name;                                 // the object name to upload as
  std::function<void(oss::upload_options&)> change;  // made to small_parts()
  oss::client_errc expected;
  const char* hint;                                 // in the message: what to do
  std::vector<std::string> also_says{};             // further words the message must hold
  std::vector<std::string> never_says{};            // and words it must not echo
};

const std::vector<refused_input>& refused_inputs() {
  using e = oss::client_errc;
  static const std::vector<refused_input> table = {
      {"part size below 100 KiB", "kept/object.bin", [](auto& o) { o.part_size = kib100 - 1; }, e::invalid_part_size,
       "between 100 KiB", {"102399"}},
      {"part size above 5 GiB", "kept/object.bin", [](auto& o) { o.part_size = (5ull << 30) + 1; },
       e::invalid_part_size, "5 GiB"},
      {"parallel 0", "kept/object.bin", [](auto& o) { o.parallel = 0; }, e::invalid_parallel, "at least 1"},
      {"an empty object name", "", [](auto&) {}, e::invalid_object_name, "1 to 1023 bytes"},
      {"an object name of 1024 bytes", std::string(1024, 'n'), [](auto&) {}, e::invalid_object_name,
       "1 to 1023 bytes", {"1024"}},
      {"an object name starting with '/'", "/kept/object.bin", [](auto&) {}, e::invalid_object_name,
       "must not start with '/'"},
      {"an object name starting with '\\'", "\\kept\\object.bin", [](auto&) {}, e::invalid_object_name,
       "must not start with '/'"},
      {"user metadata over 8 KiB", "kept/object.bin",
       [](auto& o) {
         for (int i = 0; i < 9; ++i) o.meta.emplace_back("note-" + std::to_string(i), std::string(1000, 'm'));
       },
       e::metadata_too_large, "8 K"},
      {"CR LF in a metadata value", "kept/object.bin",
       [](auto& o) { o.meta.emplace_back("owner", "alice\r\nx-oss-object-acl: public-read-write"); },
       e::invalid_header_value, "remove them", {"CR or LF"}, {"public-read-write"}},
      {"a line feed in a metadata name", "kept/object.bin",
       [](auto& o) { o.meta.emplace_back("owner\nx-oss-object-acl", "public-read-write"); }, e::invalid_metadata,
       "letters, digits and '-'"},
      {"CR LF in the MIME type", "kept/object.bin",
       [](auto& o) { o.mime = "text/plain\r\nx-oss-forbid-overwrite: false"; }, e::invalid_header_value, "MIME type"},
      {"CR LF in a header value", "kept/object.bin",
       [](auto& o) { o.headers.emplace_back("Cache-Control", "no-cache\r\n\r\nGET /other-object HTTP/1.1"); },
       e::invalid_header_value, "Cache-Control"},
      {"CR LF in a header name", "kept/object.bin",
       [](auto& o) { o.headers.emplace_back("X-Evil\r\nAuthorization", "OSS forged"); }, e::invalid_header_value,
       "not a valid HTTP token"},
      {"a header the client owns", "kept/object.bin",
       [](auto& o) { o.headers.emplace_back("Authorization", "OSS forged:signature"); }, e::invalid_header_value,
       "set by the client"},
  };
  return table;
}

}  // namespace

TEST_CASE("bad input: options, object names, metadata and headers are refused before any request") {
  bi_env env;
  for (const auto& in : refused_inputs()) {
    CAPTURE(in.label);
    auto opts = small_parts();
    in.change(opts);
    const outcome out = refused_before_sending(env, in.name, oss::buffer_source(small_data), std::move(opts),
                                               in.expected, in.hint);
    for (const auto& word : in.also_says) CHECK_MESSAGE(contains(out.what, word), "the message lacks " << word);
    for (const auto& word : in.never_says) CHECK_MESSAGE(!contains(out.what, word), "the message echoes " << word);
  }
}

TEST_CASE("bad input: object names that are not UTF-8 (stray byte, overlong, surrogate)") {
  bi_env env;
  for (std::string name : {std::string("kept/\xC3\x28.bin"), std::string("kept/\xC0\xAF.bin"),
                           std::string("kept/\xED\xA0\x80.bin"), std::string("kept/\xFF")}) {
    CAPTURE(name.size());
    auto out = refused_before_sending(env, name, oss::buffer_source(small_data), small_parts(),
                                      oss::client_errc::invalid_object_name, "UTF-8");
    // The message names the problem without echoing the broken bytes into a log line.
    CHECK(contains(out.what, "not valid UTF-8"));
  }
}

// ---- checkpoints -----------------------------------------------------------------------------

TEST_CASE("bad input: a checkpoint that is not JSON") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "a.ckpt";
  oss_test::write_file(ckpt, "{\"version\": 1, \"kind\": \"oss-multipart-upl");
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  auto out = refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                                    oss::client_errc::checkpoint_corrupt, "delete it");
  CHECK(contains(out.what, ckpt.string()));
  CHECK(oss_test::read_file(ckpt) == "{\"version\": 1, \"kind\": \"oss-multipart-upl");
}

TEST_CASE("bad input: a checkpoint with fields of the wrong type") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "a.ckpt";
  const std::string text =
      "{\"version\":1,\"kind\":\"oss-multipart-upload\",\"endpoint\":\"x\",\"bucket\":\"b\",\"name\":\"n\","
      "\"file\":\"/f\",\"fileSize\":\"350000\",\"fileMtimeNs\":1,\"partSize\":102400,\"uploadId\":\"u\","
      "\"doneParts\":{}}";
  oss_test::write_file(ckpt, text);
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  auto out = refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                                    oss::client_errc::checkpoint_corrupt, "delete it");
  CHECK(contains(out.what, "fileSize"));  // says which field
  CHECK(oss_test::read_file(ckpt) == text);
}

TEST_CASE("bad input: a checkpoint of another file, object, bucket, endpoint or part size is refused and kept") {
  struct mismatch {
    const char* label;
    std::function<void(oss::checkpoint&, const bi_env&)> change;  // made to a matching checkpoint
    const char* says;                                              // what the message points at
  };
  const mismatch cases[] = {
      {"another file", [](auto& cp, const bi_env& env) {
         cp = matching_checkpoint(env, env.files / "other.bin", "kept/object.bin");
       }, "other.bin"},
      {"another object", [](auto& cp, const bi_env&) { cp.name = "kept/another-object.bin"; },
       "for object kept/another-object.bin"},
      {"another bucket", [](auto& cp, const bi_env&) { cp.bucket = "some-other-bucket"; },
       "for bucket some-other-bucket"},
      {"another endpoint", [](auto& cp, const bi_env&) { cp.endpoint = "https://oss-cn-hangzhou.aliyuncs.com"; },
       "for endpoint https://oss-cn-hangzhou.aliyuncs.com"},
      {"another part size", [](auto& cp, const bi_env&) { cp.part_size = 2 * kib100; }, "pass .part_size = 204800"},
  };
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  env.write("other.bin", small_data);
  for (const auto& c : cases) {
    CAPTURE(c.label);
    const auto ckpt = env.files / "a.ckpt";
    auto cp = matching_checkpoint(env, path, "kept/object.bin");
    c.change(cp, env);
    oss::save_checkpoint(ckpt, cp);
    const std::string saved = oss_test::read_file(ckpt);
    auto opts = small_parts();
    opts.checkpoint = ckpt;
    const outcome out = refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                                               oss::client_errc::checkpoint_mismatch, c.says);
    CHECK(contains(out.what, "checkpoint"));
    CHECK(oss_test::read_file(ckpt) == saved);
  }
}

TEST_CASE("bad input: a checkpoint of an unknown version") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "a.ckpt";
  std::string text = oss::checkpoint_to_json(matching_checkpoint(env, path, "kept/object.bin"));
  const auto at = text.find("\"version\":1");
  REQUIRE(at != std::string::npos);
  text.replace(at, 11, "\"version\":99");
  oss_test::write_file(ckpt, text);
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  auto out = refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                                    oss::client_errc::checkpoint_corrupt, "version");
  CHECK(oss_test::read_file(ckpt) == text);
}

TEST_CASE("bad input: an empty checkpoint file") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "a.ckpt";
  oss_test::write_file(ckpt, "");
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  refused_before_sending(env, "kept/object.bin", path, std::move(opts), oss::client_errc::checkpoint_corrupt,
                         "delete it");
  CHECK(std::filesystem::exists(ckpt));
  CHECK(std::filesystem::file_size(ckpt) == 0);
}

TEST_CASE("bad input: a checkpoint file larger than 64 MiB is not read") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "huge.ckpt";
  {
    oss_test::write_file(ckpt, "{");
    std::filesystem::resize_file(ckpt, (64ull << 20) + 1);  // sparse: costs no disk
  }
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  refused_before_sending(env, "kept/object.bin", path, std::move(opts), oss::client_errc::checkpoint_corrupt,
                         "delete it");
  CHECK(std::filesystem::file_size(ckpt) == (64ull << 20) + 1);
}

TEST_CASE("bad input: a checkpoint path that is a directory") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "dir.ckpt";
  std::filesystem::create_directory(ckpt);
  oss_test::write_file(ckpt / "keep.txt", "mine");
  auto opts = small_parts();
  opts.checkpoint = ckpt;
  auto out = refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                                    oss::client_errc::checkpoint_corrupt, "dir.ckpt");
  CHECK(oss_test::read_file(ckpt / "keep.txt") == "mine");
}

TEST_CASE("bad input: a checkpoint in a folder that does not exist") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  auto opts = small_parts();
  opts.checkpoint = env.files / "no" / "such" / "folder" / "a.ckpt";
  refused_before_sending(env, "kept/object.bin", path, std::move(opts),
                         std::make_error_code(std::errc::no_such_file_or_directory), "does not exist");
  CHECK(!std::filesystem::exists(env.files / "no"));
}

TEST_CASE("bad input: aborting through a checkpoint of another bucket") {
  bi_env env;
  const auto path = env.write("a.bin", small_data);
  const auto ckpt = env.files / "a.ckpt";
  auto cp = matching_checkpoint(env, path, "kept/object.bin");
  cp.bucket = "some-other-bucket";
  oss::save_checkpoint(ckpt, cp);
  const std::string saved = oss_test::read_file(ckpt);
  env.server.reset_stats();
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  std::error_code ec;
  oss::diagnostics diag;
  bool done = false;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { std::tie(ec) = co_await oss::async_abort_upload(c, ckpt, diag, oss_test::tuple_token); },
      [&](std::exception_ptr e) { done = !e; });
  io.run_for(30s);
  REQUIRE(done);
  CHECK(ec == oss::client_errc::checkpoint_mismatch);
  CHECK(contains(oss::error(ec, diag).what(), "some-other-bucket"));
  CHECK(oss_test::read_file(ckpt) == saved);  // not deleted
  CHECK(env.server.stats().requests == 0);
}

// ---- credentials and clocks ----------------------------------------------------------------

namespace {

// The client constructor refuses `o` with `expected`, saying `hint`; nothing reaches the server.
void refused_by_client(bi_env& env, const oss::client_options& o, std::error_code expected, std::string_view hint) {
  asio::io_context io;
  bool thrown = false;
  try {
    oss::client c(io.get_executor(), o);
  } catch (const oss::error& e) {
    thrown = true;
    const std::string what = e.what();
    INFO("what(): " << what);
    CHECK(e.code() == expected);
    CHECK_MESSAGE(contains(what, hint), "missing hint: " << hint);
    CHECK(what.find_first_of("\r\n") == std::string::npos);
  }
  CHECK(thrown);
  CHECK(env.server.stats().requests == 0);
}

}  // namespace

TEST_CASE("bad input: an invalid bucket name") {
  bi_env env;
  auto o = env.options();
  o.bucket = "My_Bucket";
  refused_by_client(env, o, oss::client_errc::invalid_bucket_name, "3 to 63 characters");
}

TEST_CASE("bad input: an endpoint with a path") {
  bi_env env;
  auto o = env.options();
  o.endpoint += "/bucket/prefix";
  refused_by_client(env, o, oss::client_errc::invalid_endpoint, "https://oss-cn-hangzhou.aliyuncs.com");
}

TEST_CASE("bad input: an access key id without its secret") {
  bi_env env;
  auto o = env.options();
  o.creds.access_key_secret.clear();
  refused_by_client(env, o, oss::client_errc::missing_credentials, "secret");
}

TEST_CASE("bad input: CR LF in the security token (header injection through credentials)") {
  bi_env env;
  auto o = env.options();
  o.creds.security_token = "token\r\nx-oss-object-acl: public-read-write";
  refused_by_client(env, o, oss::client_errc::invalid_header_value, "security token");
}

TEST_CASE("bad input: a wrong access key secret (SignatureDoesNotMatch)") {
  bi_env env;
  env.seed("kept/object.bin");
  auto copts = env.options();
  copts.creds.access_key_secret = "not-the-secret";
  auto out = run_upload(copts, "kept/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::server_errc::signature_does_not_match, "check the access key secret");
  CHECK(out.diag.code == "SignatureDoesNotMatch");
  CHECK(out.diag.attempts == 1);  // not retried: it cannot get better
  CHECK(env.server.stats().requests == 1);
  env.check_intact("kept/object.bin");
}

TEST_CASE("bad input: an unknown access key id (InvalidAccessKeyId)") {
  bi_env env;
  env.seed("kept/object.bin");
  auto copts = env.options();
  copts.creds.access_key_id = "LTAI-nobody";
  const auto path = env.write("a.bin", oss_test::random_bytes(5 * kib100, 7));
  auto out = run_upload(copts, "kept/object.bin", path, small_parts());
  check_error(out, oss::server_errc::invalid_access_key_id, "check or refresh the credentials");
  CHECK(out.diag.operation == "InitiateMultipartUpload");
  CHECK(env.server.stats().requests == 1);
  env.check_intact("kept/object.bin");
}

TEST_CASE("bad input: an expired or foreign STS security token") {
  bi_env env("TOKEN-the-server-expects");
  env.seed("kept/object.bin");
  auto copts = env.options();
  copts.creds.security_token = "TOKEN-expired-long-ago";
  auto out = run_upload(copts, "kept/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::server_errc::invalid_security_token, "refresh the temporary credentials");
  CHECK(out.diag.attempts == 1);
  env.check_intact("kept/object.bin");
  // And with no token at all.
  copts.creds.security_token.clear();
  auto none = run_upload(copts, "kept/object.bin", oss::buffer_source(small_data), small_parts());
  CHECK(none.ec == oss::server_errc::invalid_security_token);
}

namespace {

// A server whose clock runs `ahead` of ours: it refuses requests dated by our clock with
// RequestTimeTooSkewed (Date and ServerTime carry its time), and accepts a PutObject dated by its
// own, answering with the ETag and CRC-64 of what it received.
oss_test::hostile_script skewed_server(std::chrono::seconds ahead, bool ever_accepts) {
  return [ahead, ever_accepts](const oss_test::hostile_request& r) {
    oss_test::hostile_reply reply;
    const auto server_now = std::chrono::system_clock::now() + ahead;
    const std::string* date = r.headers.find("x-oss-date");
    std::optional<std::chrono::system_clock::time_point> when;
    if (date) when = oss::detail::parse_iso8601_basic(*date);
    const bool in_time = when && (*when > server_now - 60s) && (*when < server_now + 60s);
    if (!in_time || !ever_accepts) {
      reply.raw = oss_test::oss_error_reply(
          403, "Forbidden", "RequestTimeTooSkewed",
          "The difference between the request time and the current time is too large.",
          {{"RequestTime", date ? *date : std::string()}, {"ServerTime", oss::detail::iso8601_extended(server_now)},
           {"MaxAllowedSkewMilliseconds", "900000"}},
          {{"Date", oss::detail::http_date(server_now)}});
      return reply;
    }
    const std::uint64_t crc = oss::detail::crc64(0, r.body.data(), r.body.size());
    reply.raw = oss_test::http_reply(200, "OK",
                                     {{"ETag", "\"0123456789ABCDEF0123456789ABCDEF\""},
                                      {"x-oss-hash-crc64ecma", std::to_string(crc)},
                                      {"x-oss-request-id", "SKEW-OK"}},
                                     "");
    return reply;
  };
}

oss::client_options hostile_options(const oss_test::hostile_server& s) {
  oss::client_options o;
  o.endpoint = s.endpoint();
  o.region = "cn-local";
  o.bucket = bi_bucket;
  o.creds = {bi_key_id, bi_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  o.connect_timeout = 5s;
  o.stall_timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("bad input: an STS token the server reports as expired (SecurityTokenExpired)") {
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = oss_test::oss_error_reply(403, "Forbidden", "SecurityTokenExpired", "The security token you provided has expired.");
    return r;
  });
  auto copts = hostile_options(server);
  copts.creds.security_token = "STS-token-of-yesterday";
  auto out = run_upload(copts, "sts/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::server_errc::security_token_expired, "refresh the temporary credentials");
  CHECK(out.diag.code == "SecurityTokenExpired");
  CHECK(out.diag.request_id == "HOSTILE-REQ");
  CHECK(server.requests() >= 1);
  CHECK(server.requests() <= static_cast<std::size_t>(copts.max_attempts));  // no storm
}

TEST_CASE("bad input: a local clock two hours behind: re-signed with the server's time, and counted") {
  oss_test::hostile_server server(skewed_server(7200s, true));
  const std::string data = oss_test::random_bytes(50'000, 8);  // one PutObject
  auto out = run_upload(hostile_options(server), "skew/object.bin", oss::buffer_source(data), small_parts());
  INFO("what(): " << out.what);
  REQUIRE(!out.ec);
  CHECK(!out.result.multipart);
  CHECK(out.result.crc64 == oss::detail::crc64(0, data.data(), data.size()));
  CHECK(out.result.request_id == "SKEW-OK");
  // One refusal, one success: the retry carried the server's time.
  CHECK(server.requests() == 2);
  CHECK(out.clock_offset > 7200s - 60s);
  CHECK(out.clock_offset < 7200s + 60s);
}

TEST_CASE("bad input: a clock skew that re-signing cannot fix stops with RequestTimeTooSkewed") {
  oss_test::hostile_server server(skewed_server(7200s, false));
  auto copts = hostile_options(server);
  copts.max_attempts = 3;
  auto out = run_upload(copts, "skew/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::server_errc::request_time_too_skewed, "fix the system clock");
  CHECK(out.diag.attempts == 3);
  CHECK(server.requests() == 3);  // bounded by max_attempts
}

// ---- network and TLS -------------------------------------------------------------------------

TEST_CASE("bad input: an endpoint where nothing listens (connection refused)") {
  const std::uint16_t port = oss_test::closed_port();
  oss::client_options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(port);
  o.region = "cn-local";
  o.bucket = bi_bucket;
  o.creds = {bi_key_id, bi_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  o.connect_timeout = 5s;
  oss_test::temp_dir dir;
  const auto path = dir / "a.bin";
  oss_test::write_file(path, small_data);
  auto out = run_upload(o, "net/object.bin", path, small_parts());
  INFO("what(): " << out.what);
  CHECK(out.ec == asio::error::connection_refused);
  CHECK(out.diag.http_status == 0);
  CHECK(out.diag.attempts == o.max_attempts);  // retried, but bounded
  CHECK(contains(out.what, std::to_string(port)));  // says where it tried
  CHECK(contains(out.what, "check the endpoint and its port"));
  CHECK(oss_test::read_file(path) == small_data);
}

TEST_CASE("bad input: a self-signed TLS certificate the client does not trust") {
  oss_test::self_signed_cert cert("localhost");
  oss_test::temp_dir store;
  oss::testing::local_server_options so;
  so.root = store.path().string();
  so.access_key_id = bi_key_id;
  so.access_key_secret = bi_secret;
  so.tls_cert_file = cert.cert_file();
  so.tls_key_file = cert.key_file();
  oss::testing::local_server_thread server(so);
  oss::client_options o;
  o.endpoint = "https://localhost:" + std::to_string(server.port());
  o.region = "cn-local";
  o.bucket = bi_bucket;
  o.creds = {bi_key_id, bi_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  auto out = run_upload(o, "tls/object.bin", oss::buffer_source(small_data), small_parts());
  INFO("what(): " << out.what);
  CHECK(out.ec.category() == asio::error::get_ssl_category());
  CHECK(contains(out.what, "certificate verify failed"));
  CHECK(contains(out.what, "ca_file"));  // what to fix
  CHECK(server.stats().requests == 0);   // nothing was sent in the clear or otherwise
}

TEST_CASE("bad input: a trusted TLS certificate for another host name") {
  oss_test::self_signed_cert cert("localhost");
  oss_test::temp_dir store;
  oss::testing::local_server_options so;
  so.root = store.path().string();
  so.access_key_id = bi_key_id;
  so.access_key_secret = bi_secret;
  so.tls_cert_file = cert.cert_file();
  so.tls_key_file = cert.key_file();
  oss::testing::local_server_thread server(so);
  oss::client_options o;
  o.endpoint = "https://127.0.0.1:" + std::to_string(server.port());  // the certificate names localhost only
  o.region = "cn-local";
  o.bucket = bi_bucket;
  o.creds = {bi_key_id, bi_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.ca_file = cert.cert_file();
  o.retry_base_delay = 1ms;
  auto out = run_upload(o, "tls/object.bin", oss::buffer_source(small_data), small_parts());
  INFO("what(): " << out.what);
  CHECK(out.ec.category() == asio::error::get_ssl_category());
  CHECK(contains(out.what, "certificate verify failed"));
  CHECK(contains(out.what, "host name"));
  CHECK(server.stats().requests == 0);
}

// ---- hostile replies -------------------------------------------------------------------------

TEST_CASE("bad input: a reply whose headers never end") {
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = "HTTP/1.1 200 OK\r\n";
    r.repeat = "X-Filler: " + std::string(1000, 'f') + "\r\n";
    return r;
  });
  auto out = run_upload(hostile_options(server), "hostile/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::client_errc::response_too_large, "check that the endpoint points at OSS");
  CHECK(server.requests() == static_cast<std::size_t>(out.diag.attempts));
  CHECK(server.bytes_sent() < (64ull << 20));  // the client stopped reading early
}

TEST_CASE("bad input: an endless chunked body") {
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"00\"\r\n\r\n";
    r.repeat = "10000\r\n" + std::string(0x10000, 'z') + "\r\n";
    return r;
  });
  auto out = run_upload(hostile_options(server), "hostile/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::client_errc::response_too_large, "size limit");
  CHECK(server.requests() == static_cast<std::size_t>(out.diag.attempts));
  CHECK(server.bytes_sent() < (64ull << 20));
}

TEST_CASE("bad input: a malformed status line") {
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = "HTTP/1.1 2OO Okay-ish\r\nContent-Length: 0\r\n\r\n";
    return r;
  });
  auto out = run_upload(hostile_options(server), "hostile/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::client_errc::malformed_response, "not at a proxy");
  CHECK(server.requests() == 1);  // not retried: the same server answers the same way
}

TEST_CASE("bad input: a peer that greets with a banner and then waits (SSH)") {
  // An SSH server writes its banner and waits for ours, so no end of head ever arrives: the
  // client must give up at the first byte that cannot start "HTTP/", not at the stall timeout.
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    r.close = false;
    return r;
  });
  auto copts = hostile_options(server);
  copts.stall_timeout = 20s;
  const auto started = std::chrono::steady_clock::now();
  auto out = run_upload(copts, "hostile/object.bin", oss::buffer_source(small_data), small_parts());
  const auto took = std::chrono::steady_clock::now() - started;
  check_error(out, oss::client_errc::malformed_response, "points at OSS");
  CHECK(server.requests() == 1);
  CHECK(took < 10s);  // half the stall timeout: the early check, not the timer, ended it
}

TEST_CASE("bad input: a peer that speaks another protocol (RTSP)") {
  oss_test::hostile_server server([](const oss_test::hostile_request&) {
    oss_test::hostile_reply r;
    r.raw = "RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 0\r\n\r\n";
    return r;
  });
  auto out = run_upload(hostile_options(server), "hostile/object.bin", oss::buffer_source(small_data), small_parts());
  check_error(out, oss::client_errc::malformed_response, "points at OSS");
  CHECK(server.requests() == 1);
}
