// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_MULTIPART_UPLOAD_HPP
#define OSS_MULTIPART_UPLOAD_HPP

#include <oss/detail/config.hpp>

#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/cancellation_relay.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/progress.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

/// \file
/// `oss::multipart_upload`: resumable, concurrent upload of a large object (ali-oss
/// `multipartUpload` with checkpoints that survive crashes, byte progress, CRC-64 verification
/// and per-upload cancellation).
///
/// Uses Boost.JSON for the checkpoint file: see `<oss/checkpoint.hpp>` (include
/// `<oss/json_impl.hpp>` in one translation unit, or link `-lboost_json`).
namespace oss {

/// An in-memory source: bytes that stay valid (and unchanged) until the upload completes.
struct buffer_source {
  /// The bytes to upload.
  std::span<const std::byte> data;

  buffer_source() = default;
  /// These bytes.
  buffer_source(std::span<const std::byte> bytes) noexcept : data(bytes) {}  // NOLINT
  /// The bytes of `text` (not a file name: for a path, pass the path itself).
  explicit buffer_source(std::string_view text) noexcept
      : data(reinterpret_cast<const std::byte*>(text.data()), text.size()) {}
  /// `size` bytes at `bytes`.
  buffer_source(const void* bytes, std::size_t size) noexcept
      : data(static_cast<const std::byte*>(bytes), size) {}
};

/// A source of unknown length read front to back, once: a pipe, a socket, stdin, a generator.
///
/// `read(buffer)` fills the buffer partly or fully and returns the number of bytes stored;
/// it returns 0 only at the end of the data. It is called on the upload's strand, one call at
/// a time, and awaited. An exception it throws ends the upload: a `std::system_error` with its
/// code, any other exception with `client_errc::handler_exception` (see `async_multipart_upload`,
/// **Exceptions**). The upload reads ahead at most `parallel` parts.
///
/// Parts grow: the first ones are `part_size`, then the size doubles every N parts (never above
/// 5 GiB), with N chosen so that 10 000 parts hold 5 TiB (100 KiB parts: doubling every 608
/// parts; 1 MiB parts: every 792). Memory is `parallel` times the current part size, up to
/// `upload_options::spool_parts_above` (64 MiB); larger parts go through temporary files.
///
/// Resuming a stream: pass the same checkpoint and a stream that yields the same bytes from the
/// start (and the same `part_size`: the boundaries follow from it). Parts whose size and CRC-64
/// equal the checkpoint's are not sent again.
struct stream_source {
  /// The reader described above.
  std::function<asio::awaitable<std::size_t>(asio::mutable_buffer)> read;

  stream_source() = default;

  /// Any callable with the signature of `read`.
  template <typename F>
    requires(!std::same_as<std::remove_cvref_t<F>, stream_source> &&
             std::is_invocable_r_v<asio::awaitable<std::size_t>, F&, asio::mutable_buffer>)
  stream_source(F f) : read(std::move(f)) {}  // NOLINT(google-explicit-constructor)

  /// Adapts an Asio AsyncReadStream (`posix::stream_descriptor`, `ip::tcp::socket`, ...):
  /// reads with `async_read_some`, and `asio::error::eof` marks the end. `s` must outlive the
  /// upload, and must be usable from the upload's strand (the client's executor).
  template <typename AsyncReadStream>
  static stream_source from(AsyncReadStream& s) {
    return stream_source([&s](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
      auto [ec, n] = co_await s.async_read_some(b, asio::experimental::as_tuple(asio::use_awaitable));
      if (ec == asio::error::eof) co_return n;
      if (ec) throw std::system_error(ec);
      co_return n;
    });
  }
};

/// What to upload: a file (by path), bytes in memory, or a stream.
///
/// A string literal or `std::string` is a file **path**; wrap bytes held in a string with
/// `oss::buffer_source(text)`.
class upload_source {
 public:
  /// Which of the three a source is.
  enum class kind { file, buffer, stream };

  /// A file, by path.
  upload_source(const char* path) : v_(std::filesystem::path(path)) {}          // NOLINT
  /// A file, by path.
  upload_source(const std::string& path) : v_(std::filesystem::path(path)) {}   // NOLINT
  /// A file, by path.
  upload_source(std::filesystem::path path) : v_(std::move(path)) {}            // NOLINT
  /// Bytes in memory.
  upload_source(buffer_source bytes) : v_(bytes) {}                             // NOLINT
  /// Bytes in memory.
  upload_source(std::span<const std::byte> bytes) : v_(buffer_source(bytes)) {} // NOLINT
  /// A stream.
  upload_source(stream_source stream) : v_(std::move(stream)) {}                // NOLINT

  /// Which kind of source this is.
  kind type() const noexcept { return static_cast<kind>(v_.index()); }
  /// The path of a file source, else nullptr.
  const std::filesystem::path* file() const noexcept { return std::get_if<0>(&v_); }
  /// The bytes of a buffer source, else nullptr.
  const buffer_source* buffer() const noexcept { return std::get_if<1>(&v_); }
  /// The reader of a stream source, else nullptr.
  stream_source* stream() noexcept { return std::get_if<2>(&v_); }

 private:
  std::variant<std::filesystem::path, buffer_source, stream_source> v_;
};

/// Where the checkpoint lives: nowhere (default), a file, or an `oss::checkpoint` in memory.
///
/// - **A file path** (`.checkpoint = "/var/lib/backup/a.mp4.ckpt"`): when the file exists the
///   upload resumes from it (it must belong to this upload, see `multipart_upload`); otherwise a
///   new upload starts, records its intent there *before* InitiateMultipartUpload (so the path is
///   proven writable before anything exists on the server, and an Initiate whose reply is lost
///   is found again, see `checkpoint_state::initiating`), then the upload id after Initiate and
///   every part as it finishes. While a run uses the file it holds an exclusive lock on
///   `<path>.lock` (flock(2); removed when the run ends, released by the kernel if the process
///   dies): a second run, in this process or another, fails with
///   `client_errc::checkpoint_locked` before any request. The folder must be writable. The
///   checkpoint is deleted after success, kept after a failure or cancellation (call again to
///   resume).
/// - **An `oss::checkpoint`** (e.g. one saved from `progress_event::checkpoint`, ali-oss style):
///   the upload resumes from it; no file is written, progress events carry the live state.
/// - **Nothing**: nothing is written; the upload can still be resumed by saving
///   `progress_event::checkpoint` from the progress handler and passing it back later.
class checkpoint_option {
 public:
  checkpoint_option() = default;
  /// A file path; nullptr or "" means no checkpoint.
  checkpoint_option(const char* path) {  // NOLINT
    if (path && *path) v_ = std::filesystem::path(path);
  }
  /// A file path; "" means no checkpoint.
  checkpoint_option(const std::string& path) {  // NOLINT
    if (!path.empty()) v_ = std::filesystem::path(path);
  }
  /// A file path; an empty path means no checkpoint.
  checkpoint_option(std::filesystem::path path) {  // NOLINT
    if (!path.empty()) v_ = std::move(path);
  }
  /// Resume from this in-memory checkpoint.
  checkpoint_option(::oss::checkpoint resume_from) : v_(std::move(resume_from)) {}  // NOLINT

  /// True when there is no checkpoint at all.
  bool empty() const noexcept { return v_.index() == 0; }
  /// The checkpoint file, else nullptr.
  const std::filesystem::path* file() const noexcept { return std::get_if<1>(&v_); }
  /// The in-memory checkpoint, else nullptr.
  const ::oss::checkpoint* memory() const noexcept { return std::get_if<2>(&v_); }

 private:
  std::variant<std::monostate, std::filesystem::path, ::oss::checkpoint> v_;
};

/// One share of an upload that several processes or machines carry together, each its own
/// range of part numbers (`upload_options::share`). The object store is the coordinator:
/// 1. one party initiates the upload (`client::initiate_multipart_upload`, with the object's
///    metadata and headers) and hands its id to the others;
/// 2. each share uploads its source, its own bytes of the object, as parts `first_part`,
///    `first_part + 1`, ... (cut at `part_size`, the last one shorter), with a checkpoint of its
///    own; a share neither initiates, nor completes, nor aborts;
/// 3. one party completes the object from what the server lists
///    (`complete_shared_upload`), after checking that every part is there.
///
/// Every part but the object's last must be at least 100 KiB (OSS), 5 MiB (S3): give every share
/// but the last a source of whole parts.
struct upload_share {
  /// The upload every share joins.
  std::string upload_id;
  /// The object's part number of this share's first part, 1..10000.
  std::uint32_t first_part = 1;
  /// The last part number this share may use; the source must fit in first_part..last_part
  /// (`client_errc::invalid_share` otherwise).
  std::uint32_t last_part = 10000;
};

/// The options of `multipart_upload`, named as in ali-oss `multipartUpload`. An aggregate:
/// \code
///   oss::upload_options opts{.parallel = 8, .part_size = 8 << 20,
///                            .checkpoint = "/var/lib/backup/a.mp4.ckpt"};
/// \endcode
struct upload_options {
  /// Parts in flight at once (>= 1, else `client_errc::invalid_parallel`). Memory use is about
  /// `parallel * part_size` for stream sources (up to `spool_parts_above` per part), and for
  /// file sources with `content_md5` or in the S3 dialect (a digest of the whole part goes in
  /// its request head); other file parts are read and sent in 1 MiB pieces, whatever the part
  /// size. The client's `max_connections` also caps it.
  std::size_t parallel = 5;

  /// Bytes per part, 100 KiB .. 5 GiB (else `client_errc::invalid_part_size`). Raised
  /// automatically (to ceil(size / 10000)) so no source needs more than 10 000 parts. A source
  /// smaller than one part is sent with a single PutObject.
  std::uint64_t part_size = 1 << 20;

  /// Where to record progress for resuming; see `checkpoint_option`.
  checkpoint_option checkpoint{};

  /// Called after every durable step; see `progress_handler` and `progress_event`.
  progress_handler progress{};

  /// User metadata, sent as `x-oss-meta-<name>` with InitiateMultipartUpload (or PutObject).
  std::vector<std::pair<std::string, std::string>> meta{};

  /// Content-Type of the object; empty: guessed from the object name's extension.
  std::string mime{};

  /// Further object headers: `Cache-Control`, `Content-Disposition`, `Content-Encoding`,
  /// `Expires`, any `x-oss-*` (`x-oss-forbid-overwrite`, `x-oss-storage-class`, ...).
  std::vector<std::pair<std::string, std::string>> headers{};

  /// Also send `Content-MD5` with every part (the CRC-64 check is always on). The MD5 is
  /// computed on `file_executor`, in the same job that reads the part and computes its CRC-64,
  /// and handed to the client (`body_digests`), so the event loop never computes an MD5. Such
  /// parts are read whole before they are sent (memory: `parallel * part_size`).
  bool content_md5 = false;

  /// Require the server to confirm the bytes, so that success never rests on our own
  /// computation alone (`upload_result::checks` says what confirmed them):
  /// - **each part**: by the CRC-64 in its reply (compared with ours by the client), else by
  ///   the `Content-MD5` the server checks: a part whose reply carries no usable CRC-64 and
  ///   that went without `Content-MD5` is sent again with it, and every later part of the
  ///   upload carries `Content-MD5` from the start;
  /// - **the whole object**: by the CRC-64 of the Complete (or PutObject) reply, else of a HEAD
  ///   sent right after, which must equal the combination of the parts' CRC-64s (else
  ///   `client_errc::crc64_mismatch`). Without any CRC-64 (S3 stores compute none), by the
  ///   object's multipart ETag: the MD5 of the parts' MD5s, `-N`, with every part confirmed as
  ///   above (an ETag that differs is `crc64_mismatch` too); a single PutObject by the
  ///   `Content-MD5` the server checked. Nothing of that (no CRC-64 anywhere, HEAD refused, or
  ///   S3 ETags that are not MD5s, as with SSE-KMS) fails the upload with
  ///   `client_errc::unverified`, after the object was created: check it, or re-upload.
  ///
  /// Set to false only for stores known to compute no CRC-64 and no MD5 ETags (the benchmarks'
  /// nginx sink): the upload then succeeds with whatever the server confirmed, possibly
  /// nothing (`object_check::none`), and no part is sent twice for want of a CRC-64.
  bool require_server_crc = true;

  /// On a failure (not on cancellation) abort the server-side upload and delete the checkpoint
  /// file, instead of keeping both for a resume.
  bool abort_on_failure = false;

  /// When resuming finds that the server no longer knows the checkpoint's upload (aborted,
  /// completed, expired by a lifecycle rule), start a new upload instead of failing with
  /// `client_errc::upload_vanished`.
  bool restart_if_vanished = false;

  /// Where blocking work runs: file reads (pread) and CRC-64/MD5 over part buffers. Empty
  /// (default): the upload creates a small `asio::thread_pool` of its own for its duration.
  /// The event loop of the client never waits for the disk: a file part sent in pieces reads
  /// a piece there only when it is in the page cache (and adds it to the part's CRC-64, about
  /// 0.1 ms per 1 MiB piece), else here.
  asio::any_io_executor file_executor{};

  /// A stream's part larger than this is not held in memory: it is written to an unnamed
  /// temporary file in `spool_directory` as it is read (its CRC-64, and MD5 or SHA-256 when
  /// wanted, computed on the way) and sent from there in 1 MiB pieces. A part in flight then
  /// needs 2 MiB of memory however large the parts grow (up to 5 GiB), and up to its size of
  /// disk. Under a client's memory budget (`transfer_budget::limits::memory_bytes`) a part
  /// larger than half of that budget is spooled too. 0: no other limit than that (without a
  /// memory budget, every part in memory). Streams only.
  std::uint64_t spool_parts_above = 64 << 20;

  /// Where spooled stream parts go; empty: `std::filesystem::temp_directory_path()` (TMPDIR,
  /// else /tmp). Mind a /tmp in memory (tmpfs): spooled parts would take memory again. A
  /// folder that cannot hold a part fails the upload with the errno's code (`no_space_on_device`,
  /// `permission_denied`, ...) and a message naming the folder.
  std::filesystem::path spool_directory{};

  /// Upload only a share of an upload that others carry too (see `upload_share`): no
  /// Initiate, no Complete, never an Abort; the parts are numbered from `share->first_part`,
  /// and the part size is used as given (not raised). Files and buffers only, not streams.
  /// Empty: the whole object.
  std::optional<upload_share> share{};
};

/// How the server confirmed that a whole uploaded object is the source (`upload_checks::object`).
enum class object_check {
  /// Nothing did. Only with `upload_options::require_server_crc = false`; otherwise such an
  /// upload fails with `client_errc::unverified`.
  none,
  /// The CompleteMultipartUpload (or PutObject) reply carried the object's CRC-64, equal to ours
  /// (for a multipart object: the combination of the parts' CRC-64s).
  reply_crc64,
  /// That reply carried none; the HeadObject sent right after did, and it is equal.
  head_crc64,
  /// No reply carried a CRC-64 (S3 stores compute none), and the object's ETag is the multipart
  /// ETag of its parts (the MD5 of the parts' MD5s, then `-N`), each part confirmed by the
  /// server with Content-MD5 or a CRC-64.
  multipart_etag,
  /// A single PutObject that no reply confirmed with a CRC-64: the server checked the body
  /// against the `Content-MD5` sent with it.
  content_md5,
};

/// What the server confirmed about an upload's bytes (`upload_result::checks`): not what was
/// computed locally (the CRC-64 always is), but which of those values the server proved it
/// holds. With `upload_options::require_server_crc` (the default) a successful upload has every
/// part confirmed and `object != object_check::none`.
struct upload_checks {
  /// How the whole object was confirmed.
  object_check object = object_check::none;
  /// Parts whose UploadPart reply carried a CRC-64 equal to ours; for parts done before a
  /// resume, whose ListParts entry did (after re-hashing the source, see `multipart_upload`).
  std::uint32_t parts_crc64 = 0;
  /// Parts without a CRC-64 from the server that it accepted with the `Content-MD5` we sent; for
  /// parts done before a resume, whose ETag is the MD5 of the source's bytes.
  std::uint32_t parts_content_md5 = 0;
  /// Parts nothing from the server confirmed (only with `require_server_crc = false`).
  std::uint32_t parts_unconfirmed = 0;
  /// Parts sent a second time, with `Content-MD5`, because the reply to the first send carried
  /// no usable CRC-64 (every later part of the upload then carries `Content-MD5` from the start).
  std::uint32_t parts_resent_for_md5 = 0;
  /// Parts done before a resume whose bytes in the source no longer matched the checkpoint (or
  /// whose stored copy no longer matched the source), sent again.
  std::uint32_t parts_changed = 0;
};

/// What a successful upload produced.
struct upload_result {
  /// The object name.
  std::string name;
  /// The object ETag, quotes included (`"<hex>-<parts>"` for a multipart object).
  std::string etag;
  /// The multipart upload id; empty when a single PutObject was used.
  std::string upload_id;
  /// Object size in bytes.
  std::uint64_t size = 0;
  /// CRC-64/ECMA of the whole object, computed from the source; `checks` says how the server
  /// confirmed it.
  std::uint64_t crc64 = 0;
  /// Parts of the object (1 for a PutObject).
  std::uint32_t parts = 0;
  /// False when the source was smaller than one part and went up with one PutObject.
  bool multipart = true;
  /// True when this call continued an upload from a checkpoint.
  bool resumed = false;
  /// Payload bytes this call sent successfully (parts done before a resume excluded).
  std::uint64_t bytes_uploaded = 0;
  /// Parts this call uploaded.
  std::uint32_t parts_uploaded = 0;
  /// `x-oss-request-id` of the Complete (or PutObject) reply; when a resumed upload turned out
  /// completed already (a lost Complete reply), that of the HEAD which proved it. Empty only
  /// when the server sent none. The same id is in the `completed` progress event; each
  /// `part_done` event carries the id of its UploadPart reply.
  std::string request_id;
  /// Which integrity checks the server confirmed.
  upload_checks checks;
  /// False for a share (`upload_options::share`): its parts are on the server, each confirmed
  /// as `checks` says, and the object is made later by `complete_shared_upload`. `etag` is
  /// then empty, and `size`, `crc64` and `parts` are the share's.
  bool completed = true;
};

namespace detail {

// What one run of the orchestrator ends with. An exception thrown by the progress handler or a
// stream reader is in `diag.exception`, with `client_errc::handler_exception`.
struct upload_outcome {
  std::error_code ec;
  diagnostics diag;
  upload_result result;
};

// The orchestrator (impl/multipart_upload.ipp). Runs on the executor it is spawned on, which
// must be a strand; never throws for failures (they land in the outcome), only for bugs and
// memory exhaustion.
OSS_DECL asio::awaitable<upload_outcome> run_multipart_upload(client& c, std::string name,
                                                              upload_source source,
                                                              upload_options opts);

// The Complete of a shared upload (impl/multipart_upload.ipp).
OSS_DECL asio::awaitable<op_outcome<upload_result>> run_complete_shared_upload(client& c, std::string name,
                                                                              std::string upload_id,
                                                                              std::uint32_t parts,
                                                                              bool require_server_crc);

// The strand every upload of `c` runs its shared state on (a new one per upload).
OSS_DECL asio::any_io_executor make_upload_strand(client& c);

// The aborts behind async_abort_upload (impl/multipart_upload.ipp), on a checkpoint and on a
// checkpoint file.
OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload(client& c, checkpoint cp);
OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload_file(client& c,
                                                                          std::filesystem::path checkpoint_file);

// The outcome of an exception that escaped the orchestrator (a bug, or memory exhausted):
// reported as a failure, with the exception kept, rather than thrown through the caller's
// event loop. See async_multipart_upload, **Exceptions**.
OSS_DECL upload_outcome escaped_exception_outcome(std::exception_ptr e);

// Turns the orchestrator's outcome into the public completion signature. Runs on the
// handler's associated executor (see relayed_handler).
template <typename Handler>
struct upload_completion {
  Handler handler;
  diagnostics* diag;

  void operator()(std::exception_ptr e, upload_outcome outcome) {
    if (e) outcome = escaped_exception_outcome(e);
    *diag = std::move(outcome.diag);
    std::move(handler)(outcome.ec, std::move(outcome.result));
  }
};

struct initiate_multipart_upload_op {
  client* c;
  asio::any_io_executor strand;

  asio::any_io_executor get_executor() const noexcept { return strand; }

  template <typename Handler>
  void operator()(Handler&& handler, std::string name, upload_source source, upload_options opts,
                  diagnostics* diag) const;
};

}  // namespace detail

/// Uploads `source` as object `name` in parts: the asynchronous primitive.
///
/// **Completion signature** `void(std::error_code, oss::upload_result)`; works with any Asio
/// completion token: `asio::use_awaitable` (throws `std::system_error` on failure),
/// `asio::experimental::as_tuple(asio::use_awaitable)`, a plain callback, `use_future`. On
/// failure `diag` holds the server's Code, Message and RequestId, the operation and part number
/// (it must stay valid until completion; it is written just before the handler runs).
///
/// **Steps** (design.md section 4): 1. validate everything before any request (the file is a
/// readable regular file; name rules; part size 100 KiB..5 GiB, raised so that at most 10 000
/// parts are needed; `parallel >= 1`; metadata and headers). 2. When the checkpoint option names
/// an existing file or holds a checkpoint: it must belong to this upload (endpoint, bucket,
/// name, file path and part size, else `client_errc::checkpoint_mismatch`; file size and mtime,
/// else `client_errc::file_changed`), and is never overwritten when it does not; then it is
/// reconciled with ListParts: parts the server holds with the recorded ETag, size and CRC-64
/// count as done, others are sent again. An upload the server no longer knows gives
/// `client_errc::upload_vanished`, or a new upload with `restart_if_vanished`. 3. A source
/// smaller than one part goes up with one PutObject (same metadata, same progress contract).
/// 4. InitiateMultipartUpload (metadata, MIME type, headers), checkpoint written, progress
/// `started`. 5. `parallel` workers upload the remaining parts; each part is read (off the
/// event loop), checked with CRC-64, uploaded with the client's retries, recorded in the
/// checkpoint (written atomically), then reported to the progress handler. 6. Complete; the
/// server must confirm the whole object (see `upload_options::require_server_crc`: a CRC-64
/// that differs from the combination of the part CRCs is `client_errc::crc64_mismatch`, none
/// at all `client_errc::unverified`, never a silent success); the checkpoint file is deleted;
/// progress `completed` (1.0).
///
/// **Checkpoint file details.** Step 2 first takes the checkpoint's lock (see
/// `checkpoint_option`; `client_errc::checkpoint_locked` when another run holds it, the OS
/// error when the lock file cannot be created in the folder, both before any request). A
/// resume does not take the file's size and mtime as proof that the bytes are unchanged: every
/// part the checkpoint claims is read and hashed again (CRC-64, on `file_executor`, up to
/// `parallel` parts at once) and sent again when its bytes differ from the recorded ones, or
/// when nothing from the server confirms them (`upload_checks::parts_changed` counts the
/// first). This costs one read of the parts already done; a resume of a 1 GiB file that was
/// 90% done reads 0.9 GiB before it sends anything. A checkpoint in the `initiating` state
/// (an Initiate whose reply was lost) makes the call list the uploads of `name` initiated since
/// then, abort those that hold no part, and start a new upload. Without a checkpoint file
/// (none, or an in-memory one) an Initiate that got no reply because of a cancellation or a
/// timeout is looked for in the same call, for at most 10 s, and aborted;
/// `diag.client_message` says what became of it. If a checkpoint write fails during the
/// upload, the upload stops at once with the OS error; `diag.client_message` names the upload
/// id and how to resume it (the file still holds an earlier state) or abort it.
///
/// **Errors.** The first error that retries cannot fix stops the upload: no new parts start,
/// parts in flight are cancelled, the checkpoint is kept (call again with it to resume), and
/// the server-side upload is kept unless `abort_on_failure`. Besides the validation codes:
/// `client_errc::file_changed` (the file changed during the upload), `crc64_mismatch`,
/// `unverified` (both after the object was created; the checkpoint is then deleted, since its
/// upload id is used up), `checkpoint_locked`, `too_many_parts` (a stream longer than 10 000
/// growing parts hold, 5 TiB or more), OS errors of the checkpoint file, server codes, transport codes. Network
/// and TLS failures keep their Asio/OpenSSL codes (`asio::error::connection_refused`, the SSL
/// category's "certificate verify failed"); `diag.client_message` then names the endpoint and
/// what to check (the port, DNS, `client_options::ca_file`, the certificate's host name).
///
/// **Cancellation.** Terminal cancellation (e.g. `(upload || timer)`, or
/// `asio::bind_cancellation_slot`) stops scheduling, cancels the parts in flight (they end
/// within a second), flushes the checkpoint and completes with `asio::error::operation_aborted`.
/// The server-side upload is kept, so calling again with the same checkpoint resumes. Partial
/// and total cancellation are not supported (the upload has side effects it cannot undo) and
/// are ignored. Asio's signals are not thread-safe: emit from the context the handler runs in
/// (its strand, or its one thread), as `||` and a coroutine do. The upload installs its own
/// handler on the slot, which only hands the request over to the upload's strand, so the
/// emitting thread never touches the upload's state, whichever thread the upload runs on; an
/// emit that arrives after the upload ended is ignored. The slot is cleared before the handler
/// runs.
///
/// **Exceptions.** Nothing is thrown through the caller's event loop; every outcome is a
/// completion with an error code, and the exception is kept in `diag.exception`:
/// - the progress handler, or a stream reader, throws (any type, `std::exception` or not): the
///   upload stops as for a failure (parts in flight cancelled, checkpoint kept, the server-side
///   upload kept even with `abort_on_failure`) and completes with
///   `client_errc::handler_exception`; `diag.operation` is "progress" or "read_stream". (A
///   stream reader's `std::system_error` is a read failure instead: its own code, no
///   exception kept.) A handler that throws on the `completed` event gets the same outcome,
///   although the object was created (`diag.client_message` says so).
/// - an exception escapes the library's own code: `std::bad_alloc` completes with
///   `std::errc::not_enough_memory`, a `std::system_error` with its code, anything else with
///   `client_errc::unexpected_exception` (a bug).
///
/// With `asio::use_awaitable` the error code is thrown as a `std::system_error`;
/// `multipart_upload` rethrows the kept exception itself.
///
/// **Executor.** The upload runs on a new strand of `c.get_executor()`; the `io_context` may run
/// on one thread or several. The handler is invoked through its associated executor (never
/// inline from inside this call); without one, on that strand.
///
/// **Lifetimes.** `c` and `diag` must outlive the operation; `name`, `source` and `opts` are
/// moved into it (the bytes of a `buffer_source` and the object behind a `stream_source` stay
/// the caller's).
template <typename CompletionToken>
auto async_multipart_upload(client& c, std::string name, upload_source source, upload_options opts,
                            diagnostics& diag, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, upload_result)>(
      detail::initiate_multipart_upload_op{&c, detail::make_upload_strand(c)}, token,
      std::move(name), std::move(source), std::move(opts), &diag);
}

/// As above with `asio::use_awaitable` (an overload rather than a default argument: GCC 12
/// mishandles braced default arguments inside `co_await`).
inline auto async_multipart_upload(client& c, std::string name, upload_source source,
                                   upload_options opts, diagnostics& diag) {
  return async_multipart_upload(c, std::move(name), std::move(source), std::move(opts), diag,
                                asio::use_awaitable);
}

/// Uploads `source` as object `name`: the awaitable convenience.
///
/// Calls `async_multipart_upload` and returns the `upload_result`. When it completes with an
/// exception kept in its diagnostics (thrown by the progress handler or a stream reader, or one
/// that escaped the library, see **Exceptions** there) that exception is rethrown as it is;
/// any other failure throws `oss::error` (with diagnostics). Everything else, cancellation
/// included, is as for `async_multipart_upload`.
/// \code
///   oss::upload_result r = co_await oss::multipart_upload(client, "videos/a.mp4", "/data/a.mp4", opts);
/// \endcode
OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source, upload_options opts);

/// As above with default options.
OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source);

/// Aborts the server-side upload a checkpoint names, discarding its parts (cleanup after
/// giving up on a resume), and completes with `void(std::error_code)`. The checkpoint must
/// belong to `c`'s endpoint and bucket (`client_errc::checkpoint_mismatch` otherwise). An upload
/// the server no longer knows counts as aborted. For a checkpoint in the `initiating` state, the
/// uploads it may stand for are aborted (those of its name initiated since, holding no part).
/// Executor, cancellation and `diag` as for the client's operations (see `oss::client`).
template <typename CompletionToken>
auto async_abort_upload(client& c, checkpoint cp, diagnostics& diag, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code)>(
      detail::spawn_op{detail::make_upload_strand(c)}, token, detail::run_abort_upload(c, std::move(cp)), &diag);
}

/// Loads the checkpoint file, aborts its upload as above, then deletes the file. Takes the
/// checkpoint's lock first: `client_errc::checkpoint_locked` while an upload uses it.
template <typename CompletionToken>
auto async_abort_upload(client& c, std::filesystem::path checkpoint_file, diagnostics& diag,
                        CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code)>(
      detail::spawn_op{detail::make_upload_strand(c)}, token,
      detail::run_abort_upload_file(c, std::move(checkpoint_file)), &diag);
}

/// Completes an upload carried in shares (`upload_share`): lists its parts, checks that parts
/// 1..`parts` are all on the server (`client_errc::parts_missing` names those that are not),
/// completes the object from them, and verifies it as `multipart_upload` does: the CRC-64 of
/// the Complete reply (else of a HEAD) must equal the combination of the listed parts' CRC-64s
/// (S3: the multipart ETag of their MD5s). Completes with
/// `void(std::error_code, oss::upload_result)`; `require_server_crc` as in `upload_options`.
/// Parts numbered above `parts` are left out of the object. Executor, cancellation and `diag`
/// as for the client's operations.
template <typename CompletionToken>
auto async_complete_shared_upload(client& c, std::string name, std::string upload_id, std::uint32_t parts,
                                  bool require_server_crc, diagnostics& diag, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, upload_result)>(
      detail::spawn_op{detail::make_upload_strand(c)}, token,
      detail::run_complete_shared_upload(c, std::move(name), std::move(upload_id), parts, require_server_crc), &diag);
}

/// As above with `asio::use_awaitable`, throwing `oss::error`.
OSS_DECL asio::awaitable<upload_result> complete_shared_upload(client& c, std::string name, std::string upload_id,
                                                               std::uint32_t parts, bool require_server_crc = true);

/// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`. They take their
/// arguments by value, so the awaitable may outlive the caller's copy (as with `co_spawn`).
OSS_DECL asio::awaitable<void> abort_upload(client& c, checkpoint cp);
/// As above, for a checkpoint file.
OSS_DECL asio::awaitable<void> abort_upload(client& c, std::filesystem::path checkpoint_file);

}  // namespace oss

// The completion wrapper forwards the caller's executor, cancellation slot and allocator, so a
// callback keeps its executor and `(upload || timer)` can cancel the upload (through
// relayed_handler, which reads them from it).
namespace asio {
template <typename Handler, typename Executor>
struct associated_executor<oss::detail::upload_completion<Handler>, Executor> {
  using type = associated_executor_t<Handler, Executor>;
  static type get(const oss::detail::upload_completion<Handler>& h,
                  const Executor& ex = Executor()) noexcept {
    return asio::get_associated_executor(h.handler, ex);
  }
};
template <typename Handler, typename Slot>
struct associated_cancellation_slot<oss::detail::upload_completion<Handler>, Slot> {
  using type = associated_cancellation_slot_t<Handler, Slot>;
  static type get(const oss::detail::upload_completion<Handler>& h,
                  const Slot& s = Slot()) noexcept {
    return asio::get_associated_cancellation_slot(h.handler, s);
  }
};
template <typename Handler, typename Allocator>
struct associated_allocator<oss::detail::upload_completion<Handler>, Allocator> {
  using type = associated_allocator_t<Handler, Allocator>;
  static type get(const oss::detail::upload_completion<Handler>& h,
                  const Allocator& a = Allocator()) noexcept {
    return asio::get_associated_allocator(h.handler, a);
  }
};
}  // namespace asio

#include <asio/co_spawn.hpp>

namespace oss::detail {

template <typename Handler>
void initiate_multipart_upload_op::operator()(Handler&& handler, std::string name,
                                              upload_source source, upload_options opts,
                                              diagnostics* diag) const {
  using completion_type = upload_completion<std::decay_t<Handler>>;
  // Not the caller's handler straight to co_spawn: Asio 1.22 would let the caller's emit run on
  // the caller's thread inside the upload's cancellation state (see cancellation_relay.hpp).
  relayed_handler<completion_type> done(completion_type{std::forward<Handler>(handler), diag}, strand);
  asio::co_spawn(strand, run_multipart_upload(*c, std::move(name), std::move(source), std::move(opts)),
                 std::move(done));
}

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/impl/multipart_upload.ipp>
#endif

#endif  // OSS_MULTIPART_UPLOAD_HPP
