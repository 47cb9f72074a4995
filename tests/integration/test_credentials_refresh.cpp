// Credentials that expire during an upload (issue 4 item 6), over real sockets: a multipart
// upload of many parts while the server's accepted STS credentials are rotated three times and
// a fake clock moves each token into its refresh window; requests refused for stale
// credentials are repeated once with fresh ones; parallel parts share one refresh per expiry,
// also on a multi-threaded io_context.
#include <oss/client.hpp>
#include <oss/credentials.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../support/temp_dir.hpp"
#include "../support/run_coro.hpp"

using namespace std::chrono_literals;
using oss::testing::fault_action;
using oss::testing::fault_rule;

namespace {

constexpr const char* refresh_bucket = "refresh-bucket";

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

struct fake_clock {
  std::atomic<std::int64_t> seconds{1'750'000'000};
  std::chrono::system_clock::time_point now() const {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds.load()));
  }
  void advance(std::chrono::seconds s) { seconds += s.count(); }
};

// An STS stand-in: generation N of the credentials is ("sts-ak-N", "sts-sk-N", "sts-token-N"),
// valid for an hour from the moment it is handed out (on the fake clock).
struct sts_source {
  explicit sts_source(fake_clock& c) : clock(c) {}

  fake_clock& clock;
  std::atomic<int> current{1};
  std::atomic<int> calls{0};
  // Held while a rotation happens, so that a fetch sees either the old world or the new one.
  std::mutex rotation;

  static oss::credentials generation(int n) {
    const std::string s = std::to_string(n);
    return {"sts-ak-" + s, "sts-sk-" + s, "sts-token-" + s};
  }

  oss::expiring_credentials fetch() {
    std::lock_guard lock(rotation);
    ++calls;
    oss::expiring_credentials r;
    r.creds = generation(current.load());
    r.expiration = clock.now() + 1h;
    return r;
  }
};

struct refresh_env {
  oss_test::temp_dir store;
  oss::testing::local_server_thread server;
  fake_clock clock;
  sts_source sts{clock};

  refresh_env()
      : server(
            [&] {
              oss::testing::local_server_options o;
              o.root = store.path().string();
              const oss::credentials first = sts_source::generation(1);
              o.access_key_id = first.access_key_id;
              o.access_key_secret = first.access_key_secret;
              o.security_token = first.security_token;
              return o;
            }(),
            2) {}

  // The identity provider issues generation n, the server accepts only that from now on, and
  // the clock moves by `later`: one step as far as a fetch can tell.
  void rotate_to(int n, std::chrono::seconds later = 0s) {
    std::lock_guard lock(sts.rotation);
    sts.current = n;
    const oss::credentials c = sts_source::generation(n);
    server.set_credentials(c.access_key_id, c.access_key_secret, c.security_token);
    clock.advance(later);
  }

  oss::client_options options() {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = refresh_bucket;
    o.address_style = oss::addressing_style::path_style;
    o.creds_provider = oss::make_callback_credentials_provider([this] { return sts.fetch(); });
    o.creds_refresh_margin = 300s;
    o.clock.now = [this] { return clock.now(); };
    o.clock.sleep = [](std::chrono::milliseconds) -> asio::awaitable<void> { co_return; };
    o.connect_timeout = 5000ms;
    o.stall_timeout = 10000ms;
    return o;
  }
};

// Runs `fn` on `threads` threads of `io` until it finishes (bounded); rethrows its exception.
template <typename Fn>
void run_on_threads(asio::io_context& io, Fn fn, unsigned threads, std::chrono::seconds limit = 60s) {
  std::atomic<bool> done{false};
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(fn), [&](std::exception_ptr e) {
    failure = e;
    done = true;
    io.stop();
  });
  io.restart();
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { io.run_for(limit); });
  io.run_for(limit);
  for (auto& t : pool) t.join();
  REQUIRE_MESSAGE(done, "watchdog: the coroutine did not finish in time");
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

TEST_CASE("credentials refresh: a long upload survives three credential rotations") {
  // Setup: 30 parts of 100 KiB, 5 in flight, on 3 threads. After parts 6, 14 and 22 the STS
  // stand-in issues a new generation, the server accepts only that one, and the fake clock
  // moves the current token into its refresh window (5 min before its hour is up).
  refresh_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(102'400 * 30, 77);
  std::mutex rotate_mutex;
  int rotations = 0;
  oss::upload_options opts;
  opts.parallel = 5;
  opts.part_size = 102'400;
  opts.progress = [&](const oss::progress_event& e) {
    if (e.stage != oss::progress_stage::part_done) return;
    std::lock_guard lock(rotate_mutex);
    if (e.parts_done == 6 || e.parts_done == 14 || e.parts_done == 22) {
      ++rotations;
      env.rotate_to(rotations + 1, 1h - 60s);
    }
  };

  // Run
  oss::upload_result result;
  run_on_threads(io, [&]() -> asio::awaitable<void> {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data.data()), data.size());
    result = co_await oss::multipart_upload(client, "rotated.bin", bytes, opts);
  }, 3);

  // Check: the object is whole, and the provider was asked once per generation: the first
  // fetch plus one per rotation, however many parts were in flight.
  CHECK(rotations == 3);
  CHECK(result.size == data.size());
  CHECK(result.crc64 == crc_of(data));
  CHECK(result.parts == 30);
  CHECK(env.sts.calls == 4);
  const auto n = client.counters();
  CHECK(n.credential_refreshes == 4);
  // Parts in flight during a rotation were refused once and repeated; nothing else was lost.
  const auto st = env.server.stats();
  CHECK(st.upload_part == 30 + n.credential_retries);
  CHECK(n.retries_denied == 0);
  std::string back;
  run_on_threads(io, [&]() -> asio::awaitable<void> { back = co_await client.get_object("rotated.bin"); }, 1);
  CHECK(back == data);
  MESSAGE("parts repeated after a refusal: " << n.credential_retries);
}

TEST_CASE("credentials refresh: parallel parts refused for stale credentials share one refresh") {
  // Setup: the client holds generation 1; then the keys are rotated before they expire, so the
  // clock says nothing and only the server's refusal tells.
  refresh_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string part(102'400, 'p');
  std::string upload_id;
  run_on_threads(io, [&]() -> asio::awaitable<void> { upload_id = co_await client.initiate_multipart_upload("stale.bin"); }, 1);
  REQUIRE(env.sts.calls == 1);
  env.rotate_to(2);
  env.server.reset_stats();
  constexpr int parallel = 8;

  // Run: 8 parts at once on 4 threads; those signed with generation 1 are refused
  // (InvalidAccessKeyId).
  std::atomic<int> ok{0};
  run_on_threads(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    // A wait group: each part reports here when it ends.
    asio::experimental::concurrent_channel<void(std::error_code, int)> finished(ex, parallel);
    std::vector<std::error_code> codes(parallel);
    for (int i = 0; i < parallel; ++i) {
      auto one = [&, i]() -> asio::awaitable<void> {
        oss::diagnostics diag;
        std::error_code ec;
        std::tie(ec, std::ignore) = co_await client.async_upload_part("stale.bin", upload_id, i + 1, asio::buffer(part),
                                                                      false, diag, oss_test::tuple_token);
        codes[i] = ec;
        if (!codes[i] && diag.attempts <= 2) ++ok;
        finished.try_send(std::error_code{}, i);
      };
      asio::co_spawn(ex, std::move(one), asio::detached);
    }
    for (int i = 0; i < parallel; ++i)
      co_await finished.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    for (const auto& c : codes) CHECK_FALSE(c);
  }, 4);

  // Check: however many parts were refused (those signed before the first refusal came back,
  // usually all eight), one new fetch served them all; each refused part was sent once more.
  const auto n = client.counters();
  CHECK(ok == parallel);
  CHECK(env.sts.calls == 2);
  CHECK(n.credential_refreshes == 2);
  CHECK(n.credential_retries >= 1);
  CHECK(n.credential_retries <= parallel);
  CHECK(env.server.stats().upload_part == parallel + n.credential_retries);
  MESSAGE("parts refused and repeated: " << n.credential_retries << " of " << parallel);
}

TEST_CASE("credentials refresh: SecurityTokenExpired is refreshed and retried once, then surfaces") {
  refresh_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = "sts body";

  SUBCASE("expired token: one refresh, one repeat, success") {
    fault_rule expired;
    expired.operation = "PutObject";
    expired.action = fault_action::error_reply;
    expired.status = 403;
    expired.code = "SecurityTokenExpired";
    env.server.set_fault_plan({expired});
    oss::put_result r;
    run_on_threads(io, [&]() -> asio::awaitable<void> { r = co_await client.put_object("sts.txt", asio::buffer(data)); }, 1);
    CHECK(r.crc64 == crc_of(data));
    CHECK(env.sts.calls == 2);
    CHECK(env.server.stats().put_object == 2);
    // The repeat did not count against the retry budget or the attempt limit.
    CHECK(client.counters().retries == 0);
    CHECK(client.counters().retry_tokens == 500);
  }
  SUBCASE("the provider keeps handing out refused credentials: the refusal surfaces") {
    env.server.set_credentials("other-ak", "other-sk", "other-token");
    std::error_code ec;
    oss::diagnostics diag;
    run_on_threads(io, [&]() -> asio::awaitable<void> {
      const oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object("sts.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    }, 1);
    CHECK(ec == oss::server_errc::invalid_access_key_id);
    CHECK(diag.attempts == 2);
    CHECK(diag.client_message.find("refused the credentials again") != std::string::npos);
    CHECK(env.sts.calls == 2);
    // No secret in what the caller sees.
    const std::string text = oss::error(ec, diag).what();
    CHECK(text.find("sts-sk-") == std::string::npos);
    CHECK(text.find("sts-token-") == std::string::npos);
  }
}

TEST_CASE("credentials refresh: fixed credentials are never refreshed; refusal is final") {
  refresh_env env;
  asio::io_context io;
  auto opts = env.options();
  opts.creds_provider = nullptr;
  opts.creds = sts_source::generation(1);
  oss::client client(io.get_executor(), opts);
  env.rotate_to(2);
  std::error_code ec;
  oss::diagnostics diag;
  const std::string data = "fixed";
  run_on_threads(io, [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("fixed.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
  }, 1);
  CHECK(ec == oss::server_errc::invalid_access_key_id);
  CHECK(diag.attempts == 1);
  CHECK(env.sts.calls == 0);
  CHECK(client.counters().credential_refreshes == 0);
}
