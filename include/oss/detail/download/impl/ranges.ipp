// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DOWNLOAD_IMPL_RANGES_IPP
#define OSS_DETAIL_DOWNLOAD_IMPL_RANGES_IPP

// Step 5 of a download: the ranges, `parallel` at a time, each written to the part file as it
// arrives (the transport's hooks), recorded in the checkpoint and reported.
#include <oss/detail/download/impl/range_file.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::download {

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


// ---- 5. the ranges ---------------------------------------------------------------------------

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
  std::string& staging = staging_[index];
  for (;;) {
    const part_scheduler::step step = sched_.next();
    if (step.kind != part_scheduler::step_kind::send) break;
    // The client's transfer budget: one request in flight and the staging piece it fills.
    budget_hold held;
    if (const transfer_budget* budget = client_.options().budget.get()) {
      const bool granted = co_await held.take(budget->connections().get(), budget->memory().get(), write_piece);
      if (!granted || !running()) break;
    }
    if (staging.capacity() < write_piece + 64 * 1024) staging.reserve(write_piece + 64 * 1024);
    co_await fetch_range(step.number, index);
    // Under a memory budget the staging piece goes with its bytes of the budget: a worker that
    // waits for budget must not sit on memory the budget no longer counts. Without one, the
    // piece is kept: a buffer allocated per range is faulted in afresh each time.
    if (held.memory.held()) std::string().swap(staging);
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
  if (writes_) {
    writes_->recorded(rec);
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

// The same group commit as an upload's (engine/checkpoint_writes.hpp): writes are serialised,
// and the next one covers every range recorded meanwhile.
inline asio::awaitable<void> download_run::persist() {
  const std::uint64_t mine = writes_->version();
  while (!writes_->holds(mine) && !writes_->failed() && running()) {
    if (writes_->writing())
      co_await wait();
    else
      co_await save_now(false);
  }
}

// A change of cp_ that a journal record cannot express (ranges dropped): the next save
// rewrites the JSON.
inline void download_run::changed() {
  if (writes_) writes_->changed();
}

// A range counts once its bytes are durable: the .part file is synced before the journal line
// that records them is written.
inline asio::awaitable<void> download_run::save_now(bool compact) {
  auto write = writes_->begin(cp_, compact);
  const int fd = fd_;
  auto job = [&write, fd] {
    std::error_code ec;
    if (fd >= 0 && ::fdatasync(fd) != 0) return download_impl::errno_code();
    write.perform(ec);
    return ec;
  };
  const std::error_code ec = co_await work_.run(std::move(job));
  writes_->end(write, ec);
  if (ec) fail(ec, "cannot write the checkpoint file " + cp_path_->string() + " (" + ec.message() + ")");
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

}  // namespace oss::detail::download

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_DOWNLOAD_IMPL_RANGES_IPP
