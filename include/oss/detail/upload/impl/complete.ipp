// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_UPLOAD_IMPL_COMPLETE_IPP
#define OSS_DETAIL_UPLOAD_IMPL_COMPLETE_IPP

#include <oss/detail/upload/upload_run.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::multipart {

// ---- 6. complete ---------------------------------------------------------------------------

// The parts that make the object (or the share), sorted by number, when they are exactly
// 1..parts_total_ (else the object would have a hole); empty otherwise. Pointers, not copies:
// Complete is the upload's memory peak (issue 5: about 870 B per part before).
inline std::vector<const part_record*> upload_run::sorted_object_parts() const {
  std::vector<const part_record*> parts;
  parts.reserve(cp_.done_parts.size());
  for (const part_record& p : cp_.done_parts)
    // Only parts this run read from the stream belong to the object.
    if (!source_.is_stream() || stream_done_.contains(p.number)) parts.push_back(&p);
  std::sort(parts.begin(), parts.end(),
            [](const part_record* a, const part_record* b) { return a->number < b->number; });
  bool contiguous = parts.size() == parts_total_;
  for (std::size_t i = 0; contiguous && i < parts.size(); ++i)
    contiguous = parts[i]->number == static_cast<int>(i + 1);
  if (!contiguous) parts.clear();
  return parts;
}

inline asio::awaitable<void> upload_run::complete() {
  if (!source_.unchanged()) {
    fail(client_errc::file_changed,
         "the file was modified during the upload; its parts may mix old and new content");
    co_return;
  }
  // The one list the client's API takes is built straight from the records and moved in; the
  // client writes the XML from it in one string.
  std::vector<const part_record*> parts = sorted_object_parts();
  if (parts.empty()) {
    fail(std::make_error_code(std::errc::state_not_recoverable),
         "internal error: the part list is incomplete before Complete");
    co_return;
  }
  crc64_concat object;
  for (const part_record* p : parts) object.append(p->crc64, p->size);
  const std::uint64_t object_size = object.size;
  const std::uint64_t expected_crc = object.crc;
  const std::size_t part_count = parts.size();

  std::vector<oss::completed_part> listed;
  listed.reserve(part_count);
  for (const part_record* p : parts) listed.push_back(oss::completed_part{p->number, p->etag, p->size, p->crc64});
  std::vector<const part_record*>().swap(parts);
  std::error_code ec;
  diagnostics diag;
  oss::complete_result r =
      co_await access::impl(client_).complete_multipart_upload(name_, cp_.upload_id, std::move(listed), ec, diag);
  if (ec) {
    fail(ec, std::move(diag));
    co_return;
  }
  // The whole object, as the server confirms it (check_object_parts, the rule a lost Complete
  // reply and a resume use too): the Complete reply's CRC-64 (or, in S3, its multipart ETag),
  // else what a HEAD shows. Anything else is not proof.
  const std::vector<oss::completed_part> made_of = completed_parts_of(cp_.done_parts, object_part_filter());
  const client_impl::completed_object confirmed =
      co_await access::impl(client_).confirm_completed(name_, made_of, object_size, r);
  const object_verdict& verdict = confirmed.verdict;
  object_check how = object_check_of(confirmed);
  // A multipart ETag proves the parts only as far as the server confirmed each of them.
  if (how == object_check::multipart_etag && checks_.parts_unconfirmed > 0) how = object_check::none;
  const bool differs = verdict.match == object_match::differs;
  if (differs || (how == object_check::none && opts_.require_server_crc)) {
    diagnostics d;
    d.operation = "CompleteMultipartUpload";
    d.request_id = r.request_id;
    if (differs)
      d.client_message = "the object was created, but " + verdict.reason + ": the stored object is not the source";
    else
      d.client_message = "the object " + name_ + " was created, but the server never confirmed its bytes (" +
                         verdict.reason +
                         "); compare it with the source, or set upload_options::require_server_crc = false "
                         "for a store that computes no CRC-64";
    // The upload id is consumed: the checkpoint can no longer resume anything.
    co_await remove_checkpoint_file();
    fail(differs ? make_error_code(client_errc::crc64_mismatch) : make_error_code(client_errc::unverified),
         std::move(d));
    co_return;
  }
  checks_.object = how;
  co_await remove_checkpoint_file();
  upload_result& res = out_.result;
  res.name = name_;
  res.etag = r.etag;
  res.upload_id = cp_.upload_id;
  res.size = object_size;
  res.crc64 = expected_crc;
  res.parts = static_cast<std::uint32_t>(part_count);
  res.multipart = true;
  res.resumed = resuming_;
  res.bytes_uploaded = bytes_uploaded_;
  res.parts_uploaded = parts_uploaded_;
  res.request_id = r.request_id;
  res.checks = checks_;
  bytes_done_ = object_size;
  parts_done_ = static_cast<std::uint32_t>(part_count);
  const std::optional<part_record> none;
  // Success is decided: neither a cancellation now nor the handler can undo the object (a
  // handler that throws now makes the outcome its exception; the object stays).
  object_created_ = true;
  co_await report(progress_stage::completed, none, res.request_id);
  sched_.succeed();
}


// A share's parts are all durable on the server, each confirmed as checks_ says; the object is
// made by whoever completes the shared upload. The checkpoint has served its purpose.
inline asio::awaitable<void> upload_run::finish_share() {
  if (!source_.unchanged()) {
    fail(client_errc::file_changed, "the file was modified during the upload; its parts may mix old and new content");
    co_return;
  }
  const std::vector<const part_record*> parts = sorted_object_parts();
  if (parts.empty()) {
    fail(std::make_error_code(std::errc::state_not_recoverable),
         "internal error: the share's part list is incomplete at its end");
    co_return;
  }
  crc64_concat share;
  for (const part_record* p : parts) share.append(p->crc64, p->size);
  co_await remove_checkpoint_file();
  upload_result& res = out_.result;
  res.name = name_;
  res.upload_id = cp_.upload_id;
  res.size = share.size;
  res.crc64 = share.crc;
  res.parts = parts_total_;
  res.multipart = true;
  res.resumed = resuming_;
  res.bytes_uploaded = bytes_uploaded_;
  res.parts_uploaded = parts_uploaded_;
  res.checks = checks_;
  res.completed = false;
  bytes_done_ = share.size;
  parts_done_ = parts_total_;
  const std::optional<part_record> none;
  object_created_ = true;  // nothing may abort the upload now: other shares use it
  co_await report(progress_stage::completed, none, std::string_view());
  sched_.succeed();
}

}  // namespace oss::detail::multipart

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_UPLOAD_IMPL_COMPLETE_IPP
