// oss::resumable_download end to end over real sockets: against oss::testing::local_server
// (uploads made with multipart_upload, so the round trip is checked byte for byte), and against
// a hostile server for what a real store may do (ignore Range, answer another range).
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/resumable_download.hpp>
#include <oss/detail/engine/shared_allowance.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../support/hostile_server.hpp"
#include "../support/run_coro.hpp"
#include "../support/skip.hpp"
#include "../support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

using oss_test::run_coro;

constexpr const char* dl_key_id = "LTAI-download-test-id";
constexpr const char* dl_secret = "download-secret-Qw81zP";
constexpr const char* dl_bucket = "download-bucket";
constexpr std::uint64_t kib100 = 100 * 1024;

struct dl_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  oss::testing::local_server_thread server;

  dl_env()
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          o.access_key_id = dl_key_id;
          o.access_key_secret = dl_secret;
          return o;
        }()) {}

  oss::client_options options() const {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = dl_bucket;
    o.creds = {dl_key_id, dl_secret, ""};
    o.address_style = oss::addressing_style::path_style;
    o.retry_base_delay = 1ms;
    o.retry_max_delay = 5ms;
    return o;
  }
};

void put(asio::io_context& io, oss::client& c, const std::string& name, const std::string& data) {
  run_coro(io, [&]() -> asio::awaitable<void> { co_await c.put_object(name, asio::buffer(data)); });
}

struct download_attempt {
  std::error_code ec;
  oss::diagnostics diag;
  oss::download_result r;
};

download_attempt download(asio::io_context& io, oss::client& c, const std::string& name,
                          const std::filesystem::path& path, const oss::download_options& opts) {
  download_attempt out;
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::tie(out.ec, out.r) =
        co_await oss::async_resumable_download(c, name, path, opts, out.diag, oss_test::tuple_token);
  });
  return out;
}

// Cancels the download (terminal) once `after` ranges are durable; returns its outcome.
download_attempt download_cancelled_after(asio::io_context& io, oss::client& c, const std::string& name,
                                          const std::filesystem::path& path, oss::download_options opts,
                                          std::uint32_t after) {
  download_attempt out;
  asio::cancellation_signal signal;
  opts.progress = [&signal, after](const oss::progress_event& e) {
    if (e.stage == oss::progress_stage::part_done && e.parts_done == after)
      signal.emit(asio::cancellation_type::terminal);
  };
  bool done = false;
  oss::async_resumable_download(c, name, path, opts, out.diag,
                                asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::download_result r) {
                                  out.ec = ec;
                                  out.r = std::move(r);
                                  done = true;
                                }));
  io.restart();
  io.run_for(60s);
  REQUIRE(done);
  return out;
}

std::filesystem::path part_file_of(const std::filesystem::path& p) {
  auto q = p;
  q += ".part";
  return q;
}

}  // namespace

TEST_CASE("download: a file uploaded in parts comes back byte for byte, with progress that never goes back") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(2 * 1024 * 1024 + 12345, 31);
  const auto src = env.files / "src.bin";
  oss_test::write_file(src, data);
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_options up{.parallel = 3, .part_size = kib100};
    co_await oss::multipart_upload(c, "dl/a.bin", src, up);
  });

  std::vector<std::uint64_t> seen;
  std::vector<oss::progress_stage> stages;
  oss::download_options opts{.parallel = 4, .part_size = kib100,
                             .progress = [&](const oss::progress_event& e) {
                               seen.push_back(e.bytes_done);
                               stages.push_back(e.stage);
                               CHECK(e.bytes_done <= e.bytes_total);
                               CHECK(e.bytes_total == data.size());
                             }};
  const auto target = env.files / "out.bin";
  const download_attempt a = download(io, c, "dl/a.bin", target, opts);
  REQUIRE_MESSAGE(!a.ec, a.ec.message() << " " << a.diag.client_message);
  CHECK(oss_test::read_file(target) == data);
  CHECK_FALSE(std::filesystem::exists(part_file_of(target)));
  CHECK(a.r.size == data.size());
  CHECK(a.r.crc64 == oss::detail::crc64(0, data.data(), data.size()));
  CHECK(a.r.verified);
  CHECK(a.r.parts == 21);
  CHECK_FALSE(a.r.resumed);
  CHECK(a.r.bytes_downloaded == data.size());
  CHECK(a.r.path == target);
  REQUIRE(stages.size() >= 3);
  CHECK(stages.front() == oss::progress_stage::started);
  CHECK(stages.back() == oss::progress_stage::completed);
  CHECK(seen.back() == data.size());
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] >= seen[i - 1]);
  CHECK(std::count(stages.begin(), stages.end(), oss::progress_stage::part_done) == 21);
  CHECK(std::count(stages.begin(), stages.end(), oss::progress_stage::received) >= 1);
}

TEST_CASE("download: objects uploaded from a buffer and from a stream, and an empty object") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(700 * 1024 + 3, 32);
  std::size_t at = 0;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_options up{.parallel = 2, .part_size = kib100};
    co_await oss::multipart_upload(c, "dl/buffer.bin", oss::buffer_source(data), up);
    oss::stream_source stream([&](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min(b.size(), std::min<std::size_t>(data.size() - at, 30000));
      std::memcpy(b.data(), data.data() + at, n);
      at += n;
      co_return n;
    });
    co_await oss::multipart_upload(c, "dl/stream.bin", std::move(stream), up);
  });
  put(io, c, "dl/empty", "");
  const oss::download_options opts{.parallel = 3, .part_size = kib100};
  for (const char* name : {"dl/buffer.bin", "dl/stream.bin"}) {
    CAPTURE(name);
    const auto target = env.files / "copy.bin";
    const download_attempt a = download(io, c, name, target, opts);
    REQUIRE_MESSAGE(!a.ec, a.ec.message() << " " << a.diag.client_message);
    CHECK(oss_test::read_file(target) == data);
  }
  const auto empty = env.files / "empty.out";
  const download_attempt e = download(io, c, "dl/empty", empty, opts);
  REQUIRE_MESSAGE(!e.ec, e.ec.message() << " " << e.diag.client_message);
  CHECK(std::filesystem::exists(empty));
  CHECK(std::filesystem::file_size(empty) == 0);
  CHECK(e.r.parts == 0);
  CHECK(e.r.verified);
}

TEST_CASE("download: cancelled half-way, the checkpoint resumes it without fetching the durable ranges again") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1500 * 1024, 33);
  put(io, c, "dl/resume.bin", data);
  const auto target = env.files / "resume.bin";
  const auto ckpt = env.files / "resume.ckpt";
  oss::download_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  const download_attempt first = download_cancelled_after(io, c, "dl/resume.bin", target, opts, 4);
  CHECK(first.ec == asio::error::operation_aborted);
  CHECK_FALSE(std::filesystem::exists(target));
  CHECK(std::filesystem::exists(part_file_of(target)));
  REQUIRE(std::filesystem::exists(ckpt));
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  CHECK(saved.kind == oss::download_checkpoint_kind);
  CHECK(saved.done_parts.size() >= 4);
  CHECK(saved.file_size == data.size());
  CHECK_FALSE(saved.object_etag.empty());

  const download_attempt second = download(io, c, "dl/resume.bin", target, opts);
  REQUIRE_MESSAGE(!second.ec, second.ec.message() << " " << second.diag.client_message);
  CHECK(second.r.resumed);
  CHECK(oss_test::read_file(target) == data);
  CHECK(second.r.bytes_downloaded == data.size() - saved.done_parts.size() * kib100);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  CHECK_FALSE(std::filesystem::exists(part_file_of(target)));
}

TEST_CASE("download: bytes changed in the partial file between runs are fetched again") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1000 * 1024, 34);
  put(io, c, "dl/touched.bin", data);
  const auto target = env.files / "touched.bin";
  const auto ckpt = env.files / "touched.ckpt";
  oss::download_options opts{.parallel = 1, .part_size = kib100, .checkpoint = ckpt};
  const download_attempt first = download_cancelled_after(io, c, "dl/touched.bin", target, opts, 3);
  CHECK(first.ec == asio::error::operation_aborted);
  {
    // Damage the first range on disk.
    std::string partial = oss_test::read_file(part_file_of(target));
    partial[10] = static_cast<char>(partial[10] ^ 0x5a);
    oss_test::write_file(part_file_of(target), partial);
  }
  const download_attempt second = download(io, c, "dl/touched.bin", target, opts);
  REQUIRE_MESSAGE(!second.ec, second.ec.message() << " " << second.diag.client_message);
  CHECK(oss_test::read_file(target) == data);
}

TEST_CASE("download: an object overwritten between runs is object_changed, and the next run gets the new one") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string v1 = oss_test::random_bytes(900 * 1024, 35);
  const std::string v2 = oss_test::random_bytes(900 * 1024, 36);
  put(io, c, "dl/changing.bin", v1);
  const auto target = env.files / "changing.bin";
  const auto ckpt = env.files / "changing.ckpt";
  oss::download_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  const download_attempt first = download_cancelled_after(io, c, "dl/changing.bin", target, opts, 3);
  CHECK(first.ec == asio::error::operation_aborted);
  put(io, c, "dl/changing.bin", v2);
  const download_attempt second = download(io, c, "dl/changing.bin", target, opts);
  CHECK(second.ec == oss::client_errc::object_changed);
  CHECK(second.diag.client_message.find("overwritten") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  CHECK_FALSE(std::filesystem::exists(part_file_of(target)));
  CHECK_FALSE(std::filesystem::exists(target));
  const download_attempt third = download(io, c, "dl/changing.bin", target, opts);
  REQUIRE_MESSAGE(!third.ec, third.ec.message() << " " << third.diag.client_message);
  CHECK(oss_test::read_file(target) == v2);
}

TEST_CASE("download: an object overwritten during the run fails every later range with object_changed") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string v1 = oss_test::random_bytes(1200 * 1024, 37);
  const std::string v2 = oss_test::random_bytes(1200 * 1024, 38);
  put(io, c, "dl/racing.bin", v1);
  oss::client writer(io.get_executor(), env.options());
  bool overwritten = false;
  oss::download_options opts{.parallel = 1, .part_size = kib100};
  opts.progress = [&](const oss::progress_event& e) -> asio::awaitable<void> {
    if (e.stage == oss::progress_stage::part_done && e.parts_done == 2 && !overwritten) {
      overwritten = true;
      co_await writer.put_object("dl/racing.bin", asio::buffer(v2));
    }
  };
  const auto target = env.files / "racing.bin";
  const download_attempt a = download(io, c, "dl/racing.bin", target, opts);
  CHECK(overwritten);
  CHECK(a.ec == oss::client_errc::object_changed);
  CHECK_FALSE(std::filesystem::exists(target));
  CHECK_FALSE(std::filesystem::exists(part_file_of(target)));
}

TEST_CASE("download: bad input is refused before any request, and a missing object is no_such_key") {
  dl_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  put(io, c, "dl/x", "some bytes");
  const oss::download_options opts{};
  const download_attempt no_folder = download(io, c, "dl/x", env.files / "missing" / "x", opts);
  CHECK(no_folder.ec == std::errc::no_such_file_or_directory);
  CHECK(no_folder.diag.client_message.find("does not exist") != std::string::npos);
  const download_attempt folder = download(io, c, "dl/x", env.files.path(), opts);
  CHECK(folder.ec == std::errc::is_a_directory);
  const oss::download_options bad_parallel{.parallel = 0};
  CHECK(download(io, c, "dl/x", env.files / "x", bad_parallel).ec == oss::client_errc::invalid_parallel);
  const oss::download_options bad_part{.part_size = 10};
  CHECK(download(io, c, "dl/x", env.files / "x", bad_part).ec == oss::client_errc::invalid_part_size);
  CHECK(download(io, c, "", env.files / "x", opts).ec == oss::client_errc::invalid_object_name);
  const download_attempt missing = download(io, c, "dl/nothing-here", env.files / "x", opts);
  CHECK(missing.ec == oss::server_errc::no_such_key);
  CHECK_FALSE(std::filesystem::exists(env.files / "x"));
  CHECK_FALSE(std::filesystem::exists(env.files / "x.part"));

  // An upload's checkpoint is not a download's.
  oss::checkpoint upload_cp;
  upload_cp.endpoint = c.endpoint_url();
  upload_cp.bucket = dl_bucket;
  upload_cp.name = "dl/x";
  upload_cp.part_size = kib100;
  upload_cp.upload_id = "0004B9895DBBB6EC98E36";
  const oss::download_options foreign{.checkpoint = upload_cp};
  CHECK(download(io, c, "dl/x", env.files / "x", foreign).ec == oss::client_errc::checkpoint_mismatch);
}

TEST_CASE("download: a server that ignores Range gets one GET of the whole object; a wrong Content-Range is refused") {
  const std::string data = oss_test::random_bytes(500 * 1024, 39);
  const std::string crc = std::to_string(oss::detail::crc64(0, data.data(), data.size()));
  const std::vector<std::pair<std::string, std::string>> object_headers = {
      {"ETag", "\"0123456789ABCDEF0123456789ABCDEF\""}, {"x-oss-hash-crc64ecma", crc}};
  std::atomic<bool> shift_range{false};
  oss_test::hostile_server server([&](const oss_test::hostile_request& req) {
    oss_test::hostile_reply rep;
    if (req.method == "HEAD") {
      auto h = object_headers;
      std::string raw = oss_test::http_reply(200, "OK", h, "");
      // A HEAD reply's Content-Length is the object's, with no body.
      raw.replace(raw.find("Content-Length: 0"), 17, "Content-Length: " + std::to_string(data.size()));
      rep.raw = raw;
    } else if (!shift_range) {
      rep.raw = oss_test::http_reply(200, "OK", object_headers, data);
    } else {
      auto h = object_headers;
      h.emplace_back("Content-Range", "bytes 1-102400/" + std::to_string(data.size()));
      rep.raw = oss_test::http_reply(206, "Partial Content", h, data.substr(1, 102400));
    }
    return rep;
  });
  asio::io_context io;
  oss::client_options o;
  o.endpoint = server.endpoint();
  o.region = "cn-local";
  o.bucket = dl_bucket;
  o.creds = {dl_key_id, dl_secret, ""};
  o.address_style = oss::addressing_style::path_style;
  o.retry_base_delay = 1ms;
  o.retry_max_delay = 5ms;
  oss::client c(io.get_executor(), o);
  oss_test::temp_dir files;
  const oss::download_options opts{.parallel = 3, .part_size = kib100};
  const download_attempt a = download(io, c, "obj", files / "whole.bin", opts);
  REQUIRE_MESSAGE(!a.ec, a.ec.message() << " " << a.diag.client_message);
  CHECK(a.r.whole_object_get);
  CHECK(oss_test::read_file(files / "whole.bin") == data);

  shift_range = true;
  const download_attempt b = download(io, c, "obj", files / "shifted.bin", opts);
  CHECK(b.ec == oss::client_errc::malformed_response);
  CHECK(b.diag.client_message.find("Content-Range") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(files / "shifted.bin"));
}

TEST_CASE("download: a disk too small for the object is ENOSPC before any range is fetched, and the target is untouched") {
  // A real full disk: a 1 MiB tmpfs (needs the right to mount; else the case is skipped).
  dl_env env;
  const auto small = env.files / "small-disk";
  std::filesystem::create_directory(small);
  if (std::system(("mount -t tmpfs -o size=1m tmpfs '" + small.string() + "' 2>/dev/null").c_str()) != 0) {
    oss_test::report_skip("cannot mount a small tmpfs here (not root?)");
    return;
  }
  struct unmount {
    std::filesystem::path p;
    ~unmount() { (void)std::system(("umount '" + p.string() + "'").c_str()); }
  } guard{small};
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(3 * 1024 * 1024, 40);
  put(io, c, "dl/big", data);
  oss_test::write_file(small / "big.bin", "the old contents");
  env.server.reset_stats();
  const oss::download_options opts{.parallel = 2, .part_size = kib100, .checkpoint = env.files / "big.ckpt"};
  const download_attempt a = download(io, c, "dl/big", small / "big.bin", opts);
  CHECK(a.ec == std::errc::no_space_on_device);
  CHECK(a.diag.client_message.find("cannot allocate") != std::string::npos);
  CHECK(env.server.stats().get_object == 0);
  CHECK(oss_test::read_file(small / "big.bin") == "the old contents");
  CHECK_FALSE(std::filesystem::exists(small / "big.bin.part"));
}

TEST_CASE("download: two clients given one transfer budget share its rate") {
  dl_env env;
  asio::io_context io;
  oss::client writer(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(3 * 1024 * 1024, 46);
  put(io, writer, "dl/shared", data);
  auto budget = std::make_shared<oss::transfer_budget>(oss::transfer_budget::limits{.download_bytes_per_second = 4 << 20});
  oss::client_options o = env.options();
  o.budget = budget;
  oss::client a(io.get_executor(), o), b(io.get_executor(), o);
  const oss::download_options opts{.parallel = 2, .part_size = kib100 * 5};
  int done = 0;
  std::error_code ea, eb;
  oss::diagnostics da, db;
  const auto start = std::chrono::steady_clock::now();
  oss::async_resumable_download(a, "dl/shared", env.files / "a.out", opts, da, [&](std::error_code ec, oss::download_result) {
    ea = ec;
    ++done;
  });
  oss::async_resumable_download(b, "dl/shared", env.files / "b.out", opts, db, [&](std::error_code ec, oss::download_result) {
    eb = ec;
    ++done;
  });
  io.restart();
  io.run_for(60s);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(done == 2);
  CHECK_FALSE(ea);
  CHECK_FALSE(eb);
  CHECK(oss_test::read_file(env.files / "a.out") == data);
  CHECK(oss_test::read_file(env.files / "b.out") == data);
  // 6 MiB through one 4 MiB/s budget: 1.5 s at least (each alone would take 0.75 s).
  CHECK(seconds >= 1.4);
}

TEST_CASE("download: a transfer budget of connections and memory caps the ranges in flight") {
  dl_env env;
  asio::io_context io;
  oss::client writer(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(2 * 1024 * 1024 + 5, 47);
  put(io, writer, "dl/capped", data);
  for (const oss::transfer_budget::limits limits :
       {oss::transfer_budget::limits{.connections = 2}, oss::transfer_budget::limits{.memory_bytes = 3 << 20}}) {
    const std::uint64_t cap = limits.connections ? 2 : 3;  // each range holds a 1 MiB piece
    CAPTURE(cap);
    auto budget = std::make_shared<oss::transfer_budget>(limits);
    oss::client_options o = env.options();
    o.budget = budget;
    oss::client c(io.get_executor(), o);
    // Each range is held 40 ms by the server, so the ranges the budget lets through overlap.
    oss::testing::fault_rule slow;
    slow.operation = "GetObject";
    slow.action = oss::testing::fault_action::delay;
    slow.duration = 40ms;
    slow.times = 0;
    env.server.set_fault_plan({slow});
    env.server.reset_stats();
    const auto out = env.files / "capped.out";
    oss::download_result r;
    const oss::download_options opts{.parallel = 8, .part_size = kib100};  // named: GCC 12 and co_await temporaries
    run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::resumable_download(c, "dl/capped", out, opts); });
    CHECK(oss_test::read_file(out) == data);
    const auto st = env.server.stats();
    CHECK(st.peak_in_flight == cap);
    if (budget->connections()) CHECK(budget->connections()->in_use() == 0);
    if (budget->memory()) CHECK(budget->memory()->in_use() == 0);
  }
}
