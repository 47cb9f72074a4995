// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DOWNLOAD_IMPL_SETUP_IPP
#define OSS_DETAIL_DOWNLOAD_IMPL_SETUP_IPP

// Steps 1 to 4 of a download (download_run::run): the options, the checkpoint, the object pinned
// by its ETag, the part file, and the ranges a resume keeps.
#include <oss/detail/download/impl/range_file.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::download {

// ---- 1-4. options, checkpoint, object, part file ------------------------------------------

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
    writes_.emplace(*file);
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
    changed();
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
  changed();
}

inline void download_run::restart_whole() {
  // The server ignores Range: one GET of the whole object, as one "range".
  whole_get_ = true;
  sched_ = part_scheduler{};
  part_size_ = size_;
  parts_total_ = 1;
  cp_.part_size = size_;
  cp_.done_parts.clear();
  changed();
  high_.clear();
  high_[1] = bytes_done_;  // progress never goes back
}

}  // namespace oss::detail::download

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_DOWNLOAD_IMPL_SETUP_IPP
