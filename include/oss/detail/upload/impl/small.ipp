// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_UPLOAD_IMPL_SMALL_IPP
#define OSS_DETAIL_UPLOAD_IMPL_SMALL_IPP

#include <oss/detail/upload/upload_run.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::multipart {

// ---- 3. small input ------------------------------------------------------------------------

// The whole source when it is one part or less (a stream: when it ends within its first part),
// read and digested; else nothing (a stream keeps its first part for the workers).
inline asio::awaitable<std::optional<part_read>> upload_run::read_if_small() {
  std::optional<part_read> small;
  if (!source_.is_stream() && source_.size() >= part_size_) co_return small;
  const part_digests_wanted wanted = digests_wanted(client_.options(), opts_.content_md5);
  if (const transfer_budget* budget = client_.options().budget.get()) {
    // The whole source is read into memory for its PutObject: the transfer budget counts it.
    const std::uint64_t bytes = source_.is_stream() ? source_.read_ahead_bytes() : source_.size();
    const bool granted = co_await small_budget_.take(budget->connections().get(), budget->memory().get(), bytes);
    if (!granted || !running()) co_return small;
  }
  part_read first = co_await source_.first_part(wanted, sched_);
  if (!running()) co_return small;
  if (first.ec) {
    fail_source(first, 0);
    co_return small;
  }
  if (!source_.is_stream() || first.ended) {
    small = std::move(first);
  } else {
    small_budget_.reset();  // part 1 goes to a worker, which takes budget of its own
  }
  co_return small;
}

inline asio::awaitable<void> upload_run::put_small(const part_read& whole) {
  const std::optional<part_record> none;
  co_await report(progress_stage::started, none, std::string_view());
  if (!running()) co_return;
  const std::span<const std::byte> body(whole.data, static_cast<std::size_t>(whole.length));
  const body_digests* digests = &whole.digests;
  std::error_code ec;
  diagnostics diag;
  const asio::const_buffer payload(body.data(), body.size());
  // The server's CRC is checked against the one computed while reading: bytes that changed
  // since then fail with crc64_mismatch.
  oss::put_result r = co_await access::impl(client_).put_object(name_, payload, object_opts_, *digests, ec, diag);
  if (ec) {
    fail(ec, std::move(diag));
    co_return;
  }
  // The object is its one part: the reply's CRC-64 or the Content-MD5 the server checked
  // confirm it; else a HEAD's CRC-64; else the body goes again with Content-MD5.
  auto confirmed_by = [](integrity_check how) {
    return how == integrity_check::crc64         ? object_check::reply_crc64
           : how == integrity_check::content_md5 ? object_check::content_md5
                                                 : object_check::none;
  };
  object_check how = confirmed_by(r.integrity);
  if (how == object_check::none) {
    std::error_code head_ec;
    diagnostics head_diag;
    const oss::object_meta meta = co_await access::impl(client_).head(name_, head_ec, head_diag);
    if (!head_ec && meta.crc64) {
      if (*meta.crc64 != r.crc64) {
        diagnostics d;
        d.operation = "PutObject";
        d.request_id = r.request_id;
        d.client_message = "the object was created, but its CRC-64 (" + std::to_string(*meta.crc64) +
                           ", from HEAD) differs from ours (" + std::to_string(r.crc64) +
                           "): the stored object is not the source";
        fail(client_errc::crc64_mismatch, std::move(d));
        co_return;
      }
      how = object_check::head_crc64;
    }
  }
  if (how == object_check::none && opts_.require_server_crc) {
    body_digests with_md5 = *digests;
    with_md5.md5 = co_await md5_of(body.data(), body.size());
    r = co_await access::impl(client_).put_object(name_, payload, object_opts_, with_md5, ec, diag);
    if (ec) {
      fail(ec, std::move(diag));
      co_return;
    }
    ++checks_.parts_resent_for_md5;
    how = confirmed_by(r.integrity);
  }
  // The object is the one part: confirmed as the object is.
  count_part_check(how == object_check::content_md5 ? integrity_check::content_md5
                   : how == object_check::none      ? integrity_check::none
                                                    : integrity_check::crc64);
  if (how == object_check::none && opts_.require_server_crc) {
    diagnostics d;
    d.operation = "PutObject";
    d.request_id = r.request_id;
    d.client_message = "the object " + name_ + " was created, but the server never confirmed its bytes (no "
                       "CRC-64 in any reply, and Content-MD5 was not checked)";
    fail(client_errc::unverified, std::move(d));
    co_return;
  }
  checks_.object = how;
  const std::uint64_t crc = r.crc64;
  bytes_done_ = body.size();
  parts_done_ = 1;
  parts_total_ = 1;
  bytes_uploaded_ = body.size();
  parts_uploaded_ = 1;
  upload_result& res = out_.result;
  res.name = name_;
  res.etag = r.etag;
  res.size = body.size();
  res.crc64 = crc;
  res.parts = 1;
  res.multipart = false;
  res.bytes_uploaded = body.size();
  res.parts_uploaded = 1;
  res.request_id = r.request_id;
  res.checks = checks_;
  object_created_ = true;
  co_await report(progress_stage::completed, none, res.request_id);
  sched_.succeed();
}


}  // namespace oss::detail::multipart

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_UPLOAD_IMPL_SMALL_IPP
