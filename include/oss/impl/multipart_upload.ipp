// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_MULTIPART_UPLOAD_IPP
#define OSS_IMPL_MULTIPART_UPLOAD_IPP

#include <oss/multipart_upload.hpp>

#include <oss/detail/upload/upload_run.hpp>
#include <oss/detail/upload/impl/resume.ipp>
#include <oss/detail/upload/impl/small.ipp>
#include <oss/detail/upload/impl/initiate.ipp>
#include <oss/detail/upload/impl/parts.ipp>
#include <oss/detail/upload/impl/complete.ipp>

#include <asio/co_spawn.hpp>
#include <asio/ssl/error.hpp>
#include <asio/strand.hpp>

#include <exception>
#include <new>
#include <string>
#include <system_error>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss {

namespace detail {

namespace multipart {

// The upload, as design.md section 4 tells it. Each step ends early by ending the scheduler
// (fail, cancel); the end then keeps the checkpoint resumable, or aborts on request.
inline asio::awaitable<void> upload_run::run() {
  co_await asio::this_coro::throw_if_cancelled(false);
  outer_cancel_.emplace(co_await asio::this_coro::cancellation_state);
  // 1. Validate the name, options and source before any request.
  if (validate()) {
    // 2. Take the checkpoint: lock it, load it, check it is ours, resume what it holds.
    co_await take_checkpoint();
    // 3. A source of one part or less is a single PutObject.
    std::optional<part_read> small;
    if (proceed() && !resuming_ && !opts_.share) small = co_await read_if_small();
    if (proceed() && completed_object_) {
      co_await finish_completed_before();
    } else if (proceed() && small) {
      co_await put_small(*small);
    } else if (proceed()) {
      // 4. Initiate, the intent recorded first. 5. The parts, `parallel` at a time.
      if (opts_.share && !resuming_)
        join_share();
      else if (!resuming_)
        co_await initiate();
      if (proceed()) co_await upload_parts();
      // 6. Complete and 7. verify the object against the parts' CRC-64 (a share: its parts).
      if (proceed() && opts_.share)
        co_await finish_share();
      else if (proceed())
        co_await complete();
    }
  }
  proceed();
  if (sched_.stopped_short()) co_await end_with_failure();
  set_outcome();
}

// ---- stopping ------------------------------------------------------------------------------

inline bool upload_run::proceed() {
  if (running() && !object_created_ && caller_cancelled() && sched_.cancel()) stop_all();
  return running();
}

// The scheduler has just ended: every running worker's request is cancelled.
inline void upload_run::stop_all() {
  for (std::size_t i = 0; i < worker_running_.size(); ++i)
    if (worker_running_[i]) signals_[i].emit(asio::cancellation_type::terminal);
  gather_.cancel();
  notify();
}

inline void upload_run::escape(std::exception_ptr e) {
  if (sched_.escape(std::move(e))) stop_all();
}

inline void upload_run::fail_source(const part_read& r, int number) {
  diagnostics diag;
  diag.operation = r.operation;
  diag.part_number = number;
  diag.client_message = r.message;
  if (r.thrown) {
    if (sched_.handler_threw(r.thrown, std::move(diag))) stop_all();
    return;
  }
  fail(r.ec, std::move(diag));
}

// The MD5 of a part still in memory, for a Content-MD5 it was first sent without.
inline asio::awaitable<md5_digest> upload_run::md5_of(const std::byte* data, std::uint64_t len) {
  auto job = [data, len] { return *digest_part(data, static_cast<std::size_t>(len), true, false).md5; };
  co_return co_await work_.run_sized(len, std::move(job));
}

inline void upload_run::fail(std::error_code ec, diagnostics diag) {
  if (!running()) return;  // a consequence of the stop, not its cause
  // A request the caller's cancellation aborted is a cancellation, not a failure: it must not
  // trigger abort_on_failure.
  if (ec == asio::error::operation_aborted && caller_cancelled()) {
    sched_.cancel();
  } else {
    if (std::string hint = transport_hint(ec, client_.endpoint_url()); !hint.empty()) {
      if (!diag.client_message.empty()) diag.client_message += "; ";
      diag.client_message += hint;
    }
    sched_.fail(ec, std::move(diag));
  }
  stop_all();
}

inline void upload_run::fail(std::error_code ec, std::string message, int part_number) {
  diagnostics diag;
  diag.operation = "multipart_upload";
  diag.part_number = part_number;
  diag.client_message = std::move(message);
  fail(ec, std::move(diag));
}

// ---- 1. validation -------------------------------------------------------------------------

inline bool upload_run::validate() {
  auto reject = [&](std::error_code ec, std::string message) {
    fail(ec, std::move(message));
    return false;
  };
  if (opts_.parallel < 1) return reject(client_errc::invalid_parallel, "parallel must be at least 1");
  const api_dialect dialect = client_.options().dialect;  // S3 dialect (client helper)
  if (std::string why = part_size_problem(opts_.part_size, dialect); !why.empty())
    return reject(client_errc::invalid_part_size, std::move(why));
  // S3 replies carry no CRC-64, so Content-MD5 is the integrity check there: hashed with the
  // part on the file executor like an explicit content_md5 (client_options::s3_content_md5).
  if (dialect == api_dialect::s3 && client_.options().s3_content_md5) opts_.content_md5 = true;
  std::string problem;
  if (auto ec = check_object_name(name_, problem)) return reject(ec, std::move(problem));
  object_opts_.meta = opts_.meta;
  object_opts_.mime = opts_.mime;
  object_opts_.headers = opts_.headers;
  object_opts_.content_md5 = opts_.content_md5;
  std::vector<std::pair<std::string, std::string>> headers;
  if (auto ec = object_headers(name_, object_opts_, true, dialect, headers, problem))
    return reject(ec, std::move(problem));

  if (auto ec = source_.open(problem)) return reject(ec, std::move(problem));

  part_size_ = opts_.part_size;
  if (opts_.share) {
    // The shares of one object must agree on where each part begins: the part size is used as
    // given, and the share's parts must fit its range.
    const upload_share& share = *opts_.share;
    const auto invalid = make_error_code(client_errc::invalid_share);
    if (share.upload_id.empty()) return reject(invalid, "the share names no upload id");
    if (share.first_part < 1 || share.last_part > max_parts || share.first_part > share.last_part)
      return reject(invalid, "the share's parts " + std::to_string(share.first_part) + ".." +
                                 std::to_string(share.last_part) + " are not a range within 1..10000");
    if (source_.is_stream()) return reject(invalid, "a share's source must be a file or a buffer, not a stream");
    if (opts_.abort_on_failure || opts_.restart_if_vanished)
      return reject(invalid, "a share never aborts or restarts the upload, which other shares use too");
    // An empty part could only be the object's last, and the share that owns it cannot know.
    if (source_.size() == 0) return reject(invalid, "the share's source is empty: a share uploads at least one byte");
    parts_total_ = part_count(source_.size(), part_size_);
    const std::uint64_t room = std::uint64_t(share.last_part) - share.first_part + 1;
    if (parts_total_ > room)
      return reject(invalid, "the source needs " + std::to_string(parts_total_) + " parts of " +
                                 std::to_string(part_size_) + " bytes, and the share's parts " +
                                 std::to_string(share.first_part) + ".." + std::to_string(share.last_part) +
                                 " hold " + std::to_string(room));
    share_shift_ = static_cast<int>(share.first_part) - 1;
  } else if (source_.size_known()) {
    part_size_ = effective_part_size(source_.size(), opts_.part_size);
    if (part_size_ == 0)
      return reject(client_errc::too_many_parts,
                    "the source is larger than 10000 parts of 5 GiB");
    parts_total_ = part_count(source_.size(), part_size_);
  }
  source_.set_part_size(part_size_);
  source_.set_stream_files(client_.options().dialect == api_dialect::oss);
  std::uint64_t spool_above = opts_.spool_parts_above;
  if (const transfer_budget* budget = client_.options().budget.get(); budget && budget->memory()) {
    // At least two parts fit the budget at once, and its buffers leave the resident set.
    const std::uint64_t half = std::max<std::uint64_t>(budget->memory()->capacity() / 2, 1);
    spool_above = spool_above == 0 ? half : std::min(spool_above, half);
    source_.set_mapped_buffers(true);
  }
  source_.set_spool(spool_above, opts_.spool_directory);

  if (const auto* file = opts_.checkpoint.file()) {
    std::filesystem::path dir = file->parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      return reject(std::make_error_code(std::errc::no_such_file_or_directory),
                    "the checkpoint's folder " + dir.string() + " does not exist");
    cp_path_ = *file;
    writes_.emplace(*file);
  }
  return true;
}

// ---- the end ---------------------------------------------------------------------------------

inline asio::awaitable<void> upload_run::end_with_failure() {
  const bool upload_exists = !cp_.upload_id.empty() && !object_created_;
  if (sched_.end() == transfer_end::failed && opts_.abort_on_failure && upload_exists) {
    std::error_code ec;
    diagnostics diag;
    co_await access::impl(client_).abort_multipart_upload(name_, cp_.upload_id, ec, diag);
    if (!ec && cp_path_) {
      std::error_code rm_ec;
      remove_checkpoint_files(*cp_path_, rm_ec);
    }
    co_return;
  }
  // Keep what is done: the parts finished while the others were being stopped are recorded
  // too, so the next call does not send them again.
  // The whole state as JSON: what is left on disk is a plain (ali-oss-readable) checkpoint.
  if (writes_ && upload_exists && !writes_->failed() && writes_->unfolded())
    co_await save_now(true);
}

// The scheduler's end as the caller sees it.
inline void upload_run::set_outcome() {
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
      out_.diag.operation = "multipart_upload";
      out_.diag.client_message = cp_path_ && !cp_.upload_id.empty()
                                     ? "cancelled; the checkpoint is saved, call again to resume"
                                     : "cancelled";
      if (!intent_note_.empty()) out_.diag.client_message += "; " + intent_note_;
      break;
    case transfer_end::failed:
      out_.ec = sched_.error();
      out_.diag = sched_.diag();
      if (!intent_note_.empty()) {
        if (!out_.diag.client_message.empty()) out_.diag.client_message += "; ";
        out_.diag.client_message += intent_note_;
      }
      break;
  }
  out_.result = upload_result{};
}


}  // namespace multipart

OSS_DECL asio::any_io_executor make_upload_strand(client& c) {
  return asio::make_strand(c.get_executor());
}

OSS_DECL asio::awaitable<upload_outcome> run_multipart_upload(client& c, std::string name,
                                                              upload_source source,
                                                              upload_options opts) {
  upload_outcome out;
  {
    const asio::any_io_executor strand = co_await asio::this_coro::executor;
    multipart::upload_run run(c, name, source, opts, out, strand);
    co_await run.run();
  }
  co_return out;
}

OSS_DECL upload_outcome escaped_exception_outcome(std::exception_ptr e) {
  upload_outcome out;
  out.diag.operation = "multipart_upload";
  out.diag.exception = e;
  // The exception's text is not copied: it may quote anything.
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    out.ec = std::make_error_code(std::errc::not_enough_memory);
    out.diag.client_message = "memory ran out during the upload";
  } catch (const std::system_error& se) {
    out.ec = se.code();
    out.diag.client_message = "an exception escaped the upload";
  } catch (...) {
    out.ec = client_errc::unexpected_exception;
    out.diag.client_message = "an unexpected exception escaped the upload";
  }
  return out;
}

}  // namespace detail

// Through the token form, so that both forms share one outcome and one cancellation path.
OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source, upload_options opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, result] = co_await async_multipart_upload(c, std::move(name), std::move(source),
                                                      std::move(opts), diag, token);
  if (diag.exception) std::rethrow_exception(diag.exception);
  if (ec) throw_error(ec, diag);
  co_return std::move(result);
}

OSS_DECL asio::awaitable<upload_result> multipart_upload(client& c, std::string name,
                                                         upload_source source) {
  upload_options defaults;
  co_return co_await multipart_upload(c, std::move(name), std::move(source), std::move(defaults));
}

namespace detail {

// The abort behind async_abort_upload: never throws for failures.
inline asio::awaitable<void> abort_upload_checkpoint(client& c, const checkpoint& cp, std::error_code& ec,
                                                     diagnostics& diag) {
  ec.clear();
  diag.clear();
  if (cp.kind != checkpoint_kind) {
    ec = client_errc::checkpoint_mismatch;
    diag.operation = "abort_upload";
    diag.client_message = "the checkpoint is not an upload's (kind " + cp.kind + "): there is no upload to abort";
    co_return;
  }
  if (cp.dialect != multipart::dialect_name(c.options().dialect) ||
      (cp.version >= 1 && (cp.endpoint != c.endpoint_url() || cp.bucket != c.options().bucket))) {
    ec = client_errc::checkpoint_mismatch;
    diag.operation = "abort_upload";
    diag.client_message = "the checkpoint is for endpoint " + cp.endpoint + " bucket " + cp.bucket +
                          " (" + cp.dialect + " dialect), the client uses " + c.endpoint_url() +
                          " bucket " + c.options().bucket + " (" +
                          std::string(multipart::dialect_name(c.options().dialect)) + ")";
    co_return;
  }
  if (cp.state == checkpoint_state::initiating) {
    // No upload id was ever learnt: abort what the intent stands for.
    co_await multipart::abort_intended_uploads(c, cp.name, cp.initiated_after, ec, diag);
    co_return;
  }
  co_await access::impl(c).abort_multipart_upload(cp.name, cp.upload_id, ec, diag);
}

OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload(client& c, checkpoint cp) {
  op_outcome<std::monostate> out;
  co_await abort_upload_checkpoint(c, cp, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_upload_file(client& c,
                                                                          std::filesystem::path checkpoint_file) {
  op_outcome<std::monostate> out;
  std::error_code& ec = out.ec;
  diagnostics& diag = out.diag;
  // Not while an upload uses the checkpoint: it would write it again.
  multipart::checkpoint_lock lock;
  if (!lock.acquire(checkpoint_file, ec)) {
    diag.operation = "abort_upload";
    diag.client_message = ec == client_errc::checkpoint_locked
                              ? "an upload is using the checkpoint " + checkpoint_file.string() +
                                    "; cancel it first, or wait for it to end"
                              : "cannot create the checkpoint's lock file " +
                                    multipart::lock_path_of(checkpoint_file).string() + " (" + ec.message() + ")";
    co_return out;
  }
  std::string problem;
  const checkpoint cp = load_checkpoint(checkpoint_file, ec, problem);
  if (ec) {
    diag.operation = "load_checkpoint";
    diag.client_message = problem + " (" + checkpoint_file.string() + ")";
    co_return out;
  }
  co_await abort_upload_checkpoint(c, cp, ec, diag);
  if (ec) co_return out;
  std::error_code rm_ec;
  detail::remove_checkpoint_files(checkpoint_file, rm_ec);
  co_return out;
}

// The parts of a shared upload that are not on the server, as "3, 7-9, 12" (at most `shown`
// runs named, then how many more).
inline std::string missing_parts_text(const std::vector<std::uint32_t>& missing, std::size_t shown = 8) {
  std::string text;
  std::size_t runs = 0, i = 0;
  for (; i < missing.size() && runs < shown; ++runs) {
    std::size_t j = i;
    while (j + 1 < missing.size() && missing[j + 1] == missing[j] + 1) ++j;
    if (!text.empty()) text += ", ";
    text += std::to_string(missing[i]);
    if (j > i) text += "-" + std::to_string(missing[j]);
    i = j + 1;
  }
  if (i < missing.size()) text += " and " + std::to_string(missing.size() - i) + " more";
  return text;
}

OSS_DECL asio::awaitable<op_outcome<upload_result>> run_complete_shared_upload(client& c, std::string name,
                                                                              std::string upload_id,
                                                                              std::uint32_t parts,
                                                                              bool require_server_crc) {
  op_outcome<upload_result> out;
  std::error_code& ec = out.ec;
  diagnostics& diag = out.diag;
  diag.operation = "complete_shared_upload";
  std::string problem;
  if (auto bad = check_object_name(name, problem)) {
    ec = bad;
    diag.client_message = problem;
    co_return out;
  }
  if (upload_id.empty() || parts < 1 || parts > multipart::max_parts) {
    ec = client_errc::invalid_share;
    diag.client_message = upload_id.empty() ? "no upload id to complete" : "the object's parts must be 1..10000";
    co_return out;
  }
  oss::list_parts_result listed = co_await access::impl(c).list_all_parts(name, upload_id, ec, diag);
  if (ec) co_return out;
  // Every part 1..parts exactly once; the listing is ascending.
  std::vector<oss::completed_part> made_of;
  std::vector<std::uint32_t> missing;
  made_of.reserve(parts);
  std::size_t at = 0;
  for (std::uint32_t n = 1; n <= parts; ++n) {
    while (at < listed.parts.size() && listed.parts[at].part_number < static_cast<int>(n)) ++at;
    if (at < listed.parts.size() && listed.parts[at].part_number == static_cast<int>(n)) {
      const part_info& p = listed.parts[at];
      made_of.push_back(oss::completed_part{p.part_number, p.etag, p.size, p.crc64});
    } else {
      missing.push_back(n);
    }
  }
  if (!missing.empty()) {
    ec = client_errc::parts_missing;
    diag.client_message = std::to_string(missing.size()) + " of the object's " + std::to_string(parts) +
                          " parts are not on the server yet (" + missing_parts_text(missing) + ") in upload " +
                          upload_id + "; upload them, then complete it again";
    co_return out;
  }
  crc64_concat whole;
  bool every_crc = true;
  for (const oss::completed_part& p : made_of) {
    every_crc = every_crc && p.crc64.has_value();
    whole.append(p.crc64.value_or(0), p.size.value_or(0));
  }
  std::vector<oss::completed_part> sent = made_of;
  oss::complete_result r = co_await access::impl(c).complete_multipart_upload(name, upload_id, std::move(sent), ec, diag);
  if (ec) co_return out;
  // The object as the server confirms it, by the rule an upload's own Complete uses.
  const client_impl::completed_object confirmed =
      co_await access::impl(c).confirm_completed(name, made_of, whole.size, r);
  const object_verdict& verdict = confirmed.verdict;
  const object_check how = multipart::object_check_of(confirmed);
  const bool differs = verdict.match == object_match::differs;
  if (differs || (how == object_check::none && require_server_crc)) {
    ec = differs ? make_error_code(client_errc::crc64_mismatch) : make_error_code(client_errc::unverified);
    diag.operation = "CompleteMultipartUpload";
    diag.request_id = r.request_id;
    diag.client_message = differs ? "the object was created, but " + verdict.reason + ": it is not the listed parts"
                                  : "the object " + name + " was created, but the server never confirmed its bytes (" +
                                        verdict.reason + ")";
    co_return out;
  }
  upload_result& res = out.result;
  res.name = name;
  res.etag = r.etag;
  res.upload_id = upload_id;
  res.size = whole.size;
  res.crc64 = every_crc ? whole.crc : 0;
  res.parts = parts;
  res.request_id = r.request_id;
  res.checks.object = how;
  co_return out;
}

}  // namespace detail

OSS_DECL asio::awaitable<upload_result> complete_shared_upload(client& c, std::string name, std::string upload_id,
                                                               std::uint32_t parts, bool require_server_crc) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, result] = co_await async_complete_shared_upload(c, std::move(name), std::move(upload_id), parts,
                                                            require_server_crc, diag, token);
  detail::throw_failure(ec, diag);
  co_return result;
}

OSS_DECL asio::awaitable<void> abort_upload(client& c, checkpoint cp) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await async_abort_upload(c, std::move(cp), diag, token);
  detail::throw_failure(ec, diag);
}

OSS_DECL asio::awaitable<void> abort_upload(client& c, std::filesystem::path checkpoint_file) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await async_abort_upload(c, std::move(checkpoint_file), diag, token);
  detail::throw_failure(ec, diag);
}

}  // namespace oss

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_IMPL_MULTIPART_UPLOAD_IPP
