// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_ASYNC_OP_HPP
#define OSS_DETAIL_OPS_ASYNC_OP_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/cancellation_relay.hpp>
#include <oss/diagnostics.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>

#include <exception>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

// The token-shaped client operations (client::async_head, ...) in one shape, so that each adds
// only a thin async_initiate to the caller's translation unit: the operation itself is a
// non-template coroutine (impl/client.ipp) that returns an op_outcome; `spawn_op` spawns it
// on a new strand of the client's executor, behind the cancellation relay, and `op_completion`
// turns the outcome into the public signature `void(std::error_code[, R])`. The template code
// per completion handler is one co_spawn per result type, whatever the operation.
namespace oss::detail {

// What an operation ends with. `R` is std::monostate for the operations that complete with
// `void(std::error_code)`.
template <typename R>
struct op_outcome {
  std::error_code ec;
  diagnostics diag;
  R result{};
};

// An exception that escaped an operation (a clock or credentials hook that threw, memory
// exhausted): a completion with a code and the exception kept in diag.exception, never a throw
// through the caller's event loop. std::bad_alloc gives std::errc::not_enough_memory, a
// std::system_error its code, anything else client_errc::unexpected_exception.
OSS_DECL void escaped_exception(std::exception_ptr e, std::error_code& ec, diagnostics& diag);

// The handler co_spawn gets (inside relayed_handler): writes the caller's diagnostics, then
// calls the caller's handler. Runs on the handler's associated executor.
template <typename Handler, typename R>
struct op_completion {
  Handler handler;
  diagnostics* diag;

  void operator()(std::exception_ptr e, op_outcome<R> out) {
    if (e) {
      out.result = R{};
      escaped_exception(e, out.ec, out.diag);
    }
    *diag = std::move(out.diag);
    if constexpr (std::is_same_v<R, std::monostate>)
      std::move(handler)(out.ec);
    else
      std::move(handler)(out.ec, std::move(out.result));
  }
};

// The completion signature of an operation that ends with an op_outcome<R>.
template <typename R>
struct op_signature {
  using type = void(std::error_code, R);
};
template <>
struct op_signature<std::monostate> {
  using type = void(std::error_code);
};
template <typename R>
using op_signature_t = typename op_signature<R>::type;

// The initiation every token-shaped operation hands to async_initiate: `op` is the operation's
// coroutine, not yet started, and `strand` a new strand of the client's executor.
struct spawn_op {
  asio::any_io_executor strand;

  template <typename Handler, typename R>
  void operator()(Handler&& handler, asio::awaitable<op_outcome<R>> op, diagnostics* diag) const {
    using completion_type = op_completion<std::decay_t<Handler>, R>;
    // Not the caller's handler straight to co_spawn: Asio 1.22 would let the caller's emit run on
    // the caller's thread inside the operation's cancellation state (see cancellation_relay.hpp).
    relayed_handler<completion_type> done(completion_type{std::forward<Handler>(handler), diag}, strand);
    asio::co_spawn(strand, std::move(op), std::move(done));
  }
};

}  // namespace oss::detail

// op_completion forwards the caller's executor, cancellation slot and allocator (read by
// relayed_handler).
namespace asio {
template <typename Handler, typename R, typename Executor>
struct associated_executor<oss::detail::op_completion<Handler, R>, Executor> {
  using type = associated_executor_t<Handler, Executor>;
  static type get(const oss::detail::op_completion<Handler, R>& h, const Executor& ex = Executor()) noexcept {
    return asio::get_associated_executor(h.handler, ex);
  }
};
template <typename Handler, typename R, typename Slot>
struct associated_cancellation_slot<oss::detail::op_completion<Handler, R>, Slot> {
  using type = associated_cancellation_slot_t<Handler, Slot>;
  static type get(const oss::detail::op_completion<Handler, R>& h, const Slot& s = Slot()) noexcept {
    return asio::get_associated_cancellation_slot(h.handler, s);
  }
};
template <typename Handler, typename R, typename Allocator>
struct associated_allocator<oss::detail::op_completion<Handler, R>, Allocator> {
  using type = associated_allocator_t<Handler, Allocator>;
  static type get(const oss::detail::op_completion<Handler, R>& h, const Allocator& a = Allocator()) noexcept {
    return asio::get_associated_allocator(h.handler, a);
  }
};
}  // namespace asio

#endif  // OSS_DETAIL_OPS_ASYNC_OP_HPP
