// oss::multipart_upload end to end over real sockets against oss::testing::local_server. The
// engine's sans-io parts (scheduler, part plan, checkpoint format) are in unit/test_engine.cpp.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/engine/checkpoint_journal.hpp>
#include <oss/detail/engine/part_source.hpp>
#include <oss/detail/engine/shared_allowance.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/resumable_download.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/bind_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <new>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/hostile_proxy.hpp"
#include "../support/run_coro.hpp"
#include "../support/skip.hpp"
#include "../support/tcp_relay.hpp"
#include "../support/temp_dir.hpp"

using namespace std::chrono_literals;

namespace {

using asio::experimental::as_tuple;
namespace mp = oss::detail::multipart;

constexpr const char* mp_key_id = "LTAI-multipart-test-id";
constexpr const char* mp_secret = "multipart-secret-Zk29vQ";
constexpr const char* mp_bucket = "multipart-bucket";
constexpr std::uint64_t kib100 = 100 * 1024;

using oss_test::run_coro;


std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

// A local server with credentials, a client factory and a scratch folder.
struct mp_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  oss::testing::local_server_thread server;

  mp_env()
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          o.access_key_id = mp_key_id;
          o.access_key_secret = mp_secret;
          return o;
        }()) {}

  oss::client_options options(std::string bucket = mp_bucket) const {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = std::move(bucket);
    o.creds = {mp_key_id, mp_secret, ""};
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
};

// Counts what a sync progress handler saw and checks the contract as events arrive.
struct progress_log {
  struct entry {
    double fraction;
    std::uint64_t bytes_done, bytes_total, bytes_delta;
    std::uint32_t parts_done, parts_total;
    int part_number;
    oss::progress_stage stage;
    std::string request_id;
  };
  std::vector<entry> events;

  void add(const oss::progress_event& e) {
    events.push_back(entry{e.fraction, e.bytes_done, e.bytes_total, e.bytes_delta, e.parts_done,
                           e.parts_total, e.part ? e.part->number : 0, e.stage,
                           std::string(e.request_id)});
  }

  // Strictly increasing, ending at exactly 1.0 once, with the completed stage last. For a
  // stream (`size_known` false) the fraction stays 0 until its end is read, so it only has to
  // be non-decreasing; bytes still grow strictly.
  void check_contract(std::uint64_t total, std::uint32_t parts, bool size_known = true) const {
    REQUIRE(events.size() >= 2);
    CHECK(events.front().stage == oss::progress_stage::started);
    CHECK(events.back().stage == oss::progress_stage::completed);
    CHECK(events.back().fraction == 1.0);
    CHECK(events.back().bytes_done == total);
    CHECK(events.back().parts_done == parts);
    int ones = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].fraction == 1.0) ++ones;
      CHECK(events[i].fraction >= 0.0);
      CHECK(events[i].fraction <= 1.0);
      if (i > 0 && events[i].stage != oss::progress_stage::completed) {
        CHECK(events[i].bytes_done > events[i - 1].bytes_done);
        if (size_known)
          CHECK(events[i].fraction > events[i - 1].fraction);
        else
          CHECK(events[i].fraction >= events[i - 1].fraction);
        CHECK(events[i].bytes_done - events[i - 1].bytes_done == events[i].bytes_delta);
      }
      if (i > 0 && events[i].stage == oss::progress_stage::completed)
        CHECK(events[i].fraction > events[i - 1].fraction);
    }
    CHECK(ones == 1);
  }
};

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::string md5_base64(std::string_view data) {
  const auto d = oss::detail::md5(data);
  return oss::detail::base64_encode(d.data(), d.size());
}

asio::awaitable<std::string> fetch(oss::client& c, std::string name) {
  co_return co_await c.get_object(std::move(name));
}

// One upload, then the object as the server stores it: what most cases check after a run.
struct upload_read_back {
  oss::upload_result r;
  std::string stored;
};
upload_read_back upload_and_read_back(asio::io_context& io, oss::client& c, const std::string& name,
                                      const oss::upload_source& source, const oss::upload_options& opts) {
  upload_read_back out;
  run_coro(io, [&]() -> asio::awaitable<void> {
    out.r = co_await oss::multipart_upload(c, name, source, opts);
    out.stored = co_await fetch(c, name);
  });
  return out;
}

// UploadPart requests the server counted for a resumed run: exactly the parts the resume had
// to send, plus at most `parallel` requests of the cancelled run whose bytes the server thread
// only got to after reset_stats() (the client had already closed those connections).
void check_resent(std::uint64_t counted, std::uint64_t expected, std::size_t parallel) {
  CHECK(counted >= expected);
  CHECK(counted <= expected + parallel);
}

// ---- end to end --------------------------------------------------------------------------------

TEST_CASE("multipart upload: file, buffer and stream sources store byte-identical objects") {
  // Setup
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(2 * 1024 * 1024 + 12345, 1);
  const auto file = env.write("a.bin", data);
  const std::uint32_t parts = mp::part_count(data.size(), kib100);

  for (int kind = 0; kind < 3; ++kind) {
    CAPTURE(kind);
    env.server.reset_stats();
    oss::upload_options opts;
    opts.parallel = 3;
    opts.part_size = kib100;
    // A stream handing out odd-sized pieces, as a pipe would.
    std::size_t pos = 0;
    oss::stream_source stream([&](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min({b.size(), data.size() - pos, std::size_t{77777}});
      std::memcpy(b.data(), data.data() + pos, n);
      pos += n;
      co_return n;
    });
    oss::upload_source source = kind == 0   ? oss::upload_source(file)
                                : kind == 1 ? oss::upload_source(oss::buffer_source(data))
                                            : oss::upload_source(stream);
    const std::string name = "dir/object-" + std::to_string(kind) + ".bin";
    // Run
    const auto [r, stored] = upload_and_read_back(io, c, name, source, opts);
    // Check
    CHECK(r.name == name);
    CHECK(r.multipart);
    CHECK_FALSE(r.resumed);
    CHECK(r.size == data.size());
    CHECK(r.crc64 == crc_of(data));
    CHECK(r.parts == parts);
    CHECK(r.parts_uploaded == parts);
    CHECK(r.bytes_uploaded == data.size());
    CHECK(r.etag.find("-" + std::to_string(parts)) != std::string::npos);
    CHECK(stored == data);
    const auto st = env.server.stats();
    CHECK(st.initiate_multipart_upload == 1);
    CHECK(st.upload_part == parts);
    CHECK(st.complete_multipart_upload == 1);
    CHECK(st.put_object == 0);
  }
}

TEST_CASE("multipart upload: file parts larger than a piece go out in pieces; a retried part is read and hashed again") {
  // Setup: parts of 2.5 pieces. The server resets part 2's connection in its second piece and
  // answers part 3's first attempt with a wrong CRC-64: both are sent again from their start,
  // and a reader that kept its CRC-64 across attempts (or lost a piece) would fail the part or
  // the object's check.
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::uint64_t part_size = 2 * oss::detail::file_piece + oss::detail::file_piece / 2;
  const std::string data = oss_test::random_bytes(3 * part_size + 4321, 31);
  const auto file = env.write("pieces.bin", data);
  oss::testing::fault_rule reset;
  reset.operation = "UploadPart";
  reset.part_number = 2;
  reset.action = oss::testing::fault_action::reset_during_body;
  reset.after_bytes = oss::detail::file_piece + 1000;
  oss::testing::fault_rule wrong_crc;
  wrong_crc.operation = "UploadPart";
  wrong_crc.part_number = 3;
  wrong_crc.action = oss::testing::fault_action::wrong_crc64;
  env.server.set_fault_plan({reset, wrong_crc});

  // Run
  const oss::upload_options opts{.parallel = 2, .part_size = part_size};
  const auto [r, stored] = upload_and_read_back(io, c, "pieces.bin", file, opts);

  // Check
  CHECK(stored == data);
  CHECK(r.crc64 == crc_of(data));
  CHECK(r.parts == 4);
  CHECK(r.checks.parts_crc64 == 4);
  const auto attempts = env.server.part_attempts();
  CHECK(attempts.at(1) == 1);
  CHECK(attempts.at(2) == 2);
  CHECK(attempts.at(3) == 2);
  CHECK(attempts.at(4) == 1);
  env.server.clear_fault_plan();
}

TEST_CASE("multipart upload: parts carry the digests computed while reading; request ids reach progress and result") {
  // Setup: the client talks to the server through a relay that keeps the traffic.
  mp_env env;
  oss_test::tcp_relay relay(env.server.port(), /*record=*/true);
  asio::io_context io;
  oss::client_options copts = env.options();
  copts.endpoint = relay.endpoint();
  oss::client c(io.get_executor(), copts);
  const std::string data = oss_test::random_bytes(5 * kib100 + 4321, 41);
  const auto file = env.write("digests.bin", data);
  const std::uint32_t parts = mp::part_count(data.size(), kib100);

  for (int kind = 0; kind < 3; ++kind) {
    for (bool content_md5 : {true, false}) {
      CAPTURE(kind);
      CAPTURE(content_md5);
      relay.clear();
      std::size_t pos = 0;
      oss::stream_source stream([&](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
        const std::size_t n = std::min(b.size(), data.size() - pos);
        std::memcpy(b.data(), data.data() + pos, n);
        pos += n;
        co_return n;
      });
      oss::upload_source source = kind == 0   ? oss::upload_source(file)
                                  : kind == 1 ? oss::upload_source(oss::buffer_source(data))
                                              : oss::upload_source(stream);
      progress_log log;
      oss::upload_options opts{.parallel = 3, .part_size = kib100,
                               .progress = [&](const oss::progress_event& e) { log.add(e); },
                               .content_md5 = content_md5};
      const std::string name = "digests/" + std::to_string(kind);
      oss::upload_result r;
      // Run
      run_coro(io, [&]() -> asio::awaitable<void> {
        r = co_await oss::multipart_upload(c, name, source, opts);
      });
      // Check: every part's MD5 was sent when asked for, none otherwise (Complete always sends
      // one for its XML body).
      const std::string sent = relay.sent();
      const std::string received = relay.received();
      CHECK(r.crc64 == crc_of(data));
      CHECK(count_of(sent, "\r\nContent-MD5: ") == (content_md5 ? parts + 1 : 1));
      if (content_md5) {
        for (std::uint32_t n = 1; n <= parts; ++n) {
          const std::string part = data.substr(mp::part_offset(kib100, static_cast<int>(n)),
                                               mp::part_length(data.size(), kib100, static_cast<int>(n)));
          CHECK(count_of(sent, "\r\nContent-MD5: " + md5_base64(part) + "\r\n") == 1);
        }
      }
      // Each part_done names its UploadPart reply, completed (and the result) the Complete's.
      log.check_contract(data.size(), parts, kind != 2);
      std::set<std::string> ids;
      for (const auto& e : log.events) {
        if (e.stage == oss::progress_stage::started) continue;
        CHECK_FALSE(e.request_id.empty());
        CHECK(count_of(received, "\r\nx-oss-request-id: " + e.request_id + "\r\n") == 1);
        ids.insert(e.request_id);
      }
      CHECK(ids.size() == parts + 1);
      CHECK(r.request_id == log.events.back().request_id);
    }
  }

  // A source smaller than one part: the PutObject's MD5 and request id.
  relay.clear();
  const std::string small = data.substr(0, 5000);
  progress_log log;
  oss::upload_options opts{.part_size = kib100,
                           .progress = [&](const oss::progress_event& e) { log.add(e); },
                           .content_md5 = true};
  const oss::upload_source small_source(oss::buffer_source{small});
  oss::upload_result r;
  run_coro(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(c, "digests/small", small_source, opts);
  });
  CHECK_FALSE(r.multipart);
  CHECK(count_of(relay.sent(), "\r\nContent-MD5: " + md5_base64(small) + "\r\n") == 1);
  CHECK_FALSE(r.request_id.empty());
  CHECK(count_of(relay.received(), "\r\nx-oss-request-id: " + r.request_id + "\r\n") == 1);
  CHECK(log.events.back().request_id == r.request_id);
}

TEST_CASE("multipart upload: concurrency never exceeds parallel") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(3 * 1024 * 1024, 2);
  const auto file = env.write("c.bin", data);
  for (std::size_t parallel : {1u, 3u, 8u}) {
    CAPTURE(parallel);
    env.server.reset_stats();
    oss::upload_options opts;
    opts.parallel = parallel;
    opts.part_size = kib100;
    oss::upload_result r;
    run_coro(io, [&]() -> asio::awaitable<void> {
      r = co_await oss::multipart_upload(c, "conc.bin", file, opts);
    });
    const auto st = env.server.stats();
    CHECK(r.crc64 == crc_of(data));
    CHECK(st.peak_in_flight >= 1);
    CHECK(st.peak_in_flight <= parallel);
    CHECK(st.upload_part == r.parts);
  }
}

TEST_CASE("multipart upload: progress is strictly increasing and ends at exactly 1.0 once") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024 + 1, 3);
  const auto file = env.write("p.bin", data);
  const std::uint32_t parts = mp::part_count(data.size(), kib100);

  SUBCASE("sync handler") {
    progress_log log;
    oss::upload_options opts{.parallel = 4, .part_size = kib100,
                             .progress = [&](const oss::progress_event& e) { log.add(e); }};
    run_coro(io, [&]() -> asio::awaitable<void> {
      co_await oss::multipart_upload(c, "p.bin", file, opts);
    });
    log.check_contract(data.size(), parts);
    CHECK(log.events.size() == parts + 2);
    CHECK(log.events.front().fraction == 0.0);
    CHECK(log.events.front().parts_total == parts);
  }
  SUBCASE("async handler, awaited one call at a time") {
    progress_log log;
    int inside = 0, overlaps = 0;
    oss::upload_options opts{
        .parallel = 5,
        .part_size = kib100,
        .progress = [&](const oss::progress_event& e) -> asio::awaitable<void> {
          if (inside++ > 0) ++overlaps;
          log.add(e);
          asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
          co_await t.async_wait(asio::use_awaitable);
          --inside;
        }};
    run_coro(io, [&]() -> asio::awaitable<void> {
      co_await oss::multipart_upload(c, "p2.bin", file, opts);
    });
    CHECK(overlaps == 0);
    log.check_contract(data.size(), parts);
  }
}

TEST_CASE("multipart upload: input smaller than one part is a single PutObject") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(50 * 1024, 4);
  const auto file = env.write("small.txt", data);
  progress_log log;
  oss::upload_options opts{.part_size = kib100,
                           .checkpoint = (env.files / "small.ckpt").string(),
                           .progress = [&](const oss::progress_event& e) { log.add(e); },
                           .meta = {{"year", "2020"}}};
  oss::upload_result r;
  oss::object_meta head;
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(c, "small.txt", file, opts);
    head = co_await c.head("small.txt");
    stored = co_await fetch(c, "small.txt");
  });
  CHECK_FALSE(r.multipart);
  CHECK(r.parts == 1);
  CHECK(r.upload_id.empty());
  CHECK(r.crc64 == crc_of(data));
  CHECK(stored == data);
  CHECK(head.content_type == "text/plain");
  REQUIRE(head.meta.size() == 1);
  CHECK(head.meta[0].second == "2020");
  const auto st = env.server.stats();
  CHECK(st.put_object == 1);
  CHECK(st.initiate_multipart_upload == 0);
  log.check_contract(data.size(), 1);
  CHECK_FALSE(std::filesystem::exists(env.files / "small.ckpt"));

  // An empty stream is an empty object.
  oss::stream_source empty([](asio::mutable_buffer) -> asio::awaitable<std::size_t> { co_return 0; });
  run_coro(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(c, "empty", empty);
    head = co_await c.head("empty");
  });
  CHECK(head.size == 0);
  CHECK(r.crc64 == 0);
}

TEST_CASE("multipart upload: meta, mime and headers reach the object") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(300 * 1024, 5);
  oss::upload_options opts{
      .part_size = kib100,
      .meta = {{"year", "2020"}, {"people", "test"}},
      .mime = "video/mp4",
      .headers = {{"Cache-Control", "no-cache"}, {"Content-Disposition", "attachment"}},
  };
  oss::object_meta head, guessed;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_source source = oss::buffer_source(data);
    co_await oss::multipart_upload(c, "videos/a.bin", source, opts);
    head = co_await c.head("videos/a.bin");
    const oss::upload_options plain{.part_size = kib100};
    co_await oss::multipart_upload(c, "videos/b.mp4", source, plain);
    guessed = co_await c.head("videos/b.mp4");
  });
  CHECK(head.content_type == "video/mp4");
  CHECK(head.cache_control == "no-cache");
  CHECK(head.content_disposition == "attachment");
  CHECK(head.object_type == "Multipart");
  std::map<std::string, std::string> meta(head.meta.begin(), head.meta.end());
  CHECK(meta["year"] == "2020");
  CHECK(meta["people"] == "test");
  CHECK(guessed.content_type == "video/mp4");
}

TEST_CASE("multipart upload: the checkpoint is durable before progress, 0600, secret-free, removed after success") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024, 6);
  const auto file = env.write("k.bin", data);
  const auto ckpt = env.files / "k.ckpt";
  int checked = 0, mismatches = 0;
  std::string upload_id;
  oss::upload_options opts{
      .parallel = 3, .part_size = kib100, .checkpoint = ckpt,
      .progress = [&](const oss::progress_event& e) {
        if (e.stage != oss::progress_stage::part_done) return;
        // The part just reported is already in the file.
        oss::checkpoint on_disk = oss::load_checkpoint(ckpt);
        upload_id = on_disk.upload_id;
        auto it = std::find_if(on_disk.done_parts.begin(), on_disk.done_parts.end(),
                               [&](const oss::part_record& p) { return p.number == e.part->number; });
        if (it == on_disk.done_parts.end() || it->etag != e.part->etag || it->crc64 != e.part->crc64)
          ++mismatches;
        struct stat st {};
        if (::stat(ckpt.c_str(), &st) != 0 || (st.st_mode & 0777) != 0600) ++mismatches;
        const std::string text = oss_test::read_file(ckpt);
        if (text.find(mp_secret) != std::string::npos) ++mismatches;
        if (text.find("Authorization") != std::string::npos) ++mismatches;
        if (on_disk.endpoint != env.server.endpoint() || on_disk.bucket != mp_bucket) ++mismatches;
        if (on_disk.file != std::filesystem::absolute(file).lexically_normal().string()) ++mismatches;
        ++checked;
      }};
  oss::upload_result r;
  run_coro(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(c, "k.bin", file, opts);
  });
  CHECK(checked == static_cast<int>(r.parts));
  CHECK(mismatches == 0);
  CHECK(upload_id == r.upload_id);
  CHECK_FALSE(std::filesystem::exists(ckpt));
}

// Uploads with a checkpoint and cancels through a cancellation slot once `stop_after` parts
// are done; returns the error code of the cancelled call.
std::error_code cancelled_upload(asio::io_context& io, oss::client& c, const std::string& name,
                                 oss::upload_source source, oss::upload_options opts,
                                 std::uint32_t stop_after) {
  asio::cancellation_signal signal;
  bool emitted = false;
  opts.progress = [&](const oss::progress_event& e) {
    if (!emitted && e.parts_done >= stop_after) {
      emitted = true;
      signal.emit(asio::cancellation_type::terminal);
    }
  };
  std::error_code result;
  bool done = false;
  oss::diagnostics diag;
  oss::async_multipart_upload(c, name, std::move(source), std::move(opts), diag,
                              asio::bind_cancellation_slot(signal.slot(),
                                                           [&](std::error_code ec, oss::upload_result) {
                                                             result = ec;
                                                             done = true;
                                                           }));
  io.restart();
  io.run_for(60s);
  REQUIRE_MESSAGE(done, "watchdog: the cancelled upload did not finish");
  return result;
}

TEST_CASE("multipart checkpoint journal: a cancelled upload leaves the whole state in the JSON; the rerun resumes") {
  // Setup: 30 parts of 100 KiB at parallel 3, cancelled after 10 parts
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(30 * kib100, 77);
  const auto file = env.write("j.bin", data);
  const auto ckpt = env.files / "j.ckpt";
  oss::upload_options opts{.parallel = 3, .part_size = kib100, .checkpoint = ckpt};

  // Run
  const std::error_code ec = cancelled_upload(io, c, "j.bin", file, opts, 10);

  // Check: the JSON alone (what ali-oss reads) lists every part, the journal no record
  CHECK(ec == asio::error::operation_aborted);
  std::error_code parse_ec;
  const oss::checkpoint json_only = oss::checkpoint_from_json(oss_test::read_file(ckpt), parse_ec);
  REQUIRE_FALSE(parse_ec);
  CHECK(json_only.done_parts.size() >= 10);
  CHECK(json_only.done_parts.size() == oss::load_checkpoint(ckpt).done_parts.size());
  CHECK(oss_test::read_file(oss::detail::journal_path_of(ckpt)) == oss::detail::journal_header(json_only.upload_id));

  // Run: the same call again
  const auto [r, stored] = upload_and_read_back(io, c, "j.bin", file, opts);

  // Check: resumed, complete, and both files gone
  CHECK(r.resumed);
  CHECK(r.parts_uploaded == 30 - json_only.done_parts.size());
  CHECK(stored == data);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  CHECK_FALSE(std::filesystem::exists(oss::detail::journal_path_of(ckpt)));
}

TEST_CASE("multipart upload: cancelled half-way, then resumed from the checkpoint") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(2 * 1024 * 1024 + 999, 7);
  const auto file = env.write("r.bin", data);
  const auto ckpt = env.files / "r.ckpt";
  const std::uint32_t parts = mp::part_count(data.size(), kib100);
  oss::upload_options opts{.parallel = 3, .part_size = kib100, .checkpoint = ckpt};

  // Run 1: cancelled after 6 parts.
  const std::error_code ec = cancelled_upload(io, c, "r.bin", file, opts, 6);
  CHECK(ec == asio::error::operation_aborted);
  REQUIRE(std::filesystem::exists(ckpt));
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  CHECK(saved.done_parts.size() >= 6);
  CHECK(saved.done_parts.size() < parts);
  const auto after_first = env.server.stats();
  CHECK(after_first.complete_multipart_upload == 0);
  CHECK(after_first.abort_multipart_upload == 0);
  env.server.reset_stats();

  // Run 2: same call, same checkpoint.
  progress_log log;
  opts.progress = [&](const oss::progress_event& e) { log.add(e); };
  const auto [r, stored] = upload_and_read_back(io, c, "r.bin", file, opts);
  CHECK(r.resumed);
  CHECK(r.upload_id == saved.upload_id);
  CHECK(stored == data);
  CHECK(r.crc64 == crc_of(data));
  CHECK(r.parts == parts);
  CHECK(r.parts_uploaded == parts - saved.done_parts.size());
  CHECK(r.bytes_uploaded < data.size());
  const auto second = env.server.stats();
  CHECK(second.initiate_multipart_upload == 0);
  CHECK(second.list_parts >= 1);
  check_resent(second.upload_part, parts - saved.done_parts.size(), opts.parallel);
  // Progress starts at the share already done and still ends at exactly 1.0 once.
  REQUIRE_FALSE(log.events.empty());
  CHECK(log.events.front().fraction > 0.0);
  CHECK(log.events.front().parts_done == saved.done_parts.size());
  log.check_contract(data.size(), parts);
  CHECK_FALSE(std::filesystem::exists(ckpt));
}

TEST_CASE("multipart upload: (upload || timer) cancels and leaves it resumable; stream resume re-sends nothing done") {
  using namespace asio::experimental::awaitable_operators;
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1536 * 1024, 8);
  const auto ckpt = env.files / "s.ckpt";
  const std::uint32_t parts = mp::part_count(data.size(), kib100);

  auto make_stream = [&data](std::shared_ptr<std::size_t> pos) {
    return oss::stream_source([&data, pos](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min(b.size(), data.size() - *pos);
      std::memcpy(b.data(), data.data() + *pos, n);
      *pos += n;
      co_return n;
    });
  };

  // Run 1: the "timer" fires (we cancel its wait) once 5 parts are done; || cancels the upload.
  bool upload_finished = false;
  std::variant<oss::upload_result, std::monostate> winner;
  run_coro(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer deadline(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt,
                             .progress = [&](const oss::progress_event& e) {
                               if (e.parts_done >= 5) deadline.cancel();
                             }};
    auto upload = [&]() -> asio::awaitable<oss::upload_result> {
      oss::upload_source source = make_stream(std::make_shared<std::size_t>(0));
      oss::upload_result r = co_await oss::multipart_upload(c, "s.bin", source, opts);
      upload_finished = true;
      co_return r;
    };
    auto timer = [&]() -> asio::awaitable<void> {
      co_await deadline.async_wait(as_tuple(asio::use_awaitable));
    };
    winner = co_await (upload() || timer());
  });
  CHECK(winner.index() == 1);
  CHECK_FALSE(upload_finished);
  REQUIRE(std::filesystem::exists(ckpt));
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  CHECK(saved.file.empty());
  CHECK(saved.file_size == 0);
  REQUIRE(saved.done_parts.size() >= 5);
  env.server.reset_stats();

  // Run 2: the same bytes again from the start; parts already on the server are verified by
  // CRC and skipped.
  oss::upload_result r;
  std::string stored;
  progress_log log;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt,
                             .progress = [&](const oss::progress_event& e) { log.add(e); }};
    oss::upload_source source = make_stream(std::make_shared<std::size_t>(0));
    r = co_await oss::multipart_upload(c, "s.bin", source, opts);
    stored = co_await fetch(c, "s.bin");
  });
  CHECK(stored == data);
  CHECK(r.resumed);
  CHECK(r.parts == parts);
  CHECK(r.parts_uploaded == parts - saved.done_parts.size());
  check_resent(env.server.stats().upload_part, parts - saved.done_parts.size(), 2);
  log.check_contract(data.size(), parts, false);
  CHECK(log.events.back().bytes_total == data.size());
}

TEST_CASE("multipart upload: a slow stream with more workers than parts ends (no worker waits for a part past the end)") {
  // A reader that is slower than the sends (a pipe): every worker queues up behind the stream,
  // so numbers two and more past its end are handed out before the end is known.
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  for (const std::size_t size : {std::size_t(250 * 1024), std::size_t(3 * kib100), std::size_t(700 * 1024 + 5)}) {
    CAPTURE(size);
    const std::string data = oss_test::random_bytes(size, 47);
    auto pos = std::make_shared<std::size_t>(0);
    oss::stream_source slow([&data, pos](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      asio::steady_timer pause(co_await asio::this_coro::executor, 2ms);
      co_await pause.async_wait(asio::use_awaitable);
      const std::size_t n = std::min({b.size(), data.size() - *pos, std::size_t(32 * 1024)});
      std::memcpy(b.data(), data.data() + *pos, n);
      *pos += n;
      co_return n;
    });
    const oss::upload_options opts{.parallel = 5, .part_size = kib100};
    const oss::upload_source source = std::move(slow);
    const auto [r, stored] = upload_and_read_back(io, c, "slow.bin", source, opts);
    CHECK(stored == data);
    CHECK(r.size == size);
  }
}

TEST_CASE("multipart upload: a stream's parts grow past the first interval, and a resume replays the same boundaries") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::uint32_t interval = mp::stream_growth_interval(kib100);
  REQUIRE(interval == 608);
  // 608 parts of 100 KiB, 15 of 200 KiB, and 777 bytes.
  const std::string data = oss_test::random_bytes(interval * kib100 + 15 * 2 * kib100 + 777, 44);
  const auto ckpt = env.files / "grow.ckpt";
  auto make_stream = [&data](std::shared_ptr<std::size_t> pos) {
    return oss::stream_source([&data, pos](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min(b.size(), data.size() - *pos);
      std::memcpy(b.data(), data.data() + *pos, n);
      *pos += n;
      co_return n;
    });
  };
  // Run 1: cancelled once a few grown parts are durable.
  asio::cancellation_signal signal;
  std::error_code first;
  oss::diagnostics diag;
  std::set<std::uint64_t> sizes;
  oss::upload_options opts{.parallel = 3, .part_size = kib100, .checkpoint = ckpt,
                           .progress = [&](const oss::progress_event& e) {
                             if (e.part) sizes.insert(e.part->size);
                             if (e.parts_done == interval + 5) signal.emit(asio::cancellation_type::terminal);
                           }};
  oss::async_multipart_upload(c, "grow.bin", make_stream(std::make_shared<std::size_t>(0)), opts, diag,
                              asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::upload_result) { first = ec; }));
  io.restart();
  io.run_for(120s);
  CHECK(first == asio::error::operation_aborted);
  CHECK(sizes.contains(2 * kib100));
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  CHECK(saved.part_size == kib100);
  REQUIRE(saved.done_parts.size() >= interval + 5);
  env.server.reset_stats();

  // Run 2: the same bytes from the start; the durable parts, grown ones included, are kept.
  oss::upload_result r;
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_options again{.parallel = 3, .part_size = kib100, .checkpoint = ckpt};
    r = co_await oss::multipart_upload(c, "grow.bin", make_stream(std::make_shared<std::size_t>(0)), again);
    stored = co_await fetch(c, "grow.bin");
  }, 120s);
  CHECK(stored == data);
  CHECK(r.resumed);
  CHECK(r.parts == interval + 16);
  CHECK(r.parts_uploaded == r.parts - saved.done_parts.size());
  CHECK(r.crc64 == crc_of(data));
}

TEST_CASE("multipart upload: a stream's large parts go through temporary files, retried, counted and resumed from there") {
  mp_env env;
  asio::io_context io;
  constexpr std::uint64_t part = 300 * 1024;
  const std::string data = oss_test::random_bytes(5 * part + 4321, 71);
  // Serves `data` in reads of at most 64 KiB, as a pipe would.
  auto stream_of = [&data](std::shared_ptr<std::size_t> at) {
    return oss::stream_source([&data, at](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min({b.size(), data.size() - *at, std::size_t(64 * 1024)});
      std::memcpy(b.data(), data.data() + *at, n);
      *at += n;
      co_return n;
    });
  };
  const auto spool = env.files / "spool";
  std::filesystem::create_directories(spool);
  oss::upload_options opts{.parallel = 3, .part_size = part};
  opts.spool_parts_above = 200 * 1024;
  opts.spool_directory = spool;

  SUBCASE("a reset mid-part and a wrong CRC-64 are sent again from the file, under a memory budget") {
    // Half the budget (4 MiB) is above the parts, so spool_parts_above decides; a spooled part
    // takes two 1 MiB pieces (the one read into the file, the one sent), not its size.
    auto budget = std::make_shared<oss::transfer_budget>(oss::transfer_budget::limits{.memory_bytes = 8 << 20});
    oss::client_options o = env.options();
    o.budget = budget;
    oss::client c(io.get_executor(), o);
    oss::testing::fault_rule reset;
    reset.operation = "UploadPart";
    reset.part_number = 2;
    reset.action = oss::testing::fault_action::reset_during_body;
    reset.after_bytes = 100000;
    oss::testing::fault_rule wrong_crc;
    wrong_crc.operation = "UploadPart";
    wrong_crc.part_number = 3;
    wrong_crc.action = oss::testing::fault_action::wrong_crc64;
    env.server.set_fault_plan({reset, wrong_crc});
    const auto [r, stored] = upload_and_read_back(io, c, "spooled.bin", stream_of(std::make_shared<std::size_t>(0)), opts);
    env.server.clear_fault_plan();
    CHECK(stored == data);
    CHECK(r.crc64 == crc_of(data));
    CHECK(r.parts == 6);
    CHECK(r.checks.parts_crc64 == 6);
    CHECK(budget->memory()->peak() <= 3 * 2 * oss::detail::file_piece);
    CHECK(budget->memory()->peak() % (2 * oss::detail::file_piece) == 0);
    CHECK(budget->memory()->in_use() == 0);
    CHECK(std::filesystem::is_empty(spool));  // unnamed files: nothing left behind
  }

  SUBCASE("a spool folder that does not exist fails typed, naming it; parts kept in memory never need one") {
    oss::client c(io.get_executor(), env.options());
    opts.spool_directory = env.files / "no-such-folder";
    std::error_code ec;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [e, r] = co_await oss::async_multipart_upload(c, "nospool.bin", stream_of(std::make_shared<std::size_t>(0)),
                                                         opts, diag, as_tuple(asio::use_awaitable));
      ec = e;
    });
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(diag.operation == "spool");
    CHECK(diag.client_message.find("no-such-folder") != std::string::npos);
    opts.spool_parts_above = 0;
    const auto [r, stored] = upload_and_read_back(io, c, "nospool.bin", stream_of(std::make_shared<std::size_t>(0)), opts);
    CHECK(stored == data);
  }

  SUBCASE("a cancelled upload resumes: the spooled parts the server holds are checked and kept") {
    oss::client c(io.get_executor(), env.options());
    const auto ckpt = env.files / "spooled.ckpt";
    opts.checkpoint = ckpt;
    asio::cancellation_signal signal;
    std::error_code first;
    oss::diagnostics diag;
    opts.progress = [&](const oss::progress_event& e) {
      if (e.parts_done == 2) signal.emit(asio::cancellation_type::terminal);
    };
    oss::async_multipart_upload(c, "resumed.bin", stream_of(std::make_shared<std::size_t>(0)), opts, diag,
                                asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::upload_result) { first = ec; }));
    io.restart();
    io.run_for(60s);
    CHECK(first == asio::error::operation_aborted);
    const oss::checkpoint saved = oss::load_checkpoint(ckpt);
    REQUIRE(saved.done_parts.size() >= 2);
    opts.progress = {};
    const auto [r, stored] = upload_and_read_back(io, c, "resumed.bin", stream_of(std::make_shared<std::size_t>(0)), opts);
    CHECK(stored == data);
    CHECK(r.resumed);
    CHECK(r.parts == 6);
    CHECK(r.parts_uploaded == r.parts - saved.done_parts.size());
  }
}

TEST_CASE("multipart upload: a checkpoint of another upload is refused and left untouched") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024, 9);
  const auto file = env.write("m.bin", data);
  const auto other = env.write("other.bin", data);
  const auto ckpt = env.files / "m.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  REQUIRE(cancelled_upload(io, c, "m.bin", file, opts, 3) == asio::error::operation_aborted);
  const std::string before = oss_test::read_file(ckpt);
  // Not `requests`: bytes of the cancelled run's parts may still reach the server thread.
  const auto stats_before = env.server.stats();

  auto expect = [&](oss::client& client, const std::string& name, oss::upload_source source,
                    oss::upload_options o, std::error_code want) {
    std::error_code got;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [ec, r] = co_await oss::async_multipart_upload(client, name, source, o, diag,
                                                          as_tuple(asio::use_awaitable));
      got = ec;
    });
    CHECK(got == want);
    CHECK_FALSE(diag.client_message.empty());
    CHECK(oss_test::read_file(ckpt) == before);
  };
  const std::error_code mismatch = oss::client_errc::checkpoint_mismatch;
  SUBCASE("another file") { expect(c, "m.bin", other, opts, mismatch); }
  SUBCASE("another name") { expect(c, "m2.bin", file, opts, mismatch); }
  SUBCASE("another part size") {
    oss::upload_options o = opts;
    o.part_size = 2 * kib100;
    expect(c, "m.bin", file, o, mismatch);
  }
  SUBCASE("another bucket") {
    oss::client c2(io.get_executor(), env.options("other-bucket"));
    expect(c2, "m.bin", file, opts, mismatch);
  }
  SUBCASE("an in-memory source") { expect(c, "m.bin", oss::buffer_source(data), opts, mismatch); }
  SUBCASE("the file changed") {
    oss_test::write_file(file, data + "x");
    expect(c, "m.bin", file, opts, oss::client_errc::file_changed);
  }
  const auto stats_after = env.server.stats();
  CHECK(stats_after.list_parts == stats_before.list_parts);
  CHECK(stats_after.initiate_multipart_upload == stats_before.initiate_multipart_upload);
  CHECK(stats_after.put_object == stats_before.put_object);
  CHECK(stats_after.complete_multipart_upload == stats_before.complete_multipart_upload);
}

TEST_CASE("multipart upload: a corrupt checkpoint is refused and left untouched") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const auto file = env.write("x.bin", oss_test::random_bytes(300 * 1024, 10));
  const auto ckpt = env.files / "x.ckpt";
  for (std::string text : {std::string("{\"version\": 1, \"kind\": "), std::string("{\"version\":7}"),
                           std::string("null")}) {
    oss_test::write_file(ckpt, text);
    oss::upload_options opts{.part_size = kib100, .checkpoint = ckpt};
    std::error_code got;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [ec, r] = co_await oss::async_multipart_upload(c, "x.bin", file, opts, diag,
                                                          as_tuple(asio::use_awaitable));
      got = ec;
    });
    CHECK(got == oss::client_errc::checkpoint_corrupt);
    CHECK(oss_test::read_file(ckpt) == text);
  }
  CHECK(env.server.stats().requests == 0);
}

TEST_CASE("multipart upload: an upload aborted behind the checkpoint's back") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024, 11);
  const auto file = env.write("v.bin", data);
  const auto ckpt = env.files / "v.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  REQUIRE(cancelled_upload(io, c, "v.bin", file, opts, 2) == asio::error::operation_aborted);
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  run_coro(io, [&]() -> asio::awaitable<void> {
    co_await c.abort_multipart_upload("v.bin", saved.upload_id);
  });
  const std::string before = oss_test::read_file(ckpt);

  // Without permission to start over: a typed error, the checkpoint kept.
  std::error_code got;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [ec, r] = co_await oss::async_multipart_upload(c, "v.bin", file, opts, diag,
                                                        as_tuple(asio::use_awaitable));
    got = ec;
  });
  CHECK(got == oss::client_errc::upload_vanished);
  CHECK(diag.code == "NoSuchUpload");
  CHECK(oss_test::read_file(ckpt) == before);

  // With it: a new upload, complete and correct.
  opts.restart_if_vanished = true;
  const auto [r, stored] = upload_and_read_back(io, c, "v.bin", file, opts);
  CHECK_FALSE(r.resumed);
  CHECK(r.upload_id != saved.upload_id);
  CHECK(stored == data);
  CHECK_FALSE(std::filesystem::exists(ckpt));
}

TEST_CASE("multipart upload: a checkpoint whose upload was completed (lost reply) resumes to success") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(700 * 1024 + 3, 20);
  const auto file = env.write("done.bin", data);
  const auto ckpt = env.files / "done.ckpt";
  const auto copy = env.files / "done.ckpt.copy";
  const auto journal = oss::detail::journal_path_of(ckpt);
  const auto journal_copy = env.files / "done.ckpt.journal.copy";
  // Keep the checkpoint (its JSON and its journal) as it is after the last part, i.e. just
  // before Complete.
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt,
                           .progress = [&](const oss::progress_event& e) {
                             if (e.stage == oss::progress_stage::part_done && e.parts_done == e.parts_total) {
                               std::filesystem::copy_file(ckpt, copy);
                               std::filesystem::copy_file(journal, journal_copy);
                             }
                           }};
  oss::upload_result first;
  run_coro(io, [&]() -> asio::awaitable<void> {
    first = co_await oss::multipart_upload(c, "done.bin", file, opts);
  });
  REQUIRE(std::filesystem::exists(copy));
  std::filesystem::rename(copy, ckpt);
  std::filesystem::rename(journal_copy, journal);
  env.server.reset_stats();

  progress_log log;
  opts.progress = [&](const oss::progress_event& e) { log.add(e); };
  oss::upload_result again;
  run_coro(io, [&]() -> asio::awaitable<void> {
    again = co_await oss::multipart_upload(c, "done.bin", file, opts);
  });
  CHECK(again.resumed);
  CHECK(again.etag == first.etag);
  CHECK(again.crc64 == crc_of(data));
  CHECK(again.parts_uploaded == 0);
  const auto st = env.server.stats();
  CHECK(st.upload_part == 0);
  CHECK(st.initiate_multipart_upload == 0);
  CHECK(st.head_object == 1);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  REQUIRE(log.events.size() == 1);
  CHECK(log.events[0].fraction == 1.0);
  // The HEAD that proved the object gives the request id: not the first run's Complete.
  CHECK_FALSE(again.request_id.empty());
  CHECK(again.request_id != first.request_id);
  CHECK(log.events[0].request_id == again.request_id);
}

TEST_CASE("multipart upload: an ali-oss checkpoint is accepted and confirmed against ListParts") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024 + 5, 12);
  const auto file = env.write("ali.bin", data);
  const auto ckpt = env.files / "ali.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  REQUIRE(cancelled_upload(io, c, "ali.bin", file, opts, 4) == asio::error::operation_aborted);
  const oss::checkpoint ours = oss::load_checkpoint(ckpt);

  // Rewrite it the way ali-oss stores its checkpoint object (oss-protocol.md 7.2), with one
  // part whose ETag does not match the server's (it must be re-sent).
  std::string parts_json;
  for (std::size_t i = 0; i < ours.done_parts.size(); ++i) {
    const auto& p = ours.done_parts[i];
    const std::string etag = i == 0 ? "\\\"00000000000000000000000000000000\\\"" : "\\" + p.etag.substr(0, p.etag.size() - 1) + "\\\"";
    parts_json += (i ? "," : "") + std::string("{\"number\":") + std::to_string(p.number) + ",\"etag\":\"" + etag + "\"}";
  }
  const std::string ali = "{\"file\":\"" + ours.file + "\",\"name\":\"ali.bin\",\"fileSize\":" +
                          std::to_string(data.size()) + ",\"partSize\":102400,\"uploadId\":\"" +
                          ours.upload_id + "\",\"doneParts\":[" + parts_json + "]}";
  oss_test::write_file(ckpt, ali);
  std::error_code parse_ec;
  REQUIRE(oss::checkpoint_from_json(ali, parse_ec).version == 0);
  env.server.reset_stats();

  const auto [r, stored] = upload_and_read_back(io, c, "ali.bin", file, opts);
  CHECK(r.resumed);
  CHECK(stored == data);
  CHECK(r.parts_uploaded == r.parts - (ours.done_parts.size() - 1));
  check_resent(env.server.stats().upload_part, r.parts_uploaded, opts.parallel);
}

TEST_CASE("multipart upload: invalid input fails before any request") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const auto file = env.write("ok.bin", oss_test::random_bytes(1000, 13));
  struct bad_case {
    const char* what;
    std::string name;
    oss::upload_source source;
    oss::upload_options opts;
    std::error_code want;
  };
  std::vector<bad_case> cases;
  cases.push_back({"part size too small", "a", file, {.part_size = kib100 - 1}, oss::client_errc::invalid_part_size});
  cases.push_back({"part size too large", "a", file, {.part_size = (5ull << 30) + 1}, oss::client_errc::invalid_part_size});
  cases.push_back({"parallel 0", "a", file, {.parallel = 0}, oss::client_errc::invalid_parallel});
  cases.push_back({"missing file", "a", env.files / "nope.bin", {}, oss::client_errc::file_not_found});
  cases.push_back({"directory", "a", env.files.path(), {}, oss::client_errc::not_a_regular_file});
  cases.push_back({"name with leading slash", "/a", file, {}, oss::client_errc::invalid_object_name});
  cases.push_back({"empty name", "", file, {}, oss::client_errc::invalid_object_name});
  cases.push_back({"bad metadata", "a", file, {.meta = {{"bad_name", "v"}}}, oss::client_errc::invalid_metadata});
  cases.push_back({"checkpoint folder missing", "a", file,
                   {.checkpoint = env.files / "missing-folder" / "c.ckpt"},
                   std::make_error_code(std::errc::no_such_file_or_directory)});
  for (auto& bc : cases) {
    CAPTURE(bc.what);
    std::error_code got;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [ec, r] = co_await oss::async_multipart_upload(c, bc.name, bc.source, bc.opts, diag,
                                                          as_tuple(asio::use_awaitable));
      got = ec;
    });
    CHECK(got == bc.want);
  }
  // The throwing form carries the same code.
  bool threw = false;
  run_coro(io, [&]() -> asio::awaitable<void> {
    try {
      const oss::upload_options zero{.parallel = 0};
      co_await oss::multipart_upload(c, "a", file, zero);
    } catch (const oss::error& e) {
      threw = e.code() == oss::client_errc::invalid_parallel;
    }
  });
  CHECK(threw);
  // The primitive with its default token (use_awaitable) throws std::system_error.
  bool threw_system_error = false;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::diagnostics diag;
    const oss::upload_options zero{.parallel = 0};
    try {
      co_await oss::async_multipart_upload(c, "a", file, zero, diag);
    } catch (const std::system_error& e) {
      threw_system_error = e.code() == oss::client_errc::invalid_parallel && !diag.client_message.empty();
    }
  });
  CHECK(threw_system_error);
  CHECK(env.server.stats().requests == 0);
}

TEST_CASE("multipart upload: io_context on 4 threads") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(2 * 1024 * 1024 + 7, 14);
  const auto file = env.write("t.bin", data);
  std::atomic<bool> done{false};
  std::error_code result;
  oss::upload_result res;
  oss::diagnostics diag;
  progress_log log;
  // File reads on a pool the caller owns instead of one the upload creates.
  asio::thread_pool reader_pool(1);
  oss::upload_options opts{.parallel = 8, .part_size = kib100, .checkpoint = env.files / "t.ckpt",
                           .progress = [&](const oss::progress_event& e) { log.add(e); },
                           .file_executor = reader_pool.get_executor()};
  auto guard = asio::make_work_guard(io);
  oss::async_multipart_upload(c, "t.bin", file, opts, diag, [&](std::error_code ec, oss::upload_result r) {
    result = ec;
    res = std::move(r);
    done = true;
    guard.reset();
  });
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { io.run_for(60s); });
  for (auto& t : threads) t.join();
  REQUIRE(done);
  CHECK_FALSE(result);
  CHECK(res.crc64 == crc_of(data));
  log.check_contract(data.size(), res.parts);
  CHECK(env.server.stats().peak_in_flight <= 8);
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> { stored = co_await fetch(c, "t.bin"); });
  CHECK(stored == data);
}

TEST_CASE("multipart upload: a transfer budget caps the parts in flight and their memory, across clients") {
  mp_env env;
  asio::io_context io;
  const std::string data = oss_test::random_bytes(1024 * 1024 + 3, 31);
  const auto file = env.write("b.bin", data);
  // Serves `data` in reads of at most 64 KiB, as a pipe would.
  auto stream_of = [&data](std::size_t& at) {
    return oss::stream_source([&data, &at](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min({b.size(), data.size() - at, std::size_t(64 * 1024)});
      std::memcpy(b.data(), data.data() + at, n);
      at += n;
      co_return n;
    });
  };
  // Each upload alone: parallel 8 would put 8 parts in flight; the budget lets fewer through.
  // Only parts run between the Initiate and the Complete, so the server's peak is the parts'.
  struct run_case {
    const char* what;
    oss::transfer_budget::limits limits;
    std::uint64_t peak;
  };
  const run_case cases[] = {
      {"file, 2 connections", {.connections = 2}, 2},
      {"file, memory for 3 streamed parts", {.memory_bytes = 3 * kib100 + 1000}, 3},
      {"stream, memory for 2 parts", {.memory_bytes = 2 * kib100 + 1000}, 2},
      {"buffer, memory only: the caller's bytes take none", {.memory_bytes = 1}, 8},
  };
  // Each part is held 40 ms by the server, so the parts a budget lets through overlap for sure.
  oss::testing::fault_rule slow;
  slow.operation = "UploadPart";
  slow.action = oss::testing::fault_action::delay;
  slow.duration = 40ms;
  slow.times = 0;
  for (const run_case& rc : cases) {
    const std::string what_case = rc.what;
    CAPTURE(what_case);
    auto budget = std::make_shared<oss::transfer_budget>(rc.limits);
    oss::client_options o = env.options();
    o.budget = budget;
    oss::client c(io.get_executor(), o);
    env.server.set_fault_plan({slow});
    env.server.reset_stats();
    std::size_t at = 0;
    const std::string_view what = rc.what;
    oss::upload_source source = what.starts_with("file")     ? oss::upload_source(file.string())
                                : what.starts_with("stream") ? oss::upload_source(stream_of(at))
                                                             : oss::upload_source(oss::buffer_source(data));
    oss::upload_result r;
    const oss::upload_options opts{.parallel = 8, .part_size = kib100};  // named: GCC 12 and co_await temporaries
    run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(c, "b.bin", std::move(source), opts); });
    CHECK(r.crc64 == crc_of(data));
    const auto st = env.server.stats();
    CHECK(st.peak_in_flight == rc.peak);
    // Every hold was given back.
    if (budget->memory()) CHECK(budget->memory()->in_use() == 0);
    if (budget->connections()) CHECK(budget->connections()->in_use() == 0);
  }
}

TEST_CASE("multipart upload: a budget with server_traffic_limit puts its share of the rate on each part, up and down") {
  mp_env env;
  asio::io_context io;
  const std::string data = oss_test::random_bytes(1024 * 1024 + 3, 32);
  const auto file = env.write("t.bin", data);
  // 40 MiB/s up shared by 4 requests: 10 MiB/s each, in bits; 1 KiB/s down: raised to OSS's floor.
  auto budget = std::make_shared<oss::transfer_budget>(oss::transfer_budget::limits{
      .upload_bytes_per_second = 40 << 20, .download_bytes_per_second = 1 << 30, .connections = 4,
      .server_traffic_limit = true});
  oss::client_options o = env.options();
  o.budget = budget;
  oss::client c(io.get_executor(), o);
  env.server.reset_stats();
  const oss::upload_options opts{.parallel = 4, .part_size = kib100};
  oss::upload_result r;
  const std::string path = file.string();
  run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(c, "t.bin", path, opts); });
  auto st = env.server.stats();
  CHECK(r.crc64 == crc_of(data));
  CHECK(st.traffic_limited == st.upload_part);
  CHECK(st.traffic_limit_min == 10u * 8 * 1024 * 1024);
  CHECK(st.traffic_limit_max == 10u * 8 * 1024 * 1024);

  // Down: 1 GiB/s over 4 requests is above OSS's ceiling, so each range asks for 100 MiB/s.
  env.server.reset_stats();
  const oss::download_options down{.parallel = 2, .part_size = kib100};
  const auto target = env.files / "t.down";
  oss::download_result d;
  run_coro(io, [&]() -> asio::awaitable<void> { d = co_await oss::resumable_download(c, "t.bin", target, down); });
  st = env.server.stats();
  CHECK(oss_test::read_file(target) == data);
  CHECK(st.traffic_limited == st.get_object);
  CHECK(st.traffic_limit_max == 838860800u);

  // A value of the caller's own is kept, and one outside OSS's range is refused by the server.
  oss::object_options own;
  own.headers.emplace_back("x-oss-traffic-limit", "1000");
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [e, ignored] = co_await c.async_put_object("small.txt", asio::buffer(data.data(), 10), own, diag,
                                                    as_tuple(asio::use_awaitable));
    ec = e;
  });
  CHECK(ec == oss::server_errc::invalid_argument);
  CHECK(diag.message.find("x-oss-traffic-limit") != std::string::npos);

  // Without the flag nothing is added.
  oss::client_options plain = env.options();
  plain.budget = std::make_shared<oss::transfer_budget>(oss::transfer_budget::limits{.upload_bytes_per_second = 40 << 20});
  oss::client c2(io.get_executor(), plain);
  env.server.reset_stats();
  run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(c2, "t2.bin", path, opts); });
  CHECK(env.server.stats().traffic_limited == 0);
}

TEST_CASE("multipart upload: two clients on two threads share one budget of connections and memory") {
  mp_env env;
  asio::io_context io;
  auto budget = std::make_shared<oss::transfer_budget>(
      oss::transfer_budget::limits{.memory_bytes = 4 * kib100, .connections = 3});
  oss::client_options o = env.options();
  o.budget = budget;
  oss::client first(asio::make_strand(io), o);
  oss::client second(asio::make_strand(io), o);
  constexpr int uploads = 6;
  std::vector<std::string> data;
  std::vector<std::filesystem::path> files;
  for (int i = 0; i < uploads; ++i) {
    data.push_back(oss_test::random_bytes(700 * 1024 + static_cast<std::size_t>(i), 40 + static_cast<std::uint64_t>(i)));
    files.push_back(env.write("s" + std::to_string(i) + ".bin", data.back()));
  }
  std::atomic<int> ok{0};
  std::vector<std::uint64_t> crcs(uploads, 0);
  std::vector<oss::diagnostics> diags(uploads);
  for (int i = 0; i < uploads; ++i) {
    oss::client& c = i % 2 ? second : first;
    oss::async_multipart_upload(c, "s" + std::to_string(i) + ".bin", files[static_cast<std::size_t>(i)].string(),
                                oss::upload_options{.parallel = 5, .part_size = kib100}, diags[static_cast<std::size_t>(i)],
                                [&, i](std::error_code ec, oss::upload_result r) {
                                  if (!ec) ++ok;
                                  crcs[static_cast<std::size_t>(i)] = r.crc64;
                                });
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { io.run_for(60s); });
  for (auto& t : threads) t.join();
  CHECK(ok == uploads);
  for (int i = 0; i < uploads; ++i) CHECK(crcs[static_cast<std::size_t>(i)] == crc_of(data[static_cast<std::size_t>(i)]));
  CHECK(budget->connections()->peak() <= 3);
  CHECK(budget->connections()->peak() >= 2);
  CHECK(budget->memory()->peak() <= 4 * kib100);
  CHECK(budget->connections()->in_use() == 0);
  CHECK(budget->memory()->in_use() == 0);
  // Parts of both clients at once never exceed the budget's 3 (each upload adds at most its
  // Initiate or Complete beside them).
  CHECK(env.server.stats().peak_in_flight <= 3 + uploads);
}

TEST_CASE("multipart upload: 32 concurrent uploads on one client") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  constexpr int count = 32;
  std::vector<std::string> blobs;
  for (int i = 0; i < count; ++i) blobs.push_back(oss_test::random_bytes(250 * 1024 + i, 100 + i));
  int finished = 0;
  std::vector<std::error_code> results(count);
  std::vector<oss::diagnostics> diags(count);
  for (int i = 0; i < count; ++i) {
    oss::upload_options opts{.parallel = 3, .part_size = kib100};
    oss::async_multipart_upload(c, "many/" + std::to_string(i), oss::buffer_source(blobs[i]), opts,
                                diags[i], [&, i](std::error_code ec, oss::upload_result r) {
                                  results[i] = ec;
                                  if (!ec && r.crc64 != crc_of(blobs[i])) results[i] = oss::client_errc::crc64_mismatch;
                                  ++finished;
                                });
  }
  io.run_for(120s);
  REQUIRE(finished == count);
  for (int i = 0; i < count; ++i) CHECK_FALSE(results[i]);
  const auto st = env.server.stats();
  CHECK(st.complete_multipart_upload == count);
  CHECK(st.upload_part == count * 3);
  std::vector<std::string> stored(count);
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) stored[i] = co_await fetch(c, "many/" + std::to_string(i));
  });
  for (int i = 0; i < count; ++i) CHECK(stored[i] == blobs[i]);
}

// The seed of a randomised test: OSS_STRESS_SEED when set (to repeat a run), else a new one.
std::uint64_t stress_seed() {
  if (const char* s = std::getenv("OSS_STRESS_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// Runs `io` on `threads` threads until it runs out of work (or `limit`, a watchdog).
void run_threads(asio::io_context& io, int threads, std::chrono::seconds limit) {
  io.restart();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&] { io.run_for(limit); });
  for (auto& t : pool) t.join();
}

TEST_CASE("multipart upload: cancellation stress: 36 uploads on 4 threads, a third cancelled at random moments, resumed, all verified") {
  // Setup: every caller runs on a strand of its own and emits its cancellation there, as Asio
  // asks, while its upload runs on the upload's strand on another thread. Under TSan an emit
  // that reaches the upload's state (its cancellation state, the slot handlers it installs and
  // clears) from the caller's thread is a reported race. A third of the uploads are cancelled:
  // by a timer started with the upload (any step: lock, Initiate, parts, Complete, a single
  // PutObject), a few hundred microseconds after a random part, or as the loser of
  // (multipart_upload || timer). Before that, and all through another third of the uploads
  // (which must succeed), the callers emit partial and total cancellation every few hundred
  // microseconds: the upload ignores both, but each emit crosses over to the upload.
  const std::uint64_t seed = stress_seed();
  MESSAGE("cancellation stress: seed " << seed << " (OSS_STRESS_SEED=" << seed << " repeats it)");
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  asio::thread_pool readers(2);
  enum class cancel_by { none, timer, after_part, race };
  struct job {
    explicit job(asio::io_context& io, std::uint64_t seed) : strand(asio::make_strand(io)), rng(seed) {}

    // On `strand`: partial or total cancellation after a random pause, again and again, until
    // the upload ends or terminal cancellation is sent.
    void pester() {
      if (!pester_timer || first_done || terminal_sent || pesters_left-- <= 0) return;
      pester_timer->expires_after(std::chrono::microseconds(std::uniform_int_distribution<int>(100, 2000)(rng)));
      pester_timer->async_wait([this](std::error_code) {
        if (first_done || terminal_sent) return;
        signal.emit(rng() % 2 ? asio::cancellation_type::partial : asio::cancellation_type::total);
        ++pestered;
        pester();
      });
    }

    std::string name;
    std::string data;
    std::filesystem::path file;
    std::filesystem::path ckpt;
    std::size_t parallel = 1;
    cancel_by how = cancel_by::none;
    std::chrono::microseconds delay{0};
    std::chrono::microseconds again{0};  // the second emit, while the upload stops
    std::uint32_t after_part = 0;
    asio::strand<asio::io_context::executor_type> strand;  // the caller's
    asio::cancellation_signal signal;                       // emitted on `strand` only
    std::optional<asio::steady_timer> timer;
    std::mt19937_64 rng;  // the caller's own, used on `strand`
    std::optional<asio::steady_timer> pester_timer;
    int pesters_left = 2000;
    int pestered = 0;
    bool terminal_sent = false;
    oss::diagnostics diag;
    bool first_done = false;
    std::error_code first;
    bool second_done = false;
    std::error_code second;
    oss::upload_result result;
  };
  constexpr int count = 36;
  std::vector<std::unique_ptr<job>> jobs;
  for (int i = 0; i < count; ++i) {
    auto j = std::make_unique<job>(io, seed + 1000 + i);
    const std::uint64_t parts = uniform(1, 6);
    j->name = "stress/" + std::to_string(i);
    j->data = oss_test::random_bytes((parts - 1) * kib100 + uniform(1, kib100 - 1), seed + i);
    j->file = env.write("stress-" + std::to_string(i), j->data);
    j->ckpt = env.files / ("stress-" + std::to_string(i) + ".ckpt");
    j->parallel = uniform(1, 3);
    if (i % 3 != 2) j->pester_timer.emplace(j->strand);
    if (i % 3 == 0) {
      j->how = (i / 3) % 3 == 0 ? cancel_by::timer : (i / 3) % 3 == 1 ? cancel_by::after_part : cancel_by::race;
      if (j->how == cancel_by::after_part && parts < 3) j->how = cancel_by::timer;
      // From the upload's start: log-uniform over 100 us .. 1.6 s, so every step gets its share
      // however fast the build runs (the late ones find the upload ended).
      j->delay = std::chrono::microseconds(j->how == cancel_by::after_part ? uniform(0, 500) : 100ull << uniform(0, 14));
      j->again = std::chrono::microseconds(uniform(0, 3000));
      if (j->how == cancel_by::after_part) j->after_part = static_cast<std::uint32_t>(uniform(1, parts - 2));
    }
    jobs.push_back(std::move(j));
  }
  auto options_of = [&](job& j) {
    return oss::upload_options{.parallel = j.parallel, .part_size = kib100, .checkpoint = j.ckpt,
                               .file_executor = readers.get_executor()};
  };
  // On the caller's strand: the cancellation fires after the job's delay, and once more a little
  // later, while the upload is stopping (or after it ended: an emit that comes too late must
  // be harmless).
  auto arm = [](job& j) {
    j.timer.emplace(j.strand, j.delay);
    j.timer->async_wait([&j](std::error_code) {
      j.terminal_sent = true;
      j.signal.emit(asio::cancellation_type::terminal);
      j.timer->expires_after(j.again);
      j.timer->async_wait([&j](std::error_code) { j.signal.emit(asio::cancellation_type::terminal); });
    });
  };
  // The callback form, started on the caller's strand.
  auto start = [&](job& j, bool cancellable) {
    oss::upload_options opts = options_of(j);
    if (cancellable && j.how == cancel_by::after_part) {
      opts.progress = [&j, arm](const oss::progress_event& e) {  // on the upload's strand
        if (e.stage == oss::progress_stage::part_done && e.parts_done == j.after_part)
          asio::post(j.strand, [&j, arm] { arm(j); });
      };
    }
    auto done = [&j, cancellable](std::error_code ec, oss::upload_result r) {
      (cancellable ? j.first : j.second) = ec;
      (cancellable ? j.first_done : j.second_done) = true;
      j.result = std::move(r);
    };
    oss::async_multipart_upload(c, j.name, j.file, std::move(opts), j.diag,
                                asio::bind_executor(j.strand, asio::bind_cancellation_slot(j.signal.slot(), done)));
    if (cancellable && j.how == cancel_by::timer) arm(j);
    if (cancellable && j.how != cancel_by::race) j.pester();
  };
  // The convenience form in a coroutine on the caller's strand: (multipart_upload || timer).
  auto race = [&](job& j) -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer deadline(j.strand, j.delay);
    oss::upload_options opts = options_of(j);
    // Never throws, so that || waits for both: the upload's outcome is in j.first either way.
    auto upload = [&]() -> asio::awaitable<void> {
      try {
        j.result = co_await oss::multipart_upload(c, j.name, j.file, opts);
      } catch (const oss::error& e) {
        j.first = e.code();
      }
    };
    auto timer = [&]() -> asio::awaitable<void> {
      co_await deadline.async_wait(as_tuple(asio::use_awaitable));
    };
    co_await (upload() || timer());
    j.first_done = true;
  };

  // Run 1: all at once.
  for (auto& j : jobs) {
    job& jr = *j;
    if (jr.how == cancel_by::race) {
      auto fn = [&race, &jr] { return race(jr); };
      asio::co_spawn(jr.strand, fn, asio::detached);
    } else {
      asio::post(jr.strand, [&start, &jr] { start(jr, true); });
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  run_threads(io, 4, 60s);
  const auto t1 = std::chrono::steady_clock::now();

  // Run 2: every upload that did not succeed, again with its checkpoint.
  std::map<int, oss::checkpoint> saved;
  for (int i = 0; i < count; ++i) {
    job& j = *jobs[i];
    if (!j.first_done || !j.first) continue;
    if (std::filesystem::exists(j.ckpt)) saved[i] = oss::load_checkpoint(j.ckpt);
    asio::post(j.strand, [&start, &j] { start(j, false); });
  }
  run_threads(io, 4, 60s);
  const auto t2 = std::chrono::steady_clock::now();

  // Check: a cancelled run ends operation_aborted, or succeeded when the cancellation came too
  // late; the others succeed; every resume succeeds, from its checkpoint; the server holds
  // every file's bytes.
  int cancelled = 0;
  int resumed = 0;
  int pestered = 0;
  for (int i = 0; i < count; ++i) {
    const job& j = *jobs[i];
    CAPTURE(i);
    CAPTURE(static_cast<int>(j.how));
    REQUIRE(j.first_done);
    pestered += j.pestered;
    if (j.how == cancel_by::none) {
      CHECK_MESSAGE(!j.first, j.first.message() << ": " << j.diag.client_message);
      continue;
    }
    CHECK_MESSAGE((!j.first || j.first == asio::error::operation_aborted), j.first.message());
    if (!j.first) continue;
    ++cancelled;
    REQUIRE(j.second_done);
    CHECK_MESSAGE(!j.second, j.second.message() << ": " << j.diag.client_message);
    if (auto it = saved.find(i); it != saved.end() && !it->second.upload_id.empty()) {
      ++resumed;
      CHECK(j.result.resumed);
      CHECK(j.result.upload_id == it->second.upload_id);
      CHECK(j.result.parts_uploaded == j.result.parts - it->second.done_parts.size());
    }
  }
  std::vector<std::string> stored(count);
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < count; ++i) stored[i] = co_await fetch(c, jobs[i]->name);
  });
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    CHECK(stored[i] == jobs[i]->data);
    CHECK(jobs[i]->result.crc64 == crc_of(jobs[i]->data));
    CHECK(jobs[i]->result.size == jobs[i]->data.size());
    CHECK_FALSE(std::filesystem::exists(jobs[i]->ckpt));
  }
  MESSAGE("cancellation stress: " << cancelled << " of " << count / 3 << " cancellations stopped their upload ("
          << resumed << " resumed an upload id), " << pestered << " partial or total emits; run 1 took "
          << std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count() << " ms, run 2 "
          << std::chrono::duration_cast<std::chrono::milliseconds>(t2 - t1).count() << " ms");
  CHECK(cancelled >= 1);
}

TEST_CASE("multipart upload: a failing part stops the upload; abort_on_failure cleans up") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(1024 * 1024, 15);
  const auto file = env.write("f.bin", data);
  const auto ckpt = env.files / "f.ckpt";
  for (bool abort_on_failure : {false, true}) {
    CAPTURE(abort_on_failure);
    env.server.reset_stats();
    // Someone aborts the upload while it runs: the next part gets NoSuchUpload.
    bool aborted = false;
    oss::upload_options opts{
        .parallel = 1, .part_size = kib100, .checkpoint = ckpt,
        .progress = [&](const oss::progress_event& e) -> asio::awaitable<void> {
          if (!aborted && e.parts_done == 2) {
            aborted = true;
            const std::string id = e.checkpoint.upload_id;
            co_await c.abort_multipart_upload("f.bin", id);
          }
        },
        .abort_on_failure = abort_on_failure};
    std::error_code got;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [ec, r] = co_await oss::async_multipart_upload(c, "f.bin", file, opts, diag,
                                                          as_tuple(asio::use_awaitable));
      got = ec;
    });
    CHECK(got == oss::server_errc::no_such_upload);
    CHECK(diag.operation == "UploadPart");
    // The handler runs once part 2 is durable, and the worker does not wait for that (group
    // commit) but stays within undurable_parts_max parts of it: the first part sent after the
    // abort landed fails, 3 or a few later.
    CHECK(diag.part_number >= 3);
    CHECK(diag.part_number <= static_cast<int>(3 + 1 + oss::detail::multipart::undurable_parts_max));
    CHECK(std::filesystem::exists(ckpt) == !abort_on_failure);
    CHECK(env.server.stats().abort_multipart_upload == (abort_on_failure ? 2u : 1u));
    CHECK(env.server.stats().upload_part == static_cast<std::uint64_t>(diag.part_number));
    std::filesystem::remove(ckpt);
  }
}

// Not derived from std::exception: what a progress handler may throw all the same.
struct handler_failure {
  int code;
};

// The outcome of one upload through async_multipart_upload (as_tuple, never throws) and of the
// same upload through multipart_upload (what it throws).
struct both_forms {
  std::error_code ec;
  oss::diagnostics diag;
  std::exception_ptr thrown;  // by multipart_upload
};

both_forms run_both_forms(asio::io_context& io, oss::client& c, const std::string& name,
                          const std::function<oss::upload_source()>& source, const oss::upload_options& opts,
                          const std::function<void()>& between = {}) {
  both_forms out;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_source src = source();
    auto [ec, r] = co_await oss::async_multipart_upload(c, name, std::move(src), opts, out.diag,
                                                        as_tuple(asio::use_awaitable));
    out.ec = ec;
  });
  if (between) between();
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_source src = source();
    try {
      co_await oss::multipart_upload(c, name, std::move(src), opts);
    } catch (...) {
      out.thrown = std::current_exception();
    }
  });
  return out;
}

// What `e` holds: "runtime_error: <what>", "handler_failure <code>", "oss::error: <code>", ...
std::string describe(const std::exception_ptr& e) {
  if (!e) return "nothing";
  try {
    std::rethrow_exception(e);
  } catch (const handler_failure& f) {
    return "handler_failure " + std::to_string(f.code);
  } catch (const oss::error& x) {
    return "oss::error: " + x.code().message();
  } catch (const std::bad_alloc&) {
    return "bad_alloc";
  } catch (const std::runtime_error& x) {
    return std::string("runtime_error: ") + x.what();
  } catch (...) {
    return "something else";
  }
}

TEST_CASE("multipart upload: a throwing progress handler ends both forms with handler_exception and its exception; the checkpoint resumes") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  // 52 parts: more than the first run can send before its handler throws (3 reported, and up to
  // undurable_parts_max x parallel sent meanwhile), so the resumed run reports parts too.
  const std::string data = oss_test::random_bytes(5 * 1024 * 1024 + 1000, 16);
  const auto file = env.write("h.bin", data);
  const auto ckpt = env.files / "h.ckpt";
  const std::function<oss::upload_source()> source = [&] { return oss::upload_source(file); };
  for (bool standard : {true, false}) {
    CAPTURE(standard);
    // Setup: the handler throws at the third part it sees; abort_on_failure must not give the
    // upload up.
    std::filesystem::remove(ckpt);
    env.server.reset_stats();
    auto seen = std::make_shared<int>(0);
    oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt,
                             .progress = [standard, seen](const oss::progress_event& e) {
                               if (e.stage != oss::progress_stage::part_done || ++*seen != 3) return;
                               if (standard) throw std::runtime_error("progress broke");
                               throw handler_failure{42};
                             },
                             .abort_on_failure = true};
    // Run: the token form, then (resuming the same checkpoint) the convenience form.
    std::size_t kept_parts = 0;
    const both_forms out = run_both_forms(io, c, "h.bin", source, opts, [&] {
      REQUIRE(std::filesystem::exists(ckpt));
      kept_parts = oss::load_checkpoint(ckpt).done_parts.size();
      *seen = 0;
    });
    // Check: a documented code, the exception itself kept, rethrown as it is.
    const std::string expected = standard ? "runtime_error: progress broke" : "handler_failure 42";
    CHECK(out.ec == oss::client_errc::handler_exception);
    CHECK(out.diag.operation == "progress");
    CHECK(out.diag.client_message.find("progress handler threw") != std::string::npos);
    CHECK(describe(out.diag.exception) == expected);
    CHECK(describe(out.thrown) == expected);
    CHECK(kept_parts >= 3);
    const auto st = env.server.stats();
    CHECK(st.complete_multipart_upload == 0);
    CHECK(st.abort_multipart_upload == 0);
    REQUIRE(std::filesystem::exists(ckpt));
  }
  // Check: the checkpoint both runs kept resumes to the whole object.
  oss::upload_result r;
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
    r = co_await oss::multipart_upload(c, "h.bin", file, opts);
    stored = co_await fetch(c, "h.bin");
  });
  CHECK(r.resumed);
  CHECK(stored == data);
}

TEST_CASE("multipart upload: a handler that throws on the completed event, or a throwing stream reader, ends both forms with handler_exception") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(350 * 1024, 17);
  const auto file = env.write("z.bin", data);
  SUBCASE("the completed event: the object exists all the same") {
    const std::function<oss::upload_source()> source = [&] { return oss::upload_source(file); };
    oss::upload_options opts{.parallel = 2, .part_size = kib100,
                             .progress = [](const oss::progress_event& e) {
                               if (e.stage == oss::progress_stage::completed) throw handler_failure{7};
                             }};
    const both_forms out = run_both_forms(io, c, "z.bin", source, opts);
    CHECK(out.ec == oss::client_errc::handler_exception);
    CHECK(out.diag.client_message.find("was created") != std::string::npos);
    CHECK(describe(out.diag.exception) == "handler_failure 7");
    CHECK(describe(out.thrown) == "handler_failure 7");
    CHECK(env.server.stats().complete_multipart_upload == 2);
    std::string stored;
    run_coro(io, [&]() -> asio::awaitable<void> { stored = co_await fetch(c, "z.bin"); });
    CHECK(stored == data);
  }
  SUBCASE("a stream reader that throws something not derived from std::exception") {
    const std::function<oss::upload_source()> source = [&] {
      auto pos = std::make_shared<std::size_t>(0);
      return oss::upload_source(oss::stream_source([&data, pos](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
        if (*pos >= 2 * kib100) throw handler_failure{9};
        const std::size_t n = std::min(b.size(), data.size() - *pos);
        std::memcpy(b.data(), data.data() + *pos, n);
        *pos += n;
        co_return n;
      }));
    };
    oss::upload_options opts{.parallel = 1, .part_size = kib100};
    const both_forms out = run_both_forms(io, c, "z.bin", source, opts);
    CHECK(out.ec == oss::client_errc::handler_exception);
    CHECK(out.diag.operation == "read_stream");
    CHECK(describe(out.diag.exception) == "handler_failure 9");
    CHECK(describe(out.thrown) == "handler_failure 9");
    CHECK(env.server.stats().complete_multipart_upload == 0);
  }
}

TEST_CASE("multipart upload: an exception escaping the orchestrator completes the token form with a documented code and keeps it") {
  // Setup: what co_spawn hands the completion of async_multipart_upload when the orchestrator
  // throws (nothing in it throws on purpose: a bug, or memory running out).
  struct not_std {};
  struct row {
    const char* name;
    std::exception_ptr thrown;
    std::error_code expected;
  };
  const row rows[] = {
      {"not derived from std::exception", std::make_exception_ptr(not_std{}),
       make_error_code(oss::client_errc::unexpected_exception)},
      {"std::runtime_error", std::make_exception_ptr(std::runtime_error("bug")),
       make_error_code(oss::client_errc::unexpected_exception)},
      {"std::bad_alloc", std::make_exception_ptr(std::bad_alloc()), std::make_error_code(std::errc::not_enough_memory)},
      {"std::system_error", std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::io_error))),
       std::make_error_code(std::errc::io_error)},
  };
  for (const row& r : rows) {
    CAPTURE(r.name);
    oss::diagnostics diag;
    diag.code = "Stale";
    std::error_code got;
    oss::upload_result result;
    result.name = "stale";
    auto handler = [&](std::error_code ec, oss::upload_result res) {
      got = ec;
      result = std::move(res);
    };
    // Run
    oss::detail::upload_completion<decltype(handler)> done{handler, &diag};
    done(r.thrown, oss::detail::upload_outcome{});
    // Check: the documented code, the exception itself, nothing left of an earlier call.
    CHECK(got == r.expected);
    CHECK(diag.exception == r.thrown);
    CHECK(diag.operation == "multipart_upload");
    CHECK_FALSE(diag.client_message.empty());
    CHECK(diag.code.empty());
    CHECK(result.name.empty());
  }
}

TEST_CASE("multipart upload: a file modified during the upload is not completed") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(600 * 1024, 17);
  const auto file = env.write("g.bin", data);
  oss::upload_options opts{.parallel = 1, .part_size = kib100,
                           .progress = [&](const oss::progress_event& e) {
                             if (e.parts_done == 2) oss_test::write_file(file, data + "more");
                           }};
  std::error_code got;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [ec, r] = co_await oss::async_multipart_upload(c, "g.bin", file, opts, diag,
                                                        as_tuple(asio::use_awaitable));
    got = ec;
  });
  CHECK(got == oss::client_errc::file_changed);
  CHECK(env.server.stats().complete_multipart_upload == 0);
}

TEST_CASE("multipart upload: abort_upload discards the upload a checkpoint names") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const auto file = env.write("ab.bin", oss_test::random_bytes(700 * 1024, 18));
  const auto ckpt = env.files / "ab.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  REQUIRE(cancelled_upload(io, c, "ab.bin", file, opts, 2) == asio::error::operation_aborted);
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  oss::list_uploads_result listed;
  std::error_code foreign_ec;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::client other(co_await asio::this_coro::executor, env.options("another-bucket"));
    oss::diagnostics d;
    std::tie(foreign_ec) = co_await oss::async_abort_upload(other, saved, d, oss_test::tuple_token);
    co_await oss::abort_upload(c, ckpt);
    listed = co_await c.list_multipart_uploads();
  });
  CHECK(foreign_ec == oss::client_errc::checkpoint_mismatch);
  CHECK_FALSE(std::filesystem::exists(ckpt));
  CHECK(std::none_of(listed.uploads.begin(), listed.uploads.end(),
                     [&](const oss::upload_info& u) { return u.upload_id == saved.upload_id; }));
}

TEST_CASE("multipart upload: an in-memory checkpoint from a progress event resumes the upload") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(900 * 1024, 19);
  std::optional<oss::checkpoint> kept;
  asio::cancellation_signal signal;
  oss::upload_options opts{.parallel = 1, .part_size = kib100,
                           .progress = [&](const oss::progress_event& e) {
                             kept = e.checkpoint;  // ali-oss style: the caller keeps the state
                             if (e.parts_done == 4) signal.emit(asio::cancellation_type::terminal);
                           }};
  std::error_code first;
  oss::diagnostics diag;
  oss::async_multipart_upload(c, "mem.bin", oss::buffer_source(data), opts, diag,
                              asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::upload_result) { first = ec; }));
  io.restart();
  io.run_for(60s);
  CHECK(first == asio::error::operation_aborted);
  REQUIRE(kept);
  CHECK(kept->done_parts.size() >= 4);
  env.server.reset_stats();
  oss::upload_options resume{.parallel = 2, .part_size = kib100, .checkpoint = *kept};
  const oss::upload_source source = oss::buffer_source(data);
  const auto [r, stored] = upload_and_read_back(io, c, "mem.bin", source, resume);
  CHECK(r.resumed);
  CHECK(stored == data);
  CHECK(r.parts_uploaded == r.parts - kept->done_parts.size());
  check_resent(env.server.stats().upload_part, r.parts - kept->done_parts.size(), 1);
}


// ---- issue 12: resume re-hashes, the checkpoint is locked, written first, and never loses an upload

// Every in-progress upload of `name` on the server.
std::vector<oss::upload_info> uploads_of(asio::io_context& io, oss::client& c, const std::string& name) {
  std::vector<oss::upload_info> out;
  run_coro(io, [&]() -> asio::awaitable<void> {
    oss::list_uploads_options o;
    o.prefix = name;
    const oss::list_uploads_result r = co_await c.list_multipart_uploads(o);
    for (const auto& u : r.uploads)
      if (u.key == name) out.push_back(u);
  });
  return out;
}

TEST_CASE("multipart upload: a resume re-hashes what the checkpoint claims; a part changed behind a restored mtime is sent again") {
  // Setup: an upload cancelled after 4 parts; then one byte of an uploaded part changes and the
  // file gets its old mtime back, so size and mtime still match the checkpoint.
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(12 * kib100 + 777, 61);
  const auto file = env.write("h.bin", data);
  const auto ckpt = env.files / "h.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  REQUIRE(cancelled_upload(io, c, "h.bin", file, opts, 4) == asio::error::operation_aborted);
  const oss::checkpoint saved = oss::load_checkpoint(ckpt);
  REQUIRE(saved.done_parts.size() >= 4);
  const int changed_part = saved.done_parts[1].number;
  struct stat before {};
  REQUIRE(::stat(file.c_str(), &before) == 0);
  std::string changed = data;
  changed[mp::part_offset(kib100, changed_part) + 1000] ^= 0x5a;
  oss_test::write_file(file, changed);
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
  env.server.reset_stats();

  // Run
  const auto [r, stored] = upload_and_read_back(io, c, "h.bin", file, opts);

  // Check: the object is the file as it is now; only the changed part of those done went again.
  CHECK(r.resumed);
  CHECK(stored == changed);
  CHECK(r.crc64 == crc_of(changed));
  CHECK(r.checks.parts_changed == 1);
  CHECK(r.checks.parts_crc64 == r.parts);
  CHECK(r.checks.object == oss::object_check::reply_crc64);
  const auto attempts = env.server.part_attempts();
  for (const auto& p : saved.done_parts) {
    CAPTURE(p.number);
    const auto it = attempts.find(p.number);
    CHECK((it == attempts.end() ? 0u : it->second) == (p.number == changed_part ? 1u : 0u));
  }
}

// One upload with a checkpoint that cannot be written: it must fail before any request.
void check_unwritable_checkpoint(mp_env& env, const std::filesystem::path& ckpt) {
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const auto file = env.write("w.bin", oss_test::random_bytes(6 * kib100, 62));
  std::error_code got;
  oss::diagnostics diag;
  const oss::upload_options opts{.part_size = kib100, .checkpoint = ckpt};
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [ec, r] = co_await oss::async_multipart_upload(c, "w.bin", file, opts, diag, as_tuple(asio::use_awaitable));
    got = ec;
  });
  CHECK(got);
  CHECK(got.category() == std::system_category());
  CHECK(diag.client_message.find("Nothing was sent") != std::string::npos);
  CHECK(env.server.stats().requests == 0);
}

TEST_CASE("multipart upload: a checkpoint in a folder that takes no new files fails before any request") {
  mp_env env;
  check_unwritable_checkpoint(env, "/proc/self/asio-oss-test.ckpt");
}

TEST_CASE("multipart upload: a checkpoint in a read-only folder fails before any request and leaves nothing there") {
  // Setup
  mp_env env;
  const auto dir = env.files / "ro";
  std::filesystem::create_directory(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  struct restore {
    std::filesystem::path dir;
    ~restore() { std::filesystem::permissions(dir, std::filesystem::perms::owner_all); }
  } restore_later{dir};
  if (::access(dir.c_str(), W_OK) == 0) OSS_SKIP("file permissions are not enforced here (root)");
  // Run, check
  check_unwritable_checkpoint(env, dir / "w.ckpt");
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("multipart upload: a checkpoint save that fails mid-upload stops and names the upload to resume or abort") {
  // Setup: the checkpoint's folder disappears after the second part.
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const auto file = env.write("g.bin", oss_test::random_bytes(10 * kib100, 63));
  const auto dir = env.files / "ckpt-dir";
  std::filesystem::create_directory(dir);
  oss::upload_options opts{.parallel = 1, .part_size = kib100, .checkpoint = dir / "g.ckpt",
                           .progress = [&](const oss::progress_event& e) {
                             if (e.parts_done == 2) std::filesystem::remove_all(dir);
                           }};
  // Run
  std::error_code got;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [ec, r] = co_await oss::async_multipart_upload(c, "g.bin", file, opts, diag, as_tuple(asio::use_awaitable));
    got = ec;
  });
  // Check: stopped at once, with the upload id in the message; the upload is still there.
  CHECK(got == std::errc::no_such_file_or_directory);
  CHECK(diag.operation == "save_checkpoint");
  const auto open = uploads_of(io, c, "g.bin");
  REQUIRE(open.size() == 1);
  CHECK(diag.client_message.find("upload " + open[0].upload_id + " of g.bin stays open") != std::string::npos);
  // Part 3's record is the first write that fails; the worker does not wait for the writes
  // (group commit) but stays within undurable_parts_max parts of them, so it stops by part 8.
  CHECK(env.server.stats().upload_part >= 3);
  CHECK(env.server.stats().upload_part <= 3 + 1 + oss::detail::multipart::undurable_parts_max);
}

TEST_CASE("multipart upload: a second run on a checkpoint in use gets checkpoint_locked before any request") {
  // Setup: run B starts while run A holds the checkpoint; B talks to a server of its own, so
  // that its requests (none) can be counted.
  mp_env env, other;
  asio::io_context io;
  oss::client a(io.get_executor(), env.options());
  oss::client b(io.get_executor(), other.options());
  const std::string data = oss_test::random_bytes(8 * kib100, 64);
  const auto file = env.write("l.bin", data);
  const auto ckpt = env.files / "l.ckpt";
  std::error_code second;
  oss::diagnostics second_diag;
  bool second_done = false;
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt,
                           .progress = [&](const oss::progress_event& e) {
                             if (e.parts_done != 2) return;
                             const oss::upload_options same{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
                             oss::async_multipart_upload(b, "l.bin", file, same, second_diag,
                                                         [&](std::error_code ec, oss::upload_result) {
                                                           second = ec;
                                                           second_done = true;
                                                         });
                           }};
  // Run
  oss::upload_result r;
  run_coro(io, [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(a, "l.bin", file, opts);
  });
  // Check
  REQUIRE(second_done);
  CHECK(second == oss::client_errc::checkpoint_locked);
  CHECK(second_diag.client_message.find(ckpt.string()) != std::string::npos);
  CHECK(other.server.stats().requests == 0);
  CHECK(r.crc64 == crc_of(data));
  // A's lock ended with it: the same checkpoint path serves the next upload.
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::upload_options again{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
    r = co_await oss::multipart_upload(b, "l.bin", file, again);
  });
  CHECK(r.crc64 == crc_of(data));
  // Nothing is left beside the file: no checkpoint, no lock file.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(env.files.path())) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"l.bin"});
}


TEST_CASE("multipart upload: an Initiate whose reply is lost to a cancellation or a timeout leaves no upload open") {
  using namespace asio::experimental::awaitable_operators;
  // Setup: the server creates the upload at once but replies 3 s later; the caller gives up
  // after 1 s (or the client's stall timeout does). The margins are wide so that a loaded
  // machine (ASan, two cores) still has the Initiate at the server when the caller gives up.
  mp_env env;
  asio::io_context io;
  const std::string data = oss_test::random_bytes(6 * kib100 + 5, 65);
  const auto file = env.write("i.bin", data);
  const auto ckpt = env.files / "i.ckpt";
  auto lost_initiate = [&](oss::client& c, const oss::upload_options& opts, oss::diagnostics& diag,
                           std::chrono::milliseconds give_up = 1000ms) {
    oss::testing::fault_rule slow;
    slow.operation = "InitiateMultipartUpload";
    slow.action = oss::testing::fault_action::delay;
    slow.duration = 3000ms;
    env.server.set_fault_plan({slow});
    env.server.reset_stats();
    std::error_code got;
    run_coro(io, [&]() -> asio::awaitable<void> {
      asio::steady_timer deadline(co_await asio::this_coro::executor, give_up);
      auto upload = [&]() -> asio::awaitable<void> {
        auto [ec, r] = co_await oss::async_multipart_upload(c, "i.bin", file, opts, diag, as_tuple(asio::use_awaitable));
        got = ec;
      };
      auto timer = [&]() -> asio::awaitable<void> { co_await deadline.async_wait(as_tuple(asio::use_awaitable)); };
      co_await (upload() || timer());
    });
    env.server.clear_fault_plan();
    CHECK(env.server.stats().initiate_multipart_upload == 1);
    return got;
  };
  oss::client c(io.get_executor(), env.options());

  SUBCASE("with a checkpoint file: the next run finds the upload and aborts it") {
    const oss::upload_options opts{.part_size = kib100, .checkpoint = ckpt};
    oss::diagnostics diag;
    // Run 1
    CHECK(lost_initiate(c, opts, diag) == asio::error::operation_aborted);
    REQUIRE(std::filesystem::exists(ckpt));
    const oss::checkpoint intent = oss::load_checkpoint(ckpt);
    CHECK(intent.state == oss::checkpoint_state::initiating);
    CHECK(intent.upload_id.empty());
    CHECK(diag.client_message.find("records it") != std::string::npos);
    const auto orphans = uploads_of(io, c, "i.bin");
    CHECK(orphans.size() == 1);
    // Run 2
    env.server.reset_stats();
    const auto [r, stored] = upload_and_read_back(io, c, "i.bin", file, opts);
    // Check
    CHECK(stored == data);
    CHECK_FALSE(r.resumed);
    CHECK(env.server.stats().abort_multipart_upload == 1);
    CHECK(uploads_of(io, c, "i.bin").empty());
    CHECK_FALSE(std::filesystem::exists(ckpt));
  }
  SUBCASE("without a checkpoint: the same run aborts it") {
    const oss::upload_options opts{.part_size = kib100};
    oss::diagnostics diag;
    CHECK(lost_initiate(c, opts, diag) == asio::error::operation_aborted);
    CHECK(uploads_of(io, c, "i.bin").empty());
    CHECK(env.server.stats().abort_multipart_upload == 1);
    CHECK(diag.client_message.find("was aborted") != std::string::npos);
  }
  SUBCASE("without a checkpoint, timed out: the same run aborts it") {
    oss::client_options o = env.options();
    o.stall_timeout = 150ms;
    oss::client impatient(io.get_executor(), o);
    const oss::upload_options opts{.part_size = kib100};
    oss::diagnostics diag;
    CHECK(lost_initiate(impatient, opts, diag, 20s) == oss::client_errc::connection_timeout);
    CHECK(uploads_of(io, c, "i.bin").empty());
    CHECK(diag.client_message.find("was aborted") != std::string::npos);
  }
  SUBCASE("abort_upload on the intent aborts the upload too") {
    const oss::upload_options opts{.part_size = kib100, .checkpoint = ckpt};
    oss::diagnostics diag;
    CHECK(lost_initiate(c, opts, diag) == asio::error::operation_aborted);
    REQUIRE(uploads_of(io, c, "i.bin").size() == 1);
    run_coro(io, [&]() -> asio::awaitable<void> { co_await oss::abort_upload(c, ckpt); });
    CHECK(uploads_of(io, c, "i.bin").empty());
    CHECK_FALSE(std::filesystem::exists(ckpt));
  }
}

TEST_CASE("multipart upload: parts acknowledged while the checkpoint write lags are saved at cancellation; the resume sends none again") {
  // Setup: checkpoint writes run on a one-thread pool that the test holds shut after part 3.
  // The parts in flight then finish (the server acknowledged them) while the write that would
  // record them waits. Once the server has stored two more parts, nothing is in flight, and this
  // thread, which runs the io_context, has had nothing to do for a while (every reply handled),
  // the upload is cancelled; the pool opens only after that.
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(24 * kib100, 66);
  const auto file = env.write("q.bin", data);
  const auto ckpt = env.files / "q.ckpt";
  asio::thread_pool writer(1);
  std::atomic<bool> reached = false;
  std::promise<void> open_writer;
  std::shared_future<void> writer_opens = open_writer.get_future().share();
  bool held = false;
  oss::testing::local_server_thread* server = &env.server;
  oss::upload_options opts{.parallel = 4, .part_size = kib100, .checkpoint = ckpt,
                           .file_executor = writer.get_executor()};
  opts.progress = [&](const oss::progress_event& e) {
    if (held || e.stage != oss::progress_stage::part_done || e.parts_done < 3) return;
    held = true;
    const std::uint64_t stored_before = server->stats().parts_uploaded;
    asio::post(writer, [server, stored_before, &reached, writer_opens] {
      // Bounded: 24 parts and four workers, so two more parts always come.
      server->wait_for(
          [stored_before](const oss::testing::local_server_stats& st) {
            return st.parts_uploaded >= stored_before + 2 && st.in_flight == 0;
          },
          10s);
      reached = true;
      writer_opens.wait_for(60s);
    });
  };
  asio::cancellation_signal signal;
  std::error_code first;
  bool done = false;
  oss::diagnostics diag;
  oss::async_multipart_upload(c, "q.bin", file, opts, diag,
                              asio::bind_cancellation_slot(signal.slot(), [&](std::error_code ec, oss::upload_result) {
                                first = ec;
                                done = true;
                              }));
  // Run 1, driven here so that the cancellation comes when the io_context is idle.
  std::set<int> saved_at_cancel;
  bool cancelled = false;
  int idle = 0;
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    const std::size_t ran = io.run_one_for(20ms);
    if (cancelled || !reached) continue;
    idle = ran == 0 ? idle + 1 : 0;
    if (idle < 3) continue;
    for (const auto& p : oss::load_checkpoint(ckpt).done_parts) saved_at_cancel.insert(p.number);
    cancelled = true;
    signal.emit(asio::cancellation_type::terminal);
    open_writer.set_value();
  }
  REQUIRE(done);
  REQUIRE(cancelled);
  CHECK(first == asio::error::operation_aborted);
  // Nothing was in flight and every reply was handled: each part the server stored was
  // acknowledged, and some of them were not yet in the checkpoint when the upload was cancelled.
  std::set<int> acknowledged;
  for (const auto& [number, attempts] : env.server.part_attempts()) acknowledged.insert(number);
  CHECK(acknowledged.size() > saved_at_cancel.size());
  std::set<int> on_disk;
  for (const auto& p : oss::load_checkpoint(ckpt).done_parts) on_disk.insert(p.number);
  CHECK(on_disk == acknowledged);

  // Run 2: resume; no acknowledged part goes to the server again.
  env.server.reset_stats();
  opts.progress = {};
  opts.file_executor = {};
  const auto [r, stored] = upload_and_read_back(io, c, "q.bin", file, opts);
  CHECK(stored == data);
  const auto attempts = env.server.part_attempts();
  for (int n : acknowledged) {
    CAPTURE(n);
    CHECK_FALSE(attempts.contains(n));
  }
}

TEST_CASE("multipart upload: a Complete or HEAD CRC-64 that differs fails the upload; none at all is unverified") {
  // Setup: a proxy between client and server edits the replies.
  mp_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  asio::io_context io;
  oss::client_options copts = env.options();
  copts.endpoint = proxy.endpoint();
  oss::client c(io.get_executor(), copts);
  const std::string data = oss_test::random_bytes(5 * kib100 + 9, 67);
  const auto file = env.write("v.bin", data);
  const std::string crc_header = "x-oss-hash-crc64ecma";
  const std::string wrong = std::to_string(crc_of(data) ^ 1);
  struct outcome {
    std::error_code ec;
    oss::diagnostics diag;
    oss::upload_result r;
  };
  auto upload = [&](std::vector<oss_test::proxy_rule> rules, bool require_server_crc) {
    proxy.set_script(oss_test::rules_script(std::move(rules)));
    proxy.clear_records();
    outcome out;
    const oss::upload_options opts{.parallel = 2, .part_size = kib100, .require_server_crc = require_server_crc};
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [ec, r] = co_await oss::async_multipart_upload(c, "v.bin", file, opts, out.diag, as_tuple(asio::use_awaitable));
      out.ec = ec;
      out.r = r;
    });
    return out;
  };
  auto complete = oss_test::op_is("CompleteMultipartUpload");
  auto head = oss_test::op_is("HeadObject");
  auto drop = [&] { return oss_test::proxy_action::edit(oss_test::drop_header(crc_header)); };

  SUBCASE("the Complete reply confirms it") {
    const outcome o = upload({}, true);
    CHECK_FALSE(o.ec);
    CHECK(o.r.crc64 == crc_of(data));
    CHECK(o.r.checks.object == oss::object_check::reply_crc64);
    CHECK(proxy.count("HeadObject") == 0);
  }
  SUBCASE("the Complete reply's CRC-64 differs") {
    const outcome o = upload({{complete, oss_test::proxy_action::edit(oss_test::set_header(crc_header, wrong))}}, true);
    CHECK(o.ec == oss::client_errc::crc64_mismatch);
    CHECK(o.diag.client_message.find("the parts combine to") != std::string::npos);
  }
  SUBCASE("the Complete reply has none, and HEAD confirms it") {
    const outcome o = upload({{complete, drop()}}, true);
    CHECK_FALSE(o.ec);
    CHECK(o.r.checks.object == oss::object_check::head_crc64);
    CHECK(proxy.count("HeadObject") == 1);
  }
  SUBCASE("the Complete reply has none, and HEAD's differs") {
    const outcome o = upload({{complete, drop()}, {head, oss_test::proxy_action::edit(oss_test::set_header(crc_header, wrong))}}, true);
    CHECK(o.ec == oss::client_errc::crc64_mismatch);
  }
  SUBCASE("neither has one") {
    const outcome o = upload({{complete, drop()}, {head, drop()}}, true);
    CHECK(o.ec == oss::client_errc::unverified);
    CHECK(o.diag.client_message.find("never confirmed") != std::string::npos);
  }
  SUBCASE("HEAD is refused") {
    const outcome o = upload({{complete, drop()}, {head, oss_test::proxy_action::reply_with(oss_test::proxy_raw_reply(403, {}, ""))}}, true);
    CHECK(o.ec == oss::client_errc::unverified);
  }
  SUBCASE("neither has one, and the caller opted out") {
    const outcome o = upload({{complete, drop()}, {head, drop()}}, false);
    CHECK_FALSE(o.ec);
    CHECK(o.r.checks.object == oss::object_check::none);
    CHECK(o.r.crc64 == crc_of(data));
  }
}


TEST_CASE("multipart upload: a part reply without a CRC-64 is sent again with Content-MD5, and so is every later part") {
  // Setup: a proxy strips x-oss-hash-crc64ecma from every UploadPart reply (the Complete reply
  // keeps it).
  mp_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  asio::io_context io;
  oss::client_options copts = env.options();
  copts.endpoint = proxy.endpoint();
  oss::client c(io.get_executor(), copts);
  const std::string data = oss_test::random_bytes(8 * kib100 + 3, 68);
  const auto file = env.write("m5.bin", data);
  const std::uint32_t parts = mp::part_count(data.size(), kib100);
  proxy.set_script(oss_test::rules_script(
      {{oss_test::op_is("UploadPart"), oss_test::proxy_action::edit(oss_test::drop_header("x-oss-hash-crc64ecma"))}}));
  auto with_md5 = [](const oss_test::proxy_request& r) { return r.headers.find("Content-MD5") != nullptr; };

  SUBCASE("required (the default)") {
    progress_log log;
    const oss::upload_options opts{.parallel = 2, .part_size = kib100,
                                   .progress = [&](const oss::progress_event& e) { log.add(e); }};
    const auto [r, stored] = upload_and_read_back(io, c, "m5.bin", file, opts);
    // Check: the parts in flight when the first reply came back went twice, the rest once
    // with Content-MD5; every part is confirmed by it; progress counts each part once.
    CHECK(stored == data);
    CHECK(r.checks.parts_content_md5 == parts);
    CHECK(r.checks.parts_crc64 == 0);
    CHECK(r.checks.parts_resent_for_md5 >= 1);
    CHECK(r.checks.parts_resent_for_md5 <= opts.parallel);
    CHECK(r.checks.object == oss::object_check::reply_crc64);
    std::map<int, int> sent, sent_with_md5;
    for (const auto& req : proxy.requests()) {
      if (req.operation() != "UploadPart") continue;
      ++sent[req.part_number()];
      if (with_md5(req)) ++sent_with_md5[req.part_number()];
    }
    CHECK(sent.size() == parts);
    for (const auto& [number, n] : sent) {
      CAPTURE(number);
      CHECK(sent_with_md5[number] == 1);
      CHECK(n <= 2);
    }
    log.check_contract(data.size(), parts);
  }
  SUBCASE("a stream's spooled parts: the MD5 is read back from the temporary file") {
    std::size_t at = 0;
    oss::stream_source stream([&data, &at](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      const std::size_t n = std::min(b.size(), data.size() - at);
      std::memcpy(b.data(), data.data() + at, n);
      at += n;
      co_return n;
    });
    oss::upload_options opts{.parallel = 2, .part_size = kib100};
    opts.spool_parts_above = 50 * 1024;
    opts.spool_directory = env.files.path();
    const auto [r, stored] = upload_and_read_back(io, c, "m5s.bin", std::move(stream), opts);
    CHECK(stored == data);
    CHECK(r.checks.parts_content_md5 == parts);
    CHECK(r.checks.parts_resent_for_md5 >= 1);
    CHECK(r.crc64 == crc_of(data));
  }
  SUBCASE("opted out") {
    const oss::upload_options opts{.parallel = 2, .part_size = kib100, .require_server_crc = false};
    oss::upload_result r;
    run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(c, "m5.bin", file, opts); });
    CHECK(r.checks.parts_unconfirmed == parts);
    CHECK(r.checks.parts_resent_for_md5 == 0);
    CHECK(proxy.count("UploadPart") == parts);
  }
}

TEST_CASE("multipart upload: a single PutObject follows the same rule: reply CRC-64, else HEAD, else sent again with Content-MD5") {
  // Setup
  mp_env env;
  oss_test::hostile_proxy proxy(env.server.port());
  asio::io_context io;
  oss::client_options copts = env.options();
  copts.endpoint = proxy.endpoint();
  oss::client c(io.get_executor(), copts);
  const std::string data = oss_test::random_bytes(40 * 1024, 69);
  const std::string crc_header = "x-oss-hash-crc64ecma";
  auto drop = [&] { return oss_test::proxy_action::edit(oss_test::drop_header(crc_header)); };
  auto put = oss_test::op_is("PutObject");
  auto head = oss_test::op_is("HeadObject");
  auto upload = [&](std::vector<oss_test::proxy_rule> rules, bool require, std::error_code& ec) {
    proxy.set_script(oss_test::rules_script(std::move(rules)));
    proxy.clear_records();
    oss::upload_result r;
    oss::diagnostics diag;
    const oss::upload_options opts{.part_size = kib100, .require_server_crc = require};
    run_coro(io, [&]() -> asio::awaitable<void> {
      const oss::upload_source source = oss::buffer_source(data);
      auto [e, res] = co_await oss::async_multipart_upload(c, "one.bin", source, opts, diag, as_tuple(asio::use_awaitable));
      ec = e;
      r = res;
    });
    return r;
  };
  std::error_code ec;

  SUBCASE("the reply's CRC-64") {
    const oss::upload_result r = upload({}, true, ec);
    CHECK_FALSE(ec);
    CHECK(r.checks.object == oss::object_check::reply_crc64);
    CHECK(proxy.count("PutObject") == 1);
  }
  SUBCASE("none in the reply: HEAD's") {
    const oss::upload_result r = upload({{put, drop()}}, true, ec);
    CHECK_FALSE(ec);
    CHECK(r.checks.object == oss::object_check::head_crc64);
    CHECK(proxy.count("PutObject") == 1);
  }
  SUBCASE("none in the reply, HEAD's differs") {
    upload({{put, drop()}, {head, oss_test::proxy_action::edit(oss_test::set_header(crc_header, "1"))}}, true, ec);
    CHECK(ec == oss::client_errc::crc64_mismatch);
  }
  SUBCASE("none anywhere: sent again with Content-MD5") {
    const oss::upload_result r = upload({{put, drop()}, {head, drop()}}, true, ec);
    CHECK_FALSE(ec);
    CHECK(r.checks.object == oss::object_check::content_md5);
    CHECK(r.checks.parts_resent_for_md5 == 1);
    const auto requests = proxy.requests();
    REQUIRE(proxy.count("PutObject") == 2);
    CHECK(requests.back().operation() == "PutObject");
    CHECK(requests.back().headers.find("Content-MD5") != nullptr);
  }
  SUBCASE("none anywhere, opted out") {
    const oss::upload_result r = upload({{put, drop()}, {head, drop()}}, false, ec);
    CHECK_FALSE(ec);
    CHECK(r.checks.object == oss::object_check::none);
    CHECK(proxy.count("PutObject") == 1);
  }
}

}  // namespace

TEST_CASE("multipart upload: shares of one upload from three clients, then complete_shared_upload") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  // Setup: a 1 MiB + 3 object in 100 KiB parts (11 parts), cut into shares of 4, 4 and 3 parts;
  // each share's source is its own bytes of the object.
  const std::string data = oss_test::random_bytes(1024 * 1024 + 3, 70);
  const std::string name = "shared/object.bin";
  std::string upload_id;
  oss::object_options object;
  object.meta = {{"origin", "shares"}};
  run_coro(io, [&]() -> asio::awaitable<void> { upload_id = co_await c.initiate_multipart_upload(name, object); });
  struct share_case {
    std::uint32_t first, last;
  };
  const share_case shares[] = {{1, 4}, {5, 8}, {9, 11}};
  std::vector<oss::upload_result> results;
  for (const share_case& sc : shares) {
    const std::size_t begin = (sc.first - 1) * kib100;
    const std::size_t end = std::min<std::size_t>(data.size(), sc.last * kib100);
    const auto file = env.write("share" + std::to_string(sc.first) + ".bin", data.substr(begin, end - begin));
    oss::client own(io.get_executor(), env.options());  // each share as if on its own machine
    oss::upload_options opts{.parallel = 3, .part_size = kib100, .checkpoint = env.files / ("s" + std::to_string(sc.first) + ".ckpt")};
    opts.share = oss::upload_share{upload_id, sc.first, sc.last};
    oss::upload_result r;
    const std::string path = file.string();  // named: GCC 12 and co_await temporaries
    run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(own, name, path, opts); });
    CHECK_FALSE(r.completed);
    CHECK(r.etag.empty());
    CHECK(r.parts == sc.last - sc.first + 1);
    CHECK(r.crc64 == crc_of(data.substr(begin, end - begin)));
    CHECK(r.checks.parts_crc64 == r.parts);
    CHECK_FALSE(std::filesystem::exists(env.files / ("s" + std::to_string(sc.first) + ".ckpt")));
    results.push_back(r);
    if (sc.first == 1) {
      // Not every part is there yet: the completer names what is missing and makes nothing.
      oss::diagnostics diag;
      std::error_code ec;
      run_coro(io, [&]() -> asio::awaitable<void> {
        auto [e, ignored] = co_await oss::async_complete_shared_upload(c, name, upload_id, 11, true, diag,
                                                                       asio::experimental::as_tuple(asio::use_awaitable));
        ec = e;
      });
      CHECK(ec == oss::client_errc::parts_missing);
      CHECK(diag.client_message.find("7 of the object's 11 parts") != std::string::npos);
      CHECK(diag.client_message.find("(5-11)") != std::string::npos);
    }
  }
  oss::upload_result done;
  run_coro(io, [&]() -> asio::awaitable<void> { done = co_await oss::complete_shared_upload(c, name, upload_id, 11); });
  CHECK(done.completed);
  CHECK(done.size == data.size());
  CHECK(done.crc64 == crc_of(data));
  CHECK(done.parts == 11);
  CHECK(done.checks.object == oss::object_check::reply_crc64);
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> { stored = co_await fetch(c, name); });
  CHECK(stored == data);
  oss::object_meta meta;
  run_coro(io, [&]() -> asio::awaitable<void> { meta = co_await c.head(name); });
  CHECK(meta.meta.size() == 1);
}

TEST_CASE("multipart upload: a share that is interrupted resumes from its checkpoint; bad shares are refused") {
  mp_env env;
  asio::io_context io;
  oss::client c(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(20 * kib100, 71);
  const std::string name = "shared/resumed.bin";
  std::string upload_id;
  run_coro(io, [&]() -> asio::awaitable<void> { upload_id = co_await c.initiate_multipart_upload(name); });
  const auto file = env.write("second-half.bin", data.substr(10 * kib100));
  const std::string path = file.string();  // named: GCC 12 and co_await temporaries
  const auto ckpt = env.files / "half.ckpt";
  oss::upload_options opts{.parallel = 2, .part_size = kib100, .checkpoint = ckpt};
  opts.share = oss::upload_share{upload_id, 11, 20};
  // The 4th part of the share fails for good: the run stops with its checkpoint.
  oss::testing::fault_rule refuse;
  refuse.operation = "UploadPart";
  refuse.part_number = 14;
  refuse.times = 0;
  refuse.status = 403;
  refuse.code = "AccessDenied";
  env.server.set_fault_plan({refuse});
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    auto [e, r] = co_await oss::async_multipart_upload(c, name, path, opts, diag,
                                                       asio::experimental::as_tuple(asio::use_awaitable));
    ec = e;
  });
  CHECK(ec == oss::server_errc::access_denied);
  CHECK(diag.part_number == 14);  // the object's number, not the share's
  REQUIRE(std::filesystem::exists(ckpt));
  oss::checkpoint cp;
  {
    std::error_code load_ec;
    cp = oss::load_checkpoint(ckpt, load_ec);
    REQUIRE_FALSE(load_ec);
  }
  CHECK(cp.share_first_part == 11);
  CHECK(cp.upload_id == upload_id);
  // The upload is still open for the other shares: nothing aborted it.
  env.server.clear_fault_plan();
  env.server.reset_stats();
  oss::upload_result r;
  run_coro(io, [&]() -> asio::awaitable<void> { r = co_await oss::multipart_upload(c, name, path, opts); });
  CHECK(r.resumed);
  CHECK(r.parts == 10);
  CHECK(env.server.stats().upload_part < 10);  // the parts stored before were kept
  // The first half, then the whole object.
  const std::string first_half = env.write("first-half.bin", data.substr(0, 10 * kib100)).string();
  oss::upload_options first_opts{.parallel = 2, .part_size = kib100};
  first_opts.share = oss::upload_share{upload_id, 1, 10};
  run_coro(io, [&]() -> asio::awaitable<void> { co_await oss::multipart_upload(c, name, first_half, first_opts); });
  oss::upload_result done;
  run_coro(io, [&]() -> asio::awaitable<void> { done = co_await oss::complete_shared_upload(c, name, upload_id, 20); });
  CHECK(done.crc64 == crc_of(data));
  std::string stored;
  run_coro(io, [&]() -> asio::awaitable<void> { stored = co_await fetch(c, name); });
  CHECK(stored == data);

  // Refused before any request.
  auto refused = [&](oss::upload_options o, const std::string& source) {
    std::error_code e;
    oss::diagnostics d;
    const std::string other = "shared/x";
    run_coro(io, [&]() -> asio::awaitable<void> {
      auto [got, ignored] = co_await oss::async_multipart_upload(c, other, source, o, d,
                                                                 asio::experimental::as_tuple(asio::use_awaitable));
      e = got;
    });
    return e;
  };
  env.server.reset_stats();
  oss::upload_options bad{.part_size = kib100};
  bad.share = oss::upload_share{"", 1, 10};
  CHECK(refused(bad, path) == oss::client_errc::invalid_share);  // no upload id
  bad.share = oss::upload_share{"id", 5, 4};
  CHECK(refused(bad, path) == oss::client_errc::invalid_share);  // not a range
  bad.share = oss::upload_share{"id", 1, 9};
  CHECK(refused(bad, path) == oss::client_errc::invalid_share);  // 10 parts do not fit in 9
  bad.share = oss::upload_share{"id", 1, 10};
  bad.abort_on_failure = true;
  CHECK(refused(bad, path) == oss::client_errc::invalid_share);  // a share never aborts
  bad.abort_on_failure = false;
  const std::string empty = env.write("empty-share.bin", "").string();
  CHECK(refused(bad, empty) == oss::client_errc::invalid_share);  // nothing to upload
  CHECK(env.server.stats().requests == 0);
}
