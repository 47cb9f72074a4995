// The transfer engine's sans-io parts (design.md, "The engine"), without sockets: the part
// scheduler (which part goes next, how a transfer ends), the part plan (sizes, digests,
// progress arithmetic, reconciliation with ListParts) and the checkpoint file format with its
// journal.
#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/engine/checkpoint_journal.hpp>
#include <oss/detail/engine/checkpoint_writes.hpp>
#include <oss/detail/engine/part_scheduler.hpp>
#include <oss/detail/engine/shared_allowance.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/transport/rate_limit.hpp>
#include <oss/error.hpp>

#include <doctest/doctest.h>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/skip.hpp"
#include "../support/temp_dir.hpp"

namespace {

namespace mp = oss::detail::multipart;
using oss::detail::part_scheduler;
using oss::detail::transfer_end;
using step_kind = oss::detail::part_scheduler::step_kind;

constexpr std::uint64_t kib100 = 100 * 1024;

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

oss::diagnostics diag_saying(std::string message) {
  oss::diagnostics d;
  d.client_message = std::move(message);
  return d;
}

// Every number next() hands out until it says wait or finished.
std::vector<int> drain(part_scheduler& s) {
  std::vector<int> out;
  for (part_scheduler::step st = s.next(); st.kind == step_kind::send; st = s.next()) out.push_back(st.number);
  return out;
}

}  // namespace

// ---- the part scheduler ------------------------------------------------------------------------

TEST_CASE("part scheduler: a known-size plan hands out every missing part once, in order") {
  // Setup
  part_scheduler s;
  const std::vector<int> done{4, 2, 9};
  // Run
  s.plan(10, done);
  CHECK(s.parts_left(5) == 7);
  const std::vector<int> got = drain(s);
  // Check
  CHECK(got == std::vector<int>{1, 3, 5, 6, 7, 8, 10});
  CHECK_FALSE(s.has_parts());
  CHECK(s.next().kind == step_kind::finished);
  CHECK(s.running());  // handing out the last part ends nothing: the parts are still in flight
}

TEST_CASE("part scheduler: parts sent and not yet durable hold the workers back") {
  // Setup: at most 2 undurable parts before the workers wait
  part_scheduler s;
  s.plan(10, {});
  s.limit_undurable(2);
  // Run, check
  CHECK(s.next().number == 1);
  s.part_sent();
  CHECK(s.next().number == 2);
  s.part_sent();
  CHECK(s.next().number == 3);
  s.part_sent();
  CHECK(s.must_wait());
  CHECK(s.next().kind == step_kind::wait);
  CHECK(s.has_parts());
  s.parts_durable(2);
  CHECK_FALSE(s.must_wait());
  CHECK(s.next().number == 4);
  s.parts_durable(5);  // more than are counted: never below zero
  CHECK(s.undurable() == 0);
}

TEST_CASE("part scheduler: an open-ended source is numbered until it ends, and no further than max_parts") {
  SUBCASE("the stream ends: numbers handed out beyond its last part are not admitted") {
    part_scheduler s;
    s.plan_open_ended(kib100, 10000);
    CHECK(s.next().number == 1);
    CHECK(s.next().number == 2);
    CHECK(s.next().number == 3);
    CHECK(s.admit(1));
    s.source_ended(2);
    CHECK(s.admit(2));
    CHECK_FALSE(s.admit(3));
    CHECK(s.running());  // a number past the end is no failure
    CHECK_FALSE(s.has_parts());
    CHECK(s.next().kind == step_kind::finished);
  }
  SUBCASE("a stream longer than max_parts parts ends the transfer with too_many_parts") {
    part_scheduler s;
    s.plan_open_ended(kib100, 3);
    const std::vector<int> first = {s.next().number, s.next().number, s.next().number, s.next().number};
    CHECK(first == std::vector<int>{1, 2, 3, 4});
    CHECK(s.admit(3));
    CHECK_FALSE(s.admit(4));
    CHECK(s.end() == transfer_end::failed);
    CHECK(s.error() == oss::client_errc::too_many_parts);
    CHECK(s.diag().client_message.find("longer than 3 parts can hold (their size grows from 102400 bytes") != std::string::npos);
  }
  SUBCASE("a stream that ends exactly at max_parts fits") {
    part_scheduler s;
    s.plan_open_ended(kib100, 3);
    for (int i = 0; i < 4; ++i) (void)s.next();
    s.source_ended(3);
    CHECK_FALSE(s.admit(4));
    CHECK(s.running());
  }
}

TEST_CASE("part scheduler: the first terminal event decides how the transfer ends") {
  SUBCASE("a failure, then the consequences of stopping") {
    part_scheduler s;
    s.plan(5, {});
    CHECK(s.fail(oss::client_errc::file_changed, diag_saying("first")));
    CHECK_FALSE(s.fail(oss::client_errc::crc64_mismatch, diag_saying("second")));
    CHECK_FALSE(s.cancel());
    CHECK_FALSE(s.handler_threw(std::make_exception_ptr(1), diag_saying("third")));
    s.succeed();
    CHECK(s.end() == transfer_end::failed);
    CHECK(s.error() == oss::client_errc::file_changed);
    CHECK(s.diag().client_message == "first");
    CHECK(s.stopped_short());
    CHECK_FALSE(s.has_parts());
    CHECK(s.next().kind == step_kind::finished);  // nothing more is scheduled after an end
  }
  SUBCASE("cancellation") {
    part_scheduler s;
    CHECK(s.cancel());
    CHECK_FALSE(s.fail(oss::client_errc::file_changed, {}));
    CHECK(s.end() == transfer_end::cancelled);
    CHECK_FALSE(s.error());
  }
  SUBCASE("a handler's exception is the outcome, as handler_exception") {
    part_scheduler s;
    CHECK(s.handler_threw(std::make_exception_ptr(42), diag_saying("progress")));
    CHECK(s.end() == transfer_end::handler_threw);
    CHECK(s.error() == oss::client_errc::handler_exception);
    CHECK(s.exception());
  }
  SUBCASE("an exception escaping the library overrides any end before it, once") {
    part_scheduler s;
    CHECK(s.fail(oss::client_errc::file_changed, {}));
    CHECK_FALSE(s.escape(std::make_exception_ptr(1)));  // already stopped: nothing more to stop
    CHECK(s.end() == transfer_end::escaped);
    CHECK_FALSE(s.escape(std::make_exception_ptr(2)));
    int kept = 0;
    try {
      std::rethrow_exception(s.exception());
    } catch (int v) {
      kept = v;
    }
    CHECK(kept == 1);
  }
  SUBCASE("success is an end too, and not a short one") {
    part_scheduler s;
    s.succeed();
    CHECK(s.end() == transfer_end::succeeded);
    CHECK_FALSE(s.stopped_short());
    CHECK_FALSE(s.fail(oss::client_errc::file_changed, {}));
  }
}

// ---- the part plan and the checkpoint format -----------------------------------------------------------------------------

TEST_CASE("traffic limit: a request's share of the budget in bits per second, within OSS's range") {
  using oss::detail::traffic_limit_bits;
  CHECK(traffic_limit_bits(10 << 20, 1) == 83886080u);       // 10 MiB/s
  CHECK(traffic_limit_bits(40 << 20, 4) == 83886080u);       // shared by 4
  CHECK(traffic_limit_bits(40 << 20, 0) == 335544320u);      // 0: no count to share by
  CHECK(traffic_limit_bits(1024, 1) == 819200u);             // raised to 100 KiB/s
  CHECK(traffic_limit_bits(1ull << 40, 1) == 838860800u);    // capped at 100 MiB/s
  CHECK(traffic_limit_bits(UINT64_MAX, 1) == 838860800u);    // no overflow
}

TEST_CASE("multipart plan: part size is raised so that at most 10000 parts are needed") {
  CHECK(mp::effective_part_size(1 << 20, kib100) == kib100);
  CHECK(mp::effective_part_size(10000 * kib100, kib100) == kib100);
  CHECK(mp::effective_part_size(10000 * kib100 + 1, kib100) == kib100 + 1);
  // ali-oss's example: 10 GiB with 100 KiB parts -> 1 073 742 bytes.
  CHECK(mp::effective_part_size(10ull << 30, kib100) == 1073742);
  CHECK(mp::part_count(10ull << 30, 1073742) == 10000);
  CHECK(mp::effective_part_size(10000 * (5ull << 30), kib100) == (5ull << 30));
  CHECK(mp::effective_part_size(10000 * (5ull << 30) + 1, kib100) == 0);
  CHECK(mp::part_count(0, kib100) == 0);
  CHECK(mp::part_count(kib100, kib100) == 1);
  CHECK(mp::part_count(kib100 + 1, kib100) == 2);
  CHECK(mp::part_length(kib100 + 1, kib100, 2) == 1);
  CHECK(mp::part_length(kib100 + 1, kib100, 3) == 0);
}

TEST_CASE("multipart plan: a stream's parts grow so that 10000 of them hold 5 TiB, on boundaries fixed by the first size") {
  namespace mp = oss::detail::multipart;
  for (const std::uint64_t first : {kib100, std::uint64_t(1) << 20, std::uint64_t(8) << 20, std::uint64_t(64) << 20}) {
    CAPTURE(first);
    const std::uint32_t n = mp::stream_growth_interval(first);
    CHECK(mp::stream_capacity(first, n) >= mp::max_stream_bytes);
    if (n < mp::max_parts) CHECK(mp::stream_capacity(first, n + 1) < mp::max_stream_bytes);  // the longest that suffices
    CHECK(mp::stream_part_size(first, n, 1) == first);
    CHECK(mp::stream_part_size(first, n, static_cast<int>(n)) == first);
    CHECK(mp::stream_part_size(first, n, static_cast<int>(n) + 1) == std::min(2 * first, mp::max_part_size));
    std::uint64_t total = 0, previous = 0;
    for (int number = 1; number <= 10000; ++number) {
      const std::uint64_t size = mp::stream_part_size(first, n, number);
      CHECK(size >= previous);  // never shrinks
      CHECK(size <= mp::max_part_size);
      previous = size;
      total += size;
    }
    CHECK(total >= mp::max_stream_bytes);
  }
  // 100 KiB parts: 1200 MiB (the 10 000-part wall of fixed parts was at 976 MiB) fits in 2630.
  CHECK(mp::stream_growth_interval(kib100) == 608);
  std::uint64_t total = 0;
  int parts = 0;
  while (total < (std::uint64_t(1200) << 20)) total += mp::stream_part_size(kib100, 608, ++parts);
  CHECK(parts == 2630);
  // A first size that holds 5 TiB in 10 000 parts never grows.
  CHECK(mp::stream_growth_interval(mp::max_part_size) == mp::max_parts);
}

TEST_CASE("transfer budget: the shared virtual clock spaces bytes at the rate, with a 10 ms burst") {
  using oss::detail::transport::token_bucket;
  token_bucket limit(1'000'000);  // 1 MB/s
  CHECK(limit.slice() == 10'000);
  const auto first = limit.take(100'000);   // 100 ms of bytes, 10 ms of it credited
  const auto second = limit.take(100'000);  // queued behind the first
  CHECK(first >= std::chrono::milliseconds(80));
  CHECK(first <= std::chrono::milliseconds(91));
  CHECK(second - first >= std::chrono::milliseconds(95));
  CHECK(second - first <= std::chrono::milliseconds(101));
  // Slices: 10 ms worth, at least 4 KiB, at most 1 MiB.
  CHECK(token_bucket(1000).slice() == 4096);
  CHECK(token_bucket(std::uint64_t(1) << 40).slice() == std::size_t(1) << 20);
  // The public budget holds one limiter per direction that has a limit.
  oss::transfer_budget budget({.upload_bytes_per_second = 5 << 20});
  CHECK(budget.send_limit());
  CHECK(budget.send_limit()->rate() == 5 << 20);
  CHECK_FALSE(budget.receive_limit());
}

TEST_CASE("transfer budget: the shared allowance serves waiters in arrival order, and a cancelled wait takes nothing") {
  using oss::detail::shared_allowance;
  asio::io_context io;
  shared_allowance units(10);
  std::vector<std::string> order;
  // Every coroutine below holds what it got until told to give it back.
  auto holder = [&](std::string who, std::uint64_t n, bool* release) -> asio::awaitable<void> {
    const bool got = co_await units.acquire(n);
    order.push_back(who + (got ? "+" : "x"));
    if (!got) co_return;
    asio::steady_timer tick(io);
    while (!*release) {
      tick.expires_after(std::chrono::milliseconds(1));
      co_await tick.async_wait(asio::use_awaitable);
    }
    units.release(units.fit(n));
    order.push_back(who + "-");
  };
  bool release_a = false, release_b = false, release_c = false, release_d = false;
  asio::cancellation_signal cancel_b;
  asio::co_spawn(io, holder("a", 6, &release_a), asio::detached);
  asio::co_spawn(io, holder("b", 6, &release_b), asio::bind_cancellation_slot(cancel_b.slot(), asio::detached));
  // c fits beside a, but b came first: c waits behind b.
  asio::co_spawn(io, holder("c", 1, &release_c), asio::detached);
  // More than the capacity: served as all of it, alone.
  asio::co_spawn(io, holder("d", 50, &release_d), asio::detached);
  io.run_for(std::chrono::milliseconds(20));
  CHECK(order == std::vector<std::string>{"a+"});
  CHECK(units.in_use() == 6);
  cancel_b.emit(asio::cancellation_type::terminal);  // b leaves the queue; c fits now
  io.run_for(std::chrono::milliseconds(20));
  CHECK(order == std::vector<std::string>{"a+", "bx", "c+"});
  CHECK(units.in_use() == 7);
  release_a = true;
  release_c = true;
  io.run_for(std::chrono::milliseconds(50));
  REQUIRE(order.size() == 6);
  CHECK(order[5] == "d+");
  CHECK(units.in_use() == 10);
  release_d = true;
  io.run_for(std::chrono::milliseconds(20));
  CHECK(units.in_use() == 0);
  CHECK(units.peak() == 10);
  (void)release_b;
}

TEST_CASE("transfer budget: the shared allowance never gives out more than its capacity across threads") {
  using oss::detail::shared_allowance;
  shared_allowance units(8);
  asio::thread_pool pool(4);
  std::atomic<int> finished{0};
  std::atomic<std::uint64_t> held{0};
  std::atomic<bool> over{false};
  constexpr int takers = 16;
  // Outlives every coroutine it starts (they reach its captures through it).
  auto taker = [&](int t) -> asio::awaitable<void> {
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t n = 1 + static_cast<std::uint64_t>((t + i) % 4);
      if (!co_await units.acquire(n)) break;
      if (held.fetch_add(n) + n > 8) over = true;
      held.fetch_sub(n);
      units.release(n);
    }
    ++finished;
  };
  for (int t = 0; t < takers; ++t) asio::co_spawn(asio::make_strand(pool), taker(t), asio::detached);
  pool.join();
  CHECK(finished == takers);
  CHECK_FALSE(over);
  CHECK(units.in_use() == 0);
  CHECK(units.peak() <= 8);
}

TEST_CASE("multipart plan: digest_part gives the CRC-64 and MD5 of the whole part in one walk") {
  // Setup: more than one 256 KiB slice, and not a multiple of it.
  const std::string data = oss_test::random_bytes(3 * 256 * 1024 + 12345, 9);
  const auto* bytes = reinterpret_cast<const std::byte*>(data.data());
  // Run
  const oss::body_digests both = mp::digest_part(bytes, data.size(), true);
  const oss::body_digests crc_only = mp::digest_part(bytes, data.size(), false);
  const oss::body_digests empty = mp::digest_part(nullptr, 0, true);
  // Check
  CHECK(both.crc64 == crc_of(data));
  REQUIRE(both.md5);
  CHECK(*both.md5 == oss::detail::md5(data));
  CHECK(crc_only.crc64 == crc_of(data));
  CHECK_FALSE(crc_only.md5);
  CHECK(empty.crc64 == 0u);
  REQUIRE(empty.md5);
  CHECK(*empty.md5 == oss::detail::md5(""));
}

TEST_CASE("multipart plan: progress fraction stays below 1.0 until complete") {
  CHECK(mp::progress_fraction(0, 100) == 0.0);
  CHECK(mp::progress_fraction(50, 100) == 0.5);
  CHECK(mp::progress_fraction(100, 100) < 1.0);
  CHECK(mp::progress_fraction(99, 100) < mp::progress_fraction(100, 100));
  CHECK(mp::progress_fraction(1, 0) == 0.0);
}

TEST_CASE("multipart plan: reconcile trusts only parts the server holds as recorded") {
  // Setup
  oss::checkpoint cp;
  cp.version = 1;
  cp.part_size = kib100;
  cp.done_parts = {{1, "\"AA\"", kib100, 11}, {2, "\"BB\"", kib100, 22}, {3, "\"CC\"", kib100, 33},
                   {4, "\"DD\"", kib100, 44}, {5, "\"EE\"", 7, 55}};
  std::vector<oss::part_info> server = {
      {1, "\"aa\"", kib100, 11, ""},  // same ETag (case and quotes ignored), size, CRC
      {2, "\"XX\"", kib100, 22, ""},  // another ETag: re-uploaded by someone else
      {3, "\"CC\"", kib100, 99, ""},  // CRC differs
      // 4 missing on the server
      {5, "\"EE\"", 7, std::nullopt, ""},  // no server CRC: the recorded one is kept
  };
  auto expected = [](int n) -> std::uint64_t { return mp::part_length(4 * kib100 + 7, kib100, n); };
  // Run
  auto confirmed = mp::reconcile_parts(cp, server, kib100, expected);
  // Check
  REQUIRE(confirmed.size() == 2);
  CHECK(confirmed[0].number == 1);
  CHECK(confirmed[0].etag == "\"aa\"");
  CHECK(confirmed[0].crc64 == 11);
  CHECK(confirmed[1].number == 5);
  CHECK(confirmed[1].crc64 == 55);

  // An ali-oss checkpoint knows neither sizes nor CRCs: the server's CRC is required.
  cp.version = 0;
  for (auto& p : cp.done_parts) p.size = p.crc64 = 0;
  confirmed = mp::reconcile_parts(cp, server, kib100, expected);
  REQUIRE(confirmed.size() == 2);
  CHECK(confirmed[0].number == 1);
  CHECK(confirmed[0].size == kib100);
  CHECK(confirmed[1].number == 3);
  CHECK(confirmed[1].crc64 == 99);
}

TEST_CASE("multipart checkpoint: JSON round trip in design.md's format") {
  oss::checkpoint cp;
  cp.endpoint = "https://oss-cn-hangzhou.aliyuncs.com";
  cp.bucket = "b";
  cp.name = "videos/a.mp4";
  cp.file = "/data/a.mp4";
  cp.file_size = 734003200;
  cp.file_mtime_ns = 1732550400123456789;
  cp.part_size = 8388608;
  cp.upload_id = "0004B9895DBBB6EC98E36";
  cp.done_parts = {{1, "\"95714944FBE90D6B77FE6BA931A5A99E\"", 8388608, 11051210869376104954ull}};
  const std::string text = oss::checkpoint_to_json(cp);
  CHECK(text.find("\"crc64\":\"11051210869376104954\"") != std::string::npos);
  CHECK(text.find("\"fileMtimeNs\":1732550400123456789") != std::string::npos);
  CHECK(text.find("\"kind\":\"oss-multipart-upload\"") != std::string::npos);
  std::error_code ec;
  oss::checkpoint back = oss::checkpoint_from_json(text, ec);
  REQUIRE_FALSE(ec);
  CHECK(back.version == 1);
  CHECK(back.endpoint == cp.endpoint);
  CHECK(back.file_mtime_ns == cp.file_mtime_ns);
  CHECK(back.file_size == cp.file_size);
  REQUIRE(back.done_parts.size() == 1);
  CHECK(back.done_parts[0].crc64 == 11051210869376104954ull);
  CHECK(back.done_parts[0].etag == cp.done_parts[0].etag);

  // design.md's literal example parses too.
  const char* literal = R"({ "version": 1, "kind": "oss-multipart-upload",
  "endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "bucket": "b", "name": "videos/a.mp4",
  "file": "/data/a.mp4", "fileSize": 734003200, "fileMtimeNs": 1732550400123456789,
  "partSize": 8388608, "uploadId": "0004B9895DBBB6EC98E36",
  "doneParts": [ { "number": 1, "etag": "\"95714944FBE90D6B77FE6BA931A5A99E\"",
                   "size": 8388608, "crc64": "11051210869376104954" } ] })";
  back = oss::checkpoint_from_json(literal, ec);
  CHECK_FALSE(ec);
  CHECK(back.upload_id == "0004B9895DBBB6EC98E36");
}

TEST_CASE("multipart checkpoint: ali-oss checkpoints load as version 0; bad ones are corrupt") {
  std::error_code ec;
  oss::checkpoint ali = oss::checkpoint_from_json(
      R"({"file":"/path/to/local/file","name":"object/key","fileSize":1048576,"partSize":102400,
          "uploadId":"0004B9895DBBB6EC98E36",
          "doneParts":[{"number":2,"etag":"\"849C42FDDB411EC43F6580CC6BA056CD\""},
                       {"number":1,"etag":"\"95714944FBE90D6B77FE6BA931A5A99E\""}]})",
      ec);
  REQUIRE_FALSE(ec);
  CHECK(ali.version == 0);
  CHECK(ali.part_size == 102400);
  CHECK(ali.done_parts.size() == 2);

  const char* bad[] = {
      "{not json",
      "[1,2]",
      R"({"version":2,"kind":"oss-multipart-upload"})",
      R"({"version":1,"kind":"something-else"})",
      R"({"version":1,"kind":"oss-multipart-upload","endpoint":"e","bucket":"b","name":"n","file":"",
          "fileSize":"10","fileMtimeNs":0,"partSize":102400,"uploadId":"u","doneParts":[]})",
      R"({"version":1,"kind":"oss-multipart-upload","endpoint":"e","bucket":"b","name":"n","file":"",
          "fileSize":10,"fileMtimeNs":0,"partSize":102400,"uploadId":"u",
          "doneParts":[{"number":1,"etag":"x","size":1,"crc64":12}]})",
      R"({"version":1,"kind":"oss-multipart-upload","endpoint":"e","bucket":"b","name":"n","file":"",
          "fileSize":10,"fileMtimeNs":0,"partSize":102400,"uploadId":"u",
          "doneParts":[{"number":10001,"etag":"x","size":1,"crc64":"12"}]})",
      R"({"file":"/f","name":"n","fileSize":-1,"partSize":102400,"uploadId":"u","doneParts":[]})",
      R"({"file":{"uid":"rc-upload-1"},"name":"n","fileSize":1,"partSize":102400,"uploadId":"u","doneParts":[]})",
      R"({"file":"/f","name":"n","fileSize":1,"partSize":102400,"doneParts":[]})",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    oss::checkpoint_from_json(text, ec);
    CHECK(ec == oss::client_errc::checkpoint_corrupt);
  }
}

TEST_CASE("multipart checkpoint: save is atomic, mode 0600, and load reports a missing file") {
  oss_test::temp_dir dir;
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:1";
  cp.bucket = "b";
  cp.name = "n";
  cp.part_size = kib100;
  cp.upload_id = "u1";
  const auto path = dir / "a.ckpt";
  std::error_code ec;
  oss::save_checkpoint(path, cp, ec);
  REQUIRE_FALSE(ec);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  cp.upload_id = "u2";
  oss::save_checkpoint(path, cp, ec);
  REQUIRE_FALSE(ec);
  CHECK(oss::load_checkpoint(path).upload_id == "u2");
  // Only the checkpoint is left in the folder: no temporary files.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
  oss::load_checkpoint(dir / "missing.ckpt", ec);
  CHECK(ec == std::errc::no_such_file_or_directory);
  oss::save_checkpoint(dir / "no-such-folder" / "x.ckpt", cp, ec);
  CHECK(ec);
  CHECK_THROWS_AS(oss::load_checkpoint(dir / "missing.ckpt"), oss::error);
}

namespace {

// A checkpoint of upload "u1" with part 1, for the journal and save tests.
oss::checkpoint journal_base() {
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:1";
  cp.bucket = "b";
  cp.name = "n";
  cp.part_size = kib100;
  cp.upload_id = "u1";
  cp.done_parts = {{1, "\"AA\"", kib100, 11}};
  return cp;
}

}  // namespace

TEST_CASE("multipart checkpoint journal: appended parts load with the JSON; compaction folds them in") {
  // Setup: the JSON with part 1, then parts 2 and 3 appended (part 1 again, re-sent)
  oss_test::temp_dir dir;
  const auto path = dir / "j.ckpt";
  const oss::checkpoint base = journal_base();
  oss::detail::checkpoint_journal journal(path);
  std::error_code ec;
  journal.compact(oss::checkpoint_to_json(base), base.upload_id, ec);
  REQUIRE_FALSE(ec);
  const std::string records = oss::detail::journal_record({2, "\"BB\"", kib100, 22}) +
                              oss::detail::journal_record({3, "\"CC\"", 5, 18446744073709551615ull}) +
                              oss::detail::journal_record({1, "\"A2\"", kib100, 12});

  // Run
  journal.append(records, 3, ec);
  REQUIRE_FALSE(ec);
  const oss::checkpoint loaded = oss::load_checkpoint(path);

  // Check: the JSON file alone still holds part 1 only; loading adds the journal's records
  CHECK(oss::checkpoint_from_json(oss_test::read_file(path), ec).done_parts.size() == 1);
  CHECK(journal.records() == 3);
  REQUIRE(loaded.done_parts.size() == 3);
  CHECK(loaded.done_parts[0].etag == "\"A2\"");
  CHECK(loaded.done_parts[0].crc64 == 12);
  CHECK(loaded.done_parts[1].number == 2);
  CHECK(loaded.done_parts[2].crc64 == 18446744073709551615ull);
  CHECK(loaded.done_parts[2].size == 5);

  // Run: compaction writes the whole state as JSON and empties the journal
  journal.compact(oss::checkpoint_to_json(loaded), loaded.upload_id, ec);
  REQUIRE_FALSE(ec);

  // Check
  CHECK(journal.records() == 0);
  CHECK(oss_test::read_file(oss::detail::journal_path_of(path)) == oss::detail::journal_header("u1"));
  CHECK(oss::checkpoint_from_json(oss_test::read_file(path), ec).done_parts.size() == 3);
  CHECK(oss::load_checkpoint(path).done_parts.size() == 3);
  // save_checkpoint writes a whole state: the journal beside it goes
  oss::save_checkpoint(path, base);
  CHECK_FALSE(std::filesystem::exists(oss::detail::journal_path_of(path)));
  CHECK(oss::load_checkpoint(path).done_parts.size() == 1);
}

namespace {

// Records parts first..last in `cp` and in `writes`, as a transfer does when they finish.
void record_parts(oss::checkpoint& cp, oss::detail::checkpoint_writes& writes, int first, int last) {
  for (int n = first; n <= last; ++n) {
    const oss::part_record rec{n, "\"E" + std::to_string(n) + "\"", kib100, static_cast<std::uint64_t>(n)};
    cp.done_parts.push_back(rec);
    writes.recorded(rec);
  }
}

// One write, carried out at once (a transfer runs perform() on its blocking work).
bool write_now(oss::detail::checkpoint_writes& writes, const oss::checkpoint& cp, bool compact = false) {
  auto w = writes.begin(cp, compact);
  std::error_code ec;
  w.perform(ec);
  writes.end(w, ec);
  return !ec;
}

}  // namespace

TEST_CASE("checkpoint writes: parts are appended until the journal is as long as the JSON's part list, then the JSON is rewritten") {
  // Setup: an upload whose checkpoint has part 1; its first write is the whole JSON
  oss_test::temp_dir dir;
  const auto path = dir / "w.ckpt";
  oss::checkpoint cp = journal_base();
  oss::detail::checkpoint_writes writes(path);
  writes.changed();
  REQUIRE(write_now(writes, cp));
  REQUIRE(writes.holds(writes.version()));
  CHECK_FALSE(writes.unfolded());
  const auto journal_lines = [&] {
    const std::string text = oss_test::read_file(oss::detail::journal_path_of(path));
    return std::count(text.begin(), text.end(), '\n') - 1;  // less the header
  };
  const auto json_parts = [&] {
    std::error_code ec;
    return oss::checkpoint_from_json(oss_test::read_file(path), ec).done_parts.size();
  };

  // Run: 10 parts finish; they go to the journal, the JSON keeps its one part
  record_parts(cp, writes, 2, 11);
  CHECK_FALSE(writes.holds(writes.version()));
  REQUIRE(write_now(writes, cp));

  // Check
  CHECK(writes.holds(writes.version()));
  CHECK(json_parts() == 1);
  CHECK(journal_lines() == 10);
  CHECK(oss::load_checkpoint(path).done_parts.size() == 11);
  CHECK(writes.unfolded());  // lines a final compaction would fold in

  // Run: 289 more make the journal longer than 256 lines (and than the JSON's list): the JSON
  // is rewritten with all 300 parts and the journal restarts
  record_parts(cp, writes, 12, 300);
  REQUIRE(write_now(writes, cp));

  // Check
  CHECK(json_parts() == 300);
  CHECK(journal_lines() == 0);

  // Run: 250 lines stay under the JSON's 300 parts: appended; 70 more pass it: rewritten.
  // So the bytes written grow with the parts, not with their square.
  record_parts(cp, writes, 301, 550);
  REQUIRE(write_now(writes, cp));
  CHECK(json_parts() == 300);
  CHECK(journal_lines() == 250);
  record_parts(cp, writes, 551, 620);
  REQUIRE(write_now(writes, cp));

  // Check
  CHECK(json_parts() == 620);
  CHECK(journal_lines() == 0);
  CHECK(oss::load_checkpoint(path).done_parts.size() == 620);
  CHECK_FALSE(writes.unfolded());
}

TEST_CASE("checkpoint writes: a write covers the changes made before it began; a change the journal cannot say, or a final compaction, rewrites the JSON; a failed write is final") {
  // Setup
  oss_test::temp_dir dir;
  const auto path = dir / "v.ckpt";
  oss::checkpoint cp = journal_base();
  oss::detail::checkpoint_writes writes(path);
  writes.changed();
  REQUIRE(write_now(writes, cp));

  // Run: part 2 finishes, a write begins, part 3 finishes while it runs
  record_parts(cp, writes, 2, 2);
  const std::uint64_t before = writes.version();
  auto w = writes.begin(cp, false);
  CHECK(writes.writing());
  record_parts(cp, writes, 3, 3);
  std::error_code ec;
  w.perform(ec);
  writes.end(w, ec);

  // Check: the file holds part 2's version, not part 3's, which the next write takes
  REQUIRE_FALSE(ec);
  CHECK_FALSE(writes.writing());
  CHECK(writes.holds(before));
  CHECK_FALSE(writes.holds(writes.version()));
  CHECK(oss::load_checkpoint(path).done_parts.size() == 2);
  REQUIRE(write_now(writes, cp));
  CHECK(oss::load_checkpoint(path).done_parts.size() == 3);

  // Run: parts dropped (a resume check refused them) cannot be a journal line
  cp.done_parts.resize(1);
  writes.changed();
  REQUIRE(write_now(writes, cp));

  // Check
  CHECK(oss::load_checkpoint(path).done_parts.size() == 1);
  CHECK(oss_test::read_file(oss::detail::journal_path_of(path)) == oss::detail::journal_header("u1"));

  // Run: a final compaction folds the journal in; then a write that fails
  record_parts(cp, writes, 2, 4);
  REQUIRE(write_now(writes, cp));
  REQUIRE(writes.unfolded());
  REQUIRE(write_now(writes, cp, true));
  CHECK_FALSE(writes.unfolded());
  std::error_code read_ec;
  CHECK(oss::checkpoint_from_json(oss_test::read_file(path), read_ec).done_parts.size() == 4);
  record_parts(cp, writes, 5, 5);
  auto failing = writes.begin(cp, false);
  writes.end(failing, std::make_error_code(std::errc::no_space_on_device));

  // Check
  CHECK(writes.failed());
  CHECK_FALSE(writes.holds(writes.version()));
}

TEST_CASE("download checkpoint: its kind round-trips with the pinned ETag and CRC-64, and its journal replays by that ETag") {
  // Setup: a download pinned at an ETag, one range in the JSON, one in the journal
  oss_test::temp_dir dir;
  const auto path = dir / "d.ckpt";
  oss::checkpoint cp;
  cp.kind = std::string(oss::download_checkpoint_kind);
  cp.endpoint = "http://127.0.0.1:9000";
  cp.bucket = "b";
  cp.name = "videos/a.mp4";
  cp.file = "/data/a.mp4";
  cp.file_size = 3 * kib100;
  cp.part_size = kib100;
  cp.object_etag = "\"D0\"";
  cp.object_crc64 = 18446744073709551615ull;
  cp.done_parts.push_back({1, "", kib100, 7});
  oss::detail::checkpoint_journal journal(path);
  std::error_code ec;
  CHECK(oss::detail::journal_id(cp) == cp.object_etag);
  journal.compact(oss::checkpoint_to_json(cp), oss::detail::journal_id(cp), ec);
  REQUIRE_FALSE(ec);
  journal.append(oss::detail::journal_record({3, "", kib100, 9}), 1, ec);
  REQUIRE_FALSE(ec);

  // Run
  const oss::checkpoint loaded = oss::load_checkpoint(path);

  // Check
  CHECK(loaded.kind == oss::download_checkpoint_kind);
  CHECK(loaded.object_etag == cp.object_etag);
  CHECK(loaded.object_crc64 == cp.object_crc64);
  CHECK(loaded.upload_id.empty());
  REQUIRE(loaded.done_parts.size() == 2);
  CHECK(loaded.done_parts[1].number == 3);
  CHECK(loaded.done_parts[1].etag.empty());
  // No CRC-64 announced: the field stays out, and comes back empty.
  cp.object_crc64.reset();
  CHECK(oss::checkpoint_to_json(cp).find("objectCrc64") == std::string::npos);
  CHECK_FALSE(oss::checkpoint_from_json(oss::checkpoint_to_json(cp), ec).object_crc64);
  // A download checkpoint without its ETag is corrupt.
  std::string no_etag = oss::checkpoint_to_json(cp);
  no_etag.replace(no_etag.find("\"objectEtag\""), 12, "\"objectEtaX\"");
  oss::checkpoint_from_json(no_etag, ec);
  CHECK(ec == oss::client_errc::checkpoint_corrupt);
}

TEST_CASE("checkpoint: a share's first part number round-trips; a whole upload writes none; out of range is corrupt") {
  oss::checkpoint cp = journal_base();
  std::error_code ec;
  CHECK(oss::checkpoint_to_json(cp).find("shareFirstPart") == std::string::npos);
  CHECK(oss::checkpoint_from_json(oss::checkpoint_to_json(cp), ec).share_first_part == 0);
  REQUIRE_FALSE(ec);
  cp.share_first_part = 2501;
  const std::string text = oss::checkpoint_to_json(cp);
  CHECK(oss::checkpoint_from_json(text, ec).share_first_part == 2501);
  REQUIRE_FALSE(ec);
  std::string outside = text;
  outside.replace(outside.find("2501"), 4, "10001");
  oss::checkpoint_from_json(outside, ec);
  CHECK(ec == oss::client_errc::checkpoint_corrupt);
}

TEST_CASE("multipart checkpoint journal: a record torn at any byte is ignored, never an error") {
  // Setup: a journal of two records; the second is cut at every length (a crash mid-append),
  // or has one byte changed (a damaged block)
  oss::checkpoint base = journal_base();
  const std::string header = oss::detail::journal_header("u1");
  const std::string first = oss::detail::journal_record({2, "\"BB\"", kib100, 22});
  const std::string second = oss::detail::journal_record({3, "\"CC\"", kib100, 33});

  for (std::size_t cut = 0; cut <= second.size(); ++cut) {
    CAPTURE(cut);
    oss::checkpoint cp = base;
    // Run
    const std::size_t applied = oss::detail::replay_journal(header + first + second.substr(0, cut), cp);
    // Check
    CHECK(applied == (cut == second.size() ? 2u : 1u));
    CHECK(cp.done_parts.size() == applied + 1);
  }
  for (std::size_t at = 0; at + 1 < second.size(); ++at) {
    CAPTURE(at);
    std::string damaged = second;
    damaged[at] = damaged[at] == '7' ? '8' : '7';
    oss::checkpoint cp = base;
    oss::detail::replay_journal(header + first + damaged, cp);
    const bool kept_third = cp.done_parts.size() == 3;
    // A changed byte may only leave the record intact when it was not a byte of it at all.
    CHECK((!kept_third || damaged == second));
  }
  // A journal of another upload (a crash between a new JSON and its journal) is ignored, and so
  // is one beside an intent or an ali-oss checkpoint
  oss::checkpoint other = base;
  other.upload_id = "u2";
  CHECK(oss::detail::replay_journal(header + first, other) == 0);
  oss::checkpoint intent = base;
  intent.upload_id.clear();
  intent.done_parts.clear();
  intent.state = oss::checkpoint_state::initiating;
  CHECK(oss::detail::replay_journal(oss::detail::journal_header("") + first, intent) == 0);
  oss::checkpoint alioss = base;
  alioss.version = 0;
  CHECK(oss::detail::replay_journal(header + first, alioss) == 0);
}

TEST_CASE("multipart checkpoint: an intent (state initiating) round-trips; malformed intents are corrupt") {
  // Setup
  oss::checkpoint cp;
  cp.endpoint = "http://127.0.0.1:1";
  cp.bucket = "b";
  cp.name = "videos/a.mp4";
  cp.part_size = kib100;
  cp.state = oss::checkpoint_state::initiating;
  cp.initiated_after = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764086400123));
  // Run
  const std::string text = oss::checkpoint_to_json(cp);
  std::error_code ec;
  const oss::checkpoint back = oss::checkpoint_from_json(text, ec);
  // Check
  REQUIRE_FALSE(ec);
  CHECK(text.find("\"state\":\"initiating\"") != std::string::npos);
  CHECK(text.find("\"initiatedAfter\":\"2025-11-25T16:00:00.123Z\"") != std::string::npos);
  CHECK(back.state == oss::checkpoint_state::initiating);
  CHECK(back.initiated_after == cp.initiated_after);
  CHECK(back.upload_id.empty());
  CHECK(oss::checkpoint_to_json(back) == text);
  // A checkpoint of an upload in progress writes no state, as before intents existed.
  cp.state = oss::checkpoint_state::uploading;
  cp.upload_id = "u";
  CHECK(oss::checkpoint_to_json(cp).find("state") == std::string::npos);

  const std::string head = R"({"version":1,"kind":"oss-multipart-upload","endpoint":"e","bucket":"b","name":"n",
      "file":"","fileSize":0,"fileMtimeNs":0,"partSize":102400,)";
  const std::string bad[] = {
      head + R"("uploadId":"","state":"initiating","doneParts":[]})",                                  // no time
      head + R"("uploadId":"","state":"initiating","initiatedAfter":"yesterday","doneParts":[]})",     // bad time
      head + R"("uploadId":"u","state":"initiating","initiatedAfter":"2025-11-25T16:00:00.123Z","doneParts":[]})",
      head + R"("uploadId":"","state":"initiating","initiatedAfter":"2025-11-25T16:00:00.123Z",
               "doneParts":[{"number":1,"etag":"x","size":1,"crc64":"1"}]})",
      head + R"("uploadId":"u","state":"paused","doneParts":[]})",
      head + R"("uploadId":"","doneParts":[]})",  // an upload in progress needs its id
  };
  for (const std::string& t : bad) {
    CAPTURE(t);
    oss::checkpoint_from_json(t, ec);
    CHECK(ec == oss::client_errc::checkpoint_corrupt);
  }
}

TEST_CASE("multipart plan: an intent stands for uploads of exactly its name initiated since (less the clock tolerance)") {
  // Setup
  using namespace std::chrono;
  const auto after = system_clock::time_point(milliseconds(1764086400000));  // 2025-11-25T16:00:00Z
  const std::vector<oss::upload_info> page = {
      {"a.bin", "u-before", "2025-11-25T15:59:00.000Z"},    // a minute earlier: another upload
      {"a.bin", "u-skew", "2025-11-25T15:59:50.000Z"},      // within the tolerance
      {"a.bin", "u-after", "2025-11-25T16:00:01.500Z"},
      {"a.bin", "u-undated", "not a date"},                 // cannot be dated: left alone
      {"a.bin.part2", "u-longer", "2025-11-25T16:00:02.000Z"},  // another key with that prefix
  };
  // Run
  const std::vector<std::string> ids = mp::intended_uploads(page, "a.bin", after);
  // Check
  CHECK(ids == std::vector<std::string>{"u-skew", "u-after"});
}

TEST_CASE("multipart plan: a resumed part is kept only when its bytes are the recorded ones and the server confirms them") {
  // Setup
  const std::string bytes = oss_test::random_bytes(1000, 3);
  const oss::detail::md5_digest md5 = oss::detail::md5(bytes);
  const std::string md5_etag = "\"" + oss::detail::hex_upper(md5.data(), md5.size()) + "\"";
  const oss::part_record rec{1, md5_etag, bytes.size(), crc_of(bytes)};
  const oss::part_record kms{1, "\"not-an-md5\"", bytes.size(), crc_of(bytes)};
  // Run, check
  CHECK(mp::etag_md5(md5_etag) == md5);
  CHECK(mp::etag_md5(oss::detail::hex_lower(md5.data(), md5.size())) == md5);
  CHECK_FALSE(mp::etag_md5("\"abc\""));
  CHECK_FALSE(mp::etag_md5(std::string(32, 'g')));
  CHECK(mp::judge_resumed_part(rec, true, crc_of(bytes), std::nullopt) == mp::resumed_part::keep_crc64);
  CHECK(mp::judge_resumed_part(rec, true, crc_of(bytes) ^ 1, std::nullopt) == mp::resumed_part::changed);
  CHECK(mp::judge_resumed_part(rec, false, crc_of(bytes), md5) == mp::resumed_part::keep_md5);
  oss::detail::md5_digest other = md5;
  other[0] ^= 1;
  CHECK(mp::judge_resumed_part(rec, false, crc_of(bytes), other) == mp::resumed_part::changed);
  CHECK(mp::judge_resumed_part(rec, false, crc_of(bytes), std::nullopt) == mp::resumed_part::keep_unconfirmed);
  CHECK(mp::judge_resumed_part(kms, false, crc_of(bytes), md5) == mp::resumed_part::keep_unconfirmed);
}

TEST_CASE("multipart checkpoint: a save killed at any system call leaves the old or the new checkpoint, whole") {
  // Setup: an old checkpoint on disk, and a larger new one to save over it. A child process
  // saves it under ptrace and is killed at its n-th system-call stop (entry or exit), for every
  // n until the save completes: that is a crash at every step of the save, without timing.
  oss_test::temp_dir dir;
  const auto path = dir / "torn.ckpt";
  const oss::checkpoint old_cp = journal_base();
  oss::checkpoint new_cp = old_cp;
  for (int n = 2; n <= 400; ++n) new_cp.done_parts.push_back({n, "\"BB\"", kib100, static_cast<std::uint64_t>(n)});
  const std::string old_text = oss::checkpoint_to_json(old_cp);
  const std::string new_text = oss::checkpoint_to_json(new_cp);

  // Run, check
  int steps = 0;
  bool completed = false;
  for (int stop_at = 1; stop_at <= 500 && !completed; ++stop_at) {
    CAPTURE(stop_at);
    oss::save_checkpoint(path, old_cp);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ::_exit(77);
      ::raise(SIGSTOP);
      std::error_code ec;
      oss::save_checkpoint(path, new_cp, ec);
      ::_exit(ec ? 1 : 0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) OSS_SKIP("ptrace is not permitted here");
    REQUIRE(WIFSTOPPED(status));
    REQUIRE(::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL) == 0);
    int seen = 0;
    int signal_to_pass = 0;
    for (;;) {
      REQUIRE(::ptrace(PTRACE_SYSCALL, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(signal_to_pass))) == 0);
      signal_to_pass = 0;
      REQUIRE(::waitpid(pid, &status, 0) == pid);
      if (WIFEXITED(status)) {
        CHECK(WEXITSTATUS(status) == 0);
        completed = true;
        break;
      }
      REQUIRE(WIFSTOPPED(status));
      if (WSTOPSIG(status) != (SIGTRAP | 0x80)) {
        signal_to_pass = WSTOPSIG(status);
        continue;
      }
      if (++seen == stop_at) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
    }
    steps = seen;
    const std::string on_disk = oss_test::read_file(path);
    CHECK((on_disk == old_text || on_disk == new_text));
    if (completed) CHECK(on_disk == new_text);
  }
  CHECK(completed);
  MESSAGE("checkpoint save: killed at each of " << steps << " system-call stops");
  CHECK(steps >= 10);  // the save did its work in system calls the kills could land between
}

