// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_UPLOAD_IMPL_RESUME_IPP
#define OSS_DETAIL_UPLOAD_IMPL_RESUME_IPP

#include <oss/detail/upload/upload_run.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::multipart {

// ---- 2. checkpoint -------------------------------------------------------------------------

// Lock, load and check the checkpoint; an intent is resolved, and an upload is resumed: only
// the parts the server still holds and the source still has count. Sets resuming_.
inline asio::awaitable<void> upload_run::take_checkpoint() {
  bool ok = true;
  if (cp_path_) ok = co_await lock_checkpoint();
  if (ok) ok = co_await load_checkpoint_option();
  if (ok && resuming_ && cp_.state == checkpoint_state::initiating) ok = co_await resolve_intent();
  if (ok && resuming_ && proceed()) co_await resume();
}

inline asio::awaitable<void> upload_run::resume() {
  const bool listed = co_await reconcile();
  if (listed && running() && !completed_object_ && resuming_) co_await verify_resumed_parts();
}

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
  const std::error_code ec = co_await work_.run(std::move(job));
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
    if (l.ec == std::errc::no_such_file_or_directory) co_return true;  // a new upload
    if (l.ec) {
      diagnostics diag;
      diag.operation = "load_checkpoint";
      diag.client_message = l.problem + " (" + cp_path_->string() + ")";
      fail(l.ec, std::move(diag));
      co_return false;
    }
    cp_ = std::move(l.cp);
    resuming_ = true;
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
  if (source_.is_file()) {
    if (cp.file.empty() || normal_file_path(cp.file) != source_.path())
      return mismatch(m, "it is for file " + (cp.file.empty() ? "(none)" : cp.file) + ", not " + source_.path());
  } else if (!cp.file.empty()) {
    return mismatch(m, "it is for file " + cp.file + ", not an in-memory or stream source");
  }
  if (cp.part_size != part_size_)
    return mismatch(m, "it uses part size " + std::to_string(cp.part_size) + ", this call " +
                           std::to_string(part_size_) + " (pass .part_size = " +
                           std::to_string(cp.part_size) + ")");
  const auto changed = make_error_code(client_errc::file_changed);
  if (source_.size_known() && cp.file_size != source_.size())
    return mismatch(changed, "the source had " + std::to_string(cp.file_size) + " bytes, now " +
                                 std::to_string(source_.size()));
  if (source_.is_stream() && cp.file_size != 0)
    return mismatch(m, "it is for a source of known size, not a stream");
  if (source_.is_file() && cp.version >= 1 && cp.file_mtime_ns != source_.mtime_ns())
    return mismatch(changed, "the file was modified since the upload began");
  if (cp.upload_id.empty()) return mismatch(m, "it names no upload id");
  const std::uint32_t first = opts_.share ? opts_.share->first_part : 0;
  if (cp.share_first_part != first)
    return mismatch(m, cp.share_first_part ? "it is for the share from part " + std::to_string(cp.share_first_part) +
                                                 (first ? ", not " + std::to_string(first) : ", not a whole upload")
                                           : "it is for a whole upload, not a share");
  if (opts_.share && cp.upload_id != opts_.share->upload_id)
    return mismatch(m, "it is for upload " + cp.upload_id + ", not " + opts_.share->upload_id);
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
  resuming_ = false;  // a new upload, recorded over the intent
  co_return true;
}

inline asio::awaitable<bool> upload_run::reconcile() {
  std::error_code ec;
  diagnostics diag;
  oss::list_parts_result listed = co_await access::impl(client_).list_all_parts(name_, cp_.upload_id, ec, diag);
  if (ec == server_errc::no_such_upload && opts_.share) {
    // Another party completed or aborted the upload: a share cannot tell which, nor restart it.
    diag.client_message = "the server no longer knows upload " + cp_.upload_id +
                          " (completed or aborted by another party); delete the share's checkpoint";
    fail(client_errc::upload_vanished, std::move(diag));
    co_return false;
  }
  if (ec == server_errc::no_such_upload) {
    if (co_await completed_before()) co_return true;
    if (opts_.restart_if_vanished) {
      resuming_ = false;  // the old upload is gone: start over and replace the record
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
  if (opts_.share) {
    // The share's own parts, renumbered within it; the other shares' are not ours to judge.
    std::vector<part_info> mine;
    for (part_info& p : listed.parts) {
      const int local = p.part_number - share_shift_;
      if (local < 1 || local > static_cast<int>(parts_total_)) continue;
      p.part_number = local;
      mine.push_back(std::move(p));
    }
    listed.parts = std::move(mine);
  }
  const std::uint64_t size = source_.size();
  const std::uint64_t part = part_size_;
  const bool known = source_.size_known();
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
  cp_.file = source_.path();
  cp_.file_mtime_ns = source_.mtime_ns();
  cp_.file_size = known ? size : 0;
  cp_.done_parts = std::move(confirmed);
  if (source_.is_stream()) stream_candidates_ = cp_.done_parts;
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
      if (e) escape(e);
      notify();
    };
    asio::co_spawn(strand_, rehash_lane(parts, next), std::move(on_done));
  }
  while (running > 0) {
    co_await wait();
    proceed();
  }
}

inline asio::awaitable<void> upload_run::rehash_lane(std::vector<claimed_part>& parts, std::size_t& next) {
  std::unique_ptr<std::byte[]> slice;
  if (source_.is_file()) slice = std::make_unique_for_overwrite<std::byte[]>(rehash_slice);
  while (running() && next < parts.size()) {
    claimed_part& part = parts[next++];
    const std::uint64_t offset = part_offset(part_size_, part.rec.number);
    part.got = co_await source_.rehash(offset, part.rec.size, part.want_md5, slice.get());
  }
}

// A resume trusts no part on the checkpoint's word: each part it claims (and the server still
// holds, see reconcile) is read from the source and hashed again, and kept only when its bytes
// are the recorded ones and the server confirms them (the CRC-64 ListParts gave, else an ETag
// that is the part's MD5). The others are sent again. Streams do the same as they re-read the
// stream (see worker).
inline asio::awaitable<bool> upload_run::verify_resumed_parts() {
  if (source_.is_stream() || cp_.done_parts.empty()) co_return true;
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
  if (!running()) co_return false;
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
  if (cp_.version < 1 || !source_.size_known() || source_.is_stream() || cp_.done_parts.size() != parts_total_)
    co_return false;
  std::vector<part_record> parts = cp_.done_parts;
  sort_parts(parts);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].number != static_cast<int>(i + 1)) co_return false;
    total += parts[i].size;
  }
  if (total != source_.size()) co_return false;
  std::vector<claimed_part> claimed;
  claimed.reserve(parts.size());
  for (const part_record& rec : parts) {
    claimed_part p;
    p.rec = rec;
    claimed.push_back(std::move(p));
  }
  co_await rehash_parts(claimed);
  if (!running()) co_return false;
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
  res.size = source_.size();
  res.crc64 = combine_part_crcs(parts);
  res.parts = parts_total_;
  res.resumed = true;
  res.checks.object = completed_evidence_ == object_evidence::crc64 ? object_check::head_crc64
                                                                    : object_check::multipart_etag;
  // The HEAD that proved the object is this call's last word with the server.
  for (const auto& [header, value] : completed_object_->headers)
    if (http::iequals(header, "x-oss-request-id") || http::iequals(header, "x-amz-request-id"))
      res.request_id = sanitize_text(value, max_id_bytes);
  bytes_done_ = source_.size();
  parts_done_ = parts_total_;
  object_created_ = true;
  const std::optional<part_record> none;
  co_await report(progress_stage::completed, none, res.request_id);
  sched_.succeed();
}


}  // namespace oss::detail::multipart

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_UPLOAD_IMPL_RESUME_IPP
