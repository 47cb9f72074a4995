// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_CHECKPOINT_WRITES_HPP
#define OSS_DETAIL_ENGINE_CHECKPOINT_WRITES_HPP

#include <oss/checkpoint.hpp>
#include <oss/detail/engine/checkpoint_journal.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace oss::detail {

// The group commit of a transfer's checkpoint file, for the upload and the download alike. It
// decides what to write and keeps count; the transfer runs each write on its blocking work, one
// at a time, and says how it ended.
//
// Every change of the checkpoint in memory has a version. A write covers every change made
// before it began, so the parts that finish during one fdatasync share the next, and an older
// state never overwrites a newer one. A write appends the journal lines of the parts recorded
// since the last write, or rewrites the whole JSON (compaction): when a journal line cannot say
// what changed (`changed()`: a new upload, parts dropped), when the transfer asks (at its end,
// so that what stays on disk is plain JSON), and when the journal has grown as long as the
// JSON's part list (256 lines at least), which keeps the bytes written linear in the parts.
class checkpoint_writes {
 public:
  explicit checkpoint_writes(std::filesystem::path checkpoint_path) : journal_(std::move(checkpoint_path)) {}

  // A finished part, already in the checkpoint's part list.
  void recorded(const part_record& part) {
    unjournaled_ += journal_record(part);
    ++unjournaled_count_;
    ++version_;
  }

  // A change that a journal line cannot express: the next write rewrites the JSON.
  void changed() noexcept {
    must_compact_ = true;
    ++version_;
  }

  // The version of the latest change.
  std::uint64_t version() const noexcept { return version_; }
  // Whether the file holds every change up to `version`.
  bool holds(std::uint64_t version) const noexcept { return saved_ >= version; }
  // Whether a final compaction has anything to do: changes not written, or journal lines to fold.
  bool unfolded() const noexcept { return saved_ < version_ || journal_.records() > 0; }
  bool writing() const noexcept { return writing_; }
  // A write failed: the file holds an earlier state, and no later write is tried.
  bool failed() const noexcept { return failed_; }

  // One write, made by begin() and carried out on the blocking work by perform().
  class write {
   public:
    void perform(std::error_code& ec) const {
      if (rewrite_)
        journal_->compact(text_, journal_id_, ec);
      else
        journal_->append(text_, records_, ec);
    }

   private:
    friend class checkpoint_writes;
    checkpoint_journal* journal_ = nullptr;
    std::string text_;  // the JSON, or the journal lines
    std::size_t records_ = 0;
    bool rewrite_ = false;
    std::string journal_id_;  // of the checkpoint when the write began (the state may move on)
    std::uint64_t version_ = 0;
  };

  // The next write of `cp`, the state every version so far describes; `compact`: rewrite the
  // JSON whatever the journal holds. end() must follow before the next begin().
  write begin(const checkpoint& cp, bool compact) {
    writing_ = true;
    write w;
    w.journal_ = &journal_;
    w.records_ = unjournaled_count_;
    w.rewrite_ = compact || must_compact_ ||
                 journal_.records() + unjournaled_count_ > std::max<std::size_t>(256, compacted_parts_);
    w.journal_id_ = journal_id(cp);
    w.version_ = version_;
    if (w.rewrite_) {
      w.text_ = checkpoint_to_json(cp);
      must_compact_ = false;
      compacted_parts_ = cp.done_parts.size();
    } else {
      w.text_.swap(unjournaled_);
    }
    unjournaled_.clear();
    unjournaled_count_ = 0;
    return w;
  }

  void end(const write& w, std::error_code ec) noexcept {
    writing_ = false;
    if (ec)
      failed_ = true;
    else
      saved_ = std::max(saved_, w.version_);
  }

 private:
  checkpoint_journal journal_;
  std::uint64_t version_ = 0;
  std::uint64_t saved_ = 0;  // the version the file holds
  bool writing_ = false;
  bool failed_ = false;
  bool must_compact_ = true;  // nothing written yet: the first write is the JSON
  std::string unjournaled_;   // journal lines of the parts recorded since the last write
  std::size_t unjournaled_count_ = 0;
  std::size_t compacted_parts_ = 0;  // parts the JSON held at the last compaction
};

}  // namespace oss::detail

#endif  // OSS_DETAIL_ENGINE_CHECKPOINT_WRITES_HPP
