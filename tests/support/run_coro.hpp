// Test support: run one coroutine to its end on an io_context, with a watchdog.
#ifndef OSS_TESTS_SUPPORT_RUN_CORO_HPP
#define OSS_TESTS_SUPPORT_RUN_CORO_HPP

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>
#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <tuple>
#include <utility>

namespace oss_test {

// The error-code style of the token-shaped operations in a coroutine:
// `std::tie(ec, result) = co_await c.async_head(name, diag, oss_test::tuple_token);`
inline constexpr auto tuple_token = asio::experimental::as_tuple(asio::use_awaitable);

// Runs `fn` (a callable returning asio::awaitable<void>) on `io` until it ends and rethrows what
// it threw. The limit is a watchdog only: a test that reaches it fails instead of hanging.
template <typename Fn>
void run_coro(asio::io_context& io, Fn fn, std::chrono::seconds limit = std::chrono::seconds(60)) {
  bool done = false;
  std::exception_ptr failure;
  auto finished = [&](std::exception_ptr e) {
    done = true;
    failure = e;
  };
  asio::co_spawn(io, std::move(fn), finished);
  io.restart();
  io.run_for(limit);
  REQUIRE_MESSAGE(done, "watchdog: the coroutine did not finish in time");
  if (failure) std::rethrow_exception(failure);
}

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_RUN_CORO_HPP
