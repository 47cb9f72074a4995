// The retry policy, sans-io (design.md section 4 "Retries and timeouts"): classification into
// transient, throttled, server and fatal; full-jitter exponential back-off with a doubled base
// for throttling; Retry-After and the throttling codes; the client-wide retry budget (a token
// bucket); and the request builders' refusal of header injection before anything could be sent.
#include <oss/client.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/ops/endpoint.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/ops/retry.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/error.hpp>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using oss::retry_class;
using oss::detail::backoff_delay;
using oss::detail::retry_budget;
using oss::detail::retry_delay;

namespace {

// The full-jitter ceiling of the wait after failed attempt `n`: min(max, base * 2^n).
std::int64_t ceiling(int n, std::chrono::milliseconds base, std::chrono::milliseconds max) {
  std::int64_t c = base.count();
  for (int i = 0; i < n && c < max.count(); ++i) c *= 2;
  return std::min<std::int64_t>(c, max.count());
}

}  // namespace

TEST_CASE("retry policy: failures fall into the four classes") {
  using oss::classify;
  using oss::client_errc;
  using oss::server_errc;
  SUBCASE("transient: the network or the request's bytes failed") {
    CHECK(classify(client_errc::connection_timeout, 0) == retry_class::transient);
    CHECK(classify(client_errc::crc64_mismatch, 200) == retry_class::transient);
    CHECK(classify(asio::error::connection_reset, 0) == retry_class::transient);
    CHECK(classify(asio::error::connection_refused, 0) == retry_class::transient);
    CHECK(classify(asio::error::eof, 0) == retry_class::transient);
    CHECK(classify(server_errc::request_timeout, 400) == retry_class::transient);
    CHECK(classify(server_errc::invalid_digest, 400) == retry_class::transient);
    CHECK(classify(server_errc::request_time_too_skewed, 403) == retry_class::transient);
    CHECK(classify(oss::make_http_status_error(408), 408) == retry_class::transient);
  }
  SUBCASE("throttled: the server asked us to slow down") {
    CHECK(classify(server_errc::slow_down, 503) == retry_class::throttled);
    CHECK(classify(server_errc::service_unavailable, 503) == retry_class::throttled);
    CHECK(classify(oss::make_http_status_error(429), 429) == retry_class::throttled);
    CHECK(classify(oss::make_http_status_error(503), 503) == retry_class::throttled);
    CHECK(classify(server_errc::unknown, 429) == retry_class::throttled);
  }
  SUBCASE("server: the server failed internally") {
    CHECK(classify(server_errc::internal_error, 500) == retry_class::server);
    CHECK(classify(oss::make_http_status_error(502), 502) == retry_class::server);
    CHECK(classify(server_errc::unknown, 504) == retry_class::server);
  }
  SUBCASE("fatal: asking again cannot help") {
    CHECK(classify(server_errc::no_such_upload, 404) == retry_class::fatal);
    CHECK(classify(server_errc::access_denied, 403) == retry_class::fatal);
    CHECK(classify(server_errc::security_token_expired, 403) == retry_class::fatal);
    CHECK(classify(server_errc::invalid_access_key_id, 403) == retry_class::fatal);
    CHECK(classify(oss::make_http_status_error(501), 501) == retry_class::fatal);
    CHECK(classify(asio::error::operation_aborted, 0) == retry_class::fatal);
    CHECK(classify(client_errc::invalid_header_value, 0) == retry_class::fatal);
    CHECK(classify(client_errc::credentials_unavailable, 0) == retry_class::fatal);
  }
}

TEST_CASE("retry policy: back-off waits stay inside the full-jitter bounds") {
  const auto base = 200ms;
  const auto max = 20000ms;
  for (int n = 1; n <= 12; ++n) {
    CAPTURE(n);
    const std::int64_t c = ceiling(n, base, max);
    // Check: [0, ceiling), whatever the random draw, reaching close to the ceiling at the top.
    CHECK(backoff_delay(n, base, max, 0.0).count() == 0);
    for (double r : {0.1, 0.25, 0.5, 0.75, 0.999999, 1.0, 7.0}) {
      const auto d = backoff_delay(n, base, max, r).count();
      CHECK(d >= 0);
      CHECK(d < c);
    }
    CHECK(backoff_delay(n, base, max, 0.999999).count() >= c - 1 - c / 1000);
    CHECK(backoff_delay(n, base, max, 0.5).count() == c / 2);
  }
  // The ceiling doubles per attempt until the cap: 400, 800, 1600 ... 20000.
  CHECK(ceiling(1, base, max) == 400);
  CHECK(ceiling(3, base, max) == 1600);
  CHECK(ceiling(7, base, max) == 20000);
  // Degenerate inputs: no negative waits, no overflow, NaN draws count as 0.
  CHECK(backoff_delay(0, base, max, 0.5).count() == 200);
  CHECK(backoff_delay(1000000, base, max, 0.5).count() == 10000);
  CHECK(backoff_delay(3, base, max, -1.0).count() == 0);
  CHECK(backoff_delay(3, base, max, std::numeric_limits<double>::quiet_NaN()).count() == 0);
  CHECK(backoff_delay(3, 0ms, max, 0.5).count() == 0);
}

TEST_CASE("retry policy: throttling doubles the base, other retryable classes do not") {
  const auto base = 100ms;
  const auto max = 60000ms;
  for (int n = 1; n <= 8; ++n) {
    CAPTURE(n);
    for (double r : {0.0, 0.3, 0.5, 0.9}) {
      CAPTURE(r);
      const auto plain = backoff_delay(n, base, max, r);
      CHECK(retry_delay(retry_class::transient, n, base, max, r) == plain);
      CHECK(retry_delay(retry_class::server, n, base, max, r) == plain);
      CHECK(retry_delay(retry_class::throttled, n, base, max, r) == backoff_delay(n, base * 2, max, r));
    }
    // Same draw, twice the ceiling (until the cap).
    CHECK(retry_delay(retry_class::throttled, n, base, max, 0.5).count() ==
          std::min<std::int64_t>(2 * ceiling(n, base, max), max.count()) / 2);
  }
  CHECK(retry_delay(retry_class::fatal, 1, base, max, 0.5).count() == 0);
  // A base near the cap cannot overflow when doubled.
  CHECK(retry_delay(retry_class::throttled, 2, std::chrono::milliseconds::max(), max, 0.5).count() ==
        max.count() / 2);
}

TEST_CASE("Retry-After: delta-seconds or an HTTP date, from the reply's Date when it has one") {
  using oss::detail::retry_after_delay;
  namespace http = oss::detail::http;
  const auto now = std::chrono::system_clock::now();
  auto reply_with = [](std::vector<std::pair<std::string, std::string>> headers) {
    http::response r;
    r.status = 503;
    for (auto& [n, v] : headers) r.headers.add(n, v);
    return r;
  };
  const auto server_now = now - 1h;  // a server clock an hour behind ours
  CHECK(retry_after_delay(reply_with({}), now) == std::nullopt);
  CHECK(retry_after_delay(reply_with({{"Retry-After", "2"}}), now) == 2000ms);
  CHECK(retry_after_delay(reply_with({{"Retry-After", " 0 "}}), now) == 0ms);
  CHECK(retry_after_delay(reply_with({{"Retry-After", "99999999999999999999"}}), now) == 100000000s);
  CHECK(retry_after_delay(reply_with({{"Retry-After", "-1"}}), now) == std::nullopt);
  CHECK(retry_after_delay(reply_with({{"Retry-After", "1.5"}}), now) == std::nullopt);
  CHECK(retry_after_delay(reply_with({{"Retry-After", ""}}), now) == std::nullopt);
  CHECK(retry_after_delay(reply_with({{"Retry-After", oss::detail::http_date(now + 10s)}}), now) >= 9000ms);
  CHECK(retry_after_delay(reply_with({{"Retry-After", oss::detail::http_date(now - 10s)}}), now) == 0ms);
  CHECK(retry_after_delay(reply_with({{"Date", oss::detail::http_date(server_now)},
                                      {"Retry-After", oss::detail::http_date(server_now + 5s)}}),
                          now) == 5000ms);
  CHECK(retry_after_delay(reply_with({{"Retry-After", "Wed, 31 Feb 2026 00:00:00 GMT"}}), now) == std::nullopt);
}

TEST_CASE("throttling codes: OSS's and S3's, by exact name") {
  using oss::detail::is_throttling_code;
  for (const char* code : {"SlowDown", "ServiceUnavailable", "QpsLimitExceeded", "TotalQpsLimitExceeded",
                           "MetaOperationQpsLimitExceeded", "ActiveRequestLimitExceeded",
                           "UploadTrafficRateLimitExceeded", "DownloadTrafficRateLimitExceeded"})
    CHECK(is_throttling_code(code));
  for (const char* code : {"", "slowdown", "InternalError", "AccessDenied", "SlowDownPlease"})
    CHECK_FALSE(is_throttling_code(code));
}

TEST_CASE("retry budget: a token bucket that retries draw from and successes refill") {
  oss::retry_budget_options o;  // 500 tokens, 5 per retry, 10 per timeout retry, refund 1
  SUBCASE("it pays for capacity / cost retries, then refuses") {
    retry_budget b(o);
    int paid = 0;
    std::uint32_t taken = 0;
    for (int i = 0; i < 1000 && b.try_acquire(false, taken); ++i) {
      CHECK(taken == 5);
      ++paid;
    }
    CHECK(paid == 100);
    CHECK(b.available() == 0);
    CHECK_FALSE(b.try_acquire(false, taken));
    CHECK(taken == 0);
  }
  SUBCASE("timeouts cost twice as much") {
    retry_budget b(o);
    int paid = 0;
    std::uint32_t taken = 0;
    while (paid < 1000 && b.try_acquire(true, taken)) ++paid;
    CHECK(paid == 50);
  }
  SUBCASE("a success after a retry refunds that retry; a first-try success refunds 1") {
    retry_budget b(o);
    std::uint32_t taken = 0;
    REQUIRE(b.try_acquire(true, taken));
    CHECK(b.available() == 490);
    b.on_success(taken);
    CHECK(b.available() == 500);
    b.on_success(0);  // never beyond capacity
    CHECK(b.available() == 500);
    while (b.try_acquire(false, taken)) {
    }
    CHECK(b.available() == 0);
    for (int i = 0; i < 4; ++i) b.on_success(0);
    CHECK_FALSE(b.try_acquire(false, taken));  // 4 < 5
    b.on_success(0);
    CHECK(b.try_acquire(false, taken));  // refilled by 5 successes
  }
  SUBCASE("capacity 0 turns the budget off") {
    oss::retry_budget_options off;
    off.capacity = 0;
    retry_budget b(off);
    std::uint32_t taken = 7;
    for (int i = 0; i < 10000; ++i) REQUIRE(b.try_acquire(i % 2 == 0, taken));
    CHECK(taken == 0);
    CHECK_FALSE(b.enabled());
  }
  SUBCASE("threads drawing at once never overdraw it") {
    retry_budget b(o);
    std::atomic<int> paid{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        std::uint32_t taken = 0;
        for (int i = 0; i < 1000; ++i)
          if (b.try_acquire(false, taken)) ++paid;
      });
    }
    for (auto& th : threads) th.join();
    CHECK(paid == 100);
    CHECK(b.available() == 0);
  }
}

TEST_CASE("client options: retry, budget and credential settings are checked up front") {
  asio::io_context io;
  auto base = [] {
    oss::client_options o;
    o.endpoint = "http://127.0.0.1:9";
    o.region = "cn-local";
    o.bucket = "retry-bucket";
    o.address_style = oss::addressing_style::path_style;
    o.creds = {"ak", "sk", ""};
    return o;
  };
  auto code_of = [&](const oss::client_options& o) {
    try {
      oss::client c(io.get_executor(), o);
      return std::error_code{};
    } catch (const oss::error& e) {
      CHECK(std::string(e.what()).find("sk-secret") == std::string::npos);
      return e.code();
    }
  };
  CHECK_FALSE(code_of(base()));
  {
    auto o = base();
    o.max_attempts = 0;
    CHECK(code_of(o) == std::errc::invalid_argument);
  }
  {
    auto o = base();
    o.creds_refresh_margin = std::chrono::seconds(-1);
    CHECK(code_of(o) == std::errc::invalid_argument);
  }
  for (const auto bad : {std::chrono::milliseconds(0), std::chrono::milliseconds(-1)}) {
    auto time = base();
    time.retry_time = bad;
    CHECK(code_of(time) == std::errc::invalid_argument);
    auto after = base();
    after.max_retry_after = bad;
    CHECK(code_of(after) == std::errc::invalid_argument);
  }
  {
    auto o = base();
    o.creds_provider = oss::make_static_credentials_provider({"ak", "sk", ""});
    CHECK(code_of(o) == std::errc::invalid_argument);  // both creds and a provider
    o.creds = {};
    CHECK_FALSE(code_of(o));
  }
  {
    auto o = base();
    o.creds = {"ak", "", ""};
    CHECK(code_of(o) == oss::client_errc::missing_credentials);
    o.creds = {"", "sk-secret", ""};
    CHECK(code_of(o) == oss::client_errc::missing_credentials);
  }
  {
    auto o = base();
    o.creds = {"ak\r\nX-Injected: 1", "sk-secret", ""};
    CHECK(code_of(o) == oss::client_errc::invalid_header_value);
    o.creds = {"ak", "sk-secret", "token\nX-Injected: 1"};
    CHECK(code_of(o) == oss::client_errc::invalid_header_value);
    o.creds = {"ak", "sk-secret", std::string("tok\0en", 6)};
    CHECK(code_of(o) == oss::client_errc::invalid_header_value);
  }
  {
    auto o = base();
    o.user_agent = "agent\r\nX-Injected: 1";
    CHECK(code_of(o) == oss::client_errc::invalid_header_value);
  }
  {
    // A fresh client's budget is full, and its counters are zero.
    oss::client c(io.get_executor(), base());
    const auto n = c.counters();
    CHECK(n.retry_tokens == 500);
    CHECK(n.requests == 0);
    CHECK(n.attempts == 0);
    CHECK(n.credential_refreshes == 0);
  }
}

// ---- header injection: the builders refuse before anything can be sent ----------------------

TEST_CASE("request builders: CR, LF and control characters never reach a request") {
  using oss::client_errc;
  using oss::detail::make_initiate;
  using oss::detail::make_put_object;
  using oss::detail::op_request;
  const std::string body = "payload";

  struct bad_case {
    const char* what;
    oss::object_options opts;
    std::error_code expected;
  };
  auto with_meta = [](std::string k, std::string v) {
    oss::object_options o;
    o.meta.emplace_back(std::move(k), std::move(v));
    return o;
  };
  auto with_header = [](std::string k, std::string v) {
    oss::object_options o;
    o.headers.emplace_back(std::move(k), std::move(v));
    return o;
  };
  auto with_mime = [](std::string m) {
    oss::object_options o;
    o.mime = std::move(m);
    return o;
  };
  const std::vector<bad_case> cases{
      {"CRLF in a meta value", with_meta("k", "v\r\nX-Injected: 1"), client_errc::invalid_header_value},
      {"LF in a meta value", with_meta("k", "v\nX-Injected: 1"), client_errc::invalid_header_value},
      {"CR in a meta value", with_meta("k", "v\rX"), client_errc::invalid_header_value},
      {"NUL in a meta value", with_meta("k", std::string("v\0x", 3)), client_errc::invalid_metadata},
      {"DEL in a meta value", with_meta("k", "v\x7fx"), client_errc::invalid_metadata},
      {"ESC in a meta value", with_meta("k", "v\x1b[31m"), client_errc::invalid_metadata},
      {"CRLF in a meta key", with_meta("k\r\nX-Injected", "1"), client_errc::invalid_metadata},
      {"LF in a meta key", with_meta("k\nx", "1"), client_errc::invalid_metadata},
      {"space in a meta key", with_meta("k x", "1"), client_errc::invalid_metadata},
      {"CRLF in a header value", with_header("Cache-Control", "no-cache\r\nX-Injected: 1"),
       client_errc::invalid_header_value},
      {"LF in a header value", with_header("Cache-Control", "a\nb"), client_errc::invalid_header_value},
      {"NUL in a header value", with_header("Cache-Control", std::string("a\0b", 3)),
       client_errc::invalid_header_value},
      {"BEL in a header value", with_header("Cache-Control", "a\x07z"), client_errc::invalid_header_value},
      {"CRLF in a header name", with_header("X-A\r\nX-Injected", "1"), client_errc::invalid_header_value},
      {"colon in a header name", with_header("X-A: b", "1"), client_errc::invalid_header_value},
      {"empty header name", with_header("", "1"), client_errc::invalid_header_value},
      {"CRLF in an x-oss-meta header value", with_header("x-oss-meta-a", "1\r\nX: 2"),
       client_errc::invalid_header_value},
      {"Host given as a header", with_header("Host", "evil.example"), client_errc::invalid_header_value},
      {"Authorization given as a header", with_header("authorization", "OSS a:b"),
       client_errc::invalid_header_value},
      {"CRLF in the MIME type", with_mime("text/plain\r\nX-Injected: 1"), client_errc::invalid_header_value},
      {"LF in the MIME type", with_mime("text/plain\nX"), client_errc::invalid_header_value},
      {"NUL in the MIME type", with_mime(std::string("text/plain\0", 11)), client_errc::invalid_header_value},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    op_request out;
    std::string problem;
    CHECK(make_put_object("a.txt", asio::buffer(body), c.opts, out, problem) == c.expected);
    CHECK_FALSE(problem.empty());
    // The explanation names the problem without echoing the control characters (they would
    // inject lines into whatever log shows the error).
    for (char ch : problem) CHECK(static_cast<unsigned char>(ch) >= 0x20);
    op_request init;
    std::string init_problem;
    CHECK(make_initiate("a.txt", c.opts, init, init_problem) == c.expected);
  }

  SUBCASE("clean options pass and produce well-formed fields") {
    oss::object_options ok;
    ok.meta = {{"Year", " 2020 "}};
    ok.headers = {{"Cache-Control", "no-cache"}, {"x-oss-storage-class", "IA"}};
    ok.mime = "video/mp4";
    op_request out;
    std::string problem;
    REQUIRE_FALSE(make_put_object("a.mp4", asio::buffer(body), ok, out, problem));
    for (const auto& [name, value] : out.headers) {
      CHECK(oss::detail::http::is_valid_field_name(name));
      CHECK(oss::detail::http::is_valid_field_value(value));
    }
  }
}

TEST_CASE("client options: designated initialisers name only what they change") {
  // Compiled with -Wextra (warning_level=3): a member without a default initialiser would make
  // each of these warn -Wmissing-field-initializers in user code.
  const oss::client_options o{.endpoint = "http://127.0.0.1:9", .bucket = "designated",
                              .max_attempts = 5, .retry_budget = {.capacity = 100}};
  const oss::object_options obj{.mime = "text/plain"};
  const oss::list_uploads_options lu{.prefix = "p/"};
  const oss::completed_part part{.part_number = 1, .etag = "\"e\""};
  const oss::expiring_credentials ec{.creds = {.access_key_id = "ak", .access_key_secret = "sk"}};
  const oss::client_clock clock{.random = [] { return 0.5; }};
  CHECK(o.max_attempts == 5);
  CHECK(o.retry_budget.capacity == 100);
  CHECK(o.retry_budget.retry_cost == 5);
  CHECK(o.creds_refresh_margin == std::chrono::seconds(300));
  CHECK(obj.mime == "text/plain");
  CHECK(lu.max_uploads == 1000);
  CHECK_FALSE(part.size);
  CHECK_FALSE(ec.expiration);
  CHECK(clock.random() == 0.5);
  CHECK_FALSE(clock.sleep);
}
