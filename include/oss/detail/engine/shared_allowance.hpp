// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_SHARED_ALLOWANCE_HPP
#define OSS_DETAIL_ENGINE_SHARED_ALLOWANCE_HPP

#include <oss/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <tuple>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail {

// A count of units (bytes of part buffers, or requests in flight) shared by the transfers of
// every client that holds one oss::transfer_budget, on any thread. A transfer takes units before
// it reads a part and gives them back once the part's request has ended; a transfer that does
// not fit waits rather than fails. Waiters are served in arrival order, so a part that needs much
// is not starved by a run of parts that need little. A request for more than the whole capacity
// is served as the whole capacity, alone (`fit`): it waits until everything else is back.
//
// The grant travels through a concurrent_channel of the waiter's own, whose try_send may come
// from any thread and whose completion runs on the waiter's executor (never inside release()).
class shared_allowance {
 public:
  explicit shared_allowance(std::uint64_t capacity)
      : capacity_(std::max<std::uint64_t>(capacity, 1)), free_(capacity_) {}
  shared_allowance(const shared_allowance&) = delete;
  shared_allowance& operator=(const shared_allowance&) = delete;

  std::uint64_t capacity() const noexcept { return capacity_; }
  // The units a request for `n` takes.
  std::uint64_t fit(std::uint64_t n) const noexcept { return std::min(n, capacity_); }

  // Units taken and not yet given back.
  std::uint64_t in_use() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return capacity_ - free_;
  }
  // The most units ever taken at once.
  std::uint64_t peak() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return peak_;
  }

  // Waits until fit(n) units are free and takes them. False when the wait was cancelled; then
  // nothing is taken.
  asio::awaitable<bool> acquire(std::uint64_t n) {
    n = fit(n);
    if (try_take(n)) co_return true;
    asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto w = std::make_shared<waiter>(std::move(ex), n);
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (queue_.empty() && free_ >= n) {
        take_locked(n);
        co_return true;
      }
      queue_.push_back(w);
    }
    std::tuple<std::error_code, bool> granted =
        co_await w->grant.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
    if (!std::get<0>(granted)) co_return true;
    // Cancelled. Either still queued (leave the queue; the next waiter may fit now) or granted
    // in the meantime (give the units back).
    bool was_granted = true;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto it = std::find(queue_.begin(), queue_.end(), w);
      if (it != queue_.end()) {
        queue_.erase(it);
        was_granted = false;
        serve_locked();
      }
    }
    if (was_granted) release(n);
    co_return false;
  }

  void release(std::uint64_t n) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    free_ = std::min(capacity_, free_ + n);
    serve_locked();
  }

 private:
  struct waiter {
    waiter(asio::any_io_executor ex, std::uint64_t n) : grant(std::move(ex), 1), units(n) {}
    // void(error_code) alone is ambiguous among Asio 1.22's channel_traits: a dummy bool rides along.
    asio::experimental::concurrent_channel<void(std::error_code, bool)> grant;
    std::uint64_t units;
  };

  bool try_take(std::uint64_t n) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!queue_.empty() || free_ < n) return false;
    take_locked(n);
    return true;
  }
  void take_locked(std::uint64_t n) noexcept {
    free_ -= n;
    peak_ = std::max(peak_, capacity_ - free_);
  }
  // Grants the waiters at the head of the queue that fit, in order.
  void serve_locked() noexcept {
    while (!queue_.empty() && queue_.front()->units <= free_) {
      const std::shared_ptr<waiter> w = std::move(queue_.front());
      queue_.pop_front();
      take_locked(w->units);
      w->grant.try_send(std::error_code(), true);  // capacity 1, one send: always taken
    }
  }

  const std::uint64_t capacity_;
  mutable std::mutex mutex_;
  std::uint64_t free_;
  std::uint64_t peak_ = 0;
  std::deque<std::shared_ptr<waiter>> queue_;
};

// Units of one shared_allowance held by a part in flight; given back on reset or destruction.
class allowance_hold {
 public:
  allowance_hold() = default;
  allowance_hold(const allowance_hold&) = delete;
  allowance_hold& operator=(const allowance_hold&) = delete;
  ~allowance_hold() { reset(); }

  // Waits for `n` units of `from` (none: nothing to wait for). False when cancelled.
  asio::awaitable<bool> take(shared_allowance* from, std::uint64_t n) {
    reset();
    if (!from || n == 0) co_return true;
    const bool got = co_await from->acquire(n);
    if (got) {
      from_ = from;
      units_ = from->fit(n);
    }
    co_return got;
  }
  bool held() const noexcept { return from_ != nullptr; }

  void reset() noexcept {
    if (from_) from_->release(units_);
    from_ = nullptr;
    units_ = 0;
  }

 private:
  shared_allowance* from_ = nullptr;
  std::uint64_t units_ = 0;
};

// What one request in flight holds of a transfer budget: itself, and the bytes of its buffers.
struct budget_hold {
  allowance_hold request;
  allowance_hold memory;

  // Waits for one of `requests` and then `bytes` of `buffers` (null: that one is not limited).
  // A transfer takes this last, once the request is otherwise ready to go, so whatever holds
  // budget is sending, never waiting for something a waiter holds. False when a wait was
  // cancelled.
  asio::awaitable<bool> take(shared_allowance* requests, shared_allowance* buffers, std::uint64_t bytes) {
    const bool request_granted = co_await request.take(requests, 1);
    if (!request_granted) co_return false;
    co_return co_await memory.take(buffers, bytes);
  }
  void reset() noexcept {
    memory.reset();
    request.reset();
  }
};

}  // namespace oss::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_ENGINE_SHARED_ALLOWANCE_HPP
