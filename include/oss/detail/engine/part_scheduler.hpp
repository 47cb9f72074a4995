// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_PART_SCHEDULER_HPP
#define OSS_DETAIL_ENGINE_PART_SCHEDULER_HPP

#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

// The part scheduler of a transfer (design.md, "The engine"): which part goes next, how many
// parts may wait to become durable, and how the transfer ends. Sans-io: it owns no socket,
// file or timer, so every rule is unit-tested without them (tests/unit/test_engine.cpp). The
// transfer's coroutines ask it what to do and tell it what happened; it never calls back.
//
// How a transfer ends is one value, `transfer_end`, decided once: the first terminal event wins
// (a failure, the caller's cancellation, a handler of the caller's that threw), and later ones
// are consequences of stopping and are dropped. The one exception is an exception escaping the
// library's own code, which overrides anything before it: it is rethrown to the caller.
namespace oss::detail {

enum class transfer_end : unsigned char {
  running,        // nothing decided yet: keep going
  succeeded,      // the server holds the object and confirmed its bytes
  failed,         // an error the retries could not fix: error() and diag() say which
  cancelled,      // the caller cancelled
  handler_threw,  // a callback of the caller's (progress, stream reader) threw: exception()
  escaped,        // an exception escaped the library's own code: exception(), rethrown
};

class part_scheduler {
 public:
  // ---- the plan ----

  // A source of known length: parts 1..count, less those already `done`, in ascending order.
  void plan(std::uint32_t count, std::span<const int> done) {
    todo_.clear();
    next_ = 0;
    open_ended_ = false;
    std::vector<int> skip(done.begin(), done.end());
    std::sort(skip.begin(), skip.end());
    todo_.reserve(count > skip.size() ? count - skip.size() : 0);
    for (int n = 1; n <= static_cast<int>(count); ++n)
      if (!std::binary_search(skip.begin(), skip.end(), n)) todo_.push_back(n);
  }

  // A source whose length is unknown until it ends (a stream): parts 1, 2, ... until
  // source_ended(). See admit() for what happens beyond `max_parts`.
  void plan_open_ended(std::uint64_t part_size, std::uint32_t max_parts) {
    todo_.clear();
    next_ = 0;
    open_ended_ = true;
    next_open_ = 1;
    last_ = 0;
    part_size_ = part_size;
    max_parts_ = max_parts;
  }

  // The open-ended source has ended: `last` is its last part (0 when it held no byte). Numbers
  // handed out beyond it belong to no part and are dropped by their workers (belongs()).
  void source_ended(int last) {
    last_ = last;
    ended_ = true;
  }

  // Whether part `number` is part of the object: always, unless an open-ended source ended
  // before it.
  bool belongs(int number) const { return !ended_ || number <= last_; }

  // How many parts may be sent and not yet durable in the checkpoint before next() says wait
  // (0: no limit, when nothing is journaled).
  void limit_undurable(std::size_t max) { undurable_max_ = max; }

  // ---- asking what to do ----

  enum class step_kind : unsigned char {
    send,      // send part `number` (handed out: no other caller gets it)
    wait,      // nothing now: the parts sent are not durable yet; ask again after a change
    finished,  // no more parts for this caller: all handed out, or the transfer ended
  };
  struct step {
    step_kind kind = step_kind::finished;
    int number = 0;
  };

  // Whether next() could hand out a part now or later (not ended, parts left). A worker that
  // must first wait for a buffer asks this before it waits and next() after.
  bool has_parts() const {
    if (!running()) return false;
    if (open_ended_) return !ended_ || next_open_ <= last_;
    return next_ < todo_.size();
  }

  // Whether too many parts wait to become durable: a failed checkpoint write must still stop
  // the transfer soon, so the workers pause until the writer catches up.
  bool must_wait() const { return undurable_max_ != 0 && undurable_ > undurable_max_; }

  // Parts not handed out yet (open-ended: unknown, so at least `workers`).
  std::size_t parts_left(std::size_t workers) const {
    return open_ended_ ? workers : todo_.size() - next_;
  }

  step next() {
    if (!has_parts()) return {};
    if (must_wait()) return {step_kind::wait, 0};
    if (!open_ended_) return {step_kind::send, todo_[next_++]};
    return {step_kind::send, next_open_++};
  }

  // Whether part `number`, handed out by next(), is to be read and sent, once every part before
  // it has been read: not when an open-ended source ended before it, and not beyond
  // `max_parts` (that ends the transfer with too_many_parts: the source is longer than the
  // part size allows).
  bool admit(int number) {
    if (!running() || !belongs(number)) return false;
    if (open_ended_ && number > static_cast<int>(max_parts_)) {
      diagnostics d;
      d.operation = "multipart_upload";
      d.client_message = "the stream is longer than " + std::to_string(max_parts_) +
                         " parts can hold (their size grows from " + std::to_string(part_size_) +
                         " bytes up to 5 GiB)";
      fail(client_errc::too_many_parts, std::move(d));
      return false;
    }
    return true;
  }

  // A part was sent and handed to the checkpoint writer: it counts against limit_undurable()
  // until parts_durable().
  void part_sent() { ++undurable_; }
  void parts_durable(std::size_t count) { undurable_ -= std::min(count, undurable_); }
  std::size_t undurable() const { return undurable_; }

  // ---- how it ends ----

  transfer_end end() const { return end_; }
  bool running() const { return end_ == transfer_end::running; }
  // Ended other than by success: the caller gets an error (or an exception).
  bool stopped_short() const { return end_ != transfer_end::running && end_ != transfer_end::succeeded; }

  // Each returns whether it ended the transfer (the caller then stops what is in flight).
  bool fail(std::error_code ec, diagnostics diag) {
    if (!running()) return false;
    end_ = transfer_end::failed;
    error_ = ec;
    diag_ = std::move(diag);
    return true;
  }
  bool cancel() {
    if (!running()) return false;
    end_ = transfer_end::cancelled;
    return true;
  }
  bool handler_threw(std::exception_ptr e, diagnostics diag) {
    if (!running()) return false;
    end_ = transfer_end::handler_threw;
    error_ = client_errc::handler_exception;
    diag_ = std::move(diag);
    exception_ = std::move(e);
    return true;
  }
  bool escape(std::exception_ptr e) {
    if (end_ == transfer_end::escaped) return false;
    const bool was_running = running();
    end_ = transfer_end::escaped;
    exception_ = std::move(e);
    return was_running;
  }
  void succeed() {
    if (running()) end_ = transfer_end::succeeded;
  }

  const std::error_code& error() const { return error_; }
  const diagnostics& diag() const { return diag_; }
  diagnostics& diag() { return diag_; }
  const std::exception_ptr& exception() const { return exception_; }

 private:
  std::vector<int> todo_;
  std::size_t next_ = 0;
  bool open_ended_ = false;
  int next_open_ = 1;
  bool ended_ = false;
  int last_ = 0;
  std::uint64_t part_size_ = 0;
  std::uint32_t max_parts_ = 0;
  std::size_t undurable_max_ = 0;
  std::size_t undurable_ = 0;

  transfer_end end_ = transfer_end::running;
  std::error_code error_;
  diagnostics diag_;
  std::exception_ptr exception_;
};

}  // namespace oss::detail

#endif  // OSS_DETAIL_ENGINE_PART_SCHEDULER_HPP
