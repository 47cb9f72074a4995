// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DOWNLOAD_IMPL_DOWNLOAD_RUN_IPP
#define OSS_DETAIL_DOWNLOAD_IMPL_DOWNLOAD_RUN_IPP

#include <oss/detail/download/download_run.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/upload/upload_run.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::download {

namespace download_impl {

inline std::error_code errno_code() { return {errno, std::system_category()}; }

inline std::error_code pwrite_all(int fd, const char* data, std::size_t len, std::uint64_t offset) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code();
    }
    data += n;
    len -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

// CRC-64 of `len` bytes of `fd` from `offset`, or an error.
inline std::error_code crc_of_range(int fd, std::uint64_t offset, std::uint64_t len, std::uint64_t& crc) {
  std::string buf(write_piece, '\0');
  crc = 0;
  while (len > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(len, buf.size()));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);  // shorter than it should be
    crc = crc64(crc, buf.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
  }
  return {};
}

inline std::optional<std::uint64_t> decimal(std::string_view s) { return parse_decimal(s); }

// "bytes a-b/total" exactly.
inline bool content_range_is(std::string_view v, std::uint64_t first, std::uint64_t last, std::uint64_t total) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (!ascii_istarts_with(v, "bytes ")) return false;
  v.remove_prefix(6);
  const auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  const auto a = decimal(v.substr(0, dash)), b = decimal(v.substr(dash + 1, slash - dash - 1)),
             t = decimal(v.substr(slash + 1));
  return a && b && t && *a == first && *b == last && *t == total;
}

}  // namespace download_impl

inline download_run::~download_run() {
  if (fd_ >= 0) ::close(fd_);
}

// ---- the transport's hooks -------------------------------------------------------------------

inline bool download_run::on_head(range_writer& w, int status, const http::fields& headers, std::error_code& ec) {
  w.received = 0;
  w.written = 0;
  w.crc = 0;
  w.overflow = false;
  w.problem.clear();
  w.staging->clear();
  if (status < 200 || status > 299) return false;  // an error document: buffered and judged
  // The reply must be of the pinned object: a changed ETag means the If-Match was ignored.
  if (const std::string* etag = headers.find("ETag"); etag && !etag_equal(*etag, etag_)) {
    ec = client_errc::object_changed;
    w.problem = "the reply for bytes " + std::to_string(w.first) + "- came with ETag " + *etag + ", not " + etag_;
    return false;
  }
  const std::uint64_t last = w.first + w.length - 1;
  std::optional<std::uint64_t> length;
  if (const std::string* cl = headers.find("Content-Length")) length = download_impl::decimal(*cl);
  if (status == 206) {
    const std::string* range = headers.find("Content-Range");
    if (!range || !download_impl::content_range_is(*range, w.first, last, size_)) {
      ec = client_errc::malformed_response;
      w.problem = "asked for bytes " + std::to_string(w.first) + "-" + std::to_string(last) + " of " +
                  std::to_string(size_) + ", the 206 reply's Content-Range is " +
                  (range ? "\"" + sanitize_text(*range, 80) + "\"" : std::string("missing"));
      return false;
    }
  } else if (status == 200) {
    // Range ignored: the whole object. Only a request for all of it can use that.
    if (w.first != 0 || w.length != size_) {
      ec = client_errc::range_ignored;
      w.problem = "the server answered the ranged GET of bytes " + std::to_string(w.first) + "-" +
                  std::to_string(last) + " with the whole object (200)";
      return false;
    }
  } else {
    ec = client_errc::malformed_response;
    w.problem = "a ranged GET was answered with status " + std::to_string(status);
    return false;
  }
  if (length && *length != w.length) {
    ec = client_errc::malformed_response;
    w.problem = "the reply for " + std::to_string(w.length) + " bytes has Content-Length " + std::to_string(*length);
    return false;
  }
  return true;
}

inline void download_run::on_body(range_writer& w, std::string_view bytes) {
  if (w.overflow || w.received + bytes.size() > w.length) {
    w.overflow = true;  // a chunked body longer than the range: refused after the exchange
    return;
  }
  w.received += bytes.size();
  w.staging->append(bytes);
}

inline asio::awaitable<std::error_code> download_run::on_drain(range_writer& w, bool last) {
  std::string& staged = *w.staging;
  if (w.overflow) co_return client_errc::malformed_response;
  if (staged.empty() || (!last && staged.size() < write_piece)) co_return std::error_code();
  struct written {
    std::error_code ec;
    std::uint64_t crc;
  };
  const int fd = fd_;
  const char* data = staged.data();
  const std::size_t len = staged.size();
  const std::uint64_t at = w.first + w.written;
  const std::uint64_t crc = w.crc;
  auto job = [fd, data, len, at, crc] {
    return written{download_impl::pwrite_all(fd, data, len, at), crc64(crc, data, len)};
  };
  const written r = co_await work_.run_sized(len, std::move(job));
  if (r.ec) {
    w.problem = "cannot write " + part_path().string() + " (" + r.ec.message() + ")";
    co_return r.ec;
  }
  w.crc = r.crc;
  w.written += len;
  bytes_downloaded_ += len;
  staged.clear();
  count_received(w.number, w.written);
  if (!progress_busy_ && opts_.progress && running()) {
    progress_busy_ = true;
    const std::optional<part_record> none;
    co_await report(progress_stage::received, none);
    progress_busy_ = false;
    notify();
  }
  co_return std::error_code();
}

inline void download_run::count_received(int number, std::uint64_t written) {
  std::uint64_t& high = high_[number];
  if (written > high) {
    bytes_done_ += written - high;
    high = written;
  }
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

inline bool download_run::validate() {
  if (opts_.parallel < 1) return fail(client_errc::invalid_parallel, "parallel must be at least 1"), false;
  if (std::string why = multipart::part_size_problem(opts_.part_size, api_dialect::oss); !why.empty())
    return fail(client_errc::invalid_part_size, std::move(why)), false;
  std::string problem;
  if (auto ec = check_object_name(name_, problem)) return fail(ec, std::move(problem)), false;
  if (target_.empty()) return fail(std::make_error_code(std::errc::invalid_argument), "the target path is empty"), false;
  std::error_code ec;
  target_ = std::filesystem::absolute(target_, ec).lexically_normal();
  if (ec) return fail(ec, "cannot make the target path absolute"), false;
  std::filesystem::path dir = target_.parent_path();
  if (!std::filesystem::is_directory(dir, ec))
    return fail(std::make_error_code(std::errc::no_such_file_or_directory),
                "the target's folder " + dir.string() + " does not exist"),
           false;
  if (std::filesystem::is_directory(target_, ec))
    return fail(std::make_error_code(std::errc::is_a_directory), "the target " + target_.string() + " is a folder"),
           false;
  if (::access(dir.c_str(), W_OK) != 0)
    return fail(download_impl::errno_code(), "the target's folder " + dir.string() + " is not writable"), false;
  if (const auto* file = opts_.checkpoint.file()) {
    std::filesystem::path cdir = file->parent_path();
    if (cdir.empty()) cdir = ".";
    if (!std::filesystem::is_directory(cdir, ec))
      return fail(std::make_error_code(std::errc::no_such_file_or_directory),
                  "the checkpoint's folder " + cdir.string() + " does not exist"),
             false;
    cp_path_ = *file;
  }
  return true;
}

inline asio::awaitable<bool> download_run::take_checkpoint() {
  if (cp_path_) {
    multipart::checkpoint_lock* lock = &lock_;
    const std::filesystem::path* path = &*cp_path_;
    auto lock_job = [lock, path] {
      std::error_code ec;
      lock->acquire(*path, ec);
      return ec;
    };
    if (const std::error_code ec = co_await work_.run(std::move(lock_job))) {
      fail(ec, ec == client_errc::checkpoint_locked
                   ? "another download is using the checkpoint " + cp_path_->string()
                   : "cannot create the checkpoint's lock file beside " + cp_path_->string() + " (" +
                         ec.message() + ")");
      co_return false;
    }
  }
  if (const auto* memory = opts_.checkpoint.memory()) {
    cp_ = *memory;
    resuming_ = true;
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
    loaded l = co_await work_.run(std::move(job));
    if (l.ec == std::errc::no_such_file_or_directory) co_return true;
    if (l.ec) {
      fail(l.ec, l.problem + " (" + cp_path_->string() + ")");
      co_return false;
    }
    cp_ = std::move(l.cp);
    resuming_ = true;
  } else {
    co_return true;
  }
  auto mismatch = [&](std::string why) {
    fail(client_errc::checkpoint_mismatch,
         "the checkpoint" + (cp_path_ ? " " + cp_path_->string() : std::string()) + " belongs to another transfer: " +
             why + " (it was left untouched; use another checkpoint path, or delete it)");
    return false;
  };
  if (cp_.kind != download_checkpoint_kind) co_return mismatch("it is not a download checkpoint");
  if (cp_.dialect != multipart::dialect_name(client_.options().dialect))
    co_return mismatch("it was made in the " + cp_.dialect + " dialect");
  if (cp_.endpoint != client_.endpoint_url()) co_return mismatch("it is for endpoint " + cp_.endpoint);
  if (cp_.bucket != client_.options().bucket) co_return mismatch("it is for bucket " + cp_.bucket);
  if (cp_.name != name_) co_return mismatch("it is for object " + cp_.name + ", not " + name_);
  if (cp_.file != target_.string()) co_return mismatch("it is for file " + cp_.file + ", not " + target_.string());
  co_return true;
}

// HEAD: the object's size, ETag and CRC-64, pinned for every range (and checked against a
// resumed checkpoint's).
inline asio::awaitable<bool> download_run::pin_object() {
  std::error_code ec;
  diagnostics diag;
  object_meta meta = co_await access::impl(client_).head(name_, ec, diag);
  if (ec) {
    fail(ec, std::move(diag));
    co_return false;
  }
  if (meta.etag.empty()) {
    fail(client_errc::missing_etag, "the object has no ETag, so a download cannot tell its versions apart");
    co_return false;
  }
  size_ = meta.size;
  etag_ = meta.etag;
  server_crc_ = meta.crc64;
  if (!server_crc_ && opts_.require_server_crc) {
    fail(client_errc::unverified,
         "the server announces no CRC-64 for " + name_ +
             ", so the download could not be verified (set require_server_crc = false to download it unchecked)");
    co_return false;
  }
  part_size_ = multipart::effective_part_size(size_, opts_.part_size);
  if (resuming_) {
    if (cp_.object_etag != etag_ || cp_.file_size != size_) {
      // Its ranges are of another version of the object: useless now.
      fail(client_errc::object_changed, "the object " + name_ + " was overwritten since the checkpoint was written (ETag " +
                                            cp_.object_etag + ", now " + etag_ +
                                            "); the checkpoint and the partial file were removed, download it again");
      co_return false;
    }
    if (cp_.part_size == size_ && cp_.part_size != part_size_ && size_ > 0) {
      // Left by a run that found the server ignoring Range: one GET of everything.
      whole_get_ = true;
      part_size_ = size_;
    }
    if (cp_.part_size != part_size_) {
      fail(client_errc::checkpoint_mismatch, "the checkpoint uses part size " + std::to_string(cp_.part_size) +
                                                 ", this call " + std::to_string(part_size_) + " (pass .part_size = " +
                                                 std::to_string(cp_.part_size) + ")");
      co_return false;
    }
  } else {
    cp_ = checkpoint{};
    cp_.kind = std::string(download_checkpoint_kind);
    cp_.endpoint = client_.endpoint_url();
    cp_.bucket = client_.options().bucket;
    cp_.dialect = std::string(multipart::dialect_name(client_.options().dialect));
    cp_.name = name_;
    cp_.file = target_.string();
    cp_.file_size = size_;
    cp_.part_size = part_size_;
    cp_.object_etag = etag_;
    cp_.object_crc64 = server_crc_;
  }
  parts_total_ = multipart::part_count(size_, part_size_);
  co_return true;
}

// <path>.part: reopened when resuming (it must still have the object's size), else created and
// preallocated, so a disk too small fails here rather than half-way.
inline asio::awaitable<bool> download_run::open_part_file() {
  struct opened {
    int fd = -1;
    std::error_code ec;
    bool fresh = false;
    std::string what;
  };
  const std::filesystem::path part = part_path();
  const std::uint64_t size = size_;
  const bool reuse = resuming_ && !cp_.done_parts.empty();
  auto job = [part, size, reuse] {
    opened o;
    if (reuse) {
      o.fd = ::open(part.c_str(), O_RDWR | O_CLOEXEC);
      struct stat st {};
      if (o.fd >= 0 && ::fstat(o.fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == size) return o;
      if (o.fd >= 0) ::close(o.fd);
    }
    o.fresh = true;
    o.fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (o.fd < 0) {
      o.ec = download_impl::errno_code();
      o.what = "cannot create ";
      return o;
    }
    if (size > 0) {
      const int r = ::posix_fallocate(o.fd, 0, static_cast<off_t>(size));
      if (r == EOPNOTSUPP || r == EINVAL) {
        if (::ftruncate(o.fd, static_cast<off_t>(size)) != 0) o.ec = download_impl::errno_code();
      } else if (r != 0) {
        o.ec = std::error_code(r, std::system_category());
      }
      if (o.ec) {
        o.what = "cannot allocate " + std::to_string(size) + " bytes for ";
        // Nothing is in it: a full disk keeps no litter.
        ::close(o.fd);
        o.fd = -1;
        ::unlink(part.c_str());
      }
    }
    return o;
  };
  opened o = co_await work_.run(std::move(job));
  if (o.fd >= 0) fd_ = o.fd;
  if (o.fresh && o.fd >= 0) part_created_ = true;
  if (o.ec) {
    fail(o.ec, o.what + part.string() + " (" + o.ec.message() + ")");
    co_return false;
  }
  if (o.fresh && !cp_.done_parts.empty()) {
    cp_.done_parts.clear();  // the file they were written to is gone
    must_compact_ = true;
    ++cp_version_;
  }
  co_return true;
}

// A checkpoint's ranges are trusted only once their bytes in the .part file hash to what it
// recorded: anything may have touched the file between runs.
inline asio::awaitable<void> download_run::verify_resumed_ranges() {
  const int fd = fd_;
  std::vector<part_record> claimed = cp_.done_parts;
  const std::uint64_t part_size = part_size_, size = size_;
  auto job = [fd, claimed, part_size, size] {
    std::vector<int> bad;
    for (const part_record& p : claimed) {
      const std::uint64_t offset = multipart::part_offset(part_size, p.number);
      const std::uint64_t len = multipart::part_length(size, part_size, p.number);
      std::uint64_t crc = 0;
      if (p.number < 1 || len != p.size || download_impl::crc_of_range(fd, offset, len, crc) || crc != p.crc64)
        bad.push_back(p.number);
    }
    return bad;
  };
  const std::vector<int> bad = co_await work_.run(std::move(job));
  if (bad.empty()) co_return;
  std::erase_if(cp_.done_parts, [&](const part_record& p) { return std::find(bad.begin(), bad.end(), p.number) != bad.end(); });
  must_compact_ = true;
  ++cp_version_;
}

inline void download_run::restart_whole() {
  // The server ignores Range: one GET of the whole object, as one "range".
  whole_get_ = true;
  sched_ = part_scheduler{};
  part_size_ = size_;
  parts_total_ = 1;
  cp_.part_size = size_;
  cp_.done_parts.clear();
  must_compact_ = true;
  ++cp_version_;
  high_.clear();
  high_[1] = bytes_done_;  // progress never goes back
}

inline asio::awaitable<void> download_run::fetch_ranges() {
  if (cp_path_) {
    co_await save_now(true);
    if (!running()) co_return;
  }
  std::vector<int> done;
  bytes_done_ = 0;
  for (const auto& [number, high] : high_) bytes_done_ = std::max(bytes_done_, high);
  parts_done_ = 0;
  for (const auto& p : cp_.done_parts) {
    done.push_back(p.number);
    high_[p.number] = p.size;
    bytes_done_ += p.size;
    ++parts_done_;
  }
  bytes_done_ = std::min(bytes_done_, size_);
  const std::optional<part_record> none;
  if (!whole_get_) co_await report(progress_stage::started, none);
  if (!proceed()) co_return;
  sched_.plan(parts_total_, done);
  const std::size_t count = std::min(sched_.parts_left(opts_.parallel), opts_.parallel);
  if (count == 0) co_return;
  staging_.resize(count);
  signals_ = std::make_unique<asio::cancellation_signal[]>(count);
  worker_running_.assign(count, true);
  running_ = count;
  for (std::size_t i = 0; i < count; ++i) {
    auto on_done = [this, i](std::exception_ptr e) {
      worker_running_[i] = false;
      --running_;
      if (e && sched_.escape(e)) stop_all();
      notify();
    };
    asio::co_spawn(strand_, worker(i), asio::bind_cancellation_slot(signals_[i].slot(), std::move(on_done)));
  }
  while (running_ > 0) {
    co_await wait();
    proceed();
  }
}

inline asio::awaitable<void> download_run::worker(std::size_t index) {
  co_await asio::this_coro::throw_if_cancelled(false);
  if (staging_[index].capacity() < write_piece + 64 * 1024) staging_[index].reserve(write_piece + 64 * 1024);
  for (;;) {
    const part_scheduler::step step = sched_.next();
    if (step.kind != part_scheduler::step_kind::send) break;
    // The client's transfer budget: one request in flight and the staging piece it fills.
    budget_hold held;
    if (const transfer_budget* budget = client_.options().budget.get()) {
      const bool granted = co_await held.take(budget->connections().get(), budget->memory().get(), write_piece);
      if (!granted || !running()) break;
    }
    co_await fetch_range(step.number, index);
    if (!running()) break;
  }
}

inline asio::awaitable<void> download_run::fetch_range(int number, std::size_t index) {
  range_writer w;
  w.run = this;
  w.number = number;
  w.first = multipart::part_offset(part_size_, number);
  w.length = multipart::part_length(size_, part_size_, number);
  w.staging = &staging_[index];
  body_receiver receiver;
  receiver.on_head = [&w](int status, const http::fields& headers, std::error_code& ec) {
    return w.run->on_head(w, status, headers, ec);
  };
  receiver.sink = [&w](std::string_view bytes) { w.run->on_body(w, bytes); };
  receiver.drain = [&w](bool last) { return w.run->on_drain(w, last); };
  std::error_code ec;
  diagnostics diag;
  // Without If-Match in the whole-object GET: a server that ignores Range may ignore it too, and
  // the ETag of its reply is checked all the same.
  co_await access::impl(client_).get_range(name_, w.first, w.first + w.length - 1, etag_, receiver, ec, diag);
  if (!ec && (w.overflow || w.written != w.length)) {
    ec = client_errc::malformed_response;
    w.problem = "the reply for bytes " + std::to_string(w.first) + "-" + std::to_string(w.first + w.length - 1) +
                " held " + std::to_string(w.received) + " bytes" + (w.overflow ? " or more" : "");
  }
  if (ec) {
    if (diag.http_status == 412 || diag.code == "PreconditionFailed") {
      ec = client_errc::object_changed;
      w.problem = "the object " + name_ + " was overwritten during the download (its ETag is no longer " + etag_ +
                  "); the partial file was removed, download it again";
    }
    if (!w.problem.empty()) diag.client_message = w.problem + (diag.client_message.empty() ? "" : "; " + diag.client_message);
    diag.part_number = number;
    fail(ec, std::move(diag));
    co_return;
  }
  part_record rec{number, std::string(), w.length, w.crc};
  cp_.done_parts.push_back(rec);
  ++cp_version_;
  if (cp_path_) {
    unjournaled_ += journal_record(rec);
    ++unjournaled_count_;
    co_await persist();
    if (!running()) co_return;
  }
  while (progress_busy_ && running()) co_await wait();
  if (!running()) co_return;
  progress_busy_ = true;
  ++parts_done_;
  count_received(number, w.length);
  const std::optional<part_record> reported = rec;  // a named value: no temporary inside co_await (GCC 12)
  co_await report(progress_stage::part_done, reported);
  progress_busy_ = false;
  notify();
}

// The same group commit as an upload's (upload_run::persist): writes are serialised, and the
// next one covers every range recorded meanwhile.
inline asio::awaitable<void> download_run::persist() {
  const std::uint64_t mine = cp_version_;
  while (saved_version_ < mine && !save_failed_ && running()) {
    if (saving_)
      co_await wait();
    else
      co_await save_now(false);
  }
}

// A range counts once its bytes are durable: the .part file is synced before the journal line
// that records them is written.
inline asio::awaitable<void> download_run::save_now(bool compact) {
  saving_ = true;
  const std::uint64_t version = cp_version_;
  if (!journal_) journal_.emplace(*cp_path_);
  const bool rewrite = compact || must_compact_ || journal_->records() + unjournaled_count_ > 256;
  std::string text = rewrite ? checkpoint_to_json(cp_) : std::move(unjournaled_);
  const std::size_t count = unjournaled_count_;
  unjournaled_.clear();
  unjournaled_count_ = 0;
  if (rewrite) must_compact_ = false;
  checkpoint_journal* journal = &*journal_;
  const std::string id = journal_id(cp_);
  const int fd = fd_;
  auto job = [journal, text = std::move(text), id, rewrite, count, fd] {
    std::error_code ec;
    if (fd >= 0 && ::fdatasync(fd) != 0) return download_impl::errno_code();
    if (rewrite)
      journal->compact(text, id, ec);
    else
      journal->append(text, count, ec);
    return ec;
  };
  const std::error_code ec = co_await work_.run(std::move(job));
  saving_ = false;
  if (ec) {
    save_failed_ = true;
    fail(ec, "cannot write the checkpoint file " + cp_path_->string() + " (" + ec.message() + ")");
  } else {
    saved_version_ = std::max(saved_version_, version);
  }
  notify();
}

inline asio::awaitable<void> download_run::report(progress_stage stage, const std::optional<part_record>& part) {
  if (!opts_.progress) co_return;
  const bool done = stage == progress_stage::completed;
  progress_event e{
      done ? 1.0 : multipart::progress_fraction(bytes_done_, size_),
      bytes_done_,
      size_,
      part ? part->size : 0,
      parts_done_,
      parts_total_,
      part,
      cp_,
      std::string_view(),
      stage,
  };
  try {
    if (!opts_.progress.call_sync(e)) co_await opts_.progress(e);
  } catch (...) {
    std::exception_ptr thrown = std::current_exception();
    if (running() && caller_cancelled() && multipart::is_operation_aborted(thrown)) {
      sched_.cancel();
      stop_all();
    } else if (running()) {
      diagnostics diag;
      diag.operation = "progress";
      diag.client_message = "the progress handler threw an exception; the download was stopped";
      sched_.handler_threw(thrown, std::move(diag));
      stop_all();
    }
  }
}

// Every range is in: the file's CRC-64 (the ranges' combined) must be the object's, then the
// file is made durable and takes the target's name.
inline asio::awaitable<void> download_run::finish() {
  std::vector<part_record> parts = cp_.done_parts;
  multipart::sort_parts(parts);
  const std::uint64_t crc = multipart::combine_part_crcs(parts);
  out_.result.crc64 = crc;
  if (server_crc_ && *server_crc_ != crc) {
    fail(client_errc::crc64_mismatch, "the downloaded bytes have CRC-64 " + std::to_string(crc) +
                                          ", the server announced " + std::to_string(*server_crc_) + " for " + name_);
    co_return;
  }
  struct finished {
    std::error_code ec;
    std::string what;
  };
  const int fd = fd_;
  fd_ = -1;
  const std::filesystem::path part = part_path(), target = target_;
  auto job = [fd, part, target] {
    finished f;
    if (::fsync(fd) != 0) {
      f.ec = download_impl::errno_code();
      f.what = "cannot sync " + part.string();
    }
    ::close(fd);
    if (!f.ec && ::rename(part.c_str(), target.c_str()) != 0) {
      f.ec = download_impl::errno_code();
      f.what = "cannot rename " + part.string() + " to " + target.string();
    }
    if (!f.ec) {
      const int dfd = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
      }
    }
    return f;
  };
  const finished f = co_await work_.run(std::move(job));
  if (f.ec) {
    fail(f.ec, f.what + " (" + f.ec.message() + ")");
    co_return;
  }
  if (cp_path_) {
    const std::filesystem::path path = *cp_path_;
    auto rm = [path] {
      std::error_code ec;
      remove_checkpoint_files(path, ec);
      return ec;
    };
    co_await work_.run(std::move(rm));
  }
  bytes_done_ = size_;
  parts_done_ = parts_total_;
  sched_.succeed();
  out_.result.name = name_;
  out_.result.path = target_;
  out_.result.etag = etag_;
  out_.result.size = size_;
  out_.result.verified = server_crc_.has_value();
  out_.result.parts = parts_total_;
  out_.result.resumed = resuming_;
  out_.result.bytes_downloaded = bytes_downloaded_;
  out_.result.whole_object_get = whole_get_;
  const std::optional<part_record> none;
  // The handler's exception on `completed` no longer changes the outcome: the file is there.
  if (opts_.progress) {
    progress_event e{1.0, size_, size_, 0, parts_done_, parts_total_, none, cp_, std::string_view(),
                     progress_stage::completed};
    try {
      if (!opts_.progress.call_sync(e)) co_await opts_.progress(e);
    } catch (...) {
      out_.diag.exception = std::current_exception();
    }
  }
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
  if (cp_path_ && !save_failed_ && !useless && (resuming_ || !cp_.done_parts.empty()) && lock_.held())
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
