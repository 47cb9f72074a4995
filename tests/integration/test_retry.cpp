// The retry policy over real sockets (issue 4 item 2), against the local server's fault plans:
// back-off delays recorded through the injectable clock (no test sleeps), throttling's doubled
// base, the per-request attempt limit, the per-client retry budget under a dead endpoint and its
// refill, cancellation during the wait, Complete reconciliation when its reply is lost, and
// header injection refused before a byte is sent.
#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/dates.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "../support/hostile_proxy.hpp"
#include "../support/run_coro.hpp"
#include "../support/temp_dir.hpp"

using namespace std::chrono_literals;
using oss::testing::fault_action;
using oss::testing::fault_rule;

namespace {

constexpr const char* retry_key_id = "LTAI-retry-test-id";
constexpr const char* retry_secret = "retry-secret-Zk29xQ";
constexpr const char* retry_bucket = "retry-bucket";

using oss_test::run_coro;

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

// Back-off waits recorded instead of waited: the client's clock hook returns at once.
struct sleep_recorder {
  std::mutex mutex;
  std::vector<std::chrono::milliseconds> delays;
  std::atomic<bool> sleeping{false};

  std::vector<std::chrono::milliseconds> taken() {
    std::lock_guard lock(mutex);
    return delays;
  }

  oss::client_clock instant_clock(std::optional<double> fixed_random = std::nullopt) {
    oss::client_clock c;
    c.sleep = [this](std::chrono::milliseconds d) -> asio::awaitable<void> {
      std::lock_guard lock(mutex);
      delays.push_back(d);
      co_return;
    };
    if (fixed_random) {
      const double r = *fixed_random;
      c.random = [r] { return r; };
    }
    return c;
  }
};

struct retry_env {
  oss_test::temp_dir store;
  oss::testing::local_server_thread server;
  sleep_recorder sleeps;

  retry_env()
      : server([&] {
          oss::testing::local_server_options o;
          o.root = store.path().string();
          o.access_key_id = retry_key_id;
          o.access_key_secret = retry_secret;
          return o;
        }()) {}

  oss::client_options options(std::optional<double> fixed_random = 0.5) {
    return options_for(server.endpoint(), fixed_random);
  }

  oss::client_options options_for(const std::string& endpoint, std::optional<double> fixed_random = 0.5) {
    oss::client_options o;
    o.endpoint = endpoint;
    o.region = "cn-local";
    o.bucket = retry_bucket;
    o.creds = {retry_key_id, retry_secret, ""};
    o.address_style = oss::addressing_style::path_style;
    o.retry_base_delay = 100ms;
    o.retry_max_delay = 10000ms;
    o.connect_timeout = 5000ms;
    o.stall_timeout = 10000ms;
    o.clock = sleeps.instant_clock(fixed_random);
    return o;
  }
};

fault_rule rule(std::string operation, fault_action action, std::uint64_t times = 1) {
  fault_rule r;
  r.operation = std::move(operation);
  r.action = action;
  r.times = times;
  return r;
}

fault_rule error_rule(std::string operation, int status, std::string code, std::uint64_t times = 1) {
  fault_rule r = rule(std::move(operation), fault_action::error_reply, times);
  r.status = status;
  r.code = std::move(code);
  return r;
}

// A loopback port nobody listens on: bound, then closed.
std::uint16_t dead_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

}  // namespace

TEST_CASE("retry: back-off delays follow the exponential schedule; throttling doubles the base") {
  // Setup: a fixed random draw of 0.5 makes each wait exactly half its full-jitter ceiling.
  retry_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options(0.5));
  const std::string data = "retried body";
  std::uint32_t tokens_taken = 5;  // by the last retry, refunded by the success

  SUBCASE("server errors: base 100 ms, ceilings 200, 400") {
    env.server.set_fault_plan({error_rule("PutObject", 500, "InternalError", 2)});
    run_coro(io, [&]() -> asio::awaitable<void> {
      oss::put_result r = co_await client.put_object("a.txt", asio::buffer(data));
      CHECK(r.crc64 == crc_of(data));
    });
    CHECK(env.sleeps.taken() == std::vector<std::chrono::milliseconds>{100ms, 200ms});
    CHECK(env.server.stats().put_object == 3);
    CHECK(env.server.stats().faults_injected == 2);
  }
  SUBCASE("throttling (503 SlowDown, 429): twice the base, ceilings 400, 800") {
    env.server.set_fault_plan({error_rule("PutObject", 503, "SlowDown", 1), error_rule("PutObject", 429, "", 1)});
    run_coro(io, [&]() -> asio::awaitable<void> {
      co_await client.put_object("b.txt", asio::buffer(data));
    });
    CHECK(env.sleeps.taken() == std::vector<std::chrono::milliseconds>{200ms, 400ms});
    CHECK(env.server.stats().put_object == 3);
    tokens_taken = 0;  // throttled retries are paced by time, not by the budget
    CHECK(client.counters().throttled_retries == 2);
  }
  SUBCASE("transient (connection reset mid-body, then RequestTimeout)") {
    fault_rule reset = rule("PutObject", fault_action::reset_during_body);
    reset.after_bytes = 4;
    env.server.set_fault_plan({reset, error_rule("PutObject", 400, "RequestTimeout", 1)});
    run_coro(io, [&]() -> asio::awaitable<void> {
      co_await client.put_object("c.txt", asio::buffer(data));
    });
    CHECK(env.sleeps.taken() == std::vector<std::chrono::milliseconds>{100ms, 200ms});
  }
  const auto n = client.counters();
  CHECK(n.requests == 1);
  CHECK(n.attempts == 3);
  CHECK(n.retries == 2);
  CHECK(n.retries_denied == 0);
  // The successful retry refunded what it took; the first retry's tokens stay spent.
  CHECK(n.retry_tokens == 500 - tokens_taken);
}

TEST_CASE("retry: real jitter stays inside [0, ceiling) and varies") {
  // Setup: the default random source, one 500 per request.
  retry_env env;
  asio::io_context io;
  constexpr int requests = 24;
  fault_rule each = error_rule("HeadObject", 500, "InternalError", 0);  // every HEAD fails
  env.server.set_fault_plan({each});

  // Run: HEAD with 2 attempts fails twice each time: one recorded wait per request.
  auto opts = env.options(std::nullopt);
  opts.max_attempts = 2;
  oss::client two(io.get_executor(), opts);
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < requests; ++i) {
      std::error_code ec;
      oss::diagnostics diag;
      std::tie(ec, std::ignore) = co_await two.async_head("missing.txt", diag, oss_test::tuple_token);
      CHECK(ec == oss::server_errc::internal_error);
      CHECK(diag.attempts == 2);
    }
  });

  // Check: first-retry ceiling is base * 2 = 200 ms.
  const auto delays = env.sleeps.taken();
  REQUIRE(delays.size() == requests);
  std::set<long long> distinct;
  for (auto d : delays) {
    CHECK(d.count() >= 0);
    CHECK(d.count() < 200);
    distinct.insert(d.count());
  }
  CHECK(distinct.size() > 1);
}

TEST_CASE("retry: the per-request attempt limit, and fatal errors are not retried") {
  retry_env env;
  asio::io_context io;
  auto opts = env.options();
  opts.max_attempts = 4;
  oss::client client(io.get_executor(), opts);
  const std::string data = "limit";
  env.server.set_fault_plan({error_rule("PutObject", 500, "InternalError", 0)});

  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("limit.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::internal_error);
    CHECK(diag.attempts == 4);
    CHECK(diag.code == "InternalError");
  });
  CHECK(env.server.stats().put_object == 4);
  CHECK(env.sleeps.taken().size() == 3);

  // Fatal: AccessDenied once, no retry, no wait.
  env.server.set_fault_plan({error_rule("PutObject", 403, "AccessDenied", 1)});
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("fatal.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(ec == oss::server_errc::access_denied);
    CHECK(diag.attempts == 1);
  });
  CHECK(env.server.stats().put_object == 5);
  CHECK(env.sleeps.taken().size() == 3);
}

TEST_CASE("retry budget: a dead endpoint gets a bounded number of attempts from the whole client") {
  // Setup: 5 parallel parts x 8 files = 40 requests at once against a port nobody listens on.
  // max_attempts 5 alone would allow 40 x 5 = 200 attempts; a budget of 50 tokens at 5 per
  // retry allows 10 retries in all.
  retry_env env;
  asio::io_context io;
  auto opts = env.options_for("http://127.0.0.1:" + std::to_string(dead_port()));
  opts.max_attempts = 5;
  opts.retry_budget.capacity = 50;
  oss::client client(io.get_executor(), opts);
  constexpr int parallel = 5, files = 8, total = parallel * files;
  const std::string body(1024, 'd');
  std::atomic<int> finished{0}, refused{0}, budget_notes{0};

  // Run
  for (int i = 0; i < total; ++i) {
    auto one = [&, i]() -> asio::awaitable<void> {
      std::error_code ec;
      oss::diagnostics diag;
      const std::string name = "file-" + std::to_string(i / parallel) + ".bin";
      std::tie(ec, std::ignore) = co_await client.async_upload_part(name, "upload-id", i % parallel + 1, asio::buffer(body), false, diag, oss_test::tuple_token);
      if (ec == asio::error::connection_refused) ++refused;
      if (diag.client_message.find("retry budget") != std::string::npos) ++budget_notes;
      ++finished;
    };
    asio::co_spawn(io, std::move(one), asio::detached);
  }
  io.run_for(60s);

  // Check: every request failed with the real cause; attempts = one each + the budget's 10.
  REQUIRE(finished == total);
  CHECK(refused == total);
  const auto n = client.counters();
  CHECK(n.requests == total);
  CHECK(n.retries == 10);
  CHECK(n.attempts == total + 10);
  CHECK(n.retry_tokens == 0);
  CHECK(n.retries_denied > 0);
  CHECK(budget_notes == static_cast<int>(n.retries_denied));
  CHECK(env.sleeps.taken().size() == 10);
}

TEST_CASE("retry budget: emptied by a failing server, refilled by successes") {
  retry_env env;
  asio::io_context io;
  auto opts = env.options();
  opts.max_attempts = 3;
  opts.retry_budget.capacity = 20;  // 4 retries
  oss::client client(io.get_executor(), opts);
  const std::string data = "refill";

  // Run 1: every request gets 500 until the budget is empty (throttling replies would not
  // drain it: they are bounded by retry_time instead).
  env.server.set_fault_plan({error_rule("PutObject", 500, "InternalError", 0)});
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 6; ++i) {
      std::error_code ec;
      oss::diagnostics diag;
      const oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object("f.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
      CHECK(ec == oss::server_errc::internal_error);
    }
  });
  // Two requests used 2 retries each; the other four failed at once.
  CHECK(client.counters().retry_tokens == 0);
  CHECK(client.counters().retries == 4);
  CHECK(env.server.stats().put_object == 6 + 4);
  std::string note;
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::error_code ec;
    oss::diagnostics diag;
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("f.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    CHECK(diag.attempts == 1);
    note = diag.client_message;
  });
  CHECK(note.find("retry budget is exhausted") != std::string::npos);

  // Run 2: the server recovers; each first-try success puts one token back.
  env.server.clear_fault_plan();
  run_coro(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 7; ++i) co_await client.put_object("ok.txt", asio::buffer(data));
  });
  CHECK(client.counters().retry_tokens == 7);

  // Run 3: a failure is retried again, and its success refunds the retry.
  env.server.set_fault_plan({error_rule("PutObject", 500, "InternalError", 1)});
  run_coro(io, [&]() -> asio::awaitable<void> {
    co_await client.put_object("again.txt", asio::buffer(data));
  });
  CHECK(client.counters().retries == 5);
  CHECK(client.counters().retry_tokens == 7);
}

TEST_CASE("retry: cancellation during a back-off wait of the clock hook") {
  // Setup: a hook that really waits (on a long timer) and says when it started.
  retry_env env;
  asio::io_context io;
  auto opts = env.options();
  std::atomic<int> waits{0};
  opts.clock.sleep = [&waits](std::chrono::milliseconds) -> asio::awaitable<void> {
    ++waits;
    asio::steady_timer t(co_await asio::this_coro::executor, 1h);
    co_await t.async_wait(asio::use_awaitable);
  };
  oss::client client(io.get_executor(), opts);
  env.server.set_fault_plan({error_rule("HeadObject", 503, "SlowDown", 0)});
  asio::cancellation_signal signal;
  std::error_code ec;
  oss::diagnostics diag;
  bool finished = false;
  auto op = [&]() -> asio::awaitable<void> {
    std::tie(ec, std::ignore) = co_await client.async_head("x.txt", diag, oss_test::tuple_token);
    finished = true;
  };
  asio::co_spawn(io, std::move(op), asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));

  // Run: step the loop until the client waits in the hook, then cancel.
  for (int i = 0; i < 200000 && waits == 0; ++i) io.run_one_for(100ms);
  REQUIRE(waits == 1);
  signal.emit(asio::cancellation_type::terminal);
  io.run_for(10s);

  // Check
  CHECK(finished);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(env.server.stats().head_object == 1);
}

// ---- Complete whose reply is lost ------------------------------------------------------------

namespace {

struct uploaded {
  std::string id;
  std::vector<oss::completed_part> parts;
};

// Initiates `name` and uploads `data` in 100 KiB parts, listing sizes and CRCs for Complete.
asio::awaitable<uploaded> upload_parts(oss::client& client, std::string name, const std::string& data) {
  uploaded u;
  u.id = co_await client.initiate_multipart_upload(name);
  const std::size_t part = 102'400;
  int n = 1;
  for (std::size_t off = 0; off < data.size(); off += part, ++n) {
    const std::size_t len = std::min(part, data.size() - off);
    oss::part_result r = co_await client.upload_part(name, u.id, n, asio::buffer(data.data() + off, len));
    oss::completed_part p;
    p.part_number = n;
    p.etag = r.etag;
    p.size = len;
    p.crc64 = r.crc64;
    u.parts.push_back(p);
  }
  co_return u;
}

}  // namespace

TEST_CASE("Complete: a reply lost after the server completed is reconciled with HEAD") {
  retry_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(102'400 * 2 + 777, 41);

  struct scenario {
    const char* what;
    fault_rule fault;
    std::uint64_t completes;  // Complete requests the server sees
  };
  fault_rule closed = rule("CompleteMultipartUpload", fault_action::close_before_reply);
  closed.apply_then_fail = true;
  fault_rule error200 = rule("CompleteMultipartUpload", fault_action::error_in_200);
  error200.code = "InternalError";
  error200.apply_then_fail = true;
  fault_rule error500 = error_rule("CompleteMultipartUpload", 500, "InternalError");
  error500.apply_then_fail = true;
  fault_rule truncated = rule("CompleteMultipartUpload", fault_action::truncated_reply);
  truncated.after_bytes = 20;
  fault_rule garbage = rule("CompleteMultipartUpload", fault_action::garbage_body);
  const std::vector<scenario> scenarios{
      {"closed before the reply", closed, 2},
      {"200 with an <Error> body", error200, 2},
      {"500 after completing", error500, 2},
      {"reply cut short", truncated, 2},
      {"garbage instead of XML", garbage, 1},
  };
  int index = 0;
  for (const auto& s : scenarios) {
    CAPTURE(s.what);
    const std::string name = "lost-" + std::to_string(index++) + ".bin";
    uploaded u;
    run_coro(io, [&]() -> asio::awaitable<void> { u = co_await upload_parts(client, name, data); });
    env.server.reset_stats();
    env.server.set_fault_plan({s.fault});

    // Run
    oss::complete_result done;
    run_coro(io, [&]() -> asio::awaitable<void> {
      done = co_await client.complete_multipart_upload(name, u.id, u.parts);
    });

    // Check: success, proven by HEAD: three parts, the right size and CRC-64.
    CHECK(done.reconciled);
    CHECK(done.crc64 == crc_of(data));
    CHECK(done.etag.find("-3") != std::string::npos);
    CHECK_FALSE(done.request_id.empty());
    const auto st = env.server.stats();
    CHECK(st.faults_injected == 1);
    CHECK(st.complete_multipart_upload == s.completes);
    CHECK(st.head_object == 1);
    std::string back;
    run_coro(io, [&]() -> asio::awaitable<void> { back = co_await client.get_object(name); });
    CHECK(back == data);
  }
}

TEST_CASE("Complete: NoSuchUpload after a lost reply stays an error when HEAD does not prove it") {
  retry_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  const std::string data = oss_test::random_bytes(102'400 + 5, 42);
  uploaded u;
  run_coro(io, [&]() -> asio::awaitable<void> { u = co_await upload_parts(client, "mismatch.bin", data); });
  fault_rule closed = rule("CompleteMultipartUpload", fault_action::close_before_reply);
  closed.apply_then_fail = true;
  env.server.set_fault_plan({closed});

  // Run: the part list claims another CRC than the bytes stored; the object exists but is not
  // provably the one listed.
  u.parts.back().crc64 = *u.parts.back().crc64 ^ 1;
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    std::tie(ec, std::ignore) = co_await client.async_complete_multipart_upload("mismatch.bin", u.id, u.parts, diag, oss_test::tuple_token);
  });

  // Check
  CHECK(ec == oss::server_errc::no_such_upload);
  CHECK(diag.client_message.find("is not made of these 2 parts: the object's CRC-64 is") != std::string::npos);
  CHECK(env.server.stats().head_object == 6);  // looked for again, in case it was not visible yet
  // The retry's back-off, then the 5 waits of looking again (at random 0.5: half of each ceiling).
  CHECK(env.sleeps.taken() == std::vector<std::chrono::milliseconds>{100ms, 100ms, 200ms, 400ms, 800ms, 1600ms});
}

// ---- header injection ------------------------------------------------------------------------

TEST_CASE("header injection: CR, LF and control characters are refused before anything is sent") {
  retry_env env;
  asio::io_context io;
  oss::client client(io.get_executor(), env.options());
  env.server.reset_stats();
  const std::string data = "body";

  std::vector<std::pair<std::string, oss::object_options>> cases;
  auto add = [&](std::string what, auto edit) {
    oss::object_options o;
    edit(o);
    cases.emplace_back(std::move(what), std::move(o));
  };
  add("meta value CRLF", [](oss::object_options& o) { o.meta = {{"k", "v\r\nX-Injected: yes"}}; });
  add("meta value LF", [](oss::object_options& o) { o.meta = {{"k", "v\nX-Injected: yes"}}; });
  add("meta key CRLF", [](oss::object_options& o) { o.meta = {{"k\r\nX-Injected", "yes"}}; });
  add("meta value NUL", [](oss::object_options& o) { o.meta = {{"k", std::string("a\0b", 3)}}; });
  add("mime CRLF", [](oss::object_options& o) { o.mime = "text/plain\r\nX-Injected: yes"; });
  add("header value CRLF", [](oss::object_options& o) { o.headers = {{"Cache-Control", "x\r\nX-Injected: yes"}}; });
  add("header value CR", [](oss::object_options& o) { o.headers = {{"Content-Disposition", "a\rb"}}; });
  add("header name CRLF", [](oss::object_options& o) { o.headers = {{"X-A\r\nX-Injected", "yes"}}; });
  add("header value DEL", [](oss::object_options& o) { o.headers = {{"Expires", "a\x7f"}}; });

  run_coro(io, [&]() -> asio::awaitable<void> {
    for (const auto& one_case : cases) {
      // Named members, not a structured binding: clang 14 cannot capture one (CAPTURE's lambda).
      const std::string& what = one_case.first;
      const oss::object_options& opts = one_case.second;
      CAPTURE(what);
      std::error_code ec;
      oss::diagnostics diag;
      std::tie(ec, std::ignore) = co_await client.async_put_object("inj.txt", asio::buffer(data), opts, diag, oss_test::tuple_token);
      CHECK((ec == oss::client_errc::invalid_header_value || ec == oss::client_errc::invalid_metadata));
      CHECK(diag.attempts == 0);
      CHECK(diag.client_message.find('\n') == std::string::npos);
      std::error_code init_ec;
      oss::diagnostics init_diag;
      std::tie(init_ec, std::ignore) = co_await client.async_initiate_multipart_upload("inj.bin", opts, init_diag, oss_test::tuple_token);
      CHECK(init_ec == ec);
    }
  });

  // Check: not one request reached the server, and the client made no attempt.
  CHECK(env.server.stats().requests == 0);
  CHECK(client.counters().attempts == 0);
}

// ---- throttling (issue 12 #6): Retry-After, a time budget instead of max_attempts ------------

namespace {

// A clock for retry_time without real waiting: every back-off wait advances `now` by its length.
struct virtual_clock {
  std::mutex mutex;
  std::chrono::system_clock::time_point now{std::chrono::system_clock::now()};
  std::vector<std::chrono::milliseconds> delays;

  oss::client_clock hooks(double random) {
    oss::client_clock c;
    c.now = [this] {
      std::lock_guard lock(mutex);
      return now;
    };
    c.sleep = [this](std::chrono::milliseconds d) -> asio::awaitable<void> {
      std::lock_guard lock(mutex);
      delays.push_back(d);
      now += d;
      co_return;
    };
    c.random = [random] { return random; };
    return c;
  }
};

}  // namespace

TEST_CASE("throttling: ten 503 SlowDown in a row, then success, within retry_time and outside the budget") {
  // Setup: max_attempts 3 would give up after the third SlowDown.
  retry_env env;
  asio::io_context io;
  auto opts = env.options(0.5);
  opts.max_attempts = 3;
  oss::client client(io.get_executor(), opts);
  const std::string data = "throttled body";
  env.server.set_fault_plan({error_rule("PutObject", 503, "SlowDown", 10)});

  // Run
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("slow.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
  });

  // Check
  CHECK_MESSAGE(!ec, diag.client_message);
  CHECK(env.server.stats().put_object == 11);
  const auto n = client.counters();
  CHECK(n.throttled_retries == 10);
  CHECK(n.retries == 10);
  CHECK(n.retry_tokens == 500);  // throttling took nothing from the budget
  // The doubled back-off grows to retry_max_delay (10 s), half of each ceiling at random 0.5.
  const auto delays = env.sleeps.taken();
  REQUIRE(delays.size() == 10);
  CHECK(delays[0] == 200ms);
  CHECK(delays[5] == 5000ms);
  CHECK(delays[9] == 5000ms);
}

TEST_CASE("throttling: Retry-After is waited (seconds or HTTP date), capped by max_retry_after") {
  // Setup: the proxy answers the first PutObject of each round itself.
  retry_env env;
  const auto date = std::chrono::system_clock::now();
  std::vector<std::pair<std::string, std::string>> dated{
      {"Date", oss::detail::http_date(date)}, {"Retry-After", oss::detail::http_date(date + 3s)}};
  oss_test::hostile_proxy proxy(env.server.port());
  asio::io_context io;
  auto opts = env.options_for(proxy.endpoint(), 0.0);  // no jitter: the waits are exact
  opts.max_retry_after = 4000ms;
  oss::client client(io.get_executor(), opts);
  const std::string data = "later";
  auto round = [&](std::string raw) {
    proxy.set_script(oss_test::rules_script({{oss_test::op_is("PutObject"), oss_test::proxy_action::reply_with(raw), 1}}));
    std::error_code ec;
    oss::diagnostics diag;
    run_coro(io, [&]() -> asio::awaitable<void> {
      const oss::object_options none;
      std::tie(ec, std::ignore) = co_await client.async_put_object("later.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
    });
    CHECK_MESSAGE(!ec, diag.client_message);
  };

  // Run
  round(oss_test::proxy_error_reply(503, "SlowDown", "slow down", {{"Retry-After", "2"}}));
  round(oss_test::proxy_error_reply(503, "SlowDown", "slow down", dated));
  round(oss_test::proxy_error_reply(429, "QpsLimitExceeded", "reduce", {{"Retry-After", "60"}}));
  round(oss_test::proxy_error_reply(500, "InternalError", "busy", {{"Retry-After", "1"}}));
  round(oss_test::proxy_error_reply(503, "SlowDown", "slow down", {{"Retry-After", "soon"}}));

  // Check: 2 s, the date's 3 s (from the reply's own Date), 60 s capped to 4 s, a 500's 1 s,
  // and a malformed value ignored (the doubled back-off at random 0: 0 ms).
  CHECK(env.sleeps.taken() == std::vector<std::chrono::milliseconds>{2000ms, 3000ms, 4000ms, 1000ms, 0ms});
  CHECK(env.server.stats().put_object == 5);
}

TEST_CASE("throttling: retry_time ends a request the server throttles forever") {
  // Setup: every HEAD is throttled; waits advance a virtual clock.
  retry_env env;
  virtual_clock clock;
  asio::io_context io;
  auto opts = env.options(0.5);
  opts.clock = clock.hooks(0.5);
  opts.retry_time = 10000ms;
  oss::client client(io.get_executor(), opts);
  env.server.set_fault_plan({error_rule("PutObject", 503, "SlowDown", 0)});
  const std::string data = "never";

  // Run
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("never.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
  });

  // Check: waits 200, 400, 800, 1600, 3200 ms (6.2 s in all); the next (5 s) would pass 10 s.
  CHECK(ec == oss::server_errc::slow_down);
  CHECK(clock.delays == std::vector<std::chrono::milliseconds>{200ms, 400ms, 800ms, 1600ms, 3200ms});
  CHECK(diag.attempts == 6);
  CHECK(diag.client_message.find("retry time (10000 ms)") != std::string::npos);
  CHECK(env.server.stats().put_object == 6);
}

TEST_CASE("throttling: max_attempts still bounds the other failures, between throttling replies") {
  // Setup: the proxy alternates 503 SlowDown and 500 InternalError forever.
  retry_env env;
  std::atomic<int> seen{0};
  oss_test::hostile_proxy proxy(env.server.port(), [&](const oss_test::proxy_request&) {
    const bool odd = seen++ % 2 == 1;
    return oss_test::proxy_action::reply_with(odd ? oss_test::proxy_error_reply(500, "InternalError", "oops")
                                                  : oss_test::proxy_error_reply(503, "SlowDown", "slow down"));
  });
  asio::io_context io;
  auto opts = env.options_for(proxy.endpoint(), 0.5);
  opts.max_attempts = 3;
  oss::client client(io.get_executor(), opts);
  const std::string data = "mixed";

  // Run
  std::error_code ec;
  oss::diagnostics diag;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await client.async_put_object("mixed.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
  });

  // Check: 503, 500, 503, 500, 503, 500: the third 500 is final.
  CHECK(ec == oss::server_errc::internal_error);
  CHECK(diag.attempts == 6);
  CHECK(proxy.records().size() == 6);
  CHECK(client.counters().throttled_retries == 3);
  // max_attempts = 1 turns throttling retries off too.
  auto once = env.options_for(proxy.endpoint(), 0.5);
  once.max_attempts = 1;
  oss::client single(io.get_executor(), once);
  seen = 0;
  run_coro(io, [&]() -> asio::awaitable<void> {
    const oss::object_options none;
    std::tie(ec, std::ignore) = co_await single.async_put_object("mixed.txt", asio::buffer(data), none, diag, oss_test::tuple_token);
  });
  CHECK(ec == oss::server_errc::slow_down);
  CHECK(diag.attempts == 1);
}
