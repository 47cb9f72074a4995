// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_CHECKPOINT_JOURNAL_HPP
#define OSS_DETAIL_ENGINE_CHECKPOINT_JOURNAL_HPP

#include <oss/detail/config.hpp>

#include <oss/checkpoint.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

// The checkpoint journal (design.md, "The checkpoint journal"): a checkpoint file is the
// ali-oss-compatible JSON document plus `<path>.journal` beside it, an append-only record per
// finished part. Rewriting and fsyncing the whole JSON per part made a checkpointed upload of
// 100 KiB parts 4x slower than one without; appending one line costs one fdatasync, shared by
// every part that finished meanwhile (group commit). The JSON is rewritten (compaction) when
// the journal has grown as long as the JSON's own part list, and at the end of a run, so an
// exported checkpoint is the plain JSON again.
//
// Journal text: a header line naming the upload, then one line per part:
//
//   oss-checkpoint-journal 1 <upload id>
//   {"number":7,"etag":"\"95714944FBE90D6B77FE6BA931A5A99E\"","size":102400,"crc64":"1105..."} 9f3a0c2e4b1d8e77
//
// The 16 hex digits are the FNV-1a 64 of the JSON before them. Loading replays the records
// onto the JSON's parts while the header names the JSON's upload; the first line that is
// torn (no newline: a crash mid-append) or damaged ends the replay. A journal of another upload
// (left by a crash between writing a new JSON and starting its journal) is ignored.
namespace oss::detail {

// `<checkpoint path>.journal`.
OSS_DECL std::filesystem::path journal_path_of(const std::filesystem::path& checkpoint_path);

// What a journal's header names: the upload id of an upload, the pinned ETag of a download
// (empty: nothing to journal yet).
OSS_DECL std::string journal_id(const checkpoint& cp);

// The header line of a journal of `upload_id`, and the line of one part.
OSS_DECL std::string journal_header(std::string_view upload_id);
OSS_DECL std::string journal_record(const part_record& part);

// Applies the records of journal `text` to `cp` (a later record of a part replaces an earlier
// one) when the header names cp's journal_id and cp is a version-1 checkpoint in the uploading
// state. Returns the number of records applied; a torn or damaged line and all after it are
// ignored.
OSS_DECL std::size_t replay_journal(std::string_view text, checkpoint& cp);

// Reads `<checkpoint_path>.journal` if there is one and replays it onto `cp`. No journal is no
// error; one that cannot be read is (the OS error, `problem` says which file).
OSS_DECL void replay_journal_file(const std::filesystem::path& checkpoint_path, checkpoint& cp,
                                  std::error_code& ec, std::string& problem);

// Removes the checkpoint file and its journal; files already gone are no error.
OSS_DECL void remove_checkpoint_files(const std::filesystem::path& checkpoint_path, std::error_code& ec);

// The writing side, owned by one transfer while it holds the checkpoint's lock. Its calls
// block (write, fsync) and belong on a file executor, one at a time.
class checkpoint_journal {
 public:
  explicit checkpoint_journal(std::filesystem::path checkpoint_path)
      : path_(std::move(checkpoint_path)), journal_(journal_path_of(path_)) {}
  ~checkpoint_journal() { close_journal(); }
  checkpoint_journal(const checkpoint_journal&) = delete;
  checkpoint_journal& operator=(const checkpoint_journal&) = delete;

  // Compaction: `json` (checkpoint_to_json of the whole state) replaces the JSON file
  // atomically and durably, then the journal restarts empty for `upload_id` (none while the
  // checkpoint is an intent without one). A crash in between leaves the new JSON and the old
  // journal, whose records the JSON already holds or whose header names another upload.
  OSS_DECL void compact(std::string_view json, std::string_view upload_id, std::error_code& ec);

  // Appends `records` (journal_record lines, `count` of them) and makes them durable with one
  // fdatasync. Needs a compaction with an upload id first.
  OSS_DECL void append(std::string_view records, std::size_t count, std::error_code& ec);

  // Records appended since the last compaction.
  std::size_t records() const noexcept { return records_; }

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  OSS_DECL void close_journal() noexcept;

  std::filesystem::path path_;
  std::filesystem::path journal_;
  int fd_ = -1;
  std::size_t header_bytes_ = 0;
  std::string upload_id_;
  std::size_t records_ = 0;
};

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/engine/impl/checkpoint_journal.ipp>
#endif

#endif  // OSS_DETAIL_ENGINE_CHECKPOINT_JOURNAL_HPP
