// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_RESUMABLE_DOWNLOAD_HPP
#define OSS_RESUMABLE_DOWNLOAD_HPP

#include <oss/detail/config.hpp>

#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/detail/cancellation_relay.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

/// \file
/// `oss::resumable_download`: a large object to a local file with parallel ranged GETs, a
/// checkpoint that survives crashes, byte progress and CRC-64 verification (the counterpart of
/// `multipart_upload`, on the same engine).
namespace oss {

/// The options of `resumable_download`. An aggregate:
/// \code
///   oss::download_options opts{.parallel = 8, .part_size = 16 << 20,
///                              .checkpoint = "/var/lib/restore/a.mp4.ckpt"};
/// \endcode
struct download_options {
  /// Ranged GETs in flight at once (>= 1, else `client_errc::invalid_parallel`). The client's
  /// `max_connections` also caps it.
  std::size_t parallel = 5;

  /// Bytes per range, 100 KiB .. 5 GiB (else `client_errc::invalid_part_size`), raised so that
  /// no object needs more than 10 000 ranges. Memory does not grow with it: each range is
  /// written to the file in 1 MiB pieces as it arrives.
  std::uint64_t part_size = 8 << 20;

  /// Where to record the ranges done, for resuming; see `checkpoint_option` (a file, or an
  /// `oss::checkpoint` of kind `"oss-resumable-download"` from a progress event). A range is
  /// recorded only once its bytes are durably in `<path>.part`.
  checkpoint_option checkpoint{};

  /// Called as bytes arrive (`progress_stage::received`, at most once per 1 MiB piece and
  /// range) and after every durable range (`part_done`); see `progress_handler`. `bytes_done`
  /// counts each byte of the object once, however often a range is retried: it never goes back
  /// and never exceeds `bytes_total`.
  progress_handler progress{};

  /// Require the server's CRC-64 of the object (`x-oss-hash-crc64ecma`) and compare the file's
  /// with it, so that success never rests on nothing. An object without one (S3 stores, some
  /// appendable objects) fails with `client_errc::unverified` before any byte is fetched,
  /// unless this is false; then the file is complete as the server sent it, unchecked
  /// (`download_result::verified` false).
  bool require_server_crc = true;

  /// After a CRC-64 mismatch keep `<path>.part` for inspection instead of deleting it.
  bool keep_part_file_on_mismatch = false;

  /// Where blocking work runs: writes to the file, CRC-64, fsync. Empty (default): a small
  /// `asio::thread_pool` of the download's own. The client's event loop never waits for the
  /// disk.
  asio::any_io_executor file_executor{};
};

/// What a successful download produced: `path` holds exactly the object's bytes.
struct download_result {
  /// The object name.
  std::string name;
  /// The file written.
  std::filesystem::path path;
  /// The object's ETag (quotes included) that every range matched.
  std::string etag;
  /// Object size in bytes.
  std::uint64_t size = 0;
  /// CRC-64/ECMA of the file's bytes.
  std::uint64_t crc64 = 0;
  /// True when it equals the server's CRC-64 of the object (always, unless
  /// `require_server_crc` was false and the server gave none).
  bool verified = false;
  /// Ranges of the object (0 for an empty object).
  std::uint32_t parts = 0;
  /// True when this call continued a download from a checkpoint.
  bool resumed = false;
  /// Body bytes this call received (ranges done before a resume excluded, retries included).
  std::uint64_t bytes_downloaded = 0;
  /// True when the server ignored `Range` and the object came in one GET.
  bool whole_object_get = false;
};

namespace detail {

// What one run of the download ends with (an exception of the progress handler in diag).
struct download_outcome {
  std::error_code ec;
  diagnostics diag;
  download_result result;
};

OSS_DECL asio::awaitable<download_outcome> run_resumable_download(client& c, std::string name,
                                                                  std::filesystem::path path,
                                                                  download_options opts);
OSS_DECL download_outcome escaped_download_outcome(std::exception_ptr e);

template <typename Handler>
struct download_completion {
  Handler handler;
  diagnostics* diag;

  void operator()(std::exception_ptr e, download_outcome outcome) {
    if (e) outcome = escaped_download_outcome(e);
    *diag = std::move(outcome.diag);
    std::move(handler)(outcome.ec, std::move(outcome.result));
  }
};

struct initiate_download_op {
  client* c;
  asio::any_io_executor strand;

  asio::any_io_executor get_executor() const noexcept { return strand; }

  template <typename Handler>
  void operator()(Handler&& handler, std::string name, std::filesystem::path path, download_options opts,
                  diagnostics* diag) const;
};

}  // namespace detail

/// Downloads object `name` into the file `path`: the asynchronous primitive.
///
/// **Completion signature** `void(std::error_code, oss::download_result)`, any completion token;
/// `diag` as for `async_multipart_upload`.
///
/// **Steps.** 1. Validate (name, `parallel`, part size, the target's folder exists and `path`
/// is not a folder). 2. Take the checkpoint (lock, load, check it is this download's: kind,
/// endpoint, bucket, dialect, name, target path, part size; else
/// `client_errc::checkpoint_mismatch`). 3. HEAD the object and pin it (ETag, size, CRC-64);
/// a resumed checkpoint whose object has another ETag or size is `client_errc::object_changed`,
/// and its ranges are re-read from `<path>.part` and re-hashed (a range whose bytes changed is
/// fetched again). 4. `<path>.part` is created and preallocated to the object's size (a full
/// disk fails here, `ENOSPC`, before any byte is fetched). 5. `parallel` workers fetch ranges
/// with `Range`, `If-Match` (the pinned ETag) and, in the OSS dialect,
/// `x-oss-range-behavior: standard`; each reply must be a 206 whose `Content-Range` is exactly
/// the range asked for (a 412, or another ETag, is `object_changed`); the body is hashed
/// (CRC-64) and written with `pwrite` as it arrives, with the client's retries; with a
/// checkpoint file, finished ranges are made durable (`fdatasync` of the `.part` file, then
/// the checkpoint's journal) before they count. A server that ignores `Range` (200 with the
/// whole object) gets one GET of the whole object instead. 6. The ranges' CRC-64s combined
/// must equal the object's (else `client_errc::crc64_mismatch`: the `.part` file and the
/// checkpoint are deleted, unless `keep_part_file_on_mismatch`). 7. The `.part` file is
/// fsync'ed and renamed over `path`, the checkpoint deleted, progress `completed`.
///
/// **Errors.** Besides the validation codes: `object_changed`, `crc64_mismatch`, `unverified`,
/// `checkpoint_locked`, `checkpoint_corrupt`, server codes (`no_such_key`, `access_denied`),
/// OS errors of the target (`no_such_file_or_directory` for a missing folder,
/// `permission_denied`, `no_space_on_device`), transport codes. `path` is never touched
/// before the download is complete and verified.
///
/// **Cancellation**, **Exceptions**, **Executor**: as for `async_multipart_upload`. A cancelled
/// or failed download keeps `<path>.part` and its checkpoint for a resume; without any
/// checkpoint (no file, no in-memory one, no progress handler that could save one) the `.part`
/// file is removed.
template <typename CompletionToken>
auto async_resumable_download(client& c, std::string name, std::filesystem::path path, download_options opts,
                              diagnostics& diag, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(std::error_code, download_result)>(
      detail::initiate_download_op{&c, detail::make_upload_strand(c)}, token, std::move(name), std::move(path),
      std::move(opts), &diag);
}

/// Downloads object `name` into `path`: the awaitable convenience. Throws `oss::error` on
/// failure (an exception of the progress handler is rethrown as it is).
/// \code
///   oss::download_result r = co_await oss::resumable_download(client, "videos/a.mp4", "/data/a.mp4", opts);
/// \endcode
OSS_DECL asio::awaitable<download_result> resumable_download(client& c, std::string name,
                                                             std::filesystem::path path, download_options opts);

/// As above with default options.
OSS_DECL asio::awaitable<download_result> resumable_download(client& c, std::string name,
                                                             std::filesystem::path path);

}  // namespace oss

namespace asio {
template <typename Handler, typename Executor>
struct associated_executor<oss::detail::download_completion<Handler>, Executor> {
  using type = associated_executor_t<Handler, Executor>;
  static type get(const oss::detail::download_completion<Handler>& h, const Executor& ex = Executor()) noexcept {
    return asio::get_associated_executor(h.handler, ex);
  }
};
template <typename Handler, typename Slot>
struct associated_cancellation_slot<oss::detail::download_completion<Handler>, Slot> {
  using type = associated_cancellation_slot_t<Handler, Slot>;
  static type get(const oss::detail::download_completion<Handler>& h, const Slot& s = Slot()) noexcept {
    return asio::get_associated_cancellation_slot(h.handler, s);
  }
};
template <typename Handler, typename Allocator>
struct associated_allocator<oss::detail::download_completion<Handler>, Allocator> {
  using type = associated_allocator_t<Handler, Allocator>;
  static type get(const oss::detail::download_completion<Handler>& h, const Allocator& a = Allocator()) noexcept {
    return asio::get_associated_allocator(h.handler, a);
  }
};
}  // namespace asio

#include <asio/co_spawn.hpp>

namespace oss::detail {

template <typename Handler>
void initiate_download_op::operator()(Handler&& handler, std::string name, std::filesystem::path path,
                                      download_options opts, diagnostics* diag) const {
  using completion_type = download_completion<std::decay_t<Handler>>;
  relayed_handler<completion_type> done(completion_type{std::forward<Handler>(handler), diag}, strand);
  asio::co_spawn(strand, run_resumable_download(*c, std::move(name), std::move(path), std::move(opts)),
                 std::move(done));
}

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/impl/resumable_download.ipp>
#endif

#endif  // OSS_RESUMABLE_DOWNLOAD_HPP
