// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_BLOCKING_WORK_HPP
#define OSS_DETAIL_ENGINE_BLOCKING_WORK_HPP

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/dispatch.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

namespace oss::detail {

// Where a transfer's blocking work runs (pread, hashing, checkpoint writes): the caller's file
// executor, else a small pool of its own. Never the caller's event loop.
//
// Declare it after everything its jobs touch: destroying it joins its own pool.
class blocking_work {
 public:
  // `home`: where results come back to (the transfer's strand). `threads`: the size of the own
  // pool when `file_executor` is empty; it is started by the first job, so a transfer refused
  // before any blocking work starts no thread.
  blocking_work(asio::any_io_executor home, asio::any_io_executor file_executor, std::size_t threads)
      : home_(std::move(home)), ex_(std::move(file_executor)), threads_(std::max<std::size_t>(threads, 1)) {}

  blocking_work(const blocking_work&) = delete;
  blocking_work& operator=(const blocking_work&) = delete;

  // Runs `f()` on the file executor and resumes on the awaiting coroutine's executor.
  //
  // Not `co_spawn(ex_, ...)`: co_spawn links the caller's cancellation slot to the new
  // coroutine, so stopping a worker would write that coroutine's cancellation state on the
  // strand while it runs on a pool thread (a data race ThreadSanitizer reports). A blocking job
  // cannot be interrupted anyway, so this operation takes no cancellation at all; it keeps the
  // caller's executor busy (outstanding work) until its handler has been dispatched there.
  template <typename F>
  asio::awaitable<std::invoke_result_t<F&>> run(F f) {
    // The job is called through a plain function pointer, so the posting machinery
    // (run_erased: an async_initiate, two lambdas, a post and a dispatch) is compiled once
    // rather than once for every kind of job, which is a compile-time cost in every
    // header-only program.
    using result_type = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<result_type>) {
      co_await run_erased(&call_job<F>, &f);
    } else {
      std::optional<result_type> result;
      auto job = [&f, &result] { result.emplace(f()); };
      co_await run_erased(&call_job<decltype(job)>, &job);
      co_return std::move(*result);
    }
  }

  // Jobs over at most this many bytes run right where they are asked for: the hop to the pool
  // and back costs more than a pread of that much from the page cache and its digests (6% of
  // the time at 100 KiB parts).
  static constexpr std::uint64_t inline_job_max = 256 * 1024;

  // Runs `f()`, a job over `bytes` bytes, right here when it is small (inline_job_max), else as
  // run().
  template <typename F>
  asio::awaitable<std::invoke_result_t<F&>> run_sized(std::uint64_t bytes, F f) {
    if (bytes <= inline_job_max) co_return f();
    co_return co_await run(std::move(f));
  }

 private:
  template <typename J>
  static void call_job(void* job) {
    (*static_cast<J*>(job))();
  }

  // run() for any job: `call(job)` on the file executor, then back to the caller's executor.
  // `job` lives in the awaiting coroutine's frame, which the handler keeps alive until it has
  // been resumed.
  asio::awaitable<void> run_erased(void (*call)(void*), void* job) {
    if (!ex_) {
      // Only the transfer's strand calls run(): no other thread can race this.
      own_pool_.emplace(threads_);
      ex_ = own_pool_->get_executor();
    }
    auto initiation = [this](auto handler, void (*call)(void*), void* job) {
      auto home = asio::prefer(asio::get_associated_executor(handler, home_),
                               asio::execution::outstanding_work.tracked);
      auto work = [handler = std::move(handler), call, job, home]() mutable {
        call(job);
        auto deliver = [handler = std::move(handler)]() mutable { std::move(handler)(); };
        asio::dispatch(home, std::move(deliver));
      };
      asio::post(ex_, std::move(work));
    };
    co_await asio::async_initiate<const asio::use_awaitable_t<>, void()>(std::move(initiation), asio::use_awaitable,
                                                                         call, job);
  }

  asio::any_io_executor home_;
  asio::any_io_executor ex_;
  std::size_t threads_;
  std::optional<asio::thread_pool> own_pool_;
};

}  // namespace oss::detail

#endif  // OSS_DETAIL_ENGINE_BLOCKING_WORK_HPP
