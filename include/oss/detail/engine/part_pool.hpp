// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_PART_POOL_HPP
#define OSS_DETAIL_ENGINE_PART_POOL_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/engine/shared_allowance.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <sys/mman.h>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail {

// A part buffer, from malloc or straight from mmap. Under a memory budget a part's buffer is
// freed with its budget, and through malloc a freed 8 MiB block stays resident (glibc raises its
// mmap threshold past the size of a block once it is freed, and keeps later ones in the heap),
// so the budget would bound what is in use and not what is resident: 64 files at 8 MiB parts
// under a 64 MiB budget peaked at 94 MiB, 80 MiB mapped. Without a budget buffers are kept and
// reused, and malloc's reuse of a freed block costs no page faults, so they come from malloc.
struct part_buffer_deleter {
  std::size_t mapped_length = 0;  // 0: from new[]
  void operator()(std::byte* p) const noexcept {
    if (!p) return;
    if (mapped_length)
      ::munmap(p, mapped_length);
    else
      delete[] p;
  }
};
using part_buffer = std::unique_ptr<std::byte[], part_buffer_deleter>;

inline part_buffer make_part_buffer(std::size_t len, bool mapped) {
  const std::size_t length = std::max<std::size_t>(len, 1);
  if (!mapped) return part_buffer(new std::byte[length], part_buffer_deleter{});
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return part_buffer(static_cast<std::byte*>(p), part_buffer_deleter{length});
}

// Part buffers of file uploads, shared by every upload running on one client (issue 5). A
// worker reads a part only once it holds one of `capacity` slots, `capacity` being the client's
// connection limit (client_options::max_connections), and gives the slot back as soon as the
// part's request has ended. So one upload holds at most `parallel` part buffers, and many
// uploads sharing a client hold no more buffers than there are connections to carry them
// (64 files at 1 MiB x 5 each read 320 parts ahead of 64 connections before).
//
// Thread-safe: the uploads of one client may run on strands of a multi-threaded io_context. The
// slots are a concurrent_channel used as a FIFO semaphore (a send takes a slot, a receive frees
// one); the idle buffers are a mutex-guarded free list, reused by size, so a steady upload does
// not allocate (or fault in) a part buffer per part. Live plus idle buffers never exceed
// `capacity`, and the idle buffers of a part size no running upload uses any more are freed.
//
// The client owns it (client_impl, reached through detail::access), so uploads on different
// clients never share one and nothing is process-wide. An upload holds it by shared_ptr until
// its last lease is given back.
class part_pool {
 public:
  part_pool(asio::any_io_executor ex, std::size_t capacity)
      : capacity_(capacity), channel_(std::move(ex), capacity) {}

  // Waits for a slot, in arrival order. False when the wait was cancelled (a stopping upload).
  asio::awaitable<bool> acquire() {
    const std::error_code none;
    const bool token = true;
    std::tuple<std::error_code> r =
        co_await channel_.async_send(none, token, asio::experimental::as_tuple(asio::use_awaitable));
    co_return !std::get<0>(r);
  }
  void release() noexcept {
    channel_.try_receive([](std::error_code, bool) {});
  }

  // A buffer of `len` bytes for a slot holder; `mapped` under a memory budget (part_buffer).
  part_buffer take(std::size_t len, bool mapped) {
    part_buffer evicted;  // freed outside the lock
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      ++live_;
      for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
        if (it->first == len) {
          part_buffer buf = std::move(it->second);
          idle_.erase(std::next(it).base());
          return buf;
        }
      }
      if (live_ + idle_.size() > capacity_ && !idle_.empty()) {
        evicted = std::move(idle_.front().second);
        idle_.erase(idle_.begin());
      }
    }
    return make_part_buffer(len, mapped);
  }

  void give(part_buffer buf, std::size_t len) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    --live_;
    if (buf && users_.contains(len)) {
      try {
        idle_.emplace_back(len, std::move(buf));
      } catch (...) {  // the buffer is freed; the next take allocates again
      }
    }
  }

  // A running upload reads parts of `len` bytes (its part size, or the whole file if smaller).
  void add_user(std::size_t len) {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++users_[len];
  }
  void remove_user(std::size_t len) noexcept {
    const std::lock_guard<std::mutex> lock(mutex_);
    auto it = users_.find(len);
    if (it == users_.end() || --it->second > 0) return;
    users_.erase(it);
    std::erase_if(idle_, [len](const auto& e) { return e.first == len; });
  }

 private:
  const std::size_t capacity_;
  // void(error_code) alone is ambiguous among Asio 1.22's channel_traits: a dummy bool rides along.
  asio::experimental::concurrent_channel<void(std::error_code, bool)> channel_;
  std::mutex mutex_;
  std::size_t live_ = 0;
  std::vector<std::pair<std::size_t, part_buffer>> idle_;
  std::map<std::size_t, std::size_t> users_;
};

// One slot and its buffer, held from before a part is read until its request has ended, with
// the part's share of the client's transfer budget (oss::transfer_budget).
class part_lease {
 public:
  part_lease() = default;
  part_lease(const part_lease&) = delete;
  part_lease& operator=(const part_lease&) = delete;
  ~part_lease() { reset(); }

  // Records a slot acquired from `slots`; its buffer has `len` bytes.
  void hold(part_pool& slots, std::size_t len) noexcept {
    slots_ = &slots;
    len_ = len;
  }
  std::byte* buffer() {
    if (!buf_) buf_ = slots_->take(len_, budget.memory.held());
    return buf_.get();
  }
  // The part's request and bytes of the transfer budget, given back with the slot.
  budget_hold budget;

  void reset() noexcept {
    // Under a memory budget the buffer is freed with its bytes of the budget: an idle buffer
    // kept for reuse would be memory the budget no longer counts.
    const bool budgeted = budget.memory.held();
    budget.reset();
    if (!slots_) return;
    if (buf_) {
      if (budgeted) buf_.reset();
      slots_->give(std::move(buf_), len_);
    }
    slots_->release();
    slots_ = nullptr;
  }

 private:
  part_pool* slots_ = nullptr;
  std::size_t len_ = 0;
  part_buffer buf_;
};

}  // namespace oss::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_ENGINE_PART_POOL_HPP
