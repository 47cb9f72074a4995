// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_CLIENT_IPP
#define OSS_IMPL_CLIENT_IPP

#include <oss/client.hpp>
#include <oss/detail/ops/impl/request_loop.ipp>  // client_impl and the loop that sends one request

#include <oss/detail/crc64.hpp>
#include <oss/detail/engine/shared_allowance.hpp>
#include <oss/detail/ops/documents.hpp>
#include <oss/detail/ops/object_check.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/retry.hpp>
#include <oss/detail/ops/validate.hpp>

#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/context.hpp>
#include <asio/strand.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <variant>

// GCC 12 at -O2 reports -Wmismatched-new-delete for some coroutines here: it sees Asio's frame
// allocator (thread_info_base::allocate -> aligned_alloc) inlined into the ramp function and
// the matching class operator delete not inlined, and pairs aligned_alloc with operator delete.
// Both sides are Asio's own awaitable_frame_base operators, so the pairing is correct; the
// suppression is limited to this file's coroutines.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss {

OSS_DECL transfer_budget::transfer_budget(limits l) : limits_(l) {
  if (l.upload_bytes_per_second)
    send_ = std::make_shared<detail::transport::token_bucket>(l.upload_bytes_per_second);
  if (l.download_bytes_per_second)
    receive_ = std::make_shared<detail::transport::token_bucket>(l.download_bytes_per_second);
  if (l.memory_bytes) memory_ = std::make_shared<detail::shared_allowance>(l.memory_bytes);
  if (l.connections) connections_ = std::make_shared<detail::shared_allowance>(l.connections);
}

OSS_DECL transfer_budget::~transfer_budget() = default;

}  // namespace oss

namespace oss {

namespace detail {

// HEADs that look for the object of a Complete whose reply was lost, the first included.
inline constexpr int max_complete_looks = 6;

// Sets ec/diag for an input error found before any request.
inline void reject(std::error_code& ec, diagnostics& diag, std::error_code why, std::string_view operation,
                   std::string problem, int part_number = 0) {
  ec = why;
  diag.clear();
  diag.operation = std::string(operation);
  diag.part_number = part_number;
  diag.client_message = std::move(problem);
}

inline std::error_code malformed_reply(diagnostics& diag, std::error_code parse_ec, std::string_view what) {
  diag.client_message = "the " + std::string(what) + " reply could not be read";
  return parse_ec ? parse_ec : make_error_code(client_errc::malformed_xml);
}

// How the server confirmed an accepted PutObject / UploadPart (check_reply already refused a
// CRC-64 that differs).
inline integrity_check integrity_of(const op_request& op, const http::response& reply) {
  bool malformed = false;
  if (reply_crc64(reply, malformed)) return integrity_check::crc64;
  for (const auto& [name, value] : op.headers)
    if (http::iequals(name, "Content-MD5")) return integrity_check::content_md5;
  return integrity_check::none;
}

inline oss::list_parts_result to_public(detail::list_parts_result&& doc) {
  oss::list_parts_result r;
  r.bucket = std::move(doc.bucket);
  r.key = std::move(doc.key);
  r.upload_id = std::move(doc.upload_id);
  r.part_number_marker = doc.part_number_marker;
  r.next_part_number_marker = doc.next_part_number_marker;
  r.max_parts = doc.max_parts;
  r.is_truncated = doc.is_truncated;
  r.parts.reserve(doc.parts.size());
  for (auto& p : doc.parts)
    r.parts.push_back(part_info{p.number, std::move(p.etag), p.size, p.crc64, std::move(p.last_modified)});
  return r;
}

inline asio::awaitable<put_result> client_impl::put_object(std::string_view name,
                                                          asio::const_buffer body,
                                                          const object_options& opts,
                                                          const body_digests& given,
                                                          std::error_code& ec, diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  std::optional<object_options> with_md5;
  if (s3_content_md5() && !opts.content_md5) {
    with_md5.emplace(opts);
    with_md5->content_md5 = true;
  }
  if (auto bad = make_put_object(name, body, with_md5 ? *with_md5 : opts, given, options_.dialect, op, problem)) {
    reject(ec, diag, bad, "PutObject", std::move(problem));
    co_return put_result{};
  }
  add_traffic_limit(op, true);
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return put_result{};
  put_result r;
  r.etag = *reply.headers.find("ETag");  // check_reply guarantees it
  r.crc64 = *op.payload_crc64();
  r.request_id = reply_request_id(reply);
  r.integrity = integrity_of(op, reply);
  co_return r;
}

inline asio::awaitable<part_result> client_impl::upload_part(std::string_view name,
                                                            std::string_view upload_id,
                                                            int part_number, asio::const_buffer body,
                                                            bool content_md5,
                                                            const body_digests& given,
                                                            std::error_code& ec, diagnostics& diag,
                                                            const streamed_body* streamed) {
  ec.clear();
  op_request op;
  std::string problem;
  // A streamed body's CRC-64 is the reader's, known once the body is out; an MD5 or SHA-256
  // computed before (a spooled stream part) still goes in the head.
  body_digests streamed_given = given;
  streamed_given.crc64 = 0;
  if (auto bad = make_upload_part(name, upload_id, part_number, body, content_md5 || s3_content_md5(),
                                  streamed ? streamed_given : given, op, problem)) {
    reject(ec, diag, bad, "UploadPart", std::move(problem), part_number);
    co_return part_result{};
  }
  op.streamed = streamed;
  add_traffic_limit(op, true);
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return part_result{};
  part_result r;
  r.part_number = part_number;
  r.etag = *reply.headers.find("ETag");  // check_reply guarantees it
  r.crc64 = *op.payload_crc64();
  r.request_id = reply_request_id(reply);
  r.integrity = integrity_of(op, reply);
  co_return r;
}

// Right after our own Complete, an ETag that is not a multipart ETag says how the store makes
// ETags (s3rver: the MD5 of the whole object), not that the object is another one: it proves
// nothing either way.
inline object_verdict judge_completed(const oss::object_meta& meta, const std::vector<oss::completed_part>& made_of,
                                      api_dialect dialect) {
  object_verdict v = check_object_parts(meta, made_of, dialect);
  if (v.match == object_match::differs && meta.part_count() == 0) v.match = object_match::unknown;
  return v;
}

inline asio::awaitable<client_impl::completed_object> client_impl::confirm_completed(
    std::string_view name, const std::vector<oss::completed_part>& made_of, std::uint64_t size,
    const oss::complete_result& reply) {
  completed_object out;
  oss::object_meta replied;
  replied.size = size;  // not in the reply; HEAD checks it when the reply cannot decide
  replied.etag = reply.etag;
  replied.crc64 = reply.crc64;
  out.verdict = judge_completed(replied, made_of, options_.dialect);
  if (out.verdict.match == object_match::unknown) {
    std::error_code head_ec;
    diagnostics head_diag;
    const oss::object_meta meta = co_await head(name, head_ec, head_diag);
    if (!head_ec) {
      out.verdict = judge_completed(meta, made_of, options_.dialect);
      out.by_head = true;
    } else {
      out.verdict.reason = "the Complete reply carried no CRC-64, and the HEAD after it failed (" + head_ec.message() + ")";
    }
  }
  co_return out;
}

inline asio::awaitable<object_verdict> client_impl::reconcile_complete(
    std::string_view name, const std::vector<oss::completed_part>& parts, oss::complete_result& out,
    std::error_code& head_ec) {
  head_ec.clear();
  op_request head_op;
  std::string problem;
  if (auto bad = make_head_object(name, head_op, problem)) {
    head_ec = bad;
    co_return object_verdict{object_match::unknown, {}, problem};
  }
  diagnostics head_diag;
  execute_info head_info;
  http::response head_reply = co_await execute(head_op, head_ec, head_diag, head_info);
  object_meta meta;
  if (head_ec == server_errc::no_such_key) {
    head_ec.clear();
    co_return object_verdict{object_match::differs, {}, "no object exists under that name"};
  }
  if (head_ec) {
    const std::string what = head_diag.code.empty() ? head_ec.message() : head_diag.code;
    co_return object_verdict{object_match::unknown, {}, "HEAD of the object failed (" + what + ")"};
  }
  if (to_object_meta(head_reply, meta))
    co_return object_verdict{object_match::unknown, {}, "the HEAD reply has a malformed Content-Length or CRC-64"};
  object_verdict verdict = check_object_parts(meta, parts, options_.dialect);
  if (verdict.match != object_match::matches) co_return verdict;
  out = oss::complete_result{};
  out.bucket = options_.bucket;
  out.key = std::string(name);
  out.etag = meta.etag;
  out.crc64 = meta.crc64;
  out.reconciled = true;
  out.request_id = reply_request_id(head_reply);
  co_return verdict;
}

inline asio::awaitable<std::string> client_impl::get_object(std::string_view name, std::error_code& ec,
                                                           diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_get_object(name, options_.max_get_object_size, op, problem)) {
    reject(ec, diag, bad, "GetObject", std::move(problem));
    co_return std::string{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return std::string{};
  co_return std::move(reply.body);
}

inline asio::awaitable<http::response> client_impl::get_range(std::string_view name, std::uint64_t first,
                                                              std::uint64_t last, std::string_view etag,
                                                              const body_receiver& receiver, std::error_code& ec,
                                                              diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_get_range(name, first, last, etag, options_.dialect, op, problem)) {
    reject(ec, diag, bad, "GetObject", std::move(problem));
    co_return http::response{};
  }
  op.receiver = &receiver;
  add_traffic_limit(op, false);
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  co_return reply;
}

inline asio::awaitable<object_meta> client_impl::head(std::string_view name, std::error_code& ec,
                                                     diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_head_object(name, op, problem)) {
    reject(ec, diag, bad, "HeadObject", std::move(problem));
    co_return object_meta{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return object_meta{};
  object_meta meta;
  if (auto bad = to_object_meta(reply, meta)) {
    ec = bad;
    diag.client_message = "the HeadObject reply has a malformed Content-Length or CRC-64 header";
    co_return object_meta{};
  }
  co_return meta;
}

inline asio::awaitable<std::string> client_impl::initiate_multipart_upload(std::string_view name,
                                                                          const object_options& opts,
                                                                          std::error_code& ec,
                                                                          diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_initiate(name, opts, options_.dialect, op, problem)) {
    reject(ec, diag, bad, "InitiateMultipartUpload", std::move(problem));
    co_return std::string{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return std::string{};
  initiate_result doc;
  std::error_code parse_ec;
  if (!parse_initiate_result(reply.body, doc, parse_ec)) {
    ec = malformed_reply(diag, parse_ec, "InitiateMultipartUpload");
    co_return std::string{};
  }
  if (doc.upload_id.empty()) {
    ec = client_errc::missing_upload_id;
    diag.client_message = "the InitiateMultipartUpload reply holds no UploadId";
    co_return std::string{};
  }
  if (!is_valid_upload_id(doc.upload_id)) {
    // Refused here, before it can reach a request line or a checkpoint. The id itself is not
    // quoted (it may hold CR LF or be 100 KB long).
    ec = client_errc::invalid_upload_id;
    diag.client_message =
        "the InitiateMultipartUpload reply's UploadId (" + std::to_string(doc.upload_id.size()) +
        " bytes) is not 1.." + std::to_string(max_upload_id_bytes) +
        " printable ASCII characters; if the server created an upload, it cannot be resumed or "
        "aborted by that id (ListMultipartUploads shows it; a lifecycle rule can expire it)";
    co_return std::string{};
  }
  co_return std::move(doc.upload_id);
}

inline asio::awaitable<oss::complete_result> client_impl::complete_multipart_upload(
    std::string_view name, std::string_view upload_id, std::vector<oss::completed_part> parts,
    std::error_code& ec, diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_complete(name, upload_id, parts, options_.dialect, op, problem)) {
    reject(ec, diag, bad, "CompleteMultipartUpload", std::move(problem));
    co_return oss::complete_result{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);

  asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  // An earlier attempt may have completed the upload and lost its reply: then the upload id is
  // gone and the object exists with the parts we listed (oss-protocol.md 3.3). The same holds
  // when the last attempt itself lost its reply and no retry was left. HEAD and
  // check_object_parts decide; "unknown" is never taken as success.
  const bool gone_after_ambiguity = ec == server_errc::no_such_upload && info.earlier_attempt_ambiguous;
  if ((gone_after_ambiguity || (ec && info.last_attempt_lost)) &&
      cancel_state.cancelled() == asio::cancellation_type::none) {
    oss::complete_result r;
    std::error_code head_ec;
    object_verdict verdict = co_await reconcile_complete(name, parts, r, head_ec);
    // The earlier attempt's Complete may still be running on the server, its object not yet
    // visible (or an older one still is) when the retry already got NoSuchUpload: look again,
    // with the back-off, while the first attempt could still have been waited for (at most
    // stall_timeout, and max_complete_looks HEADs in all).
    std::chrono::milliseconds looked_for{0};
    for (int look = 1; verdict.match == object_match::differs && !head_ec && look < max_complete_looks &&
                       looked_for < options_.stall_timeout;
         ++look) {
      const double random = options_.clock.random ? options_.clock.random() : jitter_random();
      const auto delay =
          retry_delay(retry_class::server, look, options_.retry_base_delay, options_.retry_max_delay, random);
      bool waited = false;  // (see execute: no co_await of a coroutine once cancelled)
      if (cancel_state.cancelled() == asio::cancellation_type::none) waited = co_await back_off(delay, cancel_state);
      if (!waited) {
        ec = asio::error::operation_aborted;
        co_return oss::complete_result{};
      }
      looked_for += delay;
      verdict = co_await reconcile_complete(name, parts, r, head_ec);
    }
    const std::string listed = "these " + std::to_string(parts.size()) + " parts";
    if (verdict.match == object_match::matches) {
      ec.clear();
      co_return r;
    }
    if (head_ec) {
      // Nothing learned: the original failure stands (a rerun can still ask again).
      append_note(diag, "checking whether an earlier attempt completed the upload failed: " + verdict.reason);
    } else if (verdict.match == object_match::unknown) {
      // The server's NoSuchUpload (or the lost reply) no longer explains the outcome: the
      // object exists, unproven. Its code and message would name the wrong failure.
      ec = client_errc::unverified;
      diag.http_status = 0;
      diag.code.clear();
      diag.message.clear();
      diag.ec.clear();
      diag.client_message = "the Complete reply was lost and an object of " + listed +
                            " exists, but nothing proves it is made of them: " + verdict.reason;
    } else if (gone_after_ambiguity) {
      diag.client_message = "the upload id is gone and the object under that name is not made of " + listed + ": " +
                            verdict.reason;
    } else {
      append_note(diag, "HEAD found no object made of " + listed + ": " + verdict.reason);
    }
  }
  if (ec) co_return oss::complete_result{};

  complete_result doc;
  std::error_code parse_ec;
  if (!parse_complete_result(reply.body, doc, parse_ec)) {
    // A success status with an unreadable body (cut short, or mangled on the way): the upload
    // is complete, only its result document was lost. HEAD recovers what the caller needs.
    std::string why;
    if (cancel_state.cancelled() == asio::cancellation_type::none) {
      oss::complete_result r;
      std::error_code head_ec;
      const object_verdict verdict = co_await reconcile_complete(name, parts, r, head_ec);
      if (verdict.match == object_match::matches) co_return r;
      why = verdict.reason;
    }
    ec = malformed_reply(diag, parse_ec, "CompleteMultipartUpload");
    if (!why.empty()) append_note(diag, "HEAD could not prove the object: " + why);
    co_return oss::complete_result{};
  }
  oss::complete_result r;
  r.location = std::move(doc.location);
  r.bucket = std::move(doc.bucket);
  r.key = std::move(doc.key);
  r.etag = std::move(doc.etag);
  if (r.etag.empty())
    if (const std::string* h = reply.headers.find("ETag")) r.etag = *h;
  bool malformed = false;
  r.crc64 = reply_crc64(reply, malformed);
  if (malformed) {
    ec = client_errc::malformed_response;
    diag.client_message = "the Complete reply's x-oss-hash-crc64ecma is not a decimal number";
    co_return oss::complete_result{};
  }
  r.request_id = reply_request_id(reply);
  co_return r;
}

inline asio::awaitable<void> client_impl::abort_multipart_upload(std::string_view name,
                                                                std::string_view upload_id,
                                                                std::error_code& ec, diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_abort(name, upload_id, op, problem)) {
    reject(ec, diag, bad, "AbortMultipartUpload", std::move(problem));
    co_return;
  }
  execute_info info;
  co_await execute(op, ec, diag, info);
  // Already aborted or completed: the caller's goal, no upload left behind, holds.
  if (ec == server_errc::no_such_upload) ec.clear();
}

inline asio::awaitable<oss::list_parts_result> client_impl::list_parts(std::string_view name,
                                                                      std::string_view upload_id,
                                                                      const list_parts_options& opts,
                                                                      std::error_code& ec,
                                                                      diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_list_parts(name, upload_id, opts, options_.dialect, op, problem)) {
    reject(ec, diag, bad, "ListParts", std::move(problem));
    co_return oss::list_parts_result{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return oss::list_parts_result{};
  list_parts_result doc;
  std::error_code parse_ec;
  if (!parse_list_parts_result(reply.body, doc, parse_ec)) {
    ec = malformed_reply(diag, parse_ec, "ListParts");
    co_return oss::list_parts_result{};
  }
  co_return to_public(std::move(doc));
}

inline asio::awaitable<oss::list_parts_result> client_impl::list_all_parts(std::string_view name,
                                                                          std::string_view upload_id,
                                                                          std::error_code& ec,
                                                                          diagnostics& diag) {
  asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  oss::list_parts_result all;
  list_parts_options page_opts;
  // Markers only grow and never exceed the last part number, so this ends within
  // 10000 / max_parts + 1 pages; a server that repeats a marker is reported, not followed.
  while (true) {
    oss::list_parts_result page = co_await list_parts(name, upload_id, page_opts, ec, diag);
    if (ec) co_return oss::list_parts_result{};
    if (all.upload_id.empty()) {
      all.bucket = page.bucket;
      all.key = page.key;
      all.upload_id = page.upload_id;
      all.max_parts = page.max_parts;
    }
    for (auto& p : page.parts) all.parts.push_back(std::move(p));
    if (!page.is_truncated) break;
    if (page.next_part_number_marker <= page_opts.part_number_marker ||
        page.next_part_number_marker > max_part_number) {
      ec = client_errc::malformed_xml;
      diag.client_message = "ListParts is truncated but its NextPartNumberMarker does not advance";
      co_return oss::list_parts_result{};
    }
    page_opts.part_number_marker = page.next_part_number_marker;
    if (cancel_state.cancelled() != asio::cancellation_type::none) {
      ec = asio::error::operation_aborted;
      diag.client_message.clear();
      co_return oss::list_parts_result{};
    }
  }
  all.next_part_number_marker = all.parts.empty() ? 0 : all.parts.back().part_number;
  co_return all;
}

inline asio::awaitable<oss::list_uploads_result> client_impl::list_multipart_uploads(
    const list_uploads_options& opts, std::error_code& ec, diagnostics& diag) {
  ec.clear();
  op_request op;
  std::string problem;
  if (auto bad = make_list_uploads(opts, op, problem)) {
    reject(ec, diag, bad, "ListMultipartUploads", std::move(problem));
    co_return oss::list_uploads_result{};
  }
  execute_info info;
  http::response reply = co_await execute(op, ec, diag, info);
  if (ec) co_return oss::list_uploads_result{};
  list_uploads_result doc;
  std::error_code parse_ec;
  if (!parse_list_uploads_result(reply.body, doc, parse_ec)) {
    ec = malformed_reply(diag, parse_ec, "ListMultipartUploads");
    co_return oss::list_uploads_result{};
  }
  oss::list_uploads_result r;
  r.bucket = std::move(doc.bucket);
  r.prefix = std::move(doc.prefix);
  r.delimiter = std::move(doc.delimiter);
  r.key_marker = std::move(doc.key_marker);
  r.upload_id_marker = std::move(doc.upload_id_marker);
  r.next_key_marker = std::move(doc.next_key_marker);
  r.next_upload_id_marker = std::move(doc.next_upload_id_marker);
  r.max_uploads = doc.max_uploads;
  r.is_truncated = doc.is_truncated;
  r.common_prefixes = std::move(doc.common_prefixes);
  r.uploads.reserve(doc.uploads.size());
  for (auto& u : doc.uploads)
    r.uploads.push_back(oss::upload_info{std::move(u.key), std::move(u.upload_id), std::move(u.initiated)});
  co_return r;
}

}  // namespace detail

OSS_DECL client::client(asio::any_io_executor ex, client_options options)
    : impl_(std::make_unique<detail::client_impl>(std::move(ex), std::move(options), nullptr)) {}

OSS_DECL client::client(asio::any_io_executor ex, client_options options, asio::ssl::context& tls)
    : impl_(std::make_unique<detail::client_impl>(std::move(ex), std::move(options), &tls)) {}

OSS_DECL client::client(client&&) noexcept = default;

OSS_DECL client& client::operator=(client&&) noexcept = default;

OSS_DECL client::~client() = default;

OSS_DECL client::executor_type client::get_executor() const noexcept { return impl_->ex_; }

OSS_DECL const client_options& client::options() const noexcept { return impl_->options_; }

OSS_DECL const std::string& client::endpoint_url() const noexcept { return impl_->endpoint_.url; }

OSS_DECL const std::string& client::signing_region() const noexcept { return impl_->endpoint_.region; }

OSS_DECL std::chrono::milliseconds client::clock_offset() const noexcept {
  return std::chrono::milliseconds(impl_->clock_offset_ms_.load(std::memory_order_relaxed));
}

OSS_DECL client_counters client::counters() const noexcept {
  client_counters c;
  const auto& i = *impl_;
  c.requests = i.requests_.load(std::memory_order_relaxed);
  c.attempts = i.attempts_.load(std::memory_order_relaxed);
  c.retries = i.retries_.load(std::memory_order_relaxed);
  c.retries_denied = i.retries_denied_.load(std::memory_order_relaxed);
  c.credential_refreshes = i.creds_->refreshes();
  c.credential_retries = i.credential_retries_.load(std::memory_order_relaxed);
  c.throttled_retries = i.throttled_retries_.load(std::memory_order_relaxed);
  c.retry_tokens = i.budget_.available();
  return c;
}

// ---- The operations behind the token forms ----------------------------------------------------

namespace detail {

OSS_DECL void escaped_exception(std::exception_ptr e, std::error_code& ec, diagnostics& diag) {
  diag.exception = e;
  // The exception's text is not copied: it may quote anything.
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    diag.client_message = "memory ran out during the operation";
  } catch (const std::system_error& se) {
    ec = se.code();
    diag.client_message = "an exception escaped the operation";
  } catch (...) {
    ec = client_errc::unexpected_exception;
    diag.client_message = "an unexpected exception escaped the operation";
  }
}

OSS_DECL void throw_failure(std::error_code ec, const diagnostics& diag) {
  if (diag.exception) std::rethrow_exception(diag.exception);
  if (ec) throw_error(ec, diag);
}

OSS_DECL asio::awaitable<op_outcome<put_result>> run_put_object(client_impl& c, std::string name,
                                                                 asio::const_buffer body, object_options opts,
                                                                 body_digests digests) {
  op_outcome<put_result> out;
  out.result = co_await c.put_object(name, body, opts, digests, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<std::string>> run_get_object(client_impl& c, std::string name) {
  op_outcome<std::string> out;
  out.result = co_await c.get_object(name, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<object_meta>> run_head(client_impl& c, std::string name) {
  op_outcome<object_meta> out;
  out.result = co_await c.head(name, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<std::string>> run_initiate_multipart_upload(client_impl& c, std::string name,
                                                                                 object_options opts) {
  op_outcome<std::string> out;
  out.result = co_await c.initiate_multipart_upload(name, opts, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<part_result>> run_upload_part(client_impl& c, std::string name,
                                                                   std::string upload_id, int part_number,
                                                                   asio::const_buffer body, bool content_md5,
                                                                   body_digests digests) {
  op_outcome<part_result> out;
  out.result = co_await c.upload_part(name, upload_id, part_number, body, content_md5, digests, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<oss::complete_result>> run_complete_multipart_upload(
    client_impl& c, std::string name, std::string upload_id, std::vector<oss::completed_part> parts) {
  op_outcome<oss::complete_result> out;
  out.result = co_await c.complete_multipart_upload(name, upload_id, std::move(parts), out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_multipart_upload(client_impl& c, std::string name,
                                                                                 std::string upload_id) {
  op_outcome<std::monostate> out;
  co_await c.abort_multipart_upload(name, upload_id, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<oss::list_parts_result>> run_list_parts(client_impl& c, std::string name,
                                                                             std::string upload_id,
                                                                             list_parts_options opts) {
  op_outcome<oss::list_parts_result> out;
  out.result = co_await c.list_parts(name, upload_id, opts, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<oss::list_parts_result>> run_list_all_parts(client_impl& c, std::string name,
                                                                                 std::string upload_id) {
  op_outcome<oss::list_parts_result> out;
  out.result = co_await c.list_all_parts(name, upload_id, out.ec, out.diag);
  co_return out;
}

OSS_DECL asio::awaitable<op_outcome<oss::list_uploads_result>> run_list_multipart_uploads(
    client_impl& c, list_uploads_options opts) {
  op_outcome<oss::list_uploads_result> out;
  out.result = co_await c.list_multipart_uploads(opts, out.ec, out.diag);
  co_return out;
}

}  // namespace detail

OSS_DECL asio::any_io_executor client::operation_strand() const { return asio::make_strand(impl_->ex_); }

// ---- The plain forms, through the token forms -------------------------------------------------

OSS_DECL asio::awaitable<put_result> client::put_object(std::string name, asio::const_buffer body,
                                                        const object_options& opts,
                                                        body_digests digests) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_put_object(std::move(name), body, opts, digests, diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<put_result> client::put_object(std::string name, asio::const_buffer body,
                                                        const object_options& opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_put_object(std::move(name), body, opts, diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<put_result> client::put_object(std::string name, asio::const_buffer body) {
  const object_options defaults;
  co_return co_await put_object(std::move(name), body, defaults);
}

OSS_DECL asio::awaitable<std::string> client::get_object(std::string name) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_get_object(std::move(name), diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<object_meta> client::head(std::string name) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_head(std::move(name), diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<std::string> client::initiate_multipart_upload(std::string name,
                                                                        const object_options& opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_initiate_multipart_upload(std::move(name), opts, diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<std::string> client::initiate_multipart_upload(std::string name) {
  const object_options defaults;
  co_return co_await initiate_multipart_upload(std::move(name), defaults);
}

OSS_DECL asio::awaitable<part_result> client::upload_part(std::string name, std::string upload_id,
                                                          int part_number, asio::const_buffer body,
                                                          body_digests digests) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_upload_part(std::move(name), std::move(upload_id), part_number, body, digests,
                                            diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<part_result> client::upload_part(std::string name, std::string upload_id,
                                                          int part_number, asio::const_buffer body,
                                                          bool content_md5) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_upload_part(std::move(name), std::move(upload_id), part_number, body,
                                            content_md5, diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<complete_result> client::complete_multipart_upload(
    std::string name, std::string upload_id, std::vector<completed_part> parts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_complete_multipart_upload(std::move(name), std::move(upload_id), std::move(parts),
                                                          diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<void> client::abort_multipart_upload(std::string name,
                                                              std::string upload_id) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec] = co_await async_abort_multipart_upload(std::move(name), std::move(upload_id), diag, token);
  detail::throw_failure(ec, diag);
}

OSS_DECL asio::awaitable<list_parts_result> client::list_parts(std::string name,
                                                               std::string upload_id,
                                                               list_parts_options opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_list_parts(std::move(name), std::move(upload_id), opts, diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<list_parts_result> client::list_parts(std::string name,
                                                               std::string upload_id) {
  const list_parts_options defaults;
  co_return co_await list_parts(std::move(name), std::move(upload_id), defaults);
}

OSS_DECL asio::awaitable<list_parts_result> client::list_all_parts(std::string name,
                                                                   std::string upload_id) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_list_all_parts(std::move(name), std::move(upload_id), diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<list_uploads_result> client::list_multipart_uploads(
    list_uploads_options opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, r] = co_await async_list_multipart_uploads(std::move(opts), diag, token);
  detail::throw_failure(ec, diag);
  co_return std::move(r);
}

OSS_DECL asio::awaitable<list_uploads_result> client::list_multipart_uploads() {
  const list_uploads_options defaults;
  co_return co_await list_multipart_uploads(defaults);
}

}  // namespace oss

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_IMPL_CLIENT_IPP
