// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_CANCELLATION_RELAY_HPP
#define OSS_DETAIL_CANCELLATION_RELAY_HPP

#include <oss/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

// An operation that runs on a strand of its own (co_spawn onto a new strand) must never see
// the caller's cancellation emitted from the caller's thread. Asio 1.22's co_spawn links the
// handler's cancellation slot straight to the coroutine's cancellation state, so an emit on the
// caller's thread writes that state, and calls whatever slot handler the coroutine installed
// last (a timer's, a socket's), while the strand reads and replaces them on another thread: a
// data race, and a handler called after the strand freed it.
//
// `relayed_handler` puts the relay in between. At initiation, on the caller's slot, it installs
// a handler that only dispatches the emit onto the strand; there the operation's own
// `cancellation_signal` is emitted with the same type (terminal, partial or total), unless the
// operation has ended by then. The operation (co_spawn) gets the relay's slot. Both ends share
// the relay through a shared_ptr, so an emit racing with completion touches live memory. On
// completion the handler first records, on the strand, that the operation ended; then, on the
// caller's handler's executor, clears the caller's slot (the end of the relay's use of it, as
// Asio's composed operations do) and calls the caller's handler.
namespace oss::detail {

class cancellation_relay {
 public:
  explicit cancellation_relay(asio::any_io_executor strand) : strand_(std::move(strand)) {}

  cancellation_relay(const cancellation_relay&) = delete;
  cancellation_relay& operator=(const cancellation_relay&) = delete;

  // The slot the operation on the strand listens to.
  asio::cancellation_slot slot() noexcept { return signal_.slot(); }

  // On the strand: the operation has ended, later emits are dropped.
  void finish() noexcept { finished_ = true; }

  // From any thread: emits `type` on the strand, unless the operation has ended by then.
  static void forward(const std::shared_ptr<cancellation_relay>& self, asio::cancellation_type_t type) {
    auto emit = [self, type] {
      if (!self->finished_) self->signal_.emit(type);
    };
    asio::dispatch(self->strand_, std::move(emit));
  }

 private:
  asio::any_io_executor strand_;
  asio::cancellation_signal signal_;  // emitted on the strand only
  bool finished_ = false;             // strand only
};

// The handler the relay installs on the caller's slot.
struct cancellation_forwarder {
  std::shared_ptr<cancellation_relay> relay;

  void operator()(asio::cancellation_type_t type) const { cancellation_relay::forward(relay, type); }
};

// The completion handler to give to an operation spawned on `strand` on behalf of `Handler`:
// see above. Its associated executor is the strand (so it runs there first), its cancellation
// slot the relay's (none when the caller's handler has no slot), its allocator the caller's.
template <typename Handler>
class relayed_handler {
 public:
  using executor_type = asio::any_io_executor;
  using cancellation_slot_type = asio::cancellation_slot;
  using allocator_type = asio::associated_allocator_t<Handler>;

  // Called in the initiating function, on the caller's thread.
  relayed_handler(Handler handler, asio::any_io_executor strand)
      : strand_(strand), work_(asio::get_associated_executor(handler, strand)),
        handler_(std::move(handler)) {
    auto caller_slot = asio::get_associated_cancellation_slot(handler_);
    if (caller_slot.is_connected()) {
      relay_ = std::make_shared<cancellation_relay>(std::move(strand));
      caller_slot.template emplace<cancellation_forwarder>(cancellation_forwarder{relay_});
    }
  }

  executor_type get_executor() const noexcept { return strand_; }
  cancellation_slot_type get_cancellation_slot() const noexcept {
    return relay_ ? relay_->slot() : asio::cancellation_slot();
  }
  allocator_type get_allocator() const noexcept { return asio::get_associated_allocator(handler_); }

  // On the strand.
  template <typename... Args>
  void operator()(Args... args) {
    if (relay_) relay_->finish();
    auto ex = work_.get_executor();
    auto deliver = [handler = std::move(handler_), relayed = relay_ != nullptr,
                    work = std::move(work_), args = std::make_tuple(std::move(args)...)]() mutable {
      if (relayed) asio::get_associated_cancellation_slot(handler).clear();
      work.reset();
      std::apply(std::move(handler), std::move(args));
    };
    asio::dispatch(ex, std::move(deliver));
  }

 private:
  asio::any_io_executor strand_;
  asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work_;
  Handler handler_;
  std::shared_ptr<cancellation_relay> relay_;
};

}  // namespace oss::detail

#endif  // OSS_DETAIL_CANCELLATION_RELAY_HPP
