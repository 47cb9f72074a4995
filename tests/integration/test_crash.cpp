// Crash tests. Issue 4, item 4: a child oss-upload uploading a 256 MiB file with --checkpoint
// to a local server in this process is SIGKILLed at 20 random moments, chosen as seeded random
// thresholds of the server's parts_uploaded and bytes_received counters. Every restart resumes
// from the checkpoint; the final object is byte-identical to the file, and the bytes sent twice
// stay within what a kill can lose: per worker, its part in flight and its parts not yet durable
// (a restart from scratch each time would send about ten times the file again).
// Reproduce a run with OSS_CRASH_SEED=<the printed seed>. Issue 12: a checkpoint another process
// uses is locked, and the lock of a killed process does not outlive it.
#include <oss/client.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../support/fault_env.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"

using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t file_size = 256ull << 20;
constexpr std::uint64_t part_size = 1ull << 20;
constexpr std::uint64_t parallel = 4;
constexpr int kills = 20;
constexpr auto total_limit = 90s;  // the whole test, all runs together

std::uint64_t crash_seed() {
  if (const char* s = std::getenv("OSS_CRASH_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

// When to kill: a counter of the server and the value it must reach.
struct kill_point {
  bool by_parts = true;  // parts_uploaded, else bytes_received
  std::uint64_t threshold = 0;
};

// Sorted random fractions of the upload below 90 %, so each is reached before the upload can
// finish (the counters include re-sent data, so they run ahead of real progress).
std::vector<kill_point> kill_plan(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> fraction(0.0, 0.9);
  std::vector<double> f(kills);
  for (auto& x : f) x = fraction(rng);
  std::sort(f.begin(), f.end());
  std::vector<kill_point> plan;
  const std::uint64_t parts = file_size / part_size;
  for (double x : f) {
    kill_point k;
    k.by_parts = (rng() & 1) != 0;
    k.threshold = k.by_parts ? static_cast<std::uint64_t>(x * static_cast<double>(parts)) + 1
                             : static_cast<std::uint64_t>(x * static_cast<double>(file_size)) + 1;
    plan.push_back(k);
  }
  return plan;
}

}  // namespace

TEST_CASE("crash: oss-upload SIGKILLed 20 times resumes every time and the object is intact") {
  const auto tool = oss_test::tool_path("oss-upload");
  if (!std::filesystem::exists(tool)) {
    OSS_SKIP(tool.string() << " not found");
  }
  // Setup
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + total_limit;
  oss_test::fault_env env(2, 3 * file_size);
  const std::string source = oss_test::random_bytes(file_size, 4242);
  const auto file = env.files / "big.bin";
  oss_test::write_file(file, source);
  const std::uint64_t source_crc = oss_test::fault_crc(source);
  const auto checkpoint = env.files / "big.ckpt";
  const std::uint64_t seed = crash_seed();
  const auto plan = kill_plan(seed);
  MESSAGE("crash test seed " << seed << " (OSS_CRASH_SEED reproduces it)");

  const std::vector<std::string> args = {tool.string(), "--quiet", "--path-style", "--parallel",
                                         std::to_string(parallel), "--part-size", std::to_string(part_size),
                                         "--checkpoint", checkpoint.string(), file.string(), "crash/big.bin"};
  const std::vector<std::string> environment = {
      "OSS_ENDPOINT=" + env.server.endpoint(), "OSS_REGION=cn-local",
      std::string("OSS_BUCKET=") + oss_test::fault_bucket, std::string("OSS_ACCESS_KEY_ID=") + oss_test::fault_key_id,
      std::string("OSS_ACCESS_KEY_SECRET=") + oss_test::fault_secret};

  // Run: one child per kill point, killed once the server's counter reaches the threshold.
  int killed = 0;
  int finished_early = 0;
  std::vector<std::string> moments;
  for (const auto& k : plan) {
    oss_test::child_process child(args, environment);
    bool reached = false;
    // Woken by the server's counters; the 5 ms bound is only how often the child is looked at.
    const auto moment_reached = [&](const oss::testing::local_server_stats& s) {
      return (k.by_parts ? s.parts_uploaded : s.bytes_received) >= k.threshold;
    };
    while (std::chrono::steady_clock::now() < deadline) {
      if (env.server.wait_for(moment_reached, 5ms)) {
        reached = true;
        break;
      }
      if (child.exited()) break;
      child.pump(0);
    }
    if (!reached) {
      ++finished_early;  // the upload ended (or the time ran out) before this threshold
      break;
    }
    child.signal(SIGKILL);
    child.wait();
    REQUIRE(child.killed_by_signal());
    ++killed;
    const auto s = env.server.stats();
    moments.push_back((k.by_parts ? "parts>=" : "bytes>=") + std::to_string(k.threshold) + " (at " +
                      std::to_string(s.parts_uploaded) + " parts, " + std::to_string(s.bytes_received >> 20) + " MiB)");
  }
  for (std::size_t i = 0; i < moments.size(); ++i) MESSAGE("kill " << i + 1 << ": " << moments[i]);

  // The last run: no kill; it resumes and completes.
  oss_test::child_process last(args, environment);
  while (!last.exited() && std::chrono::steady_clock::now() < deadline) last.pump(20);
  if (!last.exited()) last.signal(SIGKILL);
  const int exit_code = last.wait();
  while (last.pump(0)) {
  }
  const auto stats = env.server.stats();

  // Check
  CHECK(finished_early == 0);
  CHECK(killed == kills);
  REQUIRE(exit_code == 0);
  const std::string out = last.out();
  const auto line_start = out.rfind('\n', out.size() >= 2 ? out.size() - 2 : 0);
  const std::string json_line = out.substr(line_start == std::string::npos ? 0 : line_start + 1);
  auto result = boost::json::parse(json_line).as_object();
  CHECK(result.at("crc64").as_string() == std::to_string(source_crc));
  CHECK(result.at("size").to_number<std::uint64_t>() == file_size);
  CHECK(!std::filesystem::exists(checkpoint));

  asio::io_context io;
  auto o = env.options();
  o.max_get_object_size = file_size + 1;
  o.stall_timeout = 30s;
  oss::client client(io.get_executor(), o);
  oss::object_meta meta;
  std::string stored;
  auto read_back = [&]() -> asio::awaitable<void> {
    meta = co_await client.head("crash/big.bin");
    stored = co_await client.get_object("crash/big.bin");
  };
  oss_test::fault_run(io, read_back, 60s);
  CHECK(meta.size == file_size);
  CHECK(meta.crc64 == std::optional<std::uint64_t>(source_crc));
  CHECK(stored.size() == source.size());
  CHECK(stored == source);

  // bytes_received also holds the Complete bodies (a few KiB), which only makes this stricter.
  const std::uint64_t twice = stats.bytes_received > file_size ? stats.bytes_received - file_size : 0;
  // A kill loses, per worker, the part in flight and the parts sent but not yet durable in the
  // checkpoint (group commit: at most undurable_parts_max per worker, gathered for up to
  // commit_gather_time before one fdatasync); each is sent again by the next run.
  const std::uint64_t bound = static_cast<std::uint64_t>(killed) * parallel *
                              (1 + oss::detail::multipart::undurable_parts_max) * part_size;
  const auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  MESSAGE("crash test: " << killed << " kills survived, " << stats.parts_uploaded << " parts stored for "
                         << file_size / part_size << ", " << twice << " bytes sent twice (bound " << bound << "), "
                         << stats.initiate_multipart_upload << " initiates, " << seconds.count() << " ms");
  CHECK(twice <= bound);
}

TEST_CASE("crash: a checkpoint in use by another process is locked; a killed run's lock dies with it") {
  const auto tool = oss_test::tool_path("oss-upload");
  if (!std::filesystem::exists(tool)) OSS_SKIP(tool.string() << " not found");
  // Setup: a child oss-upload whose parts each take 300 ms at the server, so that it is in the
  // middle of its upload for seconds; a second server counts what the locked-out run sends.
  oss_test::fault_env env(2);
  oss_test::fault_env other(1);
  const std::string source = oss_test::random_bytes(20 * 100 * 1024 + 17, 4343);
  const auto file = env.files / "locked.bin";
  oss_test::write_file(file, source);
  const auto checkpoint = env.files / "locked.ckpt";
  oss::testing::fault_rule slow;
  slow.operation = "UploadPart";
  slow.action = oss::testing::fault_action::delay;
  slow.duration = 300ms;
  slow.times = 0;
  env.server.set_fault_plan({slow});
  const std::vector<std::string> args = {tool.string(), "--quiet", "--path-style", "--parallel", "1",
                                         "--part-size", "102400", "--checkpoint", checkpoint.string(),
                                         file.string(), "locked/object.bin"};
  const std::vector<std::string> environment = {
      "OSS_ENDPOINT=" + env.server.endpoint(), "OSS_REGION=cn-local",
      std::string("OSS_BUCKET=") + oss_test::fault_bucket, std::string("OSS_ACCESS_KEY_ID=") + oss_test::fault_key_id,
      std::string("OSS_ACCESS_KEY_SECRET=") + oss_test::fault_secret};
  oss_test::child_process child(args, environment);
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  const auto part_sent = [](const oss::testing::local_server_stats& s) { return s.upload_part >= 1; };
  while (!env.server.wait_for(part_sent, 5ms) && !child.exited() && std::chrono::steady_clock::now() < deadline)
    child.pump(0);
  REQUIRE_FALSE(child.exited());

  // Run: the same checkpoint from this process, while the child uploads.
  asio::io_context io;
  oss::client locked_out(io.get_executor(), other.options());
  const oss::upload_options opts{.parallel = 2, .part_size = 100 * 1024, .checkpoint = checkpoint};
  std::error_code got;
  oss::diagnostics diag;
  auto second = [&]() -> asio::awaitable<void> {
    auto [ec, r] = co_await oss::async_multipart_upload(locked_out, "locked/object.bin", file, opts, diag,
                                                        asio::experimental::as_tuple(asio::use_awaitable));
    got = ec;
  };
  oss_test::fault_run(io, second, 30s);
  CHECK(got == oss::client_errc::checkpoint_locked);
  CHECK(other.server.stats().requests == 0);

  // The child dies; its lock goes with it, and this process resumes its upload.
  child.signal(SIGKILL);
  child.wait();
  REQUIRE(child.killed_by_signal());
  env.server.clear_fault_plan();
  oss::client c(io.get_executor(), env.options());
  oss::upload_result r;
  std::string stored;
  auto resume = [&]() -> asio::awaitable<void> {
    r = co_await oss::multipart_upload(c, "locked/object.bin", file, opts);
    stored = co_await c.get_object("locked/object.bin");
  };
  oss_test::fault_run(io, resume, 60s);

  // Check
  CHECK(r.resumed);
  CHECK(stored == source);
  CHECK_FALSE(std::filesystem::exists(checkpoint));
}
