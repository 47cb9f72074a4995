// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_MULTIPART_UPLOAD_IPP
#define OSS_IMPL_MULTIPART_UPLOAD_IPP

#include <oss/multipart_upload.hpp>

#include <oss/detail/crc64.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/engine/checkpoint_journal.hpp>
#include <oss/detail/engine/part_pool.hpp>
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
#include <asio/dispatch.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/ssl/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss {

namespace detail {

namespace multipart {

// Blocking work handed to the file executor returns one of these; every member is trivially
// destructible, so the jobs' lambdas are safe in co_await expressions on GCC 12.
struct read_outcome {
  int error = 0;              // errno of a failed pread
  bool short_read = false;    // the file ended early: it shrank during the upload
  body_digests digests;       // of the bytes read, when neither of the above
};

// Fills `buf` with `len` bytes of `fd` from `offset`, then digests them (see digest_part).
inline read_outcome read_part(int fd, std::byte* buf, std::uint64_t len, std::uint64_t offset,
                              part_digests_wanted wanted) {
  read_outcome r;
  std::uint64_t got = 0;
  while (got < len) {
    const ssize_t n = ::pread(fd, buf + got, static_cast<std::size_t>(len - got),
                              static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = errno;
      return r;
    }
    if (n == 0) {
      r.short_read = true;
      return r;
    }
    got += static_cast<std::uint64_t>(n);
  }
  r.digests = digest_part(buf, static_cast<std::size_t>(len), wanted);
  return r;
}

inline std::int64_t mtime_ns_of(const struct stat& st) noexcept {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

inline std::string normal_path(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

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

// ---- resume: re-hashing what a checkpoint claims ----

// One part of the source read and hashed again: trivially destructible, like read_outcome.
struct rehash_outcome {
  int error = 0;            // errno of a failed pread
  bool short_read = false;  // the file ended early
  std::uint64_t crc64 = 0;
  std::optional<md5_digest> md5;  // when asked for
};

// A part the checkpoint claims, to be re-read and re-hashed before it is trusted.
struct claimed_part {
  part_record rec;
  bool listed_crc = false;  // ListParts gave the server's CRC-64 for it
  bool want_md5 = false;    // no server CRC: hash the MD5 too, to check the ETag with
  rehash_outcome got;
};

// Slice through which a lane re-reads a part: parts are hashed as they stream through it, so a
// 5 GiB part needs no 5 GiB buffer.
inline constexpr std::size_t rehash_slice = 256 * 1024;

inline rehash_outcome hash_file_range(int fd, std::byte* buf, std::uint64_t offset, std::uint64_t len,
                                      bool with_md5) {
  rehash_outcome r;
  std::optional<md5_hasher> md5;
  if (with_md5) md5.emplace();
  std::uint64_t done = 0;
  while (done < len) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(rehash_slice, len - done));
    const ssize_t n = ::pread(fd, buf, want, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = errno;
      return r;
    }
    if (n == 0) {
      r.short_read = true;
      return r;
    }
    r.crc64 = crc64(r.crc64, buf, static_cast<std::size_t>(n));
    if (md5) md5->update(buf, static_cast<std::size_t>(n));
    done += static_cast<std::uint64_t>(n);
  }
  if (md5) r.md5 = md5->finish();
  return r;
}

inline rehash_outcome hash_memory_range(const std::byte* data, std::uint64_t len, bool with_md5) {
  const body_digests d = digest_part(data, static_cast<std::size_t>(len), with_md5, false);
  rehash_outcome r;
  r.crc64 = *d.crc64;
  r.md5 = d.md5;
  return r;
}

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

// Parts up to this size are read on the upload's own thread: the hop to the file executor and
// back costs more than a pread from the page cache and its digests (6% of the time at 100 KiB).
inline constexpr std::uint64_t inline_read_max = 256 * 1024;

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

// One upload. Lives in the frame of run_multipart_upload; every member below is touched only
// on the upload's strand (the workers are coroutines on that strand), so nothing is locked.
// Blocking work (pread, CRC, checkpoint writes) runs on the file executor and its results come
// back to the strand.
//
// Stop rules, in one place:
//  - The first error that the client's retries could not fix sets `stop_` and records the
//    error; every running worker's cancellation signal gets a terminal emit, which cancels
//    the request it has in flight. Later errors are consequences and are dropped.
//  - Cancellation by the caller does the same, but the outcome is operation_aborted.
//  - The progress handler throwing does the same; its exception is the outcome.
//  - Once every worker has ended, the checkpoint is written a last time (parts finished meanwhile
//    included), so calling again resumes. Only `abort_on_failure` (and only for failures, not
//    cancellation) gives the upload up on the server.
class upload_run {
 public:
  upload_run(client& c, std::string& name, upload_source& source, upload_options& opts,
             upload_outcome& out, asio::any_io_executor strand)
      : client_(c), name_(name), source_(source), opts_(opts), out_(out), strand_(strand),
        wake_(strand, asio::steady_timer::time_point::max()) {}

  ~upload_run() {
    if (fd_ >= 0) ::close(fd_);
  }

  upload_run(const upload_run&) = delete;
  upload_run& operator=(const upload_run&) = delete;

  asio::awaitable<void> run();

 private:
  // ---- steps ----
  bool validate();
  asio::awaitable<bool> lock_checkpoint();
  asio::awaitable<bool> load_checkpoint_option();
  bool check_checkpoint(const checkpoint& cp);
  asio::awaitable<bool> resolve_intent();
  asio::awaitable<bool> reconcile();
  asio::awaitable<bool> verify_resumed_parts();
  asio::awaitable<void> rehash_parts(std::vector<claimed_part>& parts);
  asio::awaitable<void> rehash_lane(std::vector<claimed_part>& parts, std::size_t& next);
  asio::awaitable<bool> completed_before();
  asio::awaitable<void> finish_completed_before();
  checkpoint fresh_checkpoint() const;
  asio::awaitable<bool> record_intent();
  asio::awaitable<bool> initiate();
  asio::awaitable<void> after_failed_initiate(const std::error_code& ec, const diagnostics& diag);
  asio::awaitable<void> abort_intended_now();
  asio::awaitable<void> abort_intended(std::size_t& aborted, std::error_code& ec, diagnostics& diag);
  asio::awaitable<void> remove_checkpoint_file();
  asio::awaitable<void> put_small(std::span<const std::byte> body,
                                  std::optional<body_digests> digests);
  asio::awaitable<void> run_workers();
  asio::awaitable<void> worker(std::size_t index);
  asio::awaitable<bool> next_stream_part(std::size_t index, int& number, std::uint64_t& len);
  asio::awaitable<void> send_part(int number, const std::byte* data, std::uint64_t len,
                                  const body_digests& digests, part_lease& lease);
  asio::awaitable<void> finish_parts();
  asio::awaitable<void> complete();
  asio::awaitable<void> end_with_failure();

  // ---- shared state helpers ----
  asio::awaitable<void> wait() {
    co_await wake_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  void notify() { wake_.cancel(); }
  bool caller_cancelled() const {
    return outer_cancel_ && outer_cancel_->cancelled() != asio::cancellation_type::none;
  }
  void stop_all();
  void fail(std::error_code ec, diagnostics diag);
  void fail(std::error_code ec, std::string message, int part_number = 0);
  void record(part_record rec);
  void changed();
  asio::awaitable<void> persist();
  asio::awaitable<void> save_now(bool compact = false);
  asio::awaitable<void> commit_loop();
  asio::awaitable<void> report(progress_stage stage, const std::optional<part_record>& part,
                               std::string_view request_id);
  asio::awaitable<void> report_part(const part_record& rec, std::string_view request_id);

  // Runs `f()` on the file executor and resumes on the calling coroutine's executor.
  //
  // Not `co_spawn(file_ex_, ...)`: co_spawn links the caller's cancellation slot to the new
  // coroutine, so stopping a worker would write that coroutine's cancellation state on the
  // strand while it runs on a pool thread (a data race ThreadSanitizer reports). A blocking job
  // cannot be interrupted anyway, so this operation takes no cancellation at all; it keeps the
  // caller's executor busy (outstanding work) until its handler has been dispatched there.
  // Boxed so that a job returning std::error_code is not taken for a failing completion.
  template <typename T>
  struct job_result {
    T value;
  };

  template <typename F>
  asio::awaitable<std::invoke_result_t<F&>> on_file_executor(F f) {
    using result_type = std::invoke_result_t<F&>;
    using boxed = job_result<result_type>;
    auto initiation = [this](auto handler, F job) {
      auto home = asio::prefer(asio::get_associated_executor(handler, strand_),
                               asio::execution::outstanding_work.tracked);
      auto run = [handler = std::move(handler), job, home]() mutable {
        boxed r{job()};
        auto deliver = [handler = std::move(handler), r = std::move(r)]() mutable {
          std::move(handler)(std::move(r));
        };
        asio::dispatch(home, std::move(deliver));
      };
      asio::post(file_ex_, std::move(run));
    };
    boxed r = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(boxed)>(
        std::move(initiation), asio::use_awaitable, f);
    co_return std::move(r.value);
  }

  std::uint64_t total_known() const { return size_known_ ? size_ : 0; }
  // Which recorded parts belong to the object: for a stream, only those this run read.
  auto object_part_filter() const {
    return [this](int number) { return !is_stream() || stream_done_.contains(number); };
  }
  bool is_file() const { return source_.type() == upload_source::kind::file; }
  bool is_stream() const { return source_.type() == upload_source::kind::stream; }
  std::byte* buffer(std::size_t index);
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
  upload_source& source_;
  upload_options& opts_;
  upload_outcome& out_;
  asio::any_io_executor strand_;
  std::optional<asio::cancellation_state> outer_cancel_;
  object_options object_opts_;

  // ---- source facts ----
  int fd_ = -1;
  std::string abs_path_;
  std::uint64_t size_ = 0;
  bool size_known_ = false;
  std::int64_t mtime_ns_ = 0;
  std::uint64_t part_size_ = 0;
  std::uint32_t parts_total_ = 0;  // 0 while a stream's length is unknown

  // ---- checkpoint ----
  std::optional<std::filesystem::path> cp_path_;
  bool have_checkpoint_ = false;  // resuming from cp_
  std::optional<object_meta> completed_object_;  // the checkpoint's upload was completed already
  object_evidence completed_evidence_ = object_evidence::none;
  checkpoint cp_;
  std::uint64_t cp_version_ = 0;     // bumped on every change of cp_
  std::uint64_t saved_version_ = 0;  // the version the file holds
  bool saving_ = false;
  bool save_failed_ = false;
  // The file side of the checkpoint: JSON plus journal (detail/engine/checkpoint_journal.hpp).
  std::optional<checkpoint_journal> journal_;
  std::string unjournaled_;            // journal lines of parts recorded since the last save
  std::size_t unjournaled_count_ = 0;
  bool must_compact_ = true;           // cp_ changed other than by record(): rewrite the JSON
  std::size_t compacted_parts_ = 0;    // parts the JSON held at the last compaction
  // Parts recorded by the workers, waiting for the committer to make them durable and report
  // them (checkpoint files only: the workers go on with their next part meanwhile).
  std::vector<std::pair<part_record, std::string>> to_commit_;
  std::size_t uncommitted_ = 0;  // handed to the committer and not yet reported
  std::size_t workers_running_ = 0;
  // InitiateMultipartUpload: when it was sent (server time as far as we know it), and what
  // became of an upload it may have created when its reply was lost (for the diagnostics).
  std::chrono::system_clock::time_point intent_time_{};
  std::string intent_note_;
  // Parts of the resumed checkpoint whose ListParts entry carried the server's CRC-64.
  std::set<int> listed_with_crc_;

  // ---- scheduling ----
  std::vector<int> todo_;
  std::size_t next_todo_ = 0;
  std::vector<std::unique_ptr<std::byte[]>> buffers_;  // memory and stream sources
  // File sources: part buffers come with the client-wide slots (see part_pool).
  std::shared_ptr<part_pool> slots_;
  std::size_t slot_len_ = 0;
  // Stream sources: one reader at a time, in part order.
  bool stream_busy_ = false;
  bool stream_eof_ = false;
  int next_stream_number_ = 1;
  std::uint64_t stream_bytes_read_ = 0;
  std::uint64_t prefetched_len_ = 0;  // part 1, read before the workers start, in buffer 0
  bool prefetched_ = false;
  std::vector<part_record> stream_candidates_;  // resumed parts to verify by re-reading
  std::set<int> stream_done_;                   // parts verified or sent by this run

  // ---- workers ----
  std::size_t running_ = 0;
  std::unique_ptr<asio::cancellation_signal[]> signals_;
  std::vector<bool> worker_running_;
  bool stop_ = false;
  bool cancelled_ = false;
  bool failed_ = false;
  std::error_code first_ec_;
  diagnostics first_diag_;
  std::exception_ptr user_exception_;
  std::exception_ptr unexpected_;

  // ---- progress ----
  bool progress_busy_ = false;
  bool completed_reported_ = false;
  std::uint64_t bytes_done_ = 0;
  std::uint32_t parts_done_ = 0;
  std::uint64_t bytes_uploaded_ = 0;
  std::uint32_t parts_uploaded_ = 0;
  upload_checks checks_;
  // A part reply came without a CRC-64: every part from then on carries Content-MD5.
  bool md5_every_part_ = false;

  // Declared last: destroyed first, joining its threads while the state above is still alive.
  asio::steady_timer wake_;
  asio::any_io_executor file_ex_;
  std::optional<asio::thread_pool> own_pool_;
};

inline std::byte* upload_run::buffer(std::size_t index) {
  if (!buffers_[index]) {
    const std::uint64_t len = size_known_ ? std::min(part_size_, size_) : part_size_;
    buffers_[index] = std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(std::max<std::uint64_t>(len, 1)));
  }
  return buffers_[index].get();
}

// The MD5 of a part still in memory, for a Content-MD5 it was first sent without. Small parts
// on the strand, larger ones on the file executor (see inline_read_max).
inline asio::awaitable<md5_digest> upload_run::md5_of(const std::byte* data, std::uint64_t len) {
  auto job = [data, len] { return *digest_part(data, static_cast<std::size_t>(len), true, false).md5; };
  if (len <= inline_read_max) co_return job();
  co_return co_await on_file_executor(std::move(job));
}

inline void upload_run::stop_all() {
  if (stop_) return;
  stop_ = true;
  for (std::size_t i = 0; i < worker_running_.size(); ++i)
    if (worker_running_[i]) signals_[i].emit(asio::cancellation_type::terminal);
  notify();
}

inline void upload_run::fail(std::error_code ec, diagnostics diag) {
  if (!stop_) {
    // A request the caller's cancellation aborted is a cancellation, not a failure: it must not
    // trigger abort_on_failure.
    if (ec == asio::error::operation_aborted && caller_cancelled() && !user_exception_) {
      cancelled_ = true;
    } else {
      failed_ = true;
      first_ec_ = ec;
      first_diag_ = std::move(diag);
      if (std::string hint = transport_hint(ec, client_.endpoint_url()); !hint.empty()) {
        if (!first_diag_.client_message.empty()) first_diag_.client_message += "; ";
        first_diag_.client_message += hint;
      }
    }
  }
  stop_all();
}

inline void upload_run::fail(std::error_code ec, std::string message, int part_number) {
  diagnostics diag;
  diag.operation = "multipart_upload";
  diag.part_number = part_number;
  diag.client_message = std::move(message);
  fail(ec, std::move(diag));
}

// ---- 1. validation -------------------------------------------------------------------------

inline bool upload_run::validate() {
  auto reject = [&](std::error_code ec, std::string message) {
    fail(ec, std::move(message));
    return false;
  };
  if (opts_.parallel < 1) return reject(client_errc::invalid_parallel, "parallel must be at least 1");
  const api_dialect dialect = client_.options().dialect;  // S3 dialect (client helper)
  if (std::string why = part_size_problem(opts_.part_size, dialect); !why.empty())
    return reject(client_errc::invalid_part_size, std::move(why));
  // S3 replies carry no CRC-64, so Content-MD5 is the integrity check there: hashed with the
  // part on the file executor like an explicit content_md5 (client_options::s3_content_md5).
  if (dialect == api_dialect::s3 && client_.options().s3_content_md5) opts_.content_md5 = true;
  std::string problem;
  if (auto ec = check_object_name(name_, problem)) return reject(ec, std::move(problem));
  object_opts_.meta = opts_.meta;
  object_opts_.mime = opts_.mime;
  object_opts_.headers = opts_.headers;
  object_opts_.content_md5 = opts_.content_md5;
  std::vector<std::pair<std::string, std::string>> headers;
  if (auto ec = object_headers(name_, object_opts_, true, dialect, headers, problem))
    return reject(ec, std::move(problem));

  switch (source_.type()) {
    case upload_source::kind::file: {
      const std::filesystem::path& path = *source_.file();
      // O_NONBLOCK: opening a FIFO must not hang before we can tell it is not a regular file.
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd_ < 0) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR || path.empty())
          return reject(client_errc::file_not_found, "no file at " + path.string());
        return reject(client_errc::file_not_readable,
                      "cannot open " + path.string() + ": " + std::generic_category().message(err));
      }
      struct stat st {};
      if (::fstat(fd_, &st) != 0)
        return reject(client_errc::file_not_readable, "cannot stat " + path.string());
      if (!S_ISREG(st.st_mode))
        return reject(client_errc::not_a_regular_file, path.string() + " is not a regular file");
      size_ = static_cast<std::uint64_t>(st.st_size);
      size_known_ = true;
      mtime_ns_ = mtime_ns_of(st);
      abs_path_ = normal_path(path);
      break;
    }
    case upload_source::kind::buffer:
      size_ = source_.buffer()->data.size();
      size_known_ = true;
      break;
    case upload_source::kind::stream:
      if (!source_.stream()->read)
        return reject(std::make_error_code(std::errc::invalid_argument), "the stream_source has no reader");
      break;
  }

  part_size_ = opts_.part_size;
  if (size_known_) {
    part_size_ = effective_part_size(size_, opts_.part_size);
    if (part_size_ == 0)
      return reject(client_errc::too_many_parts,
                    "the source is larger than 10000 parts of 5 GiB");
    parts_total_ = part_count(size_, part_size_);
  }

  if (const auto* file = opts_.checkpoint.file()) {
    std::filesystem::path dir = file->parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      return reject(std::make_error_code(std::errc::no_such_file_or_directory),
                    "the checkpoint's folder " + dir.string() + " does not exist");
    cp_path_ = *file;
  }
  return true;
}

// ---- 2. checkpoint -------------------------------------------------------------------------

// Before the checkpoint is read: a second run with the same checkpoint file stops here, before
// any request; and a folder in which the lock file cannot be made will not take the checkpoint
// either, so that is said before anything is sent too.
inline asio::awaitable<bool> upload_run::lock_checkpoint() {
  checkpoint_lock* lock = &lock_;
  const std::filesystem::path* path = &*cp_path_;
  auto job = [lock, path] {
    std::error_code ec;
    lock->acquire(*path, ec);
    return ec;
  };
  const std::error_code ec = co_await on_file_executor(std::move(job));
  if (!ec) co_return true;
  diagnostics diag;
  diag.operation = "lock_checkpoint";
  const std::string lock_file = lock_path_of(*cp_path_).string();
  if (ec == client_errc::checkpoint_locked)
    diag.client_message = "another upload is using the checkpoint " + cp_path_->string() +
                          " (it holds the lock on " + lock_file +
                          "); wait for it to end, or use another checkpoint path";
  else
    diag.client_message = "cannot create the checkpoint's lock file " + lock_file + " (" + ec.message() +
                          "); the checkpoint's folder must be writable. Nothing was sent";
  fail(ec, std::move(diag));
  co_return false;
}

inline asio::awaitable<bool> upload_run::load_checkpoint_option() {
  if (const auto* memory = opts_.checkpoint.memory()) {
    cp_ = *memory;
    have_checkpoint_ = true;
  } else if (cp_path_) {
    struct loaded {
      checkpoint cp;
      std::error_code ec;
      std::string problem;
    };
    const std::filesystem::path* path = &*cp_path_;
    auto job = [path] {
      loaded l;
      l.cp = detail::load_checkpoint(*path, l.ec, l.problem);
      return l;
    };
    loaded l = co_await on_file_executor(std::move(job));
    if (l.ec == std::errc::no_such_file_or_directory) co_return true;  // a new upload
    if (l.ec) {
      diagnostics diag;
      diag.operation = "load_checkpoint";
      diag.client_message = l.problem + " (" + cp_path_->string() + ")";
      fail(l.ec, std::move(diag));
      co_return false;
    }
    cp_ = std::move(l.cp);
    have_checkpoint_ = true;
  } else {
    co_return true;
  }
  co_return check_checkpoint(cp_);
}

inline bool upload_run::check_checkpoint(const checkpoint& cp) {
  auto mismatch = [&](std::error_code ec, std::string why) {
    diagnostics diag;
    diag.operation = "multipart_upload";
    diag.client_message = "the checkpoint" +
                          (cp_path_ ? " " + cp_path_->string() : std::string()) +
                          " belongs to another upload: " + why +
                          " (it was left untouched; use another checkpoint path, or delete it)";
    fail(ec, std::move(diag));
    return false;
  };
  const auto m = make_error_code(client_errc::checkpoint_mismatch);
  if (cp.kind != checkpoint_kind) return mismatch(m, "it is not a multipart-upload checkpoint");
  if (cp.dialect != dialect_name(client_.options().dialect))
    return mismatch(m, "it was made in the " + cp.dialect + " dialect, the client speaks " +
                           std::string(dialect_name(client_.options().dialect)));
  if (cp.version >= 1) {
    if (cp.endpoint != client_.endpoint_url())
      return mismatch(m, "it is for endpoint " + cp.endpoint + ", the client uses " + client_.endpoint_url());
    if (cp.bucket != client_.options().bucket)
      return mismatch(m, "it is for bucket " + cp.bucket + ", the client uses " + client_.options().bucket);
  }
  if (cp.name != name_) return mismatch(m, "it is for object " + cp.name + ", not " + name_);
  // An intent holds no part: the source and the part size may have changed since.
  if (cp.state == checkpoint_state::initiating) return true;
  if (is_file()) {
    if (cp.file.empty() || normal_path(cp.file) != abs_path_)
      return mismatch(m, "it is for file " + (cp.file.empty() ? "(none)" : cp.file) + ", not " + abs_path_);
  } else if (!cp.file.empty()) {
    return mismatch(m, "it is for file " + cp.file + ", not an in-memory or stream source");
  }
  if (cp.part_size != part_size_)
    return mismatch(m, "it uses part size " + std::to_string(cp.part_size) + ", this call " +
                           std::to_string(part_size_) + " (pass .part_size = " +
                           std::to_string(cp.part_size) + ")");
  const auto changed = make_error_code(client_errc::file_changed);
  if (size_known_ && cp.file_size != size_)
    return mismatch(changed, "the source had " + std::to_string(cp.file_size) + " bytes, now " +
                                 std::to_string(size_));
  if (is_stream() && cp.file_size != 0)
    return mismatch(m, "it is for a source of known size, not a stream");
  if (is_file() && cp.version >= 1 && cp.file_mtime_ns != mtime_ns_)
    return mismatch(changed, "the file was modified since the upload began");
  if (cp.upload_id.empty()) return mismatch(m, "it names no upload id");
  return true;
}

// The checkpoint is an intent: InitiateMultipartUpload was sent and its reply never came back
// (cancelled, timed out, crashed). The server may hold an upload nobody knows the id of; find it
// and abort it, then start afresh (it held no part, so nothing is lost).
inline asio::awaitable<bool> upload_run::resolve_intent() {
  std::error_code ec;
  diagnostics diag;
  std::size_t aborted = 0;
  intent_time_ = cp_.initiated_after;
  co_await abort_intended(aborted, ec, diag);
  if (ec) {
    diag.client_message = "the checkpoint records an InitiateMultipartUpload of " + name_ + " sent at " +
                          iso8601_extended(cp_.initiated_after) +
                          " whose reply never came back, and looking for the upload it may have made "
                          "failed; call again to retry, or delete the checkpoint to start over (that "
                          "upload may then stay open)";
    fail(ec, std::move(diag));
    co_return false;
  }
  have_checkpoint_ = false;  // a new upload, recorded over the intent
  co_return true;
}

inline asio::awaitable<bool> upload_run::reconcile() {
  std::error_code ec;
  diagnostics diag;
  oss::list_parts_result listed = co_await access::impl(client_).list_all_parts(name_, cp_.upload_id, ec, diag);
  if (ec == server_errc::no_such_upload) {
    if (co_await completed_before()) co_return true;
    if (opts_.restart_if_vanished) {
      have_checkpoint_ = false;  // the old upload is gone: start over and replace the record
      co_return true;
    }
    diag.client_message = "the server no longer knows upload " + cp_.upload_id +
                          " (aborted, completed or expired); set restart_if_vanished to start "
                          "a new upload, or delete the checkpoint";
    fail(client_errc::upload_vanished, std::move(diag));
    co_return false;
  }
  if (ec) {
    fail(ec, std::move(diag));
    co_return false;
  }
  const std::uint64_t size = size_;
  const std::uint64_t part = part_size_;
  const bool known = size_known_;
  auto expected = [size, part, known](int number) -> std::uint64_t {
    return known ? part_length(size, part, number) : 0;
  };
  std::vector<part_record> confirmed = reconcile_parts(cp_, listed.parts, part_size_, expected);
  for (const part_info& p : listed.parts)
    if (p.crc64) listed_with_crc_.insert(p.part_number);
  if (known) {
    // A part beyond the source's end cannot belong to it.
    std::erase_if(confirmed, [&](const part_record& p) { return p.number > static_cast<int>(parts_total_); });
  }
  cp_.version = 1;
  cp_.kind = std::string(checkpoint_kind);
  cp_.endpoint = client_.endpoint_url();
  cp_.bucket = client_.options().bucket;
  cp_.file = abs_path_;
  cp_.file_mtime_ns = mtime_ns_;
  cp_.file_size = known ? size_ : 0;
  cp_.done_parts = std::move(confirmed);
  if (is_stream()) stream_candidates_ = cp_.done_parts;
  changed();
  co_return true;
}

// ---- 2b. re-hash what the checkpoint claims ---------------------------------------------------

// Reads and hashes every part of `parts` from the source again, on the file executor, up to
// `parallel` parts at a time (each through a slice of its own, so memory stays small). Results
// land in each part's `got`. The caller's cancellation stops it between parts.
inline asio::awaitable<void> upload_run::rehash_parts(std::vector<claimed_part>& parts) {
  const std::size_t lanes = std::min<std::size_t>(opts_.parallel, parts.size());
  if (lanes == 0) co_return;
  std::size_t next = 0;
  std::size_t running = lanes;
  for (std::size_t i = 0; i < lanes; ++i) {
    auto on_done = [this, &running](std::exception_ptr e) {
      --running;
      if (e && !unexpected_) {
        unexpected_ = e;
        stop_all();
      }
      notify();
    };
    asio::co_spawn(strand_, rehash_lane(parts, next), std::move(on_done));
  }
  while (running > 0) {
    co_await wait();
    if (!stop_ && caller_cancelled()) {
      cancelled_ = true;
      stop_all();
    }
  }
}

inline asio::awaitable<void> upload_run::rehash_lane(std::vector<claimed_part>& parts, std::size_t& next) {
  std::unique_ptr<std::byte[]> slice;
  if (is_file()) slice = std::make_unique_for_overwrite<std::byte[]>(rehash_slice);
  while (!stop_ && next < parts.size()) {
    claimed_part& part = parts[next++];
    const std::uint64_t offset = part_offset(part_size_, part.rec.number);
    const std::uint64_t len = part.rec.size;
    const bool with_md5 = part.want_md5;
    if (is_file()) {
      const int fd = fd_;
      std::byte* buf = slice.get();
      auto job = [fd, buf, offset, len, with_md5] { return hash_file_range(fd, buf, offset, len, with_md5); };
      part.got = co_await on_file_executor(std::move(job));
    } else {
      const std::byte* data = source_.buffer()->data.data() + offset;
      auto job = [data, len, with_md5] { return hash_memory_range(data, len, with_md5); };
      part.got = co_await on_file_executor(std::move(job));
    }
  }
}

// A resume trusts no part on the checkpoint's word: each part it claims (and the server still
// holds, see reconcile) is read from the source and hashed again, and kept only when its bytes
// are the recorded ones and the server confirms them (the CRC-64 ListParts gave, else an ETag
// that is the part's MD5). The others are sent again. Streams do the same as they re-read the
// stream (see worker).
inline asio::awaitable<bool> upload_run::verify_resumed_parts() {
  if (is_stream() || cp_.done_parts.empty()) co_return true;
  std::vector<claimed_part> parts;
  parts.reserve(cp_.done_parts.size());
  for (const part_record& rec : cp_.done_parts) {
    claimed_part p;
    p.rec = rec;
    p.listed_crc = listed_with_crc_.contains(rec.number);
    p.want_md5 = !p.listed_crc && opts_.require_server_crc && etag_md5(rec.etag).has_value();
    parts.push_back(std::move(p));
  }
  co_await rehash_parts(parts);
  if (stop_) co_return false;
  std::vector<part_record> kept;
  kept.reserve(parts.size());
  for (claimed_part& p : parts) {
    if (p.got.error != 0) {
      fail(client_errc::file_not_readable,
           "reading part " + std::to_string(p.rec.number) + " to check it failed: " +
               std::generic_category().message(p.got.error),
           p.rec.number);
      co_return false;
    }
    if (p.got.short_read) {
      fail(client_errc::file_changed, "the file is shorter than the checkpoint says", p.rec.number);
      co_return false;
    }
    switch (judge_resumed_part(p.rec, p.listed_crc, p.got.crc64, p.got.md5)) {
      case resumed_part::keep_crc64:
        ++checks_.parts_crc64;
        kept.push_back(std::move(p.rec));
        break;
      case resumed_part::keep_md5:
        ++checks_.parts_content_md5;
        kept.push_back(std::move(p.rec));
        break;
      case resumed_part::keep_unconfirmed:
        // Sent again, so that the server confirms it this time.
        if (opts_.require_server_crc) break;
        ++checks_.parts_unconfirmed;
        kept.push_back(std::move(p.rec));
        break;
      case resumed_part::changed:
        ++checks_.parts_changed;
        break;
    }
  }
  if (kept.size() != cp_.done_parts.size()) {
    cp_.done_parts = std::move(kept);
    changed();
  }
  co_return true;
}

// The upload id is gone. If the checkpoint holds every part, the source still has exactly those
// bytes (re-hashed), and the object under the name is exactly those parts (the object check),
// a Complete whose reply was lost, or that was cancelled after the server acted on it, finished
// the upload already: report that success instead of a vanished upload (design.md 4, "Complete
// that loses its reply is reconciled").
inline asio::awaitable<bool> upload_run::completed_before() {
  if (cp_.version < 1 || !size_known_ || is_stream() || cp_.done_parts.size() != parts_total_) co_return false;
  std::vector<part_record> parts = cp_.done_parts;
  sort_parts(parts);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].number != static_cast<int>(i + 1)) co_return false;
    total += parts[i].size;
  }
  if (total != size_) co_return false;
  std::vector<claimed_part> claimed;
  claimed.reserve(parts.size());
  for (const part_record& rec : parts) {
    claimed_part p;
    p.rec = rec;
    claimed.push_back(std::move(p));
  }
  co_await rehash_parts(claimed);
  if (stop_) co_return false;
  for (const claimed_part& p : claimed)
    if (p.got.error != 0 || p.got.short_read || p.got.crc64 != p.rec.crc64) co_return false;
  std::error_code ec;
  diagnostics diag;
  oss::object_meta meta = co_await access::impl(client_).head(name_, ec, diag);
  if (ec) co_return false;
  const std::vector<oss::completed_part> listed = completed_parts_of(parts, [](int) { return true; });
  const object_verdict verdict = check_object_parts(meta, listed, client_.options().dialect);
  if (verdict.match != object_match::matches) co_return false;
  completed_object_ = std::move(meta);
  completed_evidence_ = verdict.evidence;
  co_return true;
}

inline asio::awaitable<void> upload_run::finish_completed_before() {
  std::vector<part_record> parts = cp_.done_parts;
  sort_parts(parts);
  co_await remove_checkpoint_file();
  upload_result& res = out_.result;
  res.name = name_;
  res.etag = completed_object_->etag;
  res.upload_id = cp_.upload_id;
  res.size = size_;
  res.crc64 = combine_part_crcs(parts);
  res.parts = parts_total_;
  res.resumed = true;
  res.checks.object = completed_evidence_ == object_evidence::crc64 ? object_check::head_crc64
                                                                    : object_check::multipart_etag;
  // The HEAD that proved the object is this call's last word with the server.
  for (const auto& [header, value] : completed_object_->headers)
    if (http::iequals(header, "x-oss-request-id") || http::iequals(header, "x-amz-request-id"))
      res.request_id = sanitize_text(value, max_id_bytes);
  bytes_done_ = size_;
  parts_done_ = parts_total_;
  const std::optional<part_record> none;
  co_await report(progress_stage::completed, none, res.request_id);
  completed_reported_ = true;
}

// ---- 4. initiate ---------------------------------------------------------------------------

// A checkpoint of this upload with no upload id and no part yet.
inline checkpoint upload_run::fresh_checkpoint() const {
  checkpoint cp;
  cp.endpoint = client_.endpoint_url();
  cp.bucket = client_.options().bucket;
  cp.dialect = std::string(dialect_name(client_.options().dialect));
  cp.name = name_;
  cp.file = abs_path_;
  cp.file_size = size_known_ ? size_ : 0;
  cp.file_mtime_ns = mtime_ns_;
  cp.part_size = part_size_;
  return cp;
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
  co_return !stop_;
}

inline asio::awaitable<bool> upload_run::initiate() {
  std::error_code ec;
  diagnostics diag;
  std::string upload_id = co_await access::impl(client_).initiate_multipart_upload(name_, object_opts_, ec, diag);
  if (ec) {
    co_await after_failed_initiate(ec, diag);
    fail(ec, std::move(diag));
    co_return false;
  }
  cp_ = fresh_checkpoint();
  cp_.upload_id = std::move(upload_id);
  changed();
  co_return true;
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
  co_await on_file_executor(std::move(job));
}

// ---- 3. small input ------------------------------------------------------------------------

// `digests`: those of the file read, else computed here (memory and stream sources).
inline asio::awaitable<void> upload_run::put_small(std::span<const std::byte> body,
                                                   std::optional<body_digests> digests) {
  const std::optional<part_record> none;
  co_await report(progress_stage::started, none, std::string_view());
  if (stop_) co_return;
  if (!digests) {
    const std::byte* data = body.data();
    const std::size_t len = body.size();
    const part_digests_wanted wanted = digests_wanted(client_.options(), opts_.content_md5);
    auto job = [data, len, wanted] { return digest_part(data, len, wanted); };
    digests = co_await on_file_executor(std::move(job));
  }
  std::error_code ec;
  diagnostics diag;
  const asio::const_buffer payload(body.data(), body.size());
  // The server's CRC is checked against the one computed while reading: bytes that changed
  // since then fail with crc64_mismatch.
  oss::put_result r = co_await access::impl(client_).put_object(name_, payload, object_opts_, *digests, ec, diag);
  if (ec) {
    fail(ec, std::move(diag));
    co_return;
  }
  // The object is its one part: the reply's CRC-64 or the Content-MD5 the server checked
  // confirm it; else a HEAD's CRC-64; else the body goes again with Content-MD5.
  auto confirmed_by = [](integrity_check how) {
    return how == integrity_check::crc64         ? object_check::reply_crc64
           : how == integrity_check::content_md5 ? object_check::content_md5
                                                 : object_check::none;
  };
  object_check how = confirmed_by(r.integrity);
  if (how == object_check::none) {
    std::error_code head_ec;
    diagnostics head_diag;
    const oss::object_meta meta = co_await access::impl(client_).head(name_, head_ec, head_diag);
    if (!head_ec && meta.crc64) {
      if (*meta.crc64 != r.crc64) {
        diagnostics d;
        d.operation = "PutObject";
        d.request_id = r.request_id;
        d.client_message = "the object was created, but its CRC-64 (" + std::to_string(*meta.crc64) +
                           ", from HEAD) differs from ours (" + std::to_string(r.crc64) +
                           "): the stored object is not the source";
        fail(client_errc::crc64_mismatch, std::move(d));
        co_return;
      }
      how = object_check::head_crc64;
    }
  }
  if (how == object_check::none && opts_.require_server_crc) {
    body_digests with_md5 = *digests;
    with_md5.md5 = co_await md5_of(body.data(), body.size());
    r = co_await access::impl(client_).put_object(name_, payload, object_opts_, with_md5, ec, diag);
    if (ec) {
      fail(ec, std::move(diag));
      co_return;
    }
    ++checks_.parts_resent_for_md5;
    how = confirmed_by(r.integrity);
  }
  // The object is the one part: confirmed as the object is.
  count_part_check(how == object_check::content_md5 ? integrity_check::content_md5
                   : how == object_check::none      ? integrity_check::none
                                                    : integrity_check::crc64);
  if (how == object_check::none && opts_.require_server_crc) {
    diagnostics d;
    d.operation = "PutObject";
    d.request_id = r.request_id;
    d.client_message = "the object " + name_ + " was created, but the server never confirmed its bytes (no "
                       "CRC-64 in any reply, and Content-MD5 was not checked)";
    fail(client_errc::unverified, std::move(d));
    co_return;
  }
  checks_.object = how;
  const std::uint64_t crc = r.crc64;
  bytes_done_ = body.size();
  parts_done_ = 1;
  parts_total_ = 1;
  bytes_uploaded_ = body.size();
  parts_uploaded_ = 1;
  size_ = body.size();
  size_known_ = true;
  upload_result& res = out_.result;
  res.name = name_;
  res.etag = r.etag;
  res.size = body.size();
  res.crc64 = crc;
  res.parts = 1;
  res.multipart = false;
  res.bytes_uploaded = body.size();
  res.parts_uploaded = 1;
  res.request_id = r.request_id;
  res.checks = checks_;
  co_await report(progress_stage::completed, none, res.request_id);
  completed_reported_ = true;
}

// ---- 5. parts --------------------------------------------------------------------------------

inline void upload_run::record(part_record rec) {
  if (cp_path_) {
    unjournaled_ += journal_record(rec);
    ++unjournaled_count_;
  }
  auto it = std::find_if(cp_.done_parts.begin(), cp_.done_parts.end(),
                         [&](const part_record& p) { return p.number == rec.number; });
  if (it != cp_.done_parts.end())
    *it = std::move(rec);
  else
    cp_.done_parts.push_back(std::move(rec));
  ++cp_version_;
}

// A change of cp_ that a journal record cannot express (a new upload, parts dropped): the next
// save rewrites the JSON.
inline void upload_run::changed() {
  must_compact_ = true;
  ++cp_version_;
}

// Makes the checkpoint file hold everything recorded so far. Writes are serialised: while one
// is running, later parts wait and the next write covers all of them (group commit), so a
// burst of finished parts costs one fsync, and an older snapshot never overwrites a newer one.
inline asio::awaitable<void> upload_run::persist() {
  if (!cp_path_) co_return;
  const std::uint64_t mine = cp_version_;
  while (saved_version_ < mine && !save_failed_ && !stop_) {
    if (saving_)
      co_await wait();
    else
      co_await save_now();
  }
}

// One write of the checkpoint: the parts recorded since the last one appended to the journal
// with one fdatasync, or, when the journal cannot say it (a new upload, parts dropped), when it
// has grown as long as the JSON's part list, or at the end of a run (`compact`), the whole
// state written as JSON and the journal restarted.
inline asio::awaitable<void> upload_run::save_now(bool compact) {
  saving_ = true;
  const std::uint64_t version = cp_version_;
  if (!journal_) journal_.emplace(*cp_path_);
  const bool rewrite = compact || must_compact_ ||
                       journal_->records() + unjournaled_count_ > std::max<std::size_t>(256, compacted_parts_);
  std::string text;
  std::size_t count = unjournaled_count_;
  if (rewrite) {
    text = checkpoint_to_json(cp_);
    must_compact_ = false;
    compacted_parts_ = cp_.done_parts.size();
  } else {
    text.swap(unjournaled_);
  }
  unjournaled_.clear();
  unjournaled_count_ = 0;
  checkpoint_journal* journal = &*journal_;
  const std::string* body = &text;
  const std::string upload_id_now = cp_.upload_id;  // cp_ may change while the job runs
  const std::string* upload_id = &upload_id_now;
  auto job = [journal, body, upload_id, rewrite, count] {
    std::error_code ec;
    if (rewrite)
      journal->compact(*body, *upload_id, ec);
    else
      journal->append(*body, count, ec);
    return ec;
  };
  const std::error_code ec = co_await on_file_executor(std::move(job));
  saving_ = false;
  if (ec) {
    save_failed_ = true;
    diagnostics diag;
    diag.operation = "save_checkpoint";
    diag.client_message = "cannot write the checkpoint file " + cp_path_->string() + " (" + ec.message() + ")";
    if (cp_.upload_id.empty()) {
      diag.client_message += "; nothing was sent: make the checkpoint's folder writable, or use another checkpoint path";
    } else {
      // The file still holds an earlier state of this upload (or the intent before it), so the
      // upload can be resumed, or found and aborted, from it; the id lets the user abort it by hand.
      diag.client_message += "; upload " + cp_.upload_id + " of " + name_ +
                             " stays open on the server. Once the file can be written, call again with "
                             "the same checkpoint to resume it, or abort it (abort_upload with the "
                             "checkpoint, or AbortMultipartUpload with that upload id)";
    }
    fail(ec, std::move(diag));
  } else {
    saved_version_ = std::max(saved_version_, version);
  }
  notify();
}

inline asio::awaitable<void> upload_run::report(progress_stage stage,
                                                const std::optional<part_record>& part,
                                                std::string_view request_id) {
  if (!opts_.progress) co_return;
  const bool done = stage == progress_stage::completed;
  progress_event e{
      done ? 1.0 : (size_known_ ? progress_fraction(bytes_done_, size_) : 0.0),
      bytes_done_,
      total_known(),
      part ? part->size : 0,
      parts_done_,
      parts_total_,
      part,
      cp_,
      request_id,
      stage,
  };
  try {
    if (!opts_.progress.call_sync(e)) co_await opts_.progress(e);
  } catch (...) {
    std::exception_ptr thrown = std::current_exception();
    // The caller's cancellation reaches the handler's own awaits too: their operation_aborted
    // is that cancellation, not the handler's failure. Anything else it throws is.
    if (!stop_ && caller_cancelled() && is_operation_aborted(thrown)) {
      cancelled_ = true;
      stop_all();
    } else if (!stop_ && !user_exception_) {
      user_exception_ = thrown;
      diagnostics diag;
      diag.operation = "progress";
      diag.part_number = part ? part->number : 0;
      diag.client_message = done ? "the progress handler threw an exception on the completed event; the object " +
                                       name_ + " was created and its bytes confirmed"
                                 : "the progress handler threw an exception; the upload was stopped";
      fail(client_errc::handler_exception, std::move(diag));
    }
  }
}

// Reports one finished part: one handler call at a time, in the order parts became durable.
inline asio::awaitable<void> upload_run::report_part(const part_record& rec,
                                                     std::string_view request_id) {
  while (progress_busy_ && !stop_) co_await wait();
  if (stop_) co_return;
  progress_busy_ = true;
  bytes_done_ += rec.size;
  ++parts_done_;
  const std::optional<part_record> part = rec;
  co_await report(progress_stage::part_done, part, request_id);
  progress_busy_ = false;
  notify();
}

inline asio::awaitable<void> upload_run::send_part(int number, const std::byte* data,
                                                   std::uint64_t len, const body_digests& digests,
                                                   part_lease& lease) {
  std::error_code ec;
  diagnostics diag;
  const asio::const_buffer body(data, static_cast<std::size_t>(len));
  // The client compares the server's CRC with the one computed while reading the part, so
  // bytes that changed since (a buffer source the caller touched) fail with crc64_mismatch.
  oss::part_result r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, number, body, false, digests, ec, diag);
  bool resent = false;
  if (!ec && r.integrity == integrity_check::none && opts_.require_server_crc && !stop_) {
    // The server accepted the part but proved nothing (no CRC-64 in the reply, and it went
    // without Content-MD5): send it again with Content-MD5, which the server checks. The
    // parts read from now on carry one from the start (worker asks for the MD5).
    md5_every_part_ = true;
    body_digests with_md5 = digests;
    with_md5.md5 = co_await md5_of(data, len);
    r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, number, body, false, with_md5, ec, diag);
    resent = true;
  }
  // The bytes are sent: the slot and its buffer serve the next part (of any upload) while this
  // one is recorded and reported.
  lease.reset();
  if (ec) {
    // After a stop, a cancelled or failing part is a consequence, not the cause.
    if (!stop_) fail(ec, std::move(diag));
    co_return;
  }
  if (resent) ++checks_.parts_resent_for_md5;
  count_part_check(r.integrity);
  record(part_record{number, std::move(r.etag), len, r.crc64});
  if (is_stream()) stream_done_.insert(number);
  bytes_uploaded_ += len;
  ++parts_uploaded_;
  const part_record& rec = *std::find_if(cp_.done_parts.begin(), cp_.done_parts.end(),
                                         [&](const part_record& p) { return p.number == number; });
  if (cp_path_) {
    // The committer makes it durable and reports it; this worker goes on with its next part.
    to_commit_.emplace_back(rec, std::string(r.request_id));
    ++uncommitted_;
    notify();
    co_return;
  }
  const part_record copy = rec;
  co_await report_part(copy, r.request_id);
}

// Checkpoint files: takes the parts the workers recorded, makes them durable in one journal
// append (group commit: every part that finished during the previous write goes in the next),
// then reports them in that order, each "after the part is durably in the checkpoint". Ends
// when the workers have ended and nothing is left, or at a stop (the final save of
// end_with_failure then records what is left).
inline asio::awaitable<void> upload_run::commit_loop() {
  std::vector<std::pair<part_record, std::string>> batch;
  while (!stop_) {
    if (to_commit_.empty()) {
      if (workers_running_ == 0) break;
      co_await wait();
      continue;
    }
    batch.clear();
    batch.swap(to_commit_);
    co_await persist();
    for (std::size_t i = 0; i < batch.size() && !stop_; ++i) {
      co_await report_part(batch[i].first, batch[i].second);
      --uncommitted_;
      notify();
    }
  }
}

// Takes the next part of a stream and reads it into the worker's buffer. Reads are serialised
// (a stream has one position) and happen in part order.
inline asio::awaitable<bool> upload_run::next_stream_part(std::size_t index, int& number,
                                                          std::uint64_t& len) {
  if (index == 0 && prefetched_) {
    prefetched_ = false;
    number = 1;
    len = prefetched_len_;
    co_return true;
  }
  while (stream_busy_ && !stop_) co_await wait();
  if (stop_ || stream_eof_) co_return false;
  if (next_stream_number_ > static_cast<int>(max_parts)) {
    fail(client_errc::too_many_parts,
         "the stream is longer than 10000 parts of " + std::to_string(part_size_) +
             " bytes; use a larger part_size");
    co_return false;
  }
  stream_busy_ = true;
  number = next_stream_number_++;
  std::byte* buf = buffer(index);
  std::uint64_t got = 0;
  stream_source& stream = *source_.stream();
  try {
    while (got < part_size_ && !stop_) {
      const asio::mutable_buffer room(buf + got, static_cast<std::size_t>(part_size_ - got));
      const std::size_t n = co_await stream.read(room);
      if (n == 0) {
        stream_eof_ = true;
        break;
      }
      if (n > part_size_ - got) {
        stream_busy_ = false;
        notify();
        fail(std::make_error_code(std::errc::invalid_argument),
             "the stream reader reported more bytes than the buffer holds", number);
        co_return false;
      }
      got += n;
    }
  } catch (const std::system_error& e) {
    stream_busy_ = false;
    notify();
    if (!stop_) {
      diagnostics diag;
      diag.operation = "read_stream";
      diag.part_number = number;
      diag.client_message = "reading the stream failed";
      fail(e.code(), std::move(diag));
    }
    co_return false;
  } catch (...) {
    stream_busy_ = false;
    notify();
    if (!stop_) {
      user_exception_ = std::current_exception();
      diagnostics diag;
      diag.operation = "read_stream";
      diag.part_number = number;
      diag.client_message = "the stream reader threw an exception; the upload was stopped";
      fail(client_errc::handler_exception, std::move(diag));
    }
    co_return false;
  }
  stream_bytes_read_ += got;
  stream_busy_ = false;
  notify();
  if (stop_) co_return false;
  if (stream_eof_) {
    // The length is known now: a last part of 0 bytes ends the part list one earlier.
    size_ = stream_bytes_read_;
    size_known_ = true;
    parts_total_ = static_cast<std::uint32_t>(got == 0 ? number - 1 : number);
  }
  len = got;
  co_return got > 0;
}

inline asio::awaitable<void> upload_run::worker(std::size_t index) {
  co_await asio::this_coro::throw_if_cancelled(false);
  while (!stop_) {
    // Group commit lets a worker go on while its part is being written: a slow fdatasync (a
    // shared disk: tens of ms) must not stall the sends. The parts sent and not yet durable stay
    // within four per worker, so a failed write still stops the upload soon.
    while (cp_path_ && uncommitted_ > undurable_parts_max * opts_.parallel && !stop_) co_await wait();
    if (stop_) break;
    int number = 0;
    std::uint64_t len = 0;
    const std::byte* data = nullptr;
    body_digests digests;
    part_lease lease;
    const part_digests_wanted wanted = digests_wanted(client_.options(), opts_.content_md5 || md5_every_part_);
    if (is_stream()) {
      if (!co_await next_stream_part(index, number, len)) break;
      std::byte* buf = buffer(index);
      auto job = [buf, len, wanted] {
        return digest_part(buf, static_cast<std::size_t>(len), wanted);
      };
      digests = co_await on_file_executor(std::move(job));
      data = buf;
      if (stop_) break;
      // Resuming a stream: a part the server holds with this size and CRC is not sent again.
      auto cand = std::find_if(stream_candidates_.begin(), stream_candidates_.end(),
                               [&](const part_record& p) { return p.number == number; });
      if (cand != stream_candidates_.end()) {
        const resumed_part verdict =
            cand->size != len ? resumed_part::changed
                              : judge_resumed_part(*cand, listed_with_crc_.contains(number), *digests.crc64, digests.md5);
        const bool keep = verdict == resumed_part::keep_crc64 || verdict == resumed_part::keep_md5 ||
                          (verdict == resumed_part::keep_unconfirmed && !opts_.require_server_crc);
        if (verdict == resumed_part::keep_crc64) ++checks_.parts_crc64;
        if (verdict == resumed_part::keep_md5) ++checks_.parts_content_md5;
        if (verdict == resumed_part::changed) ++checks_.parts_changed;
        if (keep) {
          if (verdict == resumed_part::keep_unconfirmed) ++checks_.parts_unconfirmed;
          stream_done_.insert(number);
          const part_record copy = *cand;
          co_await report_part(copy, std::string_view());
          continue;
        }
      }
    } else {
      if (next_todo_ >= todo_.size()) break;
      if (is_file()) {
        // A slot first, then the read: no part waits in memory for a connection.
        const bool got = co_await slots_->acquire();
        if (got) lease.hold(*slots_, slot_len_);
        if (!got || stop_ || next_todo_ >= todo_.size()) break;
      }
      number = todo_[next_todo_++];
      len = part_length(size_, part_size_, number);
      const std::uint64_t offset = part_offset(part_size_, number);
      if (is_file()) {
        std::byte* buf = lease.buffer();
        const int fd = fd_;
        read_outcome r;
        if (len <= inline_read_max) {
          r = read_part(fd, buf, len, offset, wanted);
        } else {
          auto job = [fd, buf, len, offset, wanted] { return read_part(fd, buf, len, offset, wanted); };
          r = co_await on_file_executor(std::move(job));
        }
        if (stop_) break;
        if (r.error != 0) {
          fail(client_errc::file_not_readable,
               "reading part " + std::to_string(number) + " failed: " +
                   std::generic_category().message(r.error),
               number);
          break;
        }
        if (r.short_read) {
          fail(client_errc::file_changed,
               "the file became shorter while it was being uploaded", number);
          break;
        }
        data = buf;
        digests = r.digests;
      } else {
        const std::byte* view = source_.buffer()->data.data() + offset;
        auto job = [view, len, wanted] {
          return digest_part(view, static_cast<std::size_t>(len), wanted);
        };
        digests = co_await on_file_executor(std::move(job));
        data = view;
        if (stop_) break;
      }
    }
    co_await send_part(number, data, len, digests, lease);
  }
}

inline asio::awaitable<void> upload_run::run_workers() {
  std::size_t count = opts_.parallel;
  if (!is_stream()) count = std::min(count, todo_.size());
  if (count == 0) co_return;
  if (is_file()) {
    slots_ = access::impl(client_).part_pool_;
    slot_len_ = static_cast<std::size_t>(std::min(part_size_, size_));
    slots_->add_user(slot_len_);
  } else {
    buffers_.resize(count);
  }
  signals_ = std::make_unique<asio::cancellation_signal[]>(count);
  worker_running_.assign(count, true);
  running_ = count;
  workers_running_ = count;
  for (std::size_t i = 0; i < count; ++i) {
    auto on_done = [this, i](std::exception_ptr e) {
      worker_running_[i] = false;
      --running_;
      --workers_running_;
      if (e && !unexpected_) {
        unexpected_ = e;
        stop_all();
      }
      notify();
    };
    asio::co_spawn(strand_, worker(i), asio::bind_cancellation_slot(signals_[i].slot(), std::move(on_done)));
  }
  if (cp_path_) {
    ++running_;
    auto on_committer_done = [this](std::exception_ptr e) {
      --running_;
      if (e && !unexpected_) {
        unexpected_ = e;
        stop_all();
      }
      notify();
    };
    asio::co_spawn(strand_, commit_loop(), std::move(on_committer_done));
  }
  // The caller's cancellation reaches this wait; it becomes a stop of every worker.
  while (running_ > 0) {
    co_await wait();
    if (!stop_ && caller_cancelled()) {
      cancelled_ = true;
      stop_all();
    }
  }
  if (slots_) {
    slots_->remove_user(slot_len_);
    slots_.reset();
  }
}

// ---- 6. complete ---------------------------------------------------------------------------

inline asio::awaitable<void> upload_run::complete() {
  if (is_file()) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || static_cast<std::uint64_t>(st.st_size) != size_ ||
        mtime_ns_of(st) != mtime_ns_) {
      fail(client_errc::file_changed,
           "the file was modified during the upload; its parts may mix old and new content");
      co_return;
    }
  }
  // Complete is the upload's memory peak (issue 5: about 870 B per part before): the records
  // are sorted through pointers instead of copied, and the one list the client's API takes is
  // built straight from them and moved in; the client writes the XML from it in one string.
  std::vector<const part_record*> parts;
  parts.reserve(cp_.done_parts.size());
  for (const part_record& p : cp_.done_parts)
    // Only parts this run read from the stream belong to the object.
    if (!is_stream() || stream_done_.contains(p.number)) parts.push_back(&p);
  std::sort(parts.begin(), parts.end(),
            [](const part_record* a, const part_record* b) { return a->number < b->number; });
  // Every part 1..N exactly once, or the object would have a hole.
  bool contiguous = parts.size() == parts_total_;
  for (std::size_t i = 0; contiguous && i < parts.size(); ++i)
    contiguous = parts[i]->number == static_cast<int>(i + 1);
  if (!contiguous || parts.empty()) {
    fail(std::make_error_code(std::errc::state_not_recoverable),
         "internal error: the part list is incomplete before Complete");
    co_return;
  }
  std::uint64_t object_size = 0;
  std::uint64_t expected_crc = 0;  // combine_part_crcs over the sorted parts
  for (const part_record* p : parts) {
    object_size += p->size;
    expected_crc = crc64_combine(expected_crc, p->crc64, p->size);
  }
  const std::size_t part_count = parts.size();

  std::vector<oss::completed_part> listed;
  listed.reserve(part_count);
  for (const part_record* p : parts) listed.push_back(oss::completed_part{p->number, p->etag, p->size, p->crc64});
  std::vector<const part_record*>().swap(parts);
  std::error_code ec;
  diagnostics diag;
  oss::complete_result r =
      co_await access::impl(client_).complete_multipart_upload(name_, cp_.upload_id, std::move(listed), ec, diag);
  if (ec) {
    fail(ec, std::move(diag));
    co_return;
  }
  // The whole object, as the server confirms it (check_object_parts, the rule a lost Complete
  // reply and a resume use too): the Complete reply's CRC-64 (or, in S3, its multipart ETag),
  // else what a HEAD shows. Anything else is not proof.
  const std::vector<oss::completed_part> made_of = completed_parts_of(cp_.done_parts, object_part_filter());
  const api_dialect dialect = client_.options().dialect;
  oss::object_meta replied;
  replied.size = object_size;  // not in the reply; HEAD checks it when the reply cannot decide
  replied.etag = r.etag;
  replied.crc64 = r.crc64;
  // Right after our own Complete, an ETag that is not a multipart ETag says how the store makes
  // ETags (s3rver: the MD5 of the whole object), not that the object is another one: it proves
  // nothing either way.
  auto judge = [&](const oss::object_meta& meta) {
    object_verdict v = check_object_parts(meta, made_of, dialect);
    if (v.match == object_match::differs && meta.part_count() == 0) v.match = object_match::unknown;
    return v;
  };
  object_verdict verdict = judge(replied);
  object_check how = object_check::none;
  if (verdict.match == object_match::matches) {
    how = verdict.evidence == object_evidence::crc64 ? object_check::reply_crc64 : object_check::multipart_etag;
  } else if (verdict.match == object_match::unknown) {
    std::error_code head_ec;
    diagnostics head_diag;
    const oss::object_meta meta = co_await access::impl(client_).head(name_, head_ec, head_diag);
    if (!head_ec) {
      verdict = judge(meta);
      if (verdict.match == object_match::matches)
        how = verdict.evidence == object_evidence::crc64 ? object_check::head_crc64 : object_check::multipart_etag;
    } else {
      verdict.reason = "the Complete reply carried no CRC-64, and the HEAD after it failed (" + head_ec.message() + ")";
    }
  }
  // A multipart ETag proves the parts only as far as the server confirmed each of them.
  if (how == object_check::multipart_etag && checks_.parts_unconfirmed > 0) how = object_check::none;
  const bool differs = verdict.match == object_match::differs;
  if (differs || (how == object_check::none && opts_.require_server_crc)) {
    diagnostics d;
    d.operation = "CompleteMultipartUpload";
    d.request_id = r.request_id;
    if (differs)
      d.client_message = "the object was created, but " + verdict.reason + ": the stored object is not the source";
    else
      d.client_message = "the object " + name_ + " was created, but the server never confirmed its bytes (" +
                         verdict.reason +
                         "); compare it with the source, or set upload_options::require_server_crc = false "
                         "for a store that computes no CRC-64";
    // The upload id is consumed: the checkpoint can no longer resume anything.
    co_await remove_checkpoint_file();
    fail(differs ? make_error_code(client_errc::crc64_mismatch) : make_error_code(client_errc::unverified),
         std::move(d));
    co_return;
  }
  checks_.object = how;
  co_await remove_checkpoint_file();
  upload_result& res = out_.result;
  res.name = name_;
  res.etag = r.etag;
  res.upload_id = cp_.upload_id;
  res.size = object_size;
  res.crc64 = expected_crc;
  res.parts = static_cast<std::uint32_t>(part_count);
  res.multipart = true;
  res.resumed = have_checkpoint_;
  res.bytes_uploaded = bytes_uploaded_;
  res.parts_uploaded = parts_uploaded_;
  res.request_id = r.request_id;
  res.checks = checks_;
  bytes_done_ = object_size;
  parts_done_ = static_cast<std::uint32_t>(part_count);
  const std::optional<part_record> none;
  // Success is decided: neither a cancellation now nor the handler can undo the object.
  const bool was_stopped = stop_;
  co_await report(progress_stage::completed, none, res.request_id);
  if (!was_stopped && stop_) {
    // The handler threw at 1.0: the object exists, the exception still reaches the caller.
    failed_ = false;
  }
  completed_reported_ = true;
}

inline asio::awaitable<void> upload_run::finish_parts() {
  const std::optional<part_record> none;
  if (cp_path_) {
    co_await save_now();
    if (stop_) co_return;
  }
  bytes_done_ = 0;
  parts_done_ = 0;
  for (const auto& p : cp_.done_parts) {
    if (is_stream()) continue;  // a stream's parts count once re-read and verified
    bytes_done_ += p.size;
    ++parts_done_;
  }
  co_await report(progress_stage::started, none, std::string_view());
  if (stop_) co_return;
  if (caller_cancelled()) {
    cancelled_ = true;
    stop_all();
    co_return;
  }
  // One allocation for the records, not a doubling vector (about 1.6x their size) at the peak.
  if (size_known_) cp_.done_parts.reserve(parts_total_);
  if (!is_stream()) {
    std::set<int> done;
    for (const auto& p : cp_.done_parts) done.insert(p.number);
    for (int n = 1; n <= static_cast<int>(parts_total_); ++n)
      if (!done.contains(n)) todo_.push_back(n);
  }
  co_await run_workers();
  if (stop_) co_return;
  co_await complete();
}

// ---- 7. failure and cancellation -----------------------------------------------------------

inline asio::awaitable<void> upload_run::end_with_failure() {
  const bool upload_exists = !cp_.upload_id.empty() && !completed_reported_;
  if (failed_ && opts_.abort_on_failure && upload_exists && !cancelled_ && !user_exception_) {
    std::error_code ec;
    diagnostics diag;
    co_await access::impl(client_).abort_multipart_upload(name_, cp_.upload_id, ec, diag);
    if (!ec && cp_path_) {
      std::error_code rm_ec;
      remove_checkpoint_files(*cp_path_, rm_ec);
    }
    co_return;
  }
  // Keep what is done: the parts finished while the others were being stopped are recorded
  // too, so the next call does not send them again.
  // The whole state as JSON: what is left on disk is a plain (ali-oss-readable) checkpoint.
  if (cp_path_ && upload_exists && !save_failed_ && (saved_version_ < cp_version_ || (journal_ && journal_->records() > 0)))
    co_await save_now(true);
}

inline asio::awaitable<void> upload_run::run() {
  co_await asio::this_coro::throw_if_cancelled(false);
  outer_cancel_.emplace(co_await asio::this_coro::cancellation_state);

  if (validate()) {
    if (opts_.file_executor) {
      file_ex_ = opts_.file_executor;
    } else {
      own_pool_.emplace(std::min<std::size_t>(opts_.parallel, 2));
      file_ex_ = own_pool_->get_executor();
    }
    bool ok = true;
    if (cp_path_) ok = co_await lock_checkpoint();
    if (ok) ok = co_await load_checkpoint_option();
    if (ok && have_checkpoint_ && cp_.state == checkpoint_state::initiating) ok = co_await resolve_intent();
    if (ok && !caller_cancelled()) {
      bool ready = true;
      std::span<const std::byte> small;
      std::optional<body_digests> small_digests;
      bool go_small = false;
      if (!have_checkpoint_) {
        if (is_stream()) {
          // Read part 1 first: a stream shorter than one part is a single PutObject.
          buffers_.resize(1);
          std::uint64_t len = 0;
          int number = 0;
          co_await next_stream_part(0, number, len);
          if (stop_) {
            ready = false;
          } else if (stream_eof_) {
            go_small = true;
            small = std::span<const std::byte>(buffer(0), static_cast<std::size_t>(len));
          } else {
            prefetched_ = true;
            prefetched_len_ = len;
          }
        } else if (size_ < part_size_) {
          go_small = true;
          if (is_file()) {
            buffers_.resize(1);
            std::byte* buf = buffer(0);
            const int fd = fd_;
            const std::uint64_t len = size_;
            const part_digests_wanted wanted = digests_wanted(client_.options(), opts_.content_md5);
            auto job = [fd, buf, len, wanted] { return read_part(fd, buf, len, 0, wanted); };
            const read_outcome r = co_await on_file_executor(std::move(job));
            if (r.error != 0 || r.short_read) {
              fail(r.error != 0 ? client_errc::file_not_readable : client_errc::file_changed,
                   r.error != 0 ? "reading the file failed: " + std::generic_category().message(r.error)
                                : "the file became shorter while it was being read");
              ready = false;
            }
            small = std::span<const std::byte>(buf, static_cast<std::size_t>(size_));
            small_digests = r.digests;
          } else {
            small = source_.buffer()->data;
          }
        }
      } else {
        ready = co_await reconcile();
        if (ready && !stop_ && !completed_object_ && have_checkpoint_) ready = co_await verify_resumed_parts();
      }
      if (ready && !stop_ && caller_cancelled()) {
        cancelled_ = true;
        stop_all();
      }
      if (ready && !stop_) {
        if (completed_object_) {
          co_await finish_completed_before();
        } else if (go_small) {
          co_await put_small(small, small_digests);
        } else {
          if (!have_checkpoint_) {
            ready = co_await record_intent();
            if (ready) ready = co_await initiate();
          }
          if (ready && !stop_) co_await finish_parts();
        }
      }
    }
  }
  if (!stop_ && caller_cancelled() && !completed_reported_ && out_.result.etag.empty()) {
    cancelled_ = true;
    stop_all();
  }

  if (stop_ && !(completed_reported_ && !user_exception_)) co_await end_with_failure();

  if (unexpected_) std::rethrow_exception(unexpected_);
  if (user_exception_) {
    out_.ec = client_errc::handler_exception;
    out_.diag = first_diag_;
    out_.diag.exception = user_exception_;
  } else if (cancelled_) {
    out_.ec = asio::error::operation_aborted;
    out_.diag.clear();
    out_.diag.operation = "multipart_upload";
    out_.diag.client_message = cp_path_ && !cp_.upload_id.empty()
                                   ? "cancelled; the checkpoint is saved, call again to resume"
                                   : "cancelled";
    if (!intent_note_.empty()) out_.diag.client_message += "; " + intent_note_;
  } else if (failed_) {
    out_.ec = first_ec_;
    out_.diag = first_diag_;
    if (!intent_note_.empty()) {
      if (!out_.diag.client_message.empty()) out_.diag.client_message += "; ";
      out_.diag.client_message += intent_note_;
    }
  }
  if (out_.ec) out_.result = upload_result{};
}

}  // namespace multipart

OSS_DECL asio::any_io_executor make_upload_strand(client& c) {
  return asio::make_strand(c.get_executor());
}

OSS_DECL asio::awaitable<upload_outcome> run_multipart_upload(client& c, std::string name,
                                                              upload_source source,
                                                              upload_options opts) {
  upload_outcome out;
  {
    const asio::any_io_executor strand = co_await asio::this_coro::executor;
    multipart::upload_run run(c, name, source, opts, out, strand);
    co_await run.run();
  }
  co_return out;
}

OSS_DECL upload_outcome escaped_exception_outcome(std::exception_ptr e) {
  upload_outcome out;
  out.diag.operation = "multipart_upload";
  out.diag.exception = e;
  // The exception's text is not copied: it may quote anything.
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    out.ec = std::make_error_code(std::errc::not_enough_memory);
    out.diag.client_message = "memory ran out during the upload";
  } catch (const std::system_error& se) {
    out.ec = se.code();
    out.diag.client_message = "an exception escaped the upload";
  } catch (...) {
    out.ec = client_errc::unexpected_exception;
    out.diag.client_message = "an unexpected exception escaped the upload";
  }
  return out;
}

}  // namespace detail

// Through the token form, so that both forms share one outcome and one cancellation path.
OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source, upload_options opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, result] = co_await async_multipart_upload(c, std::move(name), std::move(source),
                                                      std::move(opts), diag, token);
  if (diag.exception) std::rethrow_exception(diag.exception);
  if (ec) throw_error(ec, diag);
  co_return std::move(result);
}

OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source) {
  upload_options defaults;
  co_return co_await multipart_upload(c, std::move(name), std::move(source), std::move(defaults));
}

namespace detail {

// The abort behind async_abort_upload: never throws for failures.
inline asio::awaitable<void> abort_upload_checkpoint(client& c, const checkpoint& cp, std::error_code& ec,
                                                     diagnostics& diag) {
  ec.clear();
  diag.clear();
  if (cp.dialect != multipart::dialect_name(c.options().dialect) ||
      (cp.version >= 1 && (cp.endpoint != c.endpoint_url() || cp.bucket != c.options().bucket))) {
    ec = client_errc::checkpoint_mismatch;
    diag.operation = "abort_upload";
    diag.client_message = "the checkpoint is for endpoint " + cp.endpoint + " bucket " + cp.bucket +
                          " (" + cp.dialect + " dialect), the client uses " + c.endpoint_url() +
                          " bucket " + c.options().bucket + " (" +
                          std::string(multipart::dialect_name(c.options().dialect)) + ")";
    co_return;
  }
  if (cp.state == checkpoint_state::initiating) {
    // No upload id was ever learnt: abort what the intent stands for.
    co_await multipart::abort_intended_uploads(c, cp.name, cp.initiated_after, ec, diag);
    co_return;
  }
  co_await access::impl(c).abort_multipart_upload(cp.name, cp.upload_id, ec, diag);
}

OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload(client& c, checkpoint cp) {
  op_outcome<std::monostate> out;
  co_await abort_upload_checkpoint(c, cp, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload_file(client& c,
                                                                          std::filesystem::path checkpoint_file) {
  op_outcome<std::monostate> out;
  std::error_code& ec = out.ec;
  diagnostics& diag = out.diag;
  // Not while an upload uses the checkpoint: it would write it again.
  multipart::checkpoint_lock lock;
  if (!lock.acquire(checkpoint_file, ec)) {
    diag.operation = "abort_upload";
    diag.client_message = ec == client_errc::checkpoint_locked
                              ? "an upload is using the checkpoint " + checkpoint_file.string() +
                                    "; cancel it first, or wait for it to end"
                              : "cannot create the checkpoint's lock file " +
                                    multipart::lock_path_of(checkpoint_file).string() + " (" + ec.message() + ")";
    co_return out;
  }
  std::string problem;
  const checkpoint cp = load_checkpoint(checkpoint_file, ec, problem);
  if (ec) {
    diag.operation = "load_checkpoint";
    diag.client_message = problem + " (" + checkpoint_file.string() + ")";
    co_return out;
  }
  co_await abort_upload_checkpoint(c, cp, ec, diag);
  if (ec) co_return out;
  std::error_code rm_ec;
  detail::remove_checkpoint_files(checkpoint_file, rm_ec);
  co_return out;
}

}  // namespace detail

OSS_DECL asio::awaitable<void> abort_upload(client& c, checkpoint cp) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await async_abort_upload(c, std::move(cp), diag, token);
  detail::throw_failure(ec, diag);
}

OSS_DECL asio::awaitable<void> abort_upload(client& c, std::filesystem::path checkpoint_file) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await async_abort_upload(c, std::move(checkpoint_file), diag, token);
  detail::throw_failure(ec, diag);
}

}  // namespace oss

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_IMPL_MULTIPART_UPLOAD_IPP
