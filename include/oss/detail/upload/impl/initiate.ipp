// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_UPLOAD_IMPL_INITIATE_IPP
#define OSS_DETAIL_UPLOAD_IMPL_INITIATE_IPP

#include <oss/detail/upload/upload_run.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::multipart {

// ---- Initiate whose reply was lost ----

// Whether a failed InitiateMultipartUpload may have created an upload nobody knows the id of:
// its request may have been acted on and the reply lost (cancelled, timed out, connection lost),
// or a success reply was unusable (no or a bad UploadId, a body that is not the document). An
// error reply, or a peer that does not speak HTTP or OSS at all, made nothing.
inline bool initiate_may_have_created(const std::error_code& ec, const diagnostics& diag) {
  if (diag.http_status >= 200 && diag.http_status < 300) return true;
  if (diag.http_status != 0) return false;
  return ec == asio::error::operation_aborted || ec == client_errc::connection_timeout ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::connection_aborted || ec == asio::error::broken_pipe;
}

// How long a call that was cancelled (or timed out) during Initiate may still spend finding and
// aborting the upload that Initiate may have created, when no checkpoint file can remember it.
inline constexpr std::chrono::seconds intent_cleanup_limit{10};

// Finds the uploads an intent stands for (see intended_uploads) and aborts those that hold no
// part; returns how many it aborted. An upload with parts is someone else's: we never learnt the
// id of ours, so we cannot have sent it any.
inline asio::awaitable<std::size_t> abort_intended_uploads(client& c, std::string name,
                                                           std::chrono::system_clock::time_point after,
                                                           std::error_code& ec, diagnostics& diag) {
  std::vector<std::string> candidates;
  oss::list_uploads_options page_opts;
  page_opts.prefix = name;
  // Keys come sorted, `name` itself before every longer key with that prefix: a page that
  // reaches past it ends the search. Bounded in any case.
  for (int page = 0; page < 100; ++page) {
    oss::list_uploads_result listed = co_await access::impl(c).list_multipart_uploads(page_opts, ec, diag);
    if (ec) co_return 0;
    std::vector<std::string> ids = intended_uploads(listed.uploads, name, after);
    candidates.insert(candidates.end(), ids.begin(), ids.end());
    const bool past_name = std::any_of(listed.uploads.begin(), listed.uploads.end(),
                                       [&](const oss::upload_info& u) { return u.key != name; });
    if (!listed.is_truncated || past_name || listed.next_key_marker.empty()) break;
    page_opts.key_marker = listed.next_key_marker;
    page_opts.upload_id_marker = listed.next_upload_id_marker;
  }
  std::size_t aborted = 0;
  for (const std::string& id : candidates) {
    oss::list_parts_options one;
    one.max_parts = 1;
    oss::list_parts_result parts = co_await access::impl(c).list_parts(name, id, one, ec, diag);
    if (ec == server_errc::no_such_upload) {
      ec.clear();
      continue;
    }
    if (ec) co_return aborted;
    if (!parts.parts.empty()) continue;
    co_await access::impl(c).abort_multipart_upload(name, id, ec, diag);
    if (ec) co_return aborted;
    ++aborted;
  }
  co_return aborted;
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

// ---- 4. initiate ---------------------------------------------------------------------------

// A checkpoint of this upload with no upload id and no part yet.
inline checkpoint upload_run::fresh_checkpoint() const {
  checkpoint cp;
  cp.endpoint = client_.endpoint_url();
  cp.bucket = client_.options().bucket;
  cp.dialect = std::string(dialect_name(client_.options().dialect));
  cp.name = name_;
  cp.file = source_.path();
  cp.file_size = source_.size_known() ? source_.size() : 0;
  cp.file_mtime_ns = source_.mtime_ns();
  cp.part_size = part_size_;
  cp.share_first_part = opts_.share ? opts_.share->first_part : 0;
  return cp;
}

// A share: the upload exists already (upload_options::share); the checkpoint records it from
// the start, and the first save (upload_parts) proves the file can be written.
inline void upload_run::join_share() {
  cp_ = fresh_checkpoint();
  cp_.upload_id = opts_.share->upload_id;
  changed();
}

// Before InitiateMultipartUpload leaves: with a checkpoint file, the file records the intent
// (checkpoint_state::initiating), so that an upload whose Initiate reply is lost (cancellation,
// timeout, crash) is found by the next run. Writing it also proves that the checkpoint can be
// written at all, before anything exists on the server that it would have to remember.
inline asio::awaitable<bool> upload_run::record_intent() {
  intent_time_ = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() +
                                                                         client_.clock_offset());
  if (!cp_path_) co_return true;
  cp_ = fresh_checkpoint();
  cp_.state = checkpoint_state::initiating;
  cp_.initiated_after = intent_time_;
  changed();
  co_await save_now();
  co_return running();
}

inline asio::awaitable<void> upload_run::initiate() {
  const bool recorded = co_await record_intent();
  if (!recorded) co_return;
  std::error_code ec;
  diagnostics diag;
  std::string upload_id = co_await access::impl(client_).initiate_multipart_upload(name_, object_opts_, ec, diag);
  if (ec) {
    co_await after_failed_initiate(ec, diag);
    fail(ec, std::move(diag));
    co_return;
  }
  cp_ = fresh_checkpoint();
  cp_.upload_id = std::move(upload_id);
  changed();
}

// Initiate failed. When it cannot have made an upload (see initiate_may_have_created) the intent
// is void. Otherwise a checkpoint file keeps the intent for the next run; without one, this run
// looks for that upload now and aborts it.
inline asio::awaitable<void> upload_run::after_failed_initiate(const std::error_code& ec,
                                                               const diagnostics& diag) {
  if (!initiate_may_have_created(ec, diag)) {
    if (cp_path_) co_await remove_checkpoint_file();
    co_return;
  }
  if (cp_path_) {
    intent_note_ = "InitiateMultipartUpload got no reply; the checkpoint records it, and calling again "
                   "with it aborts the upload it may have made before starting a new one";
    co_return;
  }
  co_await abort_intended_now();
}

// Runs abort_intended in a coroutine of its own, so that the caller's cancellation (which may be
// why Initiate failed) does not cancel it too, and bounded in time: a cancelled call must still
// end soon.
inline asio::awaitable<void> upload_run::abort_intended_now() {
  using namespace asio::experimental::awaitable_operators;
  std::size_t aborted = 0;
  std::error_code ec;
  diagnostics diag;
  const std::chrono::milliseconds limit = intent_cleanup_limit;
  std::variant<std::monostate, std::monostate> raced = co_await (abort_intended(aborted, ec, diag) || sleep_for(limit));
  if (raced.index() == 0 && !ec) {
    intent_note_ = aborted == 0 ? "InitiateMultipartUpload got no reply, and the server holds no upload it made"
                                : "InitiateMultipartUpload got no reply; the upload it made was aborted";
  } else {
    intent_note_ = "InitiateMultipartUpload got no reply, and looking for the upload it may have made " +
                   std::string(raced.index() == 0 ? "failed (" + ec.message() + ")" : "took too long") +
                   "; an upload of " + name_ + " initiated at " + iso8601_extended(intent_time_) +
                   " may stay open (list_multipart_uploads shows it)";
  }
}

inline asio::awaitable<void> upload_run::abort_intended(std::size_t& aborted, std::error_code& ec,
                                                        diagnostics& diag) {
  aborted = co_await abort_intended_uploads(client_, name_, intent_time_, ec, diag);
}

inline asio::awaitable<void> upload_run::remove_checkpoint_file() {
  if (!cp_path_) co_return;
  const std::filesystem::path* path = &*cp_path_;
  auto job = [path] {
    std::error_code rm_ec;
    remove_checkpoint_files(*path, rm_ec);
    return rm_ec;
  };
  co_await work_.run(std::move(job));
}

}  // namespace oss::detail::multipart

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_UPLOAD_IMPL_INITIATE_IPP
