// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DOWNLOAD_IMPL_DOWNLOAD_RUN_IPP
#define OSS_DETAIL_DOWNLOAD_IMPL_DOWNLOAD_RUN_IPP

#include <oss/detail/download/impl/range_file.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::download {

inline download_run::~download_run() {
  if (fd_ >= 0) ::close(fd_);
}

// ---- the steps -------------------------------------------------------------------------------

inline asio::awaitable<void> download_run::run() {
  co_await asio::this_coro::throw_if_cancelled(false);
  outer_cancel_.emplace(co_await asio::this_coro::cancellation_state);
  // One co_await per statement: GCC 12 miscompiles co_await inside a && chain.
  bool ok = validate();
  if (ok) ok = co_await take_checkpoint();
  if (ok && proceed()) ok = co_await pin_object();
  if (ok && proceed()) ok = co_await open_part_file();
  if (ok && proceed()) {
    if (resuming_ && !cp_.done_parts.empty()) co_await verify_resumed_ranges();
    if (proceed()) co_await fetch_ranges();
    if (!whole_get_ && sched_.end() == transfer_end::failed && sched_.error() == client_errc::range_ignored) {
      restart_whole();
      co_await fetch_ranges();
    }
    if (proceed() && sched_.running()) co_await finish();
  }
  proceed();
  if (sched_.stopped_short()) co_await end_short();
  set_outcome();
}

// ---- stopping and the end --------------------------------------------------------------------

inline bool download_run::proceed() {
  if (running() && caller_cancelled() && sched_.cancel()) stop_all();
  return running();
}

inline void download_run::stop_all() {
  for (std::size_t i = 0; i < worker_running_.size(); ++i)
    if (worker_running_[i]) signals_[i].emit(asio::cancellation_type::terminal);
  notify();
}

inline void download_run::fail(std::error_code ec, diagnostics diag) {
  if (!running()) return;
  if (ec == asio::error::operation_aborted && caller_cancelled()) {
    sched_.cancel();
  } else {
    if (diag.operation.empty()) diag.operation = "resumable_download";
    if (std::string hint = multipart::transport_hint(ec, client_.endpoint_url()); !hint.empty())
      diag.client_message += (diag.client_message.empty() ? "" : "; ") + hint;
    sched_.fail(ec, std::move(diag));
  }
  stop_all();
}

inline void download_run::fail(std::error_code ec, std::string message) {
  diagnostics diag;
  diag.operation = "resumable_download";
  diag.client_message = std::move(message);
  fail(ec, std::move(diag));
}

// Stopped short: keep what is durable for a resume, unless the bytes are of no use any more
// (another version of the object, or a CRC-64 that does not match).
inline asio::awaitable<void> download_run::end_short() {
  const bool failed = sched_.end() == transfer_end::failed;
  const bool useless = failed && (sched_.error() == client_errc::object_changed ||
                                  (sched_.error() == client_errc::crc64_mismatch && parts_done_ == parts_total_));
  const bool keep_part = useless ? (sched_.error() == client_errc::crc64_mismatch && opts_.keep_part_file_on_mismatch)
                                 : resumable();
  if (writes_ && !writes_->failed() && !useless && (resuming_ || !cp_.done_parts.empty()) && lock_.held())
    co_await save_now(true);
  const int fd = fd_;
  fd_ = -1;
  const std::filesystem::path part = part_path();
  const std::optional<std::filesystem::path> cp_path = useless ? cp_path_ : std::nullopt;
  const bool remove_part = !keep_part && (part_created_ || useless);
  auto job = [fd, part, remove_part, cp_path] {
    if (fd >= 0) ::close(fd);
    if (remove_part) ::unlink(part.c_str());
    if (cp_path) {
      std::error_code ec;
      remove_checkpoint_files(*cp_path, ec);
    }
    return 0;
  };
  co_await work_.run(std::move(job));
}

inline void download_run::set_outcome() {
  switch (sched_.end()) {
    case transfer_end::running:
    case transfer_end::succeeded:
      return;
    case transfer_end::escaped:
      std::rethrow_exception(sched_.exception());
    case transfer_end::handler_threw:
      out_.ec = client_errc::handler_exception;
      out_.diag = sched_.diag();
      out_.diag.exception = sched_.exception();
      break;
    case transfer_end::cancelled:
      out_.ec = asio::error::operation_aborted;
      out_.diag.clear();
      out_.diag.operation = "resumable_download";
      out_.diag.client_message = cp_path_ ? "cancelled; the checkpoint is saved, call again to resume" : "cancelled";
      break;
    case transfer_end::failed:
      out_.ec = sched_.error();
      out_.diag = sched_.diag();
      break;
  }
  out_.result = download_result{};
}

}  // namespace oss::detail::download

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_DOWNLOAD_IMPL_DOWNLOAD_RUN_IPP
