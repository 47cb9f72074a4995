// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_RATE_LIMIT_HPP
#define OSS_DETAIL_TRANSPORT_RATE_LIMIT_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace oss::detail::transport {

// A bandwidth limit shared by every exchange that holds it, on any thread: a virtual clock
// (GCRA) rather than a bucket of tokens refilled by a timer. Each take(n) moves the clock on by
// n / rate and says how long the caller waits before the bytes may go, so many connections
// together keep to the rate, each slice of bytes spaced as the rate allows. Up to `burst` of
// unused time is credited (a flow that paused may catch up that much at once), which keeps the
// flow smooth at the 10 ms scale.
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds burst{10};

  explicit token_bucket(std::uint64_t bytes_per_second) : rate_(std::max<std::uint64_t>(bytes_per_second, 1)) {}

  std::uint64_t rate() const noexcept { return rate_; }

  // How many bytes to move between waits: 10 ms worth at this rate, at least 4 KiB, at most
  // 1 MiB.
  std::size_t slice() const noexcept {
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(rate_ / 100, 4096, 1 << 20));
  }

  // Takes `n` bytes; returns how long to wait before sending (or after receiving) them.
  clock::duration take(std::uint64_t n) {
    const clock::time_point now = clock::now();
    std::lock_guard lock(mutex_);
    if (next_ < now - burst) next_ = now - burst;
    next_ += std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double>(static_cast<double>(n) / static_cast<double>(rate_)));
    return next_ > now ? next_ - now : clock::duration::zero();
  }

 private:
  const std::uint64_t rate_;
  std::mutex mutex_;
  clock::time_point next_{};
};

}  // namespace oss::detail::transport

#endif  // OSS_DETAIL_TRANSPORT_RATE_LIMIT_HPP
