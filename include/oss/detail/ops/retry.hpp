// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_RETRY_HPP
#define OSS_DETAIL_OPS_RETRY_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

// The sans-io half of the retry loop: how long to wait, and what the server's clock says.
namespace oss::detail {

// Full-jitter exponential back-off (oss-protocol.md 5.3, go2 `retry/backoff.go`): the wait
// before the next attempt after `attempt` failed attempts (1 after the first failure) is
// `random * min(max, base * 2^attempt)`, `random` drawn uniformly from [0, 1). Values of
// `random` outside [0, 1) are clamped; attempt < 1 counts as 1; the exponent saturates so huge
// attempt counts give `max` instead of overflowing.
OSS_DECL std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                                 std::chrono::milliseconds max,
                                                 double random) noexcept;

// The wait before the retry that follows failed attempt number `attempt` of class `cls`:
// backoff_delay with `base`, doubled for throttling replies (the server asked for patience).
// 0 for fatal failures, which are not retried.
OSS_DECL std::chrono::milliseconds retry_delay(retry_class cls, int attempt,
                                               std::chrono::milliseconds base,
                                               std::chrono::milliseconds max,
                                               double random) noexcept;

// The client-wide token bucket of retry_budget_options (the AWS SDKs' standard retry quota).
// Lock-free: every request of a client, on any thread, draws from the same bucket.
class retry_budget {
 public:
  explicit retry_budget(const retry_budget_options& options) noexcept
      : options_(options), tokens_(options.capacity) {}

  // Takes the price of one retry (the timeout price when `after_timeout`). False when the
  // bucket cannot pay: do not retry. A disabled budget (capacity 0) always pays, at no cost.
  // `taken` receives what was taken, for on_success.
  bool try_acquire(bool after_timeout, std::uint32_t& taken) noexcept {
    taken = 0;
    if (options_.capacity == 0) return true;
    const std::uint32_t cost = after_timeout ? options_.timeout_retry_cost : options_.retry_cost;
    std::uint32_t have = tokens_.load(std::memory_order_relaxed);
    do {
      if (have < cost) return false;
    } while (!tokens_.compare_exchange_weak(have, have - cost, std::memory_order_relaxed));
    taken = cost;
    return true;
  }

  // A request succeeded; `last_taken` is what its last retry took (0 when it needed none), and
  // goes back into the bucket, or success_refund when there was no retry.
  void on_success(std::uint32_t last_taken) noexcept {
    if (options_.capacity == 0) return;
    const std::uint32_t refund = last_taken > 0 ? last_taken : options_.success_refund;
    std::uint32_t have = tokens_.load(std::memory_order_relaxed);
    std::uint32_t next = 0;
    do {
      next = have + refund > options_.capacity || have + refund < have ? options_.capacity : have + refund;
    } while (!tokens_.compare_exchange_weak(have, next, std::memory_order_relaxed));
  }

  std::uint32_t available() const noexcept { return tokens_.load(std::memory_order_relaxed); }
  bool enabled() const noexcept { return options_.capacity != 0; }

 private:
  retry_budget_options options_;
  std::atomic<std::uint32_t> tokens_;
};

// The wait a reply asks for with Retry-After (RFC 9110 10.2.3): delta-seconds, or an HTTP-date
// measured from the reply's own Date when it has one (so a skewed local clock does not matter),
// else from `now`; a date already past is 0. nullopt when the header is absent or malformed.
// Not capped here (client_options::max_retry_after is the caller's).
OSS_DECL std::optional<std::chrono::milliseconds> retry_after_delay(
    const http::response& reply, std::chrono::system_clock::time_point now) noexcept;

// OSS's and S3's throttling codes (oss-protocol.md 11b): SlowDown, ServiceUnavailable,
// QpsLimitExceeded, TotalQpsLimitExceeded, MetaOperationQpsLimitExceeded,
// ActiveRequestLimitExceeded, UploadTrafficRateLimitExceeded, DownloadTrafficRateLimitExceeded.
// They come with 503 or 429, which classify() already calls throttled; the code list also
// catches them in a 200 <Error> body or under another status.
OSS_DECL bool is_throttling_code(std::string_view code) noexcept;

// Server time minus `local_now`, from a RequestTimeTooSkewed reply: the Date header (RFC 1123)
// when it parses, else the ServerTime of the error body (`server_time`, ISO 8601 extended, may be
// empty). nullopt when neither gives a time.
OSS_DECL std::optional<std::chrono::milliseconds> server_clock_offset(
    const http::response& reply, std::string_view server_time,
    std::chrono::system_clock::time_point local_now) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/retry.ipp>
#endif

#endif  // OSS_DETAIL_OPS_RETRY_HPP
