// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_UPLOAD_IMPL_PARTS_IPP
#define OSS_DETAIL_UPLOAD_IMPL_PARTS_IPP

#include <oss/detail/upload/upload_run.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::multipart {

// ---- 5. parts --------------------------------------------------------------------------------

inline void upload_run::record(part_record rec) {
  if (writes_) writes_->recorded(rec);
  auto it = std::find_if(cp_.done_parts.begin(), cp_.done_parts.end(),
                         [&](const part_record& p) { return p.number == rec.number; });
  if (it != cp_.done_parts.end())
    *it = std::move(rec);
  else
    cp_.done_parts.push_back(std::move(rec));
}

// A change of cp_ that a journal record cannot express (a new upload, parts dropped): the next
// save rewrites the JSON.
inline void upload_run::changed() {
  if (writes_) writes_->changed();
}

// Makes the checkpoint file hold everything recorded so far: while one write runs, later parts
// wait, and the next write covers all of them (engine/checkpoint_writes.hpp).
inline asio::awaitable<void> upload_run::persist() {
  if (!writes_) co_return;
  const std::uint64_t mine = writes_->version();
  while (!writes_->holds(mine) && !writes_->failed() && running()) {
    if (writes_->writing())
      co_await wait();
    else
      co_await save_now();
  }
}

// One write of the checkpoint: the journal lines of the parts recorded since the last one with
// one fdatasync, or the whole state as JSON (`compact`, or when the journal cannot say it).
inline asio::awaitable<void> upload_run::save_now(bool compact) {
  auto write = writes_->begin(cp_, compact);
  auto job = [&write] {
    std::error_code ec;
    write.perform(ec);
    return ec;
  };
  const std::error_code ec = co_await work_.run(std::move(job));
  writes_->end(write, ec);
  if (ec) {
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
  }
  notify();
}

inline asio::awaitable<void> upload_run::report(progress_stage stage,
                                                const std::optional<part_record>& part,
                                                std::string_view request_id) {
  if (!opts_.progress) co_return;
  const bool done = stage == progress_stage::completed;
  progress_event e{
      done ? 1.0 : (source_.size_known() ? progress_fraction(bytes_done_, source_.size()) : 0.0),
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
    if (running() && caller_cancelled() && is_operation_aborted(thrown)) {
      sched_.cancel();
      stop_all();
    } else if (running()) {
      diagnostics diag;
      diag.operation = "progress";
      diag.part_number = part ? part->number : 0;
      diag.client_message = done ? "the progress handler threw an exception on the completed event; the object " +
                                       name_ + " was created and its bytes confirmed"
                                 : "the progress handler threw an exception; the upload was stopped";
      sched_.handler_threw(thrown, std::move(diag));
      stop_all();
    }
  }
}

// Reports one finished part: one handler call at a time, in the order parts became durable.
inline asio::awaitable<void> upload_run::report_part(const part_record& rec,
                                                     std::string_view request_id) {
  while (progress_busy_ && running()) co_await wait();
  if (!running()) co_return;
  progress_busy_ = true;
  bytes_done_ += rec.size;
  ++parts_done_;
  const std::optional<part_record> part = rec;
  co_await report(progress_stage::part_done, part, request_id);
  progress_busy_ = false;
  notify();
}

// The transport's view of a file_part_reader (named types, not lambdas: see part_source.ipp).
struct read_streamed_part {
  file_part_reader* reader;
  asio::awaitable<std::pair<std::error_code, asio::const_buffer>> operator()(std::uint64_t at) const {
    return reader->read(at);
  }
};
struct streamed_part_crc64 {
  const file_part_reader* reader;
  std::uint64_t operator()() const { return reader->crc64(); }
};

inline asio::awaitable<void> upload_run::send_part(int number, const part_read& part, part_lease& lease,
                                                   std::size_t worker) {
  std::error_code ec;
  diagnostics diag;
  const std::uint64_t len = part.length;
  const int wire_number = number + share_shift_;  // the object's number (a share counts from 1)
  // A streamed file part is read as it goes out, piece by piece, and hashed on the way.
  std::optional<file_part_reader> reader;
  streamed_body streamed;
  if (part.streamed) {
    if (piece_buffers_.size() <= worker) piece_buffers_.resize(worker + 1);
    if (!piece_buffers_[worker]) piece_buffers_[worker] = make_part_buffer(file_piece, lease.budget.memory.held());
    reader.emplace(source_.reader_for(number, part, piece_buffers_[worker].get()));
    streamed.size = len;
    streamed.read = read_streamed_part{&*reader};
    streamed.crc64 = streamed_part_crc64{&*reader};
  }
  const asio::const_buffer body = part.streamed ? asio::const_buffer()
                                                : asio::const_buffer(part.data, static_cast<std::size_t>(len));
  // The client compares the server's CRC with the one computed while reading the part, so
  // bytes that changed since (a buffer source the caller touched) fail with crc64_mismatch.
  oss::part_result r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, wire_number, body, false, part.digests,
                                                                  ec, diag, part.streamed ? &streamed : nullptr);
  if (ec && reader && !reader->problem().empty() &&
      (ec == client_errc::file_changed || ec == client_errc::file_not_readable))
    diag.client_message = reader->problem();
  bool resent = false;
  if (!ec && r.integrity == integrity_check::none && opts_.require_server_crc && running()) {
    // The server accepted the part but proved nothing (no CRC-64 in the reply, and it went
    // without Content-MD5): send it again with Content-MD5, which the server checks. The
    // parts read from now on carry one from the start (worker asks for the MD5).
    md5_every_part_ = true;
    if (part.spool_fd >= 0) {
      // A spooled part is read back from its file for the MD5, and streamed again.
      const part_buffer slice = make_part_buffer(rehash_slice, false);
      std::byte* slice_bytes = slice.get();
      const rehash_outcome again = co_await source_.rehash_spooled(part, slice_bytes);
      if (again.error != 0 || again.short_read || again.crc64 != *part.digests.crc64) {
        diagnostics d;
        d.operation = "spool";
        d.part_number = number;
        d.client_message = "the temporary file holding part " + std::to_string(number) +
                           " of the stream could not be read back intact";
        fail(client_errc::file_changed, std::move(d));
        co_return;
      }
      body_digests with_md5 = part.digests;
      with_md5.md5 = again.md5;
      r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, wire_number, body, false, with_md5, ec, diag,
                                                     &streamed);
    } else if (part.streamed) {
      // The MD5 goes in the head, before the body: this once, the part is read whole first.
      const part_digests_wanted with_md5{true, false};
      const part_read whole = co_await source_.next_part(number, 0, lease, with_md5, sched_, false);
      if (whole.ec) {
        fail_source(whole, number);
        co_return;
      }
      const asio::const_buffer again(whole.data, static_cast<std::size_t>(whole.length));
      r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, wire_number, again, false, whole.digests, ec, diag);
    } else {
      body_digests with_md5 = part.digests;
      with_md5.md5 = co_await md5_of(part.data, len);
      r = co_await access::impl(client_).upload_part(name_, cp_.upload_id, wire_number, body, false, with_md5, ec, diag);
    }
    resent = true;
  }
  // The bytes are sent: the slot and its buffer serve the next part (of any upload) while this
  // one is recorded and reported. Under a memory budget the piece buffer goes with the part's
  // bytes of the budget (a worker waiting for budget must not sit on a buffer it no longer counts).
  const bool budgeted = lease.budget.memory.held();
  lease.reset();
  if (budgeted && worker < piece_buffers_.size()) piece_buffers_[worker].reset();
  if (budgeted) source_.release_stream_buffer(worker);
  if (ec) {
    fail(ec, std::move(diag));  // after a stop, a cancelled or failing part is a consequence
    co_return;
  }
  if (part.spool_fd >= 0 && r.crc64 != *part.digests.crc64) {
    // The server holds what was read back from the temporary file, not what the stream gave.
    diagnostics d;
    d.operation = "spool";
    d.part_number = number;
    d.client_message = "part " + std::to_string(number) + " of the stream changed in its temporary file before it "
                       "was sent (CRC-64 " + std::to_string(r.crc64) + ", read from the stream " +
                       std::to_string(*part.digests.crc64) + ")";
    fail(client_errc::crc64_mismatch, std::move(d));
    co_return;
  }
  if (resent) ++checks_.parts_resent_for_md5;
  count_part_check(r.integrity);
  record(part_record{number, std::move(r.etag), len, r.crc64});
  if (source_.is_stream()) stream_done_.insert(number);
  bytes_uploaded_ += len;
  ++parts_uploaded_;
  const part_record& rec = *std::find_if(cp_.done_parts.begin(), cp_.done_parts.end(),
                                         [&](const part_record& p) { return p.number == number; });
  if (cp_path_) {
    // The committer makes it durable and reports it; this worker goes on with its next part.
    to_commit_.emplace_back(rec, std::string(r.request_id));
    sched_.part_sent();
    if (commit_due()) gather_.cancel();
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
  while (running()) {
    if (to_commit_.empty()) {
      if (workers_running_ == 0) break;
      co_await wait();
      continue;
    }
    if (!commit_due()) {
      gather_.expires_after(commit_gather_time);
      co_await gather_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      if (!running()) break;
    }
    batch.clear();
    batch.swap(to_commit_);
    co_await persist();
    for (std::size_t i = 0; i < batch.size() && running(); ++i) {
      co_await report_part(batch[i].first, batch[i].second);
      sched_.parts_durable(1);
      notify();
    }
  }
}

// Resuming a stream: a part the server holds with this size and CRC-64 is not sent again.
inline asio::awaitable<bool> upload_run::keep_resumed_stream_part(int number, const part_read& part) {
  auto cand = std::find_if(stream_candidates_.begin(), stream_candidates_.end(),
                           [&](const part_record& p) { return p.number == number; });
  if (cand == stream_candidates_.end()) co_return false;
  const resumed_part verdict =
      cand->size != part.length
          ? resumed_part::changed
          : judge_resumed_part(*cand, listed_with_crc_.contains(number), *part.digests.crc64, part.digests.md5);
  const bool keep = verdict == resumed_part::keep_crc64 || verdict == resumed_part::keep_md5 ||
                    (verdict == resumed_part::keep_unconfirmed && !opts_.require_server_crc);
  if (verdict == resumed_part::keep_crc64) ++checks_.parts_crc64;
  if (verdict == resumed_part::keep_md5) ++checks_.parts_content_md5;
  if (verdict == resumed_part::changed) ++checks_.parts_changed;
  if (!keep) co_return false;
  if (verdict == resumed_part::keep_unconfirmed) ++checks_.parts_unconfirmed;
  stream_done_.insert(number);
  const part_record copy = *cand;
  co_await report_part(copy, std::string_view());
  co_return true;
}

// One of `parallel` workers: asks the scheduler for a part, the source for its bytes, and
// sends it, until the scheduler has no more.
inline asio::awaitable<void> upload_run::worker(std::size_t index) {
  co_await asio::this_coro::throw_if_cancelled(false);
  for (;;) {
    // Group commit lets a worker go on while its part is being written: a slow fdatasync (a
    // shared disk: tens of ms) must not stall the sends, but a failed write must still stop
    // the upload soon (part_scheduler::must_wait).
    while (sched_.must_wait() && running()) co_await wait();
    if (!sched_.has_parts()) break;
    part_lease lease;
    if (source_.is_file()) {
      // A slot first, then the read: no part waits in memory for a connection.
      const bool got = co_await slots_->acquire();
      if (got) lease.hold(*slots_, slot_len_);
      if (!got || !sched_.has_parts()) break;
    }
    part_scheduler::step step = sched_.next();
    while (step.kind == part_scheduler::step_kind::wait) {
      co_await wait();
      step = sched_.next();
    }
    if (step.kind != part_scheduler::step_kind::send) break;
    const int number = step.number;
    while (!source_.ready(number) && running()) co_await wait();
    if (!running()) break;
    if (!sched_.admit(number)) {
      if (!running()) stop_all();  // a stream longer than max_parts parts
      break;
    }
    const part_digests_wanted wanted = digests_wanted(client_.options(), opts_.content_md5 || md5_every_part_);
    if (const transfer_budget* budget = client_.options().budget.get()) {
      // The shared budget last: a worker waits for it only with its part in hand.
      const bool granted = co_await lease.budget.take(budget->connections().get(), budget->memory().get(),
                                                      source_.buffer_bytes(number, wanted));
      if (!granted || !running()) break;
    }
    const part_read part = co_await source_.next_part(number, index, lease, wanted, sched_);
    notify();  // a stream is free for its next reader
    if (part.ended) {
      sched_.source_ended(source_.last_part());
      parts_total_ = static_cast<std::uint32_t>(source_.last_part());
    }
    if (!running()) break;
    if (part.ec) {
      fail_source(part, number);
      break;
    }
    if (part.length == 0) break;  // a stream that ended on a part boundary
    if (source_.is_stream()) {
      const bool kept = co_await keep_resumed_stream_part(number, part);
      if (kept) continue;
    }
    co_await send_part(number, part, lease, index);
  }
}

inline asio::awaitable<void> upload_run::run_workers() {
  const std::size_t count = std::min(sched_.parts_left(opts_.parallel), opts_.parallel);
  if (count == 0) co_return;
  if (source_.is_file()) {
    slots_ = access::impl(client_).part_pool_;
    slot_len_ = static_cast<std::size_t>(std::min(part_size_, source_.size()));
    slots_->add_user(slot_len_);
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
      if (commit_due()) gather_.cancel();
      if (e) escape(e);
      notify();
    };
    asio::co_spawn(strand_, worker(i), asio::bind_cancellation_slot(signals_[i].slot(), std::move(on_done)));
  }
  if (cp_path_) {
    ++running_;
    auto on_committer_done = [this](std::exception_ptr e) {
      --running_;
      if (e) escape(e);
      notify();
    };
    asio::co_spawn(strand_, commit_loop(), std::move(on_committer_done));
  }
  // The caller's cancellation reaches this wait; it becomes a stop of every worker.
  while (running_ > 0) {
    co_await wait();
    proceed();
  }
  if (slots_) {
    slots_->remove_user(slot_len_);
    slots_.reset();
  }
}

// Step 5: the parts the checkpoint does not hold, `parallel` at a time.
inline asio::awaitable<void> upload_run::upload_parts() {
  const std::optional<part_record> none;
  if (cp_path_) {
    co_await save_now();
    if (!running()) co_return;
  }
  bytes_done_ = 0;
  parts_done_ = 0;
  std::vector<int> done;
  for (const auto& p : cp_.done_parts) {
    if (source_.is_stream()) continue;  // a stream's parts count once re-read and verified
    bytes_done_ += p.size;
    ++parts_done_;
    done.push_back(p.number);
  }
  co_await report(progress_stage::started, none, std::string_view());
  if (!proceed()) co_return;
  // One allocation for the records, not a doubling vector (about 1.6x their size) at the peak.
  if (source_.size_known()) cp_.done_parts.reserve(parts_total_);
  if (source_.is_stream())
    sched_.plan_open_ended(part_size_, max_parts);
  else
    sched_.plan(parts_total_, done);
  if (cp_path_) {
    sched_.limit_undurable(undurable_parts_max * opts_.parallel);
    commit_batch_ = std::max<std::size_t>(1, undurable_parts_max * opts_.parallel / 2);
  }
  co_await run_workers();
}

}  // namespace oss::detail::multipart

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_UPLOAD_IMPL_PARTS_IPP
