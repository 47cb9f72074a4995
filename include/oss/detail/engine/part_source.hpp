// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
// Outside the guard, for the reason given in detail/upload/upload_run.hpp.
#include <oss/multipart_upload.hpp>

#ifndef OSS_DETAIL_ENGINE_PART_SOURCE_HPP
#define OSS_DETAIL_ENGINE_PART_SOURCE_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/engine/blocking_work.hpp>
#include <oss/detail/engine/part_pool.hpp>
#include <oss/detail/engine/part_scheduler.hpp>
#include <oss/detail/multipart/plan.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

// The source of a transfer's bytes (design.md, "The engine"): a regular file, a buffer in
// memory, or a stream of unknown length, behind one next_part(). The transfer asks for part N
// and gets its bytes and their digests (CRC-64, and MD5 / SHA-256 when wanted), computed where
// the bytes are first touched; it never asks which kind of source it has for that.
namespace oss::detail {

using multipart::digest_part;
using multipart::part_digests_wanted;
using multipart::part_length;
using multipart::part_offset;

// One part, or why there is none.
struct part_read {
  const std::byte* data = nullptr;
  std::uint64_t length = 0;
  body_digests digests;
  // A stream ended with this read: the part is its last (or, at length 0, no part at all).
  bool ended = false;
  // Set when the part could not be read; `operation` and `message` go to the diagnostics.
  std::error_code ec;
  std::string operation;
  std::string message;
  // The caller's stream reader threw this (ec is then handler_exception).
  std::exception_ptr thrown;
  // A file part left in the file (data is null): a file_part_reader of `offset` reads it as
  // the request goes out, and its CRC-64 comes from that reading.
  bool streamed = false;
  std::uint64_t offset = 0;
  // A stream's part written to a temporary file as it was read (part_source::set_spool): it is
  // `streamed` from this descriptor, at offset 0, and its digests are those of the bytes read.
  int spool_fd = -1;
};

// The piece of a streamed file part read, hashed and sent at a time. Measured against nginx
// (1 GiB, 1 MiB x 5, plain HTTP): 256 KiB pieces halved the throughput (four times the
// writes, each waiting for its read), 1 MiB matched sending whole parts with less CPU.
inline constexpr std::size_t file_piece = 1024 * 1024;

// Reads a streamed file part piece by piece as the transport sends it
// (transport::exchange_options::read_body), hashing each piece on the way (CRC-64: about
// 0.1 ms per MiB). A piece in the page cache is read right here (RWF_NOWAIT): only one that
// would wait for the disk goes to the blocking work, so a warm file costs no thread hop per
// piece. Reading from offset 0 again (a retry) starts the CRC-64 again.
class file_part_reader {
 public:
  // Bytes [offset, offset + length) of `fd`, part `number`, read through `piece` (file_piece
  // bytes, the worker's own and reused: a buffer allocated per part would be faulted in afresh
  // each time). part_source::reader_for makes one.
  file_part_reader(int fd, int number, std::uint64_t offset, std::uint64_t length, std::byte* piece,
                   blocking_work& work)
      : fd_(fd), number_(number), offset_(offset), length_(length), piece_(piece), work_(work) {}
  // The part's bytes from `at` on, up to file_piece of them, in `piece`.
  OSS_DECL asio::awaitable<std::pair<std::error_code, asio::const_buffer>> read(std::uint64_t at);
  std::uint64_t crc64() const noexcept { return crc_; }
  // Why read() failed (for the diagnostics).
  const std::string& problem() const noexcept { return problem_; }

 private:
  int fd_;
  int number_;
  std::uint64_t offset_;
  std::uint64_t length_;
  std::byte* piece_;
  blocking_work& work_;
  std::uint64_t crc_ = 0;
  std::string problem_;
};

// One part of the source read and hashed again, to check what a checkpoint claims. Trivially
// destructible: it comes back from the file executor through a GCC 12 co_await.
struct rehash_outcome {
  int error = 0;            // errno of a failed pread
  bool short_read = false;  // the file ended early
  std::uint64_t crc64 = 0;
  std::optional<md5_digest> md5;  // when asked for
};

// Slice through which a part is re-read to check it: hashed as it streams through, so a 5 GiB
// part needs no 5 GiB buffer.
inline constexpr std::size_t rehash_slice = 256 * 1024;

// `p` made absolute and normal: how a checkpoint names its file.
OSS_DECL std::string normal_file_path(const std::filesystem::path& p);

class part_source {
 public:
  part_source(upload_source& source, blocking_work& work) : source_(source), work_(work) {}
  ~part_source();
  part_source(const part_source&) = delete;
  part_source& operator=(const part_source&) = delete;

  bool is_file() const { return source_.type() == upload_source::kind::file; }
  bool is_stream() const { return source_.type() == upload_source::kind::stream; }

  // Opens the file and takes its size and modification time (or the buffer's size); an error
  // is typed (file_not_found, file_not_readable, not_a_regular_file) and `problem` says why.
  OSS_DECL std::error_code open(std::string& problem);

  // Known from open() for files and buffers; for a stream once it has ended.
  bool size_known() const { return size_known_; }
  std::uint64_t size() const { return size_; }
  std::int64_t mtime_ns() const { return mtime_ns_; }
  // The file's absolute, normal path; empty for the other kinds.
  const std::string& path() const { return path_; }

  // Whether the file still has the size and modification time open() saw (always for the
  // other kinds): parts read before and after a change would mix two contents.
  OSS_DECL bool unchanged() const;

  // The part size (and, for a stream, the last part once it ended).
  void set_part_size(std::uint64_t part_size) {
    part_size_ = part_size;
    growth_interval_ = multipart::stream_growth_interval(part_size);
  }
  // The size of part `number`: part_size for files and buffers, growing for a stream
  // (multipart::stream_part_size).
  std::uint64_t part_size_of(int number) const {
    return is_stream() ? multipart::stream_part_size(part_size_, growth_interval_, number) : part_size_;
  }
  // Whether file parts may be streamed (file_part_reader): the OSS dialect, whose requests sign
  // no payload hash.
  void set_stream_files(bool stream) { stream_files_ = stream; }
  // A stream's parts larger than `above` bytes (0: none) go to a temporary file in `dir`
  // (upload_options::spool_parts_above), so memory does not grow with the part size.
  void set_spool(std::uint64_t above, std::filesystem::path dir) {
    spool_above_ = above;
    spool_dir_ = std::move(dir);
  }
  bool spooled(int number) const { return is_stream() && spool_above_ > 0 && part_size_of(number) > spool_above_; }
  // How much of a stream first_part() reads ahead: part 1, or as much of it as is kept in memory.
  std::uint64_t read_ahead_bytes() const { return spooled(1) ? spool_above_ : part_size_; }
  int last_part() const { return last_part_; }

  // The bytes of part buffer part `number` holds while in flight, for the transfer budget: a
  // streamed file part its 1 MiB piece, a file part read whole or a stream's part its size, a
  // buffer's part nothing (the caller's memory).
  std::uint64_t buffer_bytes(int number, part_digests_wanted wanted) const {
    if (source_.type() == upload_source::kind::buffer) return 0;
    // The piece read into the file and the one sent from it.
    if (spooled(number)) return 2 * file_piece;
    if (is_file() && stream_files_ && !wanted.md5 && !wanted.sha256) return std::min<std::uint64_t>(file_piece, part_size_);
    return part_size_of(number);
  }

  // Whether part `number` may be read now: a stream is read one part at a time, in order. Once
  // a stream has ended every number is "ready": the parts past its end are dropped by their
  // workers (part_scheduler::admit). Without that, a worker holding a number two or more past
  // the end would wait forever for a read that never comes (a slow reader, such as a pipe, lets
  // several workers queue up behind the stream).
  bool ready(int number) const {
    return !is_stream() || (number == 1 && first_pending_) || (!stream_busy_ && number == next_stream_number_) ||
           (!stream_busy_ && size_known_);
  }

  // Part `number` of the source, digested as `wanted`. A file is read into `lease`'s buffer
  // (part_pool); a stream into a buffer of `worker`'s own (so
  // the part stays there until that worker asks again); a buffer is viewed, not copied. A
  // stream is read until the part is full, the stream ends, or `sched` stops running.
  // A file part that needs no digest before it is sent (no MD5, no SHA-256) is not read here
  // but `streamed` (set_stream_files, `may_stream`).
  OSS_DECL asio::awaitable<part_read> next_part(int number, std::size_t worker, part_lease& lease,
                                               part_digests_wanted wanted, const part_scheduler& sched,
                                               bool may_stream = true);

  // The reader of a `streamed` part `number` (from next_part), through `piece`.
  OSS_DECL file_part_reader reader_for(int number, const part_read& part, std::byte* piece);

  // The MD5 of a spooled part, read back from its file through `slice` (rehash_slice bytes).
  OSS_DECL asio::awaitable<rehash_outcome> rehash_spooled(const part_read& part, std::byte* slice);

  // Frees the buffer `worker` read its last stream part into (under a memory budget, once the
  // part is sent: the budget no longer counts it).
  void release_stream_buffer(std::size_t worker) {
    if (worker < stream_buffers_.size()) {
      stream_buffers_[worker].reset();
      stream_capacity_[worker] = 0;
    }
  }
  // Stream buffers come from mmap, so freed ones leave the resident set (part_buffer).
  void set_mapped_buffers(bool mapped) { mapped_buffers_ = mapped; }

  // The whole source when it fits in one part (part 1 read ahead, for a stream), digested as
  // `wanted`, for a single PutObject. For a stream, `ended` says whether it did fit; if not the
  // part is kept for whichever worker asks for part 1.
  OSS_DECL asio::awaitable<part_read> first_part(part_digests_wanted wanted, const part_scheduler& sched);

  // Re-reads `len` bytes from `offset` (files and buffers) through `slice` (rehash_slice bytes,
  // unused for buffers) and hashes them.
  OSS_DECL asio::awaitable<rehash_outcome> rehash(std::uint64_t offset, std::uint64_t len, bool with_md5,
                                                  std::byte* slice);

 private:
  std::byte* stream_buffer(std::size_t worker, std::uint64_t size);
  asio::awaitable<part_read> read_stream(int number, std::byte* buf, std::uint64_t want, const part_scheduler& sched);
  // Up to `want` bytes of the stream into `buf`: fewer at its end (`eof`) or at a stop; a
  // failure of the reader goes to `out`.
  asio::awaitable<std::uint64_t> fill_from_stream(std::byte* buf, std::uint64_t want, const part_scheduler& sched,
                                                  part_read& out, bool& eof);
  // Part `number` of `got` bytes has been read: the next reader may go on.
  void stream_part_read(int number, std::uint64_t got, bool eof, part_read& out);
  // Part `number` read into `worker`'s temporary file, after `prefix_len` bytes at `prefix`
  // (part 1's read-ahead), digested as `wanted` on the way.
  asio::awaitable<part_read> read_spooled(int number, std::size_t worker, part_digests_wanted wanted,
                                          const part_scheduler& sched, const std::byte* prefix,
                                          std::uint64_t prefix_len);
  // `worker`'s temporary file, opened at its first spooled part; -1 with `ec` and `problem` set
  // when it cannot be made.
  int spool_file(std::size_t worker, std::error_code& ec, std::string& problem);

  upload_source& source_;
  blocking_work& work_;
  int fd_ = -1;
  std::string path_;
  std::uint64_t size_ = 0;
  bool size_known_ = false;
  std::int64_t mtime_ns_ = 0;
  std::uint64_t part_size_ = 0;
  std::uint32_t growth_interval_ = multipart::max_parts;
  bool stream_files_ = false;

  // Streams: one reader at a time, in part order; each worker's part stays in its own buffer.
  std::vector<part_buffer> stream_buffers_;
  std::vector<std::uint64_t> stream_capacity_;  // of each worker's buffer: parts grow
  part_buffer first_;  // part 1 (or its first spool_above_ bytes), read ahead by first_part()
  std::uint64_t first_capacity_ = 0;
  std::uint64_t first_length_ = 0;
  body_digests first_digests_;
  bool first_pending_ = false;
  bool stream_busy_ = false;
  int next_stream_number_ = 1;
  std::uint64_t stream_bytes_ = 0;
  int last_part_ = 0;
  bool mapped_buffers_ = false;
  std::uint64_t spool_above_ = 0;
  std::filesystem::path spool_dir_;
  std::vector<int> spool_fds_;  // each worker's temporary file, opened at its first spooled part
  // Files: the buffer of a whole small file (first_part()).
  std::unique_ptr<std::byte[]> small_;
};

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/engine/impl/part_source.ipp>
#endif

#endif  // OSS_DETAIL_ENGINE_PART_SOURCE_HPP
