// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
// Outside the guard: in a header-only build multipart_upload.hpp includes the upload's
// implementation, which includes this header again and needs the class below at that point.
#include <oss/multipart_upload.hpp>

#ifndef OSS_DETAIL_UPLOAD_UPLOAD_RUN_HPP
#define OSS_DETAIL_UPLOAD_UPLOAD_RUN_HPP

#include <oss/detail/crc64.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/engine/blocking_work.hpp>
#include <oss/detail/engine/checkpoint_writes.hpp>
#include <oss/detail/engine/part_pool.hpp>
#include <oss/detail/engine/part_scheduler.hpp>
#include <oss/detail/engine/part_source.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/multipart/checkpoint_lock.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/detail/ops/object_check.hpp>
#include <oss/detail/ops/validate.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oss::detail::multipart {

// What to do about a failure of the network or TLS layer: their codes reach the caller untouched
// ("Connection refused"), so the diagnostics say where the upload tried to go and what to check.
// Empty for everything else.
inline std::string transport_hint(const std::error_code& ec, const std::string& endpoint_url) {
  if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
    return "the TLS connection to " + endpoint_url +
           " failed: if it uses a private or self-signed certificate, trust its CA with "
           "client_options::ca_file; the certificate must name the endpoint's host name";
  if (ec == asio::error::connection_refused)
    return "nothing accepts connections at " + endpoint_url +
           "; check the endpoint and its port, and that the server is running";
  if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again)
    return "the host name of " + endpoint_url + " could not be resolved; check the endpoint and DNS";
  if (ec == asio::error::network_unreachable || ec == asio::error::host_unreachable)
    return endpoint_url + " cannot be reached; check the network and any proxy or firewall";
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
    return "the connection to " + endpoint_url +
           " closed before a complete reply; if this repeats, check that the endpoint is OSS";
  return {};
}


// Whether `e` is the operation_aborted that Asio's awaitables throw for a cancelled operation.
inline bool is_operation_aborted(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::system_error& se) {
    return se.code() == asio::error::operation_aborted;
  } catch (...) {
  }
  return false;
}

// What proved the object our own Complete made (client_impl::confirm_completed), as
// upload_checks::object says it.
inline object_check object_check_of(const client_impl::completed_object& confirmed) {
  if (confirmed.verdict.match != object_match::matches) return object_check::none;
  if (confirmed.verdict.evidence != object_evidence::crc64) return object_check::multipart_etag;
  return confirmed.by_head ? object_check::head_crc64 : object_check::reply_crc64;
}

// A part the checkpoint claims, to be re-read and re-hashed before it is trusted.
struct claimed_part {
  part_record rec;
  bool listed_crc = false;  // ListParts gave the server's CRC-64 for it
  bool want_md5 = false;    // no server CRC: hash the MD5 too, to check the ETag with
  rehash_outcome got;
};

// One upload: the seven steps of design.md section 4, on the engine's parts (the source, the
// part scheduler, the checkpoint journal, the part pool). Lives in the frame of
// run_multipart_upload; every member is touched only on the upload's strand (the workers are
// coroutines on that strand), so nothing is locked. Blocking work (pread, hashing, checkpoint
// writes) runs on `work_` and its results come back to the strand.
//
// Where each step lives (detail/upload/impl/):
//   1 validate, and the end        impl/multipart_upload.ipp
//   2 checkpoint and resume        resume.ipp
//   3 small source                 small.ipp
//   4 initiate                     initiate.ipp
//   5 parts                        parts.ipp (workers, checkpoint committer, progress)
//   6 complete, 7 verify           complete.ipp
//
// How it stops is the scheduler's one terminal value (part_scheduler::end()): the first
// failure, the caller's cancellation or a handler's exception ends it, every running worker's
// cancellation signal then gets a terminal emit (which cancels the request it has in flight),
// and later errors are consequences and are dropped. Once every worker has ended, the
// checkpoint is written a last time (parts finished meanwhile included), so calling again
// resumes. Only `abort_on_failure` (and only for failures) gives the upload up on the server.
class upload_run {
 public:
  upload_run(client& c, std::string& name, upload_source& source, upload_options& opts,
             upload_outcome& out, asio::any_io_executor strand)
      : client_(c), name_(name), opts_(opts), out_(out), strand_(strand), source_(source, work_),
        wake_(strand, asio::steady_timer::time_point::max()),
        gather_(strand, asio::steady_timer::time_point::max()),
        work_(strand, opts.file_executor, std::min<std::size_t>(opts.parallel, 2)) {}

  upload_run(const upload_run&) = delete;
  upload_run& operator=(const upload_run&) = delete;

  asio::awaitable<void> run();

 private:
  // ---- 1. validate ----
  bool validate();
  // ---- 2. checkpoint ----
  asio::awaitable<void> take_checkpoint();
  asio::awaitable<bool> lock_checkpoint();
  asio::awaitable<bool> load_checkpoint_option();
  bool check_checkpoint(const checkpoint& cp);
  asio::awaitable<bool> resolve_intent();
  asio::awaitable<void> resume();
  asio::awaitable<bool> reconcile();
  asio::awaitable<bool> verify_resumed_parts();
  asio::awaitable<void> rehash_parts(std::vector<claimed_part>& parts);
  asio::awaitable<void> rehash_lane(std::vector<claimed_part>& parts, std::size_t& next);
  asio::awaitable<bool> completed_before();
  asio::awaitable<void> finish_completed_before();
  // ---- 3. small source ----
  asio::awaitable<std::optional<part_read>> read_if_small();
  asio::awaitable<void> put_small(const part_read& whole);
  // ---- 4. initiate ----
  checkpoint fresh_checkpoint() const;
  asio::awaitable<void> initiate();
  asio::awaitable<bool> record_intent();
  asio::awaitable<void> after_failed_initiate(const std::error_code& ec, const diagnostics& diag);
  asio::awaitable<void> abort_intended_now();
  asio::awaitable<void> abort_intended(std::size_t& aborted, std::error_code& ec, diagnostics& diag);
  asio::awaitable<void> remove_checkpoint_file();
  // A share joins its upload instead of initiating one (upload_options::share).
  void join_share();
  // ---- 5. parts ----
  asio::awaitable<void> upload_parts();
  asio::awaitable<void> run_workers();
  asio::awaitable<void> worker(std::size_t index);
  asio::awaitable<bool> keep_resumed_stream_part(int number, const part_read& part);
  asio::awaitable<void> send_part(int number, const part_read& part, part_lease& lease, std::size_t worker);
  void record(part_record rec);
  void changed();
  asio::awaitable<void> persist();
  asio::awaitable<void> save_now(bool compact = false);
  asio::awaitable<void> commit_loop();
  asio::awaitable<void> report(progress_stage stage, const std::optional<part_record>& part,
                               std::string_view request_id);
  asio::awaitable<void> report_part(const part_record& rec, std::string_view request_id);
  // ---- 6. complete and 7. verify ----
  std::vector<const part_record*> sorted_object_parts() const;
  asio::awaitable<void> complete();
  // A share ends once its parts are durable on the server: no Complete.
  asio::awaitable<void> finish_share();
  // ---- the end ----
  asio::awaitable<void> end_with_failure();
  void set_outcome();

  // ---- stopping ----
  asio::awaitable<void> wait() {
    co_await wake_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  void notify() { wake_.cancel(); }
  // Whether the committer should write what it holds now rather than gather more: a batch is
  // full, a worker waits for durability, or no worker will add any more.
  bool commit_due() const {
    return to_commit_.size() >= commit_batch_ || sched_.must_wait() || workers_running_ == 0;
  }
  bool running() const { return sched_.running(); }
  bool caller_cancelled() const {
    return outer_cancel_ && outer_cancel_->cancelled() != asio::cancellation_type::none;
  }
  // Between steps: the caller's cancellation becomes the end. Returns whether to go on.
  bool proceed();
  void stop_all();
  void fail(std::error_code ec, diagnostics diag);
  void fail(std::error_code ec, std::string message, int part_number = 0);
  void fail_source(const part_read& r, int number);
  void escape(std::exception_ptr e);

  std::uint64_t total_known() const { return source_.size_known() ? source_.size() : 0; }
  // Which recorded parts belong to the object: for a stream, only those this run read.
  auto object_part_filter() const {
    return [this](int number) { return !source_.is_stream() || stream_done_.contains(number); };
  }
  asio::awaitable<md5_digest> md5_of(const std::byte* data, std::uint64_t len);
  void count_part_check(integrity_check how) {
    if (how == integrity_check::crc64) ++checks_.parts_crc64;
    else if (how == integrity_check::content_md5) ++checks_.parts_content_md5;
    else ++checks_.parts_unconfirmed;
  }

  // Declared first: released last, once nothing can write the checkpoint any more.
  checkpoint_lock lock_;

  // ---- inputs ----
  client& client_;
  std::string& name_;
  upload_options& opts_;
  upload_outcome& out_;
  asio::any_io_executor strand_;
  std::optional<asio::cancellation_state> outer_cancel_;
  object_options object_opts_;

  // ---- the engine's parts ----
  part_source source_;
  part_scheduler sched_;
  std::uint64_t part_size_ = 0;
  std::uint32_t parts_total_ = 0;  // 0 while a stream's length is unknown
  // A share numbers its parts from 1 like any upload; the object's number of part n is
  // n + share_shift_ (upload_options::share), in every request and in ListParts.
  int share_shift_ = 0;

  // ---- checkpoint ----
  std::optional<std::filesystem::path> cp_path_;
  bool resuming_ = false;  // cp_ came from a checkpoint of this upload
  std::optional<object_meta> completed_object_;  // the checkpoint's upload was completed already
  object_evidence completed_evidence_ = object_evidence::none;
  checkpoint cp_;
  // The checkpoint file's group commit (JSON plus journal), when there is a file.
  std::optional<checkpoint_writes> writes_;
  // Parts recorded by the workers, waiting for the committer to make them durable and report
  // them (checkpoint files only: the workers go on with their next part meanwhile).
  std::vector<std::pair<part_record, std::string>> to_commit_;
  // The committer writes once this many parts wait, or commit_gather_time after the first.
  std::size_t commit_batch_ = 1;
  std::size_t workers_running_ = 0;
  // InitiateMultipartUpload: when it was sent (server time as far as we know it), and what
  // became of an upload it may have created when its reply was lost (for the diagnostics).
  std::chrono::system_clock::time_point intent_time_{};
  std::string intent_note_;
  // Parts of the resumed checkpoint whose ListParts entry carried the server's CRC-64.
  std::set<int> listed_with_crc_;
  std::vector<part_record> stream_candidates_;  // resumed stream parts, verified as re-read
  std::set<int> stream_done_;                   // stream parts verified or sent by this run

  // A source of one part or less: its share of the transfer budget while it is in memory.
  budget_hold small_budget_;

  // ---- workers ----
  std::shared_ptr<part_pool> slots_;  // file sources: the client's part buffers
  // File parts sent in pieces (file_part_reader): each worker's piece buffer, reused.
  std::vector<part_buffer> piece_buffers_;  // mapped under a memory budget: see part_buffer
  std::size_t slot_len_ = 0;
  std::size_t running_ = 0;
  std::unique_ptr<asio::cancellation_signal[]> signals_;
  std::vector<bool> worker_running_;

  // ---- progress ----
  bool progress_busy_ = false;
  bool object_created_ = false;  // the object exists: nothing may abort or resume it now
  std::uint64_t bytes_done_ = 0;
  std::uint32_t parts_done_ = 0;
  std::uint64_t bytes_uploaded_ = 0;
  std::uint32_t parts_uploaded_ = 0;
  upload_checks checks_;
  // A part reply came without a CRC-64: every part from then on carries Content-MD5.
  bool md5_every_part_ = false;

  // Declared last: destroyed first, joining its threads while the state above is still alive.
  asio::steady_timer wake_;
  asio::steady_timer gather_;  // the committer's wait for more parts before a journal write
  blocking_work work_;
};

}  // namespace oss::detail::multipart

#endif  // OSS_DETAIL_UPLOAD_UPLOAD_RUN_HPP
