// Credentials that expire (issue 4 item 6): the providers, the refresh-time arithmetic on a fake
// clock, and the client's credentials cache: fetched on first use, refreshed once per expiry
// however many requests (and threads) need it, refreshed again when the server refused them,
// kept when an early refresh fails, and never leaking a provider's error text.
#include <oss/credentials.hpp>
#include <oss/detail/ops/credentials_cache.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using oss::detail::credentials_cache;
using oss::detail::credentials_refresh_time;
using oss::detail::credentials_state;
using oss::detail::judge_credentials;
using oss::detail::wall_time;

namespace {

// Wall time that only moves when the test says so.
struct fake_clock {
  std::atomic<std::int64_t> seconds{1'700'000'000};
  wall_time now() const { return wall_time(std::chrono::seconds(seconds.load())); }
  void advance(std::chrono::seconds s) { seconds += s.count(); }
  std::function<wall_time()> fn() {
    return [this] { return now(); };
  }
};

// Hands out credentials N (key "ak-N", token "token-N") on its N-th call, valid for `lifetime`
// on the fake clock; yields `yields` times first so that other requests pile up meanwhile.
// Calls listed in `failing` throw instead.
class counting_provider final : public oss::credentials_provider {
 public:
  explicit counting_provider(fake_clock& clock) : clock_(clock) {}

  std::atomic<int> calls{0};
  int yields = 0;
  std::chrono::seconds lifetime{3600};
  std::set<int> failing;
  std::function<oss::credentials(int)> make;  // overrides the credentials handed out

  asio::awaitable<oss::expiring_credentials> fetch() override {
    const int n = ++calls;
    for (int i = 0; i < yields; ++i) {
      auto ex = co_await asio::this_coro::executor;
      co_await asio::post(ex, asio::use_awaitable);
    }
    if (failing.count(n)) throw std::runtime_error("STS said no; secret=provider-secret-7781");
    oss::expiring_credentials r;
    if (make) {
      r.creds = make(n);
    } else {
      r.creds = {"ak-" + std::to_string(n), "sk-" + std::to_string(n), "token-" + std::to_string(n)};
    }
    r.expiration = clock_.now() + lifetime;
    co_return r;
  }

 private:
  fake_clock& clock_;
};

struct get_result {
  credentials_cache::snapshot snap;
  std::error_code ec;
  std::string problem;
};

asio::awaitable<void> get_into(std::shared_ptr<credentials_cache> cache, std::uint64_t rejected,
                               get_result* out) {
  out->snap = co_await cache->get(rejected, out->ec, out->problem);
}

// One get() on a single-threaded io_context, run to completion (bounded).
get_result get_now(asio::io_context& io, const std::shared_ptr<credentials_cache>& cache,
                   std::uint64_t rejected = 0) {
  get_result r;
  asio::co_spawn(io, get_into(cache, rejected, &r), asio::detached);
  io.restart();
  io.run_for(10s);
  return r;
}

std::shared_ptr<credentials_cache> make_cache(asio::io_context& io, std::shared_ptr<oss::credentials_provider> p,
                                              fake_clock& clock, std::chrono::seconds margin = 300s) {
  return std::make_shared<credentials_cache>(io.get_executor(), std::move(p), margin, clock.fn());
}

}  // namespace

TEST_CASE("credentials: refresh time is the margin before expiry, at most half the lifetime") {
  const wall_time t0(std::chrono::seconds(1'700'000'000));
  // Setup/Run/Check in one: hour-long STS tokens refresh 5 minutes early.
  CHECK(credentials_refresh_time(t0, t0 + 3600s, 300s) == t0 + 3300s);
  // A 10-minute token: exactly half of it.
  CHECK(credentials_refresh_time(t0, t0 + 600s, 300s) == t0 + 300s);
  // A 1-minute token: halfway, not at once (which would refetch for every request).
  CHECK(credentials_refresh_time(t0, t0 + 60s, 300s) == t0 + 30s);
  // Zero margin: right at expiry.
  CHECK(credentials_refresh_time(t0, t0 + 3600s, 0s) == t0 + 3600s);
  // Already expired when fetched: due at once.
  CHECK(credentials_refresh_time(t0, t0 - 5s, 300s) == t0 - 5s);
}

TEST_CASE("credentials: the state of credentials in hand") {
  const wall_time t0(std::chrono::seconds(1'700'000'000));
  const wall_time never = wall_time::min();
  const std::optional<wall_time> exp = t0 + 3600s;
  const wall_time refresh_at = t0 + 3300s;
  CHECK(judge_credentials(0, 0, t0, exp, refresh_at, never) == credentials_state::unusable);  // none yet
  CHECK(judge_credentials(1, 0, t0, exp, refresh_at, never) == credentials_state::fresh);
  CHECK(judge_credentials(1, 0, t0 + 3299s, exp, refresh_at, never) == credentials_state::fresh);
  CHECK(judge_credentials(1, 0, t0 + 3300s, exp, refresh_at, never) == credentials_state::due);
  CHECK(judge_credentials(1, 0, t0 + 3600s, exp, refresh_at, never) == credentials_state::unusable);
  // Refused by the server: unusable, unless newer ones are in hand already.
  CHECK(judge_credentials(1, 1, t0, exp, refresh_at, never) == credentials_state::unusable);
  CHECK(judge_credentials(2, 1, t0, exp, refresh_at, never) == credentials_state::fresh);
  // After a failed early refresh: fresh until the pause ends, expired all the same.
  CHECK(judge_credentials(1, 0, t0 + 3400s, exp, refresh_at, t0 + 3410s) == credentials_state::fresh);
  CHECK(judge_credentials(1, 0, t0 + 3410s, exp, refresh_at, t0 + 3410s) == credentials_state::due);
  CHECK(judge_credentials(1, 0, t0 + 3600s, exp, refresh_at, t0 + 9999s) == credentials_state::unusable);
  // No expiration: fresh forever.
  CHECK(judge_credentials(1, 0, t0 + 99999999s, std::nullopt, wall_time::max(), never) == credentials_state::fresh);
}

TEST_CASE("credentials cache: fetched on first use, reused while fresh, refreshed when due") {
  // Setup
  asio::io_context io;
  fake_clock clock;
  auto provider = std::make_shared<counting_provider>(clock);
  auto cache = make_cache(io, provider, clock);

  // Run + Check: first use fetches.
  auto a = get_now(io, cache);
  REQUIRE_FALSE(a.ec);
  CHECK(a.snap.creds->access_key_id == "ak-1");
  CHECK(a.snap.creds->security_token == "token-1");
  CHECK(a.snap.generation == 1);
  CHECK(provider->calls == 1);
  CHECK(cache->refreshes() == 1);

  // Fresh: no fetch, however often.
  for (int i = 0; i < 5; ++i) CHECK(get_now(io, cache).snap.creds->access_key_id == "ak-1");
  clock.advance(3600s - 301s);  // one second before the refresh margin
  CHECK(get_now(io, cache).snap.creds->access_key_id == "ak-1");
  CHECK(provider->calls == 1);

  // Inside the margin: one refresh, then fresh again.
  clock.advance(2s);
  auto b = get_now(io, cache);
  REQUIRE_FALSE(b.ec);
  CHECK(b.snap.creds->access_key_id == "ak-2");
  CHECK(b.snap.generation == 2);
  CHECK(get_now(io, cache).snap.creds->access_key_id == "ak-2");
  CHECK(provider->calls == 2);

  // Past expiry (the clock jumped): refreshed before use, never used expired.
  clock.advance(7200s);
  auto c = get_now(io, cache);
  REQUIRE_FALSE(c.ec);
  CHECK(c.snap.creds->access_key_id == "ak-3");
  CHECK(provider->calls == 3);
}

TEST_CASE("credentials cache: credentials the server refused are replaced once, not per request") {
  asio::io_context io;
  fake_clock clock;
  auto provider = std::make_shared<counting_provider>(clock);
  provider->lifetime = 3600s;
  auto cache = make_cache(io, provider, clock);
  auto first = get_now(io, cache);
  REQUIRE(first.snap.generation == 1);

  // Run: a request signed with generation 1 was refused.
  auto second = get_now(io, cache, first.snap.generation);
  // Check
  REQUIRE_FALSE(second.ec);
  CHECK(second.snap.generation == 2);
  CHECK(second.snap.creds->access_key_id == "ak-2");
  CHECK(provider->calls == 2);
  // Another request refused with generation 1 arrives late: generation 2 is already there.
  auto late = get_now(io, cache, first.snap.generation);
  CHECK(late.snap.generation == 2);
  CHECK(provider->calls == 2);
}

TEST_CASE("credentials cache: parallel requests share one refresh per expiry") {
  asio::io_context io;
  fake_clock clock;
  auto provider = std::make_shared<counting_provider>(clock);
  provider->yields = 20;  // the fetch is slow: every request arrives while it is in flight
  auto cache = make_cache(io, provider, clock);
  constexpr int parallel = 16;

  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    // Setup: the previous credentials are due (or there are none).
    if (round > 1) clock.advance(3600s - 200s);
    std::vector<get_result> results(parallel);
    // Run
    for (auto& r : results) asio::co_spawn(io, get_into(cache, 0, &r), asio::detached);
    io.restart();
    io.run_for(10s);
    // Check: one provider call per round, and every request got that round's credentials.
    CHECK(provider->calls == round);
    for (const auto& r : results) {
      REQUIRE_FALSE(r.ec);
      CHECK(r.snap.creds->access_key_id == "ak-" + std::to_string(round));
      CHECK(r.snap.generation == static_cast<std::uint64_t>(round));
    }
  }
}

TEST_CASE("credentials cache: one refresh per expiry on a multi-threaded io_context") {
  // Setup: four threads run the context; requests from all of them need the credentials.
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&] { io.run(); });
  fake_clock clock;
  auto provider = std::make_shared<counting_provider>(clock);
  provider->yields = 50;
  auto cache = make_cache(io, provider, clock);
  constexpr int parallel = 64;
  bool all_ok = true;

  for (int round = 1; round <= 4; ++round) {
    if (round > 1) clock.advance(3600s - 100s);
    std::vector<get_result> results(parallel);
    std::atomic<int> finished{0};
    std::promise<void> all_done;
    auto done = [&](std::exception_ptr) {
      if (++finished == parallel) all_done.set_value();
    };
    // Run
    for (auto& r : results) asio::co_spawn(io, get_into(cache, 0, &r), done);
    REQUIRE(all_done.get_future().wait_for(30s) == std::future_status::ready);
    // Check
    CHECK(provider->calls == round);
    for (const auto& r : results) {
      if (r.ec || !r.snap.creds || r.snap.creds->access_key_id != "ak-" + std::to_string(round)) all_ok = false;
    }
  }
  guard.reset();
  io.stop();
  for (auto& t : threads) t.join();
  CHECK(all_ok);
  CHECK(cache->refreshes() == 4);
}

TEST_CASE("credentials cache: a failed early refresh keeps the valid credentials and pauses") {
  asio::io_context io;
  fake_clock clock;
  auto provider = std::make_shared<counting_provider>(clock);
  provider->failing = {2, 4};
  auto cache = make_cache(io, provider, clock);
  REQUIRE(get_now(io, cache).snap.creds->access_key_id == "ak-1");

  // Run: due, but the provider fails: the old credentials are still valid, so no error.
  clock.advance(3600s - 200s);
  auto a = get_now(io, cache);
  CHECK_FALSE(a.ec);
  CHECK(a.snap.creds->access_key_id == "ak-1");
  CHECK(provider->calls == 2);
  // Within the pause nobody asks again.
  clock.advance(5s);
  CHECK(get_now(io, cache).snap.creds->access_key_id == "ak-1");
  CHECK(provider->calls == 2);
  // After it, the next request tries again and succeeds.
  clock.advance(6s);
  auto b = get_now(io, cache);
  CHECK_FALSE(b.ec);
  CHECK(b.snap.creds->access_key_id == "ak-3");
  CHECK(provider->calls == 3);

  // Expired and the provider fails: now it is an error, and it says nothing the provider said.
  clock.advance(7200s);
  auto c = get_now(io, cache);
  CHECK(c.ec == oss::client_errc::credentials_unavailable);
  CHECK(c.problem.find("provider-secret") == std::string::npos);
  CHECK(c.problem.find("STS said no") == std::string::npos);
  CHECK_FALSE(c.snap.creds);
  CHECK(provider->calls == 4);
}

TEST_CASE("credentials cache: provider errors become clear, secret-free error codes") {
  asio::io_context io;
  fake_clock clock;

  SUBCASE("an oss::error keeps its code and our message") {
    auto cache = make_cache(io, oss::make_environment_credentials_provider(), clock);
    const char* saved_id = std::getenv("OSS_ACCESS_KEY_ID");
    std::optional<std::string> keep;
    if (saved_id) keep = saved_id;
    ::unsetenv("OSS_ACCESS_KEY_ID");
    auto r = get_now(io, cache);
    if (keep) ::setenv("OSS_ACCESS_KEY_ID", keep->c_str(), 1);
    CHECK(r.ec == oss::client_errc::missing_credentials);
    CHECK(r.problem.find("OSS_ACCESS_KEY_ID") != std::string::npos);
  }
  SUBCASE("a std::system_error gives its category message only") {
    auto p = oss::make_callback_credentials_provider([]() -> oss::expiring_credentials {
      throw std::system_error(std::make_error_code(std::errc::connection_refused), "secret=abc-777");
    });
    auto r = get_now(io, make_cache(io, p, clock));
    CHECK(r.ec == oss::client_errc::credentials_unavailable);
    CHECK(r.problem.find("abc-777") == std::string::npos);
    CHECK(r.problem.find(std::make_error_code(std::errc::connection_refused).message()) != std::string::npos);
  }
  SUBCASE("credentials that would split a header are refused") {
    auto p = std::make_shared<counting_provider>(clock);
    p->make = [](int) { return oss::credentials{"ak", "sk", "tok\r\nX-Injected: 1"}; };
    auto r = get_now(io, make_cache(io, p, clock));
    CHECK(r.ec == oss::client_errc::credentials_unavailable);
    CHECK(r.problem.find("security token") != std::string::npos);
    CHECK(r.problem.find("X-Injected") == std::string::npos);
  }
  SUBCASE("no key id, or no secret") {
    auto p = std::make_shared<counting_provider>(clock);
    p->make = [](int n) { return n == 1 ? oss::credentials{} : oss::credentials{"ak", "", ""}; };
    auto cache = make_cache(io, p, clock);
    auto r1 = get_now(io, cache);
    CHECK(r1.ec == oss::client_errc::credentials_unavailable);
    auto r2 = get_now(io, cache);
    CHECK(r2.ec == oss::client_errc::credentials_unavailable);
    CHECK(r2.problem.find("secret") != std::string::npos);
    CHECK(p->calls == 2);
  }
  SUBCASE("credentials that expired before they arrived") {
    auto p = std::make_shared<counting_provider>(clock);
    p->lifetime = -10s;
    auto r = get_now(io, make_cache(io, p, clock));
    CHECK(r.ec == oss::client_errc::credentials_unavailable);
    CHECK(r.problem.find("expired") != std::string::npos);
  }
}

TEST_CASE("credentials cache: a cancelled waiter leaves, the refresh goes on for the others") {
  // Setup: the provider waits on a gate the test opens.
  asio::io_context io;
  fake_clock clock;
  using gate_t = asio::experimental::concurrent_channel<void(std::error_code, int)>;
  auto gate = std::make_shared<gate_t>(io, 1);
  std::atomic<int> calls{0};
  auto provider = oss::make_async_callback_credentials_provider(
      [gate, &calls]() -> asio::awaitable<oss::expiring_credentials> {
        ++calls;
        co_await gate->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
        oss::expiring_credentials r;
        r.creds = {"ak-gated", "sk", ""};
        co_return r;
      });
  auto cache = make_cache(io, provider, clock);
  get_result cancelled, patient;
  asio::cancellation_signal signal;
  asio::co_spawn(io, get_into(cache, 0, &cancelled),
                 asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));
  asio::co_spawn(io, get_into(cache, 0, &patient), asio::detached);
  io.poll();
  REQUIRE(calls == 1);

  // Run: cancel the first waiter (the one that started the refresh), then open the gate.
  signal.emit(asio::cancellation_type::terminal);
  io.poll();
  gate->try_send(std::error_code{}, 1);
  io.restart();
  io.run_for(10s);

  // Check
  CHECK(cancelled.ec == asio::error::operation_aborted);
  REQUIRE_FALSE(patient.ec);
  CHECK(patient.snap.creds->access_key_id == "ak-gated");
  CHECK(calls == 1);
}

TEST_CASE("credentials providers: static, environment, callback and awaitable callback") {
  asio::io_context io;
  auto fetch = [&](std::shared_ptr<oss::credentials_provider> p) {
    std::optional<oss::expiring_credentials> got;
    std::error_code ec;
    auto run = [p, &got, &ec]() -> asio::awaitable<void> {
      try {
        got = co_await p->fetch();
      } catch (const oss::error& e) {
        ec = e.code();
      }
    };
    asio::co_spawn(io, std::move(run), asio::detached);
    io.restart();
    io.run_for(10s);
    return std::make_pair(got, ec);
  };

  SUBCASE("static") {
    auto [got, ec] = fetch(oss::make_static_credentials_provider({"ak", "sk", "tok"}));
    REQUIRE(got);
    CHECK(got->creds.access_key_id == "ak");
    CHECK(got->creds.security_token == "tok");
    CHECK_FALSE(got->expiration);
    auto [none, none_ec] = fetch(oss::make_static_credentials_provider({}));
    CHECK_FALSE(none);
    CHECK(none_ec == oss::client_errc::missing_credentials);
  }
  SUBCASE("environment, read at every fetch") {
    std::optional<std::string> keep[3];
    const char* names[3] = {"OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN"};
    for (int i = 0; i < 3; ++i)
      if (const char* v = std::getenv(names[i])) keep[i] = v;
    ::setenv("OSS_ACCESS_KEY_ID", "env-ak", 1);
    ::setenv("OSS_ACCESS_KEY_SECRET", "env-sk", 1);
    ::setenv("OSS_SESSION_TOKEN", "env-token-1", 1);
    auto p = oss::make_environment_credentials_provider();
    auto [a, a_ec] = fetch(p);
    ::setenv("OSS_SESSION_TOKEN", "env-token-2", 1);
    auto [b, b_ec] = fetch(p);
    auto from_env = oss::credentials_from_environment();
    ::unsetenv("OSS_ACCESS_KEY_SECRET");
    auto [c, c_ec] = fetch(p);
    auto none_from_env = oss::credentials_from_environment();
    for (int i = 0; i < 3; ++i) {
      if (keep[i]) ::setenv(names[i], keep[i]->c_str(), 1);
      else ::unsetenv(names[i]);
    }
    REQUIRE(a);
    CHECK(a->creds.access_key_id == "env-ak");
    CHECK(a->creds.security_token == "env-token-1");
    REQUIRE(b);
    CHECK(b->creds.security_token == "env-token-2");
    REQUIRE(from_env);
    CHECK(from_env->access_key_secret == "env-sk");
    CHECK_FALSE(c);
    CHECK(c_ec == oss::client_errc::missing_credentials);
    CHECK_FALSE(none_from_env);
  }
  SUBCASE("callbacks, with an expiration") {
    const wall_time when(std::chrono::seconds(1'800'000'000));
    int sync_calls = 0;
    auto sync = oss::make_callback_credentials_provider([&] {
      ++sync_calls;
      oss::expiring_credentials r;
      r.creds = {"cb-ak", "cb-sk", "cb-token"};
      r.expiration = when;
      return r;
    });
    auto [a, a_ec] = fetch(sync);
    REQUIRE(a);
    CHECK(a->creds.access_key_id == "cb-ak");
    CHECK(a->expiration == when);
    CHECK(sync_calls == 1);
    auto async = oss::make_async_callback_credentials_provider([&]() -> asio::awaitable<oss::expiring_credentials> {
      auto ex = co_await asio::this_coro::executor;
      co_await asio::post(ex, asio::use_awaitable);
      oss::expiring_credentials r;
      r.creds = {"async-ak", "async-sk", ""};
      co_return r;
    });
    auto [b, b_ec] = fetch(async);
    REQUIRE(b);
    CHECK(b->creds.access_key_id == "async-ak");
    CHECK_THROWS_AS(oss::make_callback_credentials_provider(nullptr), std::invalid_argument);
    CHECK_THROWS_AS(oss::make_async_callback_credentials_provider(nullptr), std::invalid_argument);
  }
}
