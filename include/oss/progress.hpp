// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_PROGRESS_HPP
#define OSS_PROGRESS_HPP

#include <oss/detail/config.hpp>

#include <oss/checkpoint.hpp>

#include <asio/awaitable.hpp>

#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

/// \file
/// Progress reporting of `oss::multipart_upload`: `progress_event` and `progress_handler`.
namespace oss {

/// Which step of the upload an event reports.
enum class progress_stage {
  /// The upload is ready to send data: after InitiateMultipartUpload (or, when resuming, after
  /// the checkpoint was reconciled with ListParts), before the single PutObject of a small
  /// input. `fraction` is 0, or the share already done when resuming.
  started,
  /// One more part is uploaded and durably recorded in the checkpoint (`part` names it).
  part_done,
  /// The object exists and the server confirmed its bytes as `upload_result::checks` says
  /// (CompleteMultipartUpload or PutObject; see `upload_options::require_server_crc`).
  /// `fraction` is exactly 1.0. Reported exactly once, as the last event.
  completed,
  /// Downloads only (`resumable_download`): more bytes arrived and were written to the file,
  /// not yet durably recorded (`bytes_done` counts them; it never goes back).
  received,
};

/// What a progress handler is told; valid only during the handler call.
///
/// Progress is counted in bytes. `bytes_done` grows by the size of each finished part, so
/// events are strictly increasing; a retried request, or a part sent again (for want of a
/// CRC-64, or because a resume found it changed), never counts twice, and `bytes_done` never
/// exceeds `bytes_total`. `fraction` is
/// `bytes_done / bytes_total`, except that it stays below 1.0 until the upload is complete:
/// `1.0` is reported exactly once, with `progress_stage::completed`.
struct progress_event {
  /// Share of the upload done, 0..1 (see above). For a stream of unknown length it is 0 until
  /// the stream's end has been read; from then on `bytes_total` is known.
  double fraction = 0;
  /// Bytes durably uploaded, parts finished before a resume included.
  std::uint64_t bytes_done = 0;
  /// Size of the source; 0 while a stream's length is still unknown.
  std::uint64_t bytes_total = 0;
  /// Bytes this event added to `bytes_done` (the size of `part`, else 0).
  std::uint64_t bytes_delta = 0;
  /// Parts done, including those done before a resume. The single PutObject of a small input
  /// counts as 1 of 1 when completed.
  std::uint32_t parts_done = 0;
  /// Parts of the whole object; 0 while a stream's length is still unknown.
  std::uint32_t parts_total = 0;
  /// The part that just finished (`progress_stage::part_done`), else empty.
  std::optional<part_record> part;
  /// The upload's checkpoint as it is now, the finished part included. It is the live object,
  /// not a copy: an async handler that needs it after its first `co_await` must copy it,
  /// because other parts keep being recorded meanwhile. After `completed` it still describes
  /// the finished upload (its file has been deleted).
  const ::oss::checkpoint& checkpoint;
  /// `x-oss-request-id` of the HTTP reply that concluded this step, for support requests.
  /// Empty when the client does not report it for that operation.
  std::string_view request_id;
  /// Which step this is.
  progress_stage stage = progress_stage::started;
};

/// A progress callback, synchronous or asynchronous.
///
/// Constructible from any copyable callable taking `const progress_event&` and returning
/// either `void` or `asio::awaitable<void>`:
/// \code
///   oss::progress_handler sync  = [](const oss::progress_event& e) { bar.set(e.fraction); };
///   oss::progress_handler async = [&](const oss::progress_event& e) -> asio::awaitable<void> {
///     co_await log.async_write(e.bytes_done);   // the upload waits for this
///   };
/// \endcode
/// The upload calls it on its own strand, one call at a time, after each part is durably in
/// the checkpoint, and awaits it: a slow handler slows the upload down (parts already in
/// flight continue, new ones wait). If it throws (anything), the upload stops as if cancelled
/// (parts in flight are cancelled, the checkpoint is kept) and `async_multipart_upload`
/// completes with `client_errc::handler_exception`, the exception kept in
/// `diagnostics::exception`; `multipart_upload` rethrows it unchanged.
class progress_handler {
 public:
  /// A handler that returns when it is done with the event.
  using sync_function = std::function<void(const progress_event&)>;
  /// A coroutine handler: the upload awaits it before the next event.
  using async_function = std::function<asio::awaitable<void>(const progress_event&)>;

  /// No handler: events are not reported.
  progress_handler() = default;

  /// Wraps `f`; see the class description for the accepted shapes.
  template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, progress_handler> &&
             std::invocable<F&, const progress_event&> &&
             (std::same_as<std::invoke_result_t<F&, const progress_event&>, void> ||
              std::same_as<std::invoke_result_t<F&, const progress_event&>, asio::awaitable<void>>))
  progress_handler(F f) {  // NOLINT(google-explicit-constructor): `.progress = lambda` must work
    if constexpr (std::same_as<std::invoke_result_t<F&, const progress_event&>, void>)
      sync_ = std::move(f);
    else
      async_ = std::move(f);
  }

  /// True when a callable is set.
  explicit operator bool() const noexcept { return sync_ || async_; }

  /// True when the callable returns `asio::awaitable<void>`.
  bool is_async() const noexcept { return static_cast<bool>(async_); }

  /// Runs the callable (a no-op without one); a synchronous one runs before the first
  /// suspension. `e` must outlive the returned awaitable.
  asio::awaitable<void> operator()(const progress_event& e) const {
    if (sync_) {
      sync_(e);
    } else if (async_) {
      co_await async_(e);
    }
  }

  /// Calls a synchronous callable directly; returns false (and does nothing) for an async one.
  bool call_sync(const progress_event& e) const {
    if (!sync_) return false;
    sync_(e);
    return true;
  }

 private:
  sync_function sync_;
  async_function async_;
};

}  // namespace oss

#endif  // OSS_PROGRESS_HPP
