// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_IMPL_PART_SOURCE_IPP
#define OSS_DETAIL_ENGINE_IMPL_PART_SOURCE_IPP

#include <oss/detail/engine/part_source.hpp>

#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail {

namespace source_impl {

// What a pread of a whole part gives; trivially destructible (see rehash_outcome).
struct file_read {
  int error = 0;            // errno of a failed pread
  bool short_read = false;  // the file ended early: it shrank during the transfer
  body_digests digests;     // of the bytes read, when neither of the above
};

// Fills `buf` with `len` bytes of `fd` from `offset`.
inline file_read read_exact(int fd, std::byte* buf, std::uint64_t len, std::uint64_t offset) {
  file_read r;
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
  return r;
}

// Fills `buf` with `len` bytes of `fd` from `offset`, then digests them.
inline file_read read_range(int fd, std::byte* buf, std::uint64_t len, std::uint64_t offset,
                            part_digests_wanted wanted) {
  file_read r = read_exact(fd, buf, len, offset);
  if (r.error == 0 && !r.short_read) r.digests = digest_part(buf, static_cast<std::size_t>(len), wanted);
  return r;
}

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

inline std::int64_t mtime_ns_of(const struct stat& st) noexcept {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}


// The jobs handed to blocking_work, as named types rather than lambdas: a lambda in a function
// compiled once (OSS_SEPARATE_COMPILATION) has no linkage, and GCC warns about the coroutine
// frame of the template that holds it.
struct read_job {
  int fd;
  std::byte* into;
  std::uint64_t len;
  std::uint64_t offset;
  part_digests_wanted wanted;
  file_read operator()() const { return read_range(fd, into, len, offset, wanted); }
};

struct read_exact_job {
  int fd;
  std::byte* into;
  std::uint64_t len;
  std::uint64_t offset;
  file_read operator()() const { return read_exact(fd, into, len, offset); }
};

struct digest_job {
  const std::byte* data;
  std::uint64_t len;
  part_digests_wanted wanted;
  body_digests operator()() const { return digest_part(data, static_cast<std::size_t>(len), wanted); }
};

struct rehash_file_job {
  int fd;
  std::byte* slice;
  std::uint64_t offset;
  std::uint64_t len;
  bool with_md5;
  rehash_outcome operator()() const { return hash_file_range(fd, slice, offset, len, with_md5); }
};

struct rehash_memory_job {
  const std::byte* data;
  std::uint64_t len;
  bool with_md5;
  rehash_outcome operator()() const { return hash_memory_range(data, len, with_md5); }
};

// A failed read (error or short_read set) as an error and its description; `number` is the
// part's, or 0 for a whole small file.
inline std::error_code file_read_error(const file_read& r, int number, std::string& message) {
  if (r.error != 0) {
    message = number > 0 ? "reading part " + std::to_string(number) + " failed: " +
                               std::generic_category().message(r.error)
                         : "reading the file failed: " + std::generic_category().message(r.error);
    return client_errc::file_not_readable;
  }
  message = number > 0 ? "the file became shorter while it was being uploaded"
                       : "the file became shorter while it was being read";
  return client_errc::file_changed;
}

// A pread's failure as the part's error.
inline void set_file_error(part_read& out, const file_read& r, int number) {
  out.ec = file_read_error(r, number, out.message);
  out.operation = "multipart_upload";
}

}  // namespace source_impl

OSS_DECL std::string normal_file_path(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(p, ec);
  return (ec ? p : abs).lexically_normal().string();
}

OSS_DECL part_source::~part_source() {
  if (fd_ >= 0) ::close(fd_);
  for (const int fd : spool_fds_)
    if (fd >= 0) ::close(fd);  // unnamed: the file goes with its last descriptor
}

OSS_DECL std::error_code part_source::open(std::string& problem) {
  switch (source_.type()) {
    case upload_source::kind::file: {
      const std::filesystem::path& path = *source_.file();
      // O_NONBLOCK: opening a FIFO must not hang before we can tell it is not a regular file.
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
      if (fd_ < 0) {
        const int err = errno;
        if (err == ENOENT || err == ENOTDIR || path.empty()) {
          problem = "no file at " + path.string();
          return client_errc::file_not_found;
        }
        problem = "cannot open " + path.string() + ": " + std::generic_category().message(err);
        return client_errc::file_not_readable;
      }
      struct stat st {};
      if (::fstat(fd_, &st) != 0) {
        problem = "cannot stat " + path.string();
        return client_errc::file_not_readable;
      }
      if (!S_ISREG(st.st_mode)) {
        problem = path.string() + " is not a regular file";
        return client_errc::not_a_regular_file;
      }
      size_ = static_cast<std::uint64_t>(st.st_size);
      size_known_ = true;
      mtime_ns_ = source_impl::mtime_ns_of(st);
      path_ = normal_file_path(path);
      return {};
    }
    case upload_source::kind::buffer:
      size_ = source_.buffer()->data.size();
      size_known_ = true;
      return {};
    case upload_source::kind::stream:
      if (!source_.stream()->read) {
        problem = "the stream_source has no reader";
        return std::make_error_code(std::errc::invalid_argument);
      }
      return {};
  }
  return {};
}

OSS_DECL bool part_source::unchanged() const {
  if (!is_file()) return true;
  struct stat st {};
  return ::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == size_ &&
         source_impl::mtime_ns_of(st) == mtime_ns_;
}

inline std::byte* part_source::stream_buffer(std::size_t worker, std::uint64_t size) {
  if (stream_buffers_.size() <= worker) {
    stream_buffers_.resize(worker + 1);
    stream_capacity_.resize(worker + 1, 0);
  }
  // Parts only grow, except when they start to be spooled: a buffer twice the size wanted is
  // the last in-memory part's, which nothing counts any more.
  if (!stream_buffers_[worker] || stream_capacity_[worker] < size || stream_capacity_[worker] / 2 > size) {
    stream_buffers_[worker].reset();  // the smaller one goes first: never both at the peak
    stream_buffers_[worker] = make_part_buffer(static_cast<std::size_t>(size), mapped_buffers_);
    stream_capacity_[worker] = size;
  }
  return stream_buffers_[worker].get();
}

OSS_DECL asio::awaitable<std::pair<std::error_code, asio::const_buffer>> file_part_reader::read(std::uint64_t at) {
  using result = std::pair<std::error_code, asio::const_buffer>;
  if (at == 0) crc_ = 0;
  const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(file_piece, length_ - at));
  source_impl::file_read r;
  std::size_t got = 0;
  while (got < len) {
    ::iovec iov{piece_ + got, len - got};
    const ssize_t n = ::preadv2(fd_, &iov, 1, static_cast<off_t>(offset_ + at + got), RWF_NOWAIT);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) {
      r.short_read = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EOPNOTSUPP) {
      r.error = errno;
    }
    break;  // else not in the page cache (or no RWF_NOWAIT here): the rest waits for the disk elsewhere
  }
  if (got < len && r.error == 0 && !r.short_read) {
    const source_impl::read_exact_job job{fd_, piece_ + got, len - got, offset_ + at + got};
    r = co_await work_.run(job);
  }
  if (r.error != 0 || r.short_read) {
    const std::error_code ec = source_impl::file_read_error(r, number_, problem_);
    co_return result(ec, asio::const_buffer());
  }
  crc_ = oss::detail::crc64(crc_, piece_, len);
  co_return result(std::error_code(), asio::const_buffer(piece_, len));
}

OSS_DECL file_part_reader part_source::reader_for(int number, const part_read& part, std::byte* piece) {
  return file_part_reader(part.spool_fd >= 0 ? part.spool_fd : fd_, number, part.offset, part.length, piece, work_);
}

OSS_DECL asio::awaitable<rehash_outcome> part_source::rehash_spooled(const part_read& part, std::byte* slice) {
  const source_impl::rehash_file_job job{part.spool_fd, slice, 0, part.length, true};
  co_return co_await work_.run(job);
}

OSS_DECL asio::awaitable<part_read> part_source::next_part(int number, std::size_t worker, part_lease& lease,
                                                          part_digests_wanted wanted,
                                                          const part_scheduler& sched, bool may_stream) {
  part_read out;
  if (is_stream()) {
    if (spooled(number)) {
      const bool with_prefix = number == 1 && first_pending_;
      first_pending_ = false;
      out = co_await read_spooled(number, worker, wanted, sched, with_prefix ? first_.get() : nullptr,
                                  with_prefix ? first_length_ : 0);
      first_.reset();
      co_return out;
    }
    if (number == 1 && first_pending_) {
      // Part 1 was read ahead: its buffer becomes this worker's.
      first_pending_ = false;
      if (stream_buffers_.size() <= worker) {
        stream_buffers_.resize(worker + 1);
        stream_capacity_.resize(worker + 1, 0);
      }
      std::swap(stream_buffers_[worker], first_);
      std::swap(stream_capacity_[worker], first_capacity_);
      out.data = stream_buffers_[worker].get();
      out.length = first_length_;
      out.digests = first_digests_;
      co_return out;
    }
    const std::uint64_t want = part_size_of(number);
    std::byte* buf = stream_buffer(worker, want);
    out = co_await read_stream(number, buf, want, sched);
    if (out.ec || out.length == 0) co_return out;
    const std::uint64_t len = out.length;
    const source_impl::digest_job job{buf, len, wanted};
    out.digests = co_await work_.run(job);
    co_return out;
  }
  const std::uint64_t len = part_length(size_, part_size_, number);
  const std::uint64_t offset = part_offset(part_size_, number);
  out.length = len;
  if (is_file()) {
    if (stream_files_ && may_stream && !wanted.md5 && !wanted.sha256) {
      out.streamed = true;
      out.offset = offset;
      co_return out;
    }
    const int fd = fd_;
    std::byte* into = lease.buffer();
    const source_impl::read_job job{fd, into, len, offset, wanted};
    const source_impl::file_read r = co_await work_.run_sized(len, job);
    if (r.error != 0 || r.short_read) {
      source_impl::set_file_error(out, r, number);
      co_return out;
    }
    out.data = into;
    out.digests = r.digests;
    co_return out;
  }
  const std::byte* view = source_.buffer()->data.data() + offset;
  const source_impl::digest_job job{view, len, wanted};
  out.digests = co_await work_.run(job);
  out.data = view;
  co_return out;
}

inline asio::awaitable<std::uint64_t> part_source::fill_from_stream(std::byte* buf, std::uint64_t want,
                                                                   const part_scheduler& sched, part_read& out,
                                                                   bool& eof) {
  std::uint64_t got = 0;
  stream_source& stream = *source_.stream();
  try {
    while (got < want && sched.running()) {
      const asio::mutable_buffer room(buf + got, static_cast<std::size_t>(want - got));
      const std::size_t n = co_await stream.read(room);
      if (n == 0) {
        eof = true;
        break;
      }
      if (n > want - got) {
        out.ec = std::make_error_code(std::errc::invalid_argument);
        out.operation = "multipart_upload";
        out.message = "the stream reader reported more bytes than the buffer holds";
        break;
      }
      got += n;
    }
  } catch (const std::system_error& e) {
    out.ec = e.code();
    out.operation = "read_stream";
    out.message = "reading the stream failed";
  } catch (...) {
    out.ec = client_errc::handler_exception;
    out.operation = "read_stream";
    out.message = "the stream reader threw an exception; the upload was stopped";
    out.thrown = std::current_exception();
  }
  co_return got;
}

inline void part_source::stream_part_read(int number, std::uint64_t got, bool eof, part_read& out) {
  stream_busy_ = false;
  ++next_stream_number_;
  if (out.ec) return;
  stream_bytes_ += got;
  out.length = got;
  if (eof) {
    // The length is known now: a last part of 0 bytes ends the part list one earlier.
    out.ended = true;
    size_ = stream_bytes_;
    size_known_ = true;
    last_part_ = got == 0 ? number - 1 : number;
  }
}

// Reads part `number` of the stream into `buf`. Reads are serialised (ready()): a stream has
// one position.
inline asio::awaitable<part_read> part_source::read_stream(int number, std::byte* buf, std::uint64_t want,
                                                           const part_scheduler& sched) {
  part_read out;
  stream_busy_ = true;
  bool eof = false;
  const std::uint64_t got = co_await fill_from_stream(buf, want, sched, out, eof);
  stream_part_read(number, got, eof, out);
  if (!out.ec) out.data = buf;
  co_return out;
}

inline int part_source::spool_file(std::size_t worker, std::error_code& ec, std::string& problem) {
  if (spool_fds_.size() <= worker) spool_fds_.resize(worker + 1, -1);
  if (spool_fds_[worker] >= 0) return spool_fds_[worker];
  const std::filesystem::path dir = spool_dir_.empty() ? std::filesystem::temp_directory_path(ec) : spool_dir_;
  if (ec) {
    problem = "no temporary folder for the stream's large parts (" + ec.message() + "); set spool_directory";
    return -1;
  }
  // Unnamed, so nothing is left behind by a crash; a file system without O_TMPFILE gets a
  // named file that is unlinked at once.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string templ = (dir / "oss-spool-XXXXXX").string();
    fd = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(templ.c_str());
  }
  if (fd < 0) {
    ec = std::error_code(errno, std::generic_category());
    problem = "cannot create a temporary file in " + dir.string() + " for the stream's large parts: " + ec.message();
    return -1;
  }
  spool_dir_ = dir;
  spool_fds_[worker] = fd;
  return fd;
}

namespace source_impl {

// Writes a piece of a spooled part to its file and adds it to the part's digests, off the
// event loop. Returns the errno of a failed write, or 0.
struct spool_write_job {
  int fd;
  const std::byte* data;
  std::size_t len;
  std::uint64_t offset;
  std::uint64_t* crc;
  md5_hasher* md5;
  sha256_hasher* sha256;
  int operator()() const {
    std::size_t done = 0;
    while (done < len) {
      const ssize_t n = ::pwrite(fd, data + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      done += static_cast<std::size_t>(n);
    }
    *crc = crc64(*crc, data, len);
    if (md5) md5->update(data, len);
    if (sha256) sha256->update(data, len);
    return 0;
  }
};

}  // namespace source_impl

inline asio::awaitable<part_read> part_source::read_spooled(int number, std::size_t worker,
                                                            part_digests_wanted wanted,
                                                            const part_scheduler& sched, const std::byte* prefix,
                                                            std::uint64_t prefix_len) {
  part_read out;
  stream_busy_ = true;
  const std::uint64_t want = part_size_of(number);
  std::string problem;
  const int fd = spool_file(worker, out.ec, problem);
  if (fd < 0) {
    out.operation = "spool";
    out.message = std::move(problem);
    stream_part_read(number, 0, false, out);
    co_return out;
  }
  std::byte* piece = stream_buffer(worker, file_piece);
  std::uint64_t crc = 0;
  std::optional<md5_hasher> md5;
  std::optional<sha256_hasher> sha256;
  if (wanted.md5) md5.emplace();
  if (wanted.sha256) sha256.emplace();
  std::uint64_t got = 0;
  bool eof = false;
  int write_error = 0;
  while (got < want && !eof && sched.running() && write_error == 0) {
    const std::byte* data = prefix;
    std::uint64_t n = std::min<std::uint64_t>(prefix_len, want);
    if (got > 0 || prefix_len == 0) {
      data = piece;
      n = co_await fill_from_stream(piece, std::min<std::uint64_t>(file_piece, want - got), sched, out, eof);
      if (out.ec) break;
    }
    const source_impl::spool_write_job job{fd, data, static_cast<std::size_t>(n), got, &crc,
                                           md5 ? &*md5 : nullptr, sha256 ? &*sha256 : nullptr};
    write_error = co_await work_.run(job);
    got += n;
  }
  if (write_error != 0) {
    out.ec = std::error_code(write_error, std::generic_category());
    out.operation = "spool";
    out.message = "cannot write part " + std::to_string(number) + " of the stream to a temporary file in " +
                  spool_dir_.string() + ": " + std::generic_category().message(write_error);
  }
  stream_part_read(number, got, eof, out);
  if (out.ec) co_return out;
  out.streamed = true;
  out.spool_fd = fd;
  out.offset = 0;
  out.digests.crc64 = crc;
  if (md5) out.digests.md5 = md5->finish();
  if (sha256) out.digests.sha256 = sha256->finish();
  co_return out;
}

OSS_DECL asio::awaitable<part_read> part_source::first_part(part_digests_wanted wanted, const part_scheduler& sched) {
  part_read out;
  if (is_stream()) {
    // A spooled part 1 is read ahead only as far as memory allows: a stream that ends there is
    // one PutObject, else those bytes begin the part's file.
    const std::uint64_t ahead = read_ahead_bytes();
    first_ = make_part_buffer(static_cast<std::size_t>(ahead), mapped_buffers_);
    first_capacity_ = ahead;
    std::byte* buf = first_.get();
    out = co_await read_stream(1, buf, ahead, sched);
    if (!out.ec && !out.ended && spooled(1)) {
      --next_stream_number_;  // part 1 is not read yet: its worker goes on from here
      stream_bytes_ -= out.length;
    }
    if (out.ec) co_return out;
    const std::uint64_t len = out.length;
    const source_impl::digest_job job{buf, len, wanted};
    out.digests = co_await work_.run(job);
    if (!out.ended) {
      first_length_ = out.length;
      first_digests_ = out.digests;
      first_pending_ = true;
    }
    co_return out;
  }
  const std::uint64_t len = size_;
  out.length = len;
  if (is_file()) {
    small_ = std::make_unique_for_overwrite<std::byte[]>(static_cast<std::size_t>(std::max<std::uint64_t>(len, 1)));
    std::byte* buf = small_.get();
    const int fd = fd_;
    const source_impl::read_job job{fd, buf, len, 0, wanted};
    const source_impl::file_read r = co_await work_.run(job);
    if (r.error != 0 || r.short_read) {
      source_impl::set_file_error(out, r, 0);
      co_return out;
    }
    out.data = buf;
    out.digests = r.digests;
    co_return out;
  }
  const std::byte* data = source_.buffer()->data.data();
  const source_impl::digest_job job{data, len, wanted};
  out.digests = co_await work_.run(job);
  out.data = data;
  co_return out;
}

OSS_DECL asio::awaitable<rehash_outcome> part_source::rehash(std::uint64_t offset, std::uint64_t len,
                                                            bool with_md5, std::byte* slice) {
  if (is_file()) {
    const int fd = fd_;
    const source_impl::rehash_file_job job{fd, slice, offset, len, with_md5};
    co_return co_await work_.run(job);
  }
  const std::byte* data = source_.buffer()->data.data() + offset;
  const source_impl::rehash_memory_job job{data, len, with_md5};
  co_return co_await work_.run(job);
}

}  // namespace oss::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_ENGINE_IMPL_PART_SOURCE_IPP
