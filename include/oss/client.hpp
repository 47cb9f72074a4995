// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CLIENT_HPP
#define OSS_CLIENT_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/credentials.hpp>
#include <oss/detail/ops/async_op.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace asio::ssl {
class context;
}  // namespace asio::ssl

namespace oss {

namespace detail {
class client_impl;
struct access;

// The operations behind the token forms (impl/client.ipp): each runs one operation on `c` and
// returns its outcome, never throwing for request failures.
OSS_DECL asio::awaitable<op_outcome<put_result>> run_put_object(client_impl& c, std::string name,
                                                                 asio::const_buffer body, object_options opts,
                                                                 body_digests digests);
OSS_DECL asio::awaitable<op_outcome<std::string>> run_get_object(client_impl& c, std::string name);
OSS_DECL asio::awaitable<op_outcome<object_meta>> run_head(client_impl& c, std::string name);
OSS_DECL asio::awaitable<op_outcome<std::string>> run_initiate_multipart_upload(client_impl& c, std::string name,
                                                                                 object_options opts);
OSS_DECL asio::awaitable<op_outcome<part_result>> run_upload_part(client_impl& c, std::string name,
                                                                   std::string upload_id, int part_number,
                                                                   asio::const_buffer body, bool content_md5,
                                                                   body_digests digests);
OSS_DECL asio::awaitable<op_outcome<complete_result>> run_complete_multipart_upload(
    client_impl& c, std::string name, std::string upload_id, std::vector<completed_part> parts);
OSS_DECL asio::awaitable<op_outcome<std::monostate>> run_abort_multipart_upload(client_impl& c, std::string name,
                                                                                 std::string upload_id);
OSS_DECL asio::awaitable<op_outcome<list_parts_result>> run_list_parts(client_impl& c, std::string name,
                                                                        std::string upload_id,
                                                                        list_parts_options opts);
OSS_DECL asio::awaitable<op_outcome<list_parts_result>> run_list_all_parts(client_impl& c, std::string name,
                                                                            std::string upload_id);
OSS_DECL asio::awaitable<op_outcome<list_uploads_result>> run_list_multipart_uploads(client_impl& c,
                                                                                      list_uploads_options opts);

// The plain forms' end: the exception an operation kept (diag.exception) as it was thrown,
// else oss::error for a failure.
OSS_DECL void throw_failure(std::error_code ec, const diagnostics& diag);
}  // namespace detail

/// A connection to one OSS bucket: the single OSS operations, each one HTTP request with
/// signing, retries, integrity checks and typed errors.
///
/// **Forms.** Every operation is an Asio asynchronous operation, `c.async_head(name, diag,
/// token)`, that completes with `void(std::error_code, R)` (`void(std::error_code)` for Abort)
/// and takes any completion token: `asio::use_awaitable` (throws `std::system_error` on
/// failure), `asio::experimental::as_tuple(asio::use_awaitable)` for the error-code style, a
/// callback, `asio::use_future`. On failure `R` is default-constructed and `diag` holds the HTTP
/// status, the server's Code, Message, RequestId, HostId and EC, the operation name, the part
/// number and the number of attempts (`diag` must stay valid until completion; it is written
/// just before the handler runs). The plain form, `co_await c.head(name)`, goes through the
/// token form and throws `oss::error` (a `std::system_error` whose `get_diagnostics()` holds
/// `diag`). An exception that escapes an operation (a `client_options::clock` or credentials
/// hook that threw, memory exhausted) completes the token form with a code (`std::bad_alloc`:
/// `std::errc::not_enough_memory`, a `std::system_error`: its code, anything else
/// `client_errc::unexpected_exception`) and the exception in `diag.exception`; the plain form
/// rethrows it as it is.
/// \code
///   oss::diagnostics diag;
///   auto [ec, meta] = co_await c.async_head("a.bin", diag, asio::experimental::as_tuple(asio::use_awaitable));
///   c.async_head("a.bin", diag, [&](std::error_code ec, oss::object_meta meta) { ... });
/// \endcode
///
/// **Errors.** Invalid input is reported before any request: `client_errc::invalid_object_name`,
/// `invalid_header_value`, `invalid_metadata`, `metadata_too_large`, `invalid_upload_id` for an
/// upload id that is not 1..1024 printable ASCII characters, `std::errc::invalid_argument`
/// for bad part numbers, an empty upload id or bad part lists. A reply the server rejects gives a
/// `server_errc` (from the XML `Code`), or an `http_status_category()` code when the reply has no
/// error body. Transport failures keep their Asio/OpenSSL codes, except timeouts
/// (`client_errc::connection_timeout`). Error messages never contain a secret, an
/// Authorization header or a string-to-sign.
///
/// **Executor and threads.** One rule for every operation (and `async_multipart_upload`): it
/// runs on a new strand of the client's executor (`get_executor()`), and completes on its
/// handler's associated executor, else on that strand of the client's executor; the handler is
/// never invoked inline from inside the initiating call. A coroutine awaiting with
/// `use_awaitable` therefore resumes on its own executor. One client may serve many concurrent
/// operations, also from several threads of one `io_context`.
///
/// **Retries.** Failed requests are classified (`oss::classify`: transient, throttled, server,
/// fatal) and retried up to `client_options::max_attempts` times with full-jitter exponential
/// back-off, while the client-wide retry budget (`client_options::retry_budget`) can pay for
/// them; otherwise the failure surfaces at once with a note in `diagnostics::client_message`.
/// Throttling replies are retried within `client_options::retry_time` instead, with a doubled
/// back-off base and outside the budget; a `Retry-After` header (capped by
/// `client_options::max_retry_after`) sets the wait of any retry. `counters()` shows what
/// happened.
///
/// **Integrity.** `put_result::integrity` and `part_result::integrity` say how the server
/// confirmed the bytes (`integrity_check`): a CRC-64 equal to ours, a Content-MD5 it checked,
/// or nothing. The client fails on a CRC-64 that differs, never on a missing one: a caller
/// that needs proof checks `integrity` (`multipart_upload` does, see
/// `upload_options::require_server_crc`).
///
/// **Credentials.** Fixed `client_options::creds`, or a `credentials_provider`
/// (`client_options::creds_provider`) that the client asks again before the credentials expire
/// and after the server refused them as expired, one fetch at a time for all operations.
///
/// **Cancellation.** Every operation honours terminal cancellation through its handler's
/// cancellation slot (for example `||` with a timer, or `asio::bind_cancellation_slot`): the
/// request in flight is abandoned and its connection closed, a pending back-off wait ends, and
/// the operation completes with `asio::error::operation_aborted`. The operation installs its
/// own handler on the slot, which only hands the request over to the operation's strand, and
/// clears the slot before the handler runs; emit from the context the handler runs in. A
/// cancelled UploadPart or Complete may or may not have taken effect on the server; both are
/// safe to repeat.
///
/// **GCC 12.** The option-less plain forms exist instead of `= {}` default arguments: GCC 12
/// miscompiles a braced-init temporary passed inside a `co_await` expression (double
/// destruction). For the same reason, pass options and tokens as named variables, not as `{...}`.
///
/// **Lifetimes.** The client must outlive every operation started on it. It cannot be copied;
/// it can be moved while no operation runs on it (the connections, credentials, counters and
/// part buffers move along). A moved-from client may only be destroyed or assigned to. Buffers passed as `body` and every argument passed by reference must stay
/// valid until the operation completes (awaiting it in the same expression guarantees that);
/// names, upload ids, options and part lists are copied into the operation.
class client {
 public:
  /// The type of `get_executor()`.
  using executor_type = asio::any_io_executor;

  /// Checks `options`, resolves the endpoint and creates the connection pool and a TLS context
  /// that trusts the system CA store (plus `options.ca_file`) and verifies peers when
  /// `options.verify_tls`. Throws `oss::error` when the options cannot work
  /// (`client_errc::invalid_endpoint`, `invalid_bucket_name`, `invalid_header_value` for the
  /// user agent, `std::errc::invalid_argument` for non-positive limits or timeouts), and
  /// `std::system_error` when `ca_file` cannot be loaded. No network I/O happens here.
  OSS_DECL client(asio::any_io_executor ex, client_options options);

  /// As above, but uses the caller's TLS context: its trust store and client certificate are
  /// used as they are (`options.ca_file` is ignored; load extra CAs into `tls` yourself), while
  /// `options.verify_tls` still decides whether chain and host name are verified.
  /// `tls` must outlive the client.
  OSS_DECL client(asio::any_io_executor ex, client_options options, asio::ssl::context& tls);

  /// Closes idle connections. Operations must have completed before.
  OSS_DECL ~client();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Takes over `other`'s connections, credentials, counters and part buffers. No operation
  /// may be running on `other`; afterwards it may only be destroyed or assigned to.
  OSS_DECL client(client&& other) noexcept;

  /// Closes this client's idle connections and takes over `other`'s, as the move constructor.
  /// No operation may be running on either client.
  OSS_DECL client& operator=(client&& other) noexcept;

  /// The executor given to the constructor: operations run on the executor they are awaited
  /// on, and the client's own timers and connections use this one.
  OSS_DECL executor_type get_executor() const noexcept;

  /// The options as given to the constructor.
  OSS_DECL const client_options& options() const noexcept;

  /// The resolved endpoint URL, e.g. `https://oss-cn-hangzhou.aliyuncs.com` or, in the S3
  /// dialect with only a region, `https://s3.us-east-1.amazonaws.com` (no bucket).
  OSS_DECL const std::string& endpoint_url() const noexcept;

  /// The V4 (S3: SigV4) signing region in use (`cn-hangzhou`), empty for V1 or anonymous
  /// clients without a known region.
  OSS_DECL const std::string& signing_region() const noexcept;

  /// Server time minus local time, learned from `RequestTimeTooSkewed` replies and used for
  /// every signature since. Zero until the server has complained.
  OSS_DECL std::chrono::milliseconds clock_offset() const noexcept;

  /// Requests, attempts, retries, retries the budget denied, credential refreshes and the
  /// tokens left in the retry budget, since construction. Thread-safe; each value is exact, but
  /// values read while operations run may be from slightly different moments.
  OSS_DECL client_counters counters() const noexcept;

  ///@{
  /// PutObject: stores `body` as object `name` in one request. Completes with
  /// `void(std::error_code, put_result)`.
  ///
  /// The result holds the ETag, the CRC-64 of the body and the reply's request id once the
  /// server confirmed ETag and CRC. Errors: validation codes (see class notes),
  /// `client_errc::crc64_mismatch` when the server's CRC differs (retried first), server codes
  /// such as `access_denied`, `file_already_exists` (`x-oss-forbid-overwrite`), `invalid_digest`
  /// (Content-MD5). The bytes of `body` must stay valid until completion.
  ///
  /// The forms with `digests` take the body's CRC-64 and MD5 from the caller when set (see
  /// `body_digests`), so a caller that hashed the bytes while reading them, off the event loop,
  /// spares the client a second pass on its thread. The other forms compute the CRC-64, and the
  /// MD5 when `opts.content_md5`, on the thread that runs the operation.
  template <typename CompletionToken>
  auto async_put_object(std::string name, asio::const_buffer body, object_options opts,
                        diagnostics& diag, CompletionToken&& token) {
    const body_digests none;
    return initiate<put_result>(detail::run_put_object(*impl_, std::move(name), body, std::move(opts), none),
                                diag, token);
  }
  template <typename CompletionToken>
  auto async_put_object(std::string name, asio::const_buffer body, object_options opts,
                        body_digests digests, diagnostics& diag, CompletionToken&& token) {
    return initiate<put_result>(
        detail::run_put_object(*impl_, std::move(name), body, std::move(opts), std::move(digests)), diag, token);
  }
  /// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts,
                                                  body_digests digests);
  ///@}

  ///@{
  /// GetObject: the whole object in memory, at most `options().max_get_object_size` bytes
  /// (`client_errc::response_too_large` beyond). Completes with
  /// `void(std::error_code, std::string)`. When the reply carries a CRC-64 the bytes are
  /// checked against it (`client_errc::crc64_mismatch`). Missing object: `server_errc::no_such_key`.
  template <typename CompletionToken>
  auto async_get_object(std::string name, diagnostics& diag, CompletionToken&& token) {
    return initiate<std::string>(detail::run_get_object(*impl_, std::move(name)), diag, token);
  }
  /// The plain form: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<std::string> get_object(std::string name);
  ///@}

  ///@{
  /// HeadObject: size, ETag, type, CRC-64 and stored metadata of `name`. Completes with
  /// `void(std::error_code, object_meta)`. A missing object gives `server_errc::no_such_key`
  /// (HEAD replies have no body; the code comes from the `x-oss-err` header when present, else
  /// from the 404 status).
  template <typename CompletionToken>
  auto async_head(std::string name, diagnostics& diag, CompletionToken&& token) {
    return initiate<object_meta>(detail::run_head(*impl_, std::move(name)), diag, token);
  }
  /// The plain form: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<object_meta> head(std::string name);
  ///@}

  ///@{
  /// InitiateMultipartUpload: starts an upload of `name` and completes with
  /// `void(std::error_code, std::string upload_id)`.
  /// `opts` (metadata, MIME type, headers) is stored with the final object; `content_md5` is
  /// ignored here. Because a retried Initiate whose first reply was lost would leak an orphan
  /// upload, it is retried only when the server answered with a retryable error or the request
  /// provably never left: not one byte of it was written (name resolution failed, connection
  /// refused or unreachable, TLS handshake failed, or the connect timeout expired). A stall
  /// timeout or a dropped connection after the request went out is ambiguous and not retried,
  /// although both report the same `client_errc::connection_timeout` or Asio code. Each attempt
  /// opens a new connection (which afterwards joins the pool), so the transport never replays
  /// it on a keep-alive connection that died. Errors: validation codes,
  /// `client_errc::missing_upload_id` when the reply holds no id,
  /// `client_errc::invalid_upload_id` when the id is not 1..1024 printable ASCII characters
  /// (a hostile or broken reply: such an id would break every later request and checkpoint;
  /// the upload the server may have created is left to ListMultipartUploads), server codes.
  template <typename CompletionToken>
  auto async_initiate_multipart_upload(std::string name, object_options opts, diagnostics& diag,
                                       CompletionToken&& token) {
    return initiate<std::string>(detail::run_initiate_multipart_upload(*impl_, std::move(name), std::move(opts)),
                                 diag, token);
  }
  /// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<std::string> initiate_multipart_upload(std::string name,
                                                                  const object_options& opts);
  OSS_DECL asio::awaitable<std::string> initiate_multipart_upload(std::string name);
  ///@}

  ///@{
  /// UploadPart: uploads `body` as part `part_number` (1..10000) of `upload_id`, completing with
  /// `void(std::error_code, part_result)`. Re-uploading a number replaces that part, so the
  /// request is retried freely. The result holds the part's ETag, CRC-64 and the reply's request
  /// id. Errors: `client_errc::missing_etag`, `crc64_mismatch` (after retries),
  /// `server_errc::no_such_upload` (the upload was completed or aborted), `invalid_digest` (with
  /// Content-MD5). `diag.part_number` names the part. The bytes of `body` must stay valid until
  /// completion.
  ///
  /// `content_md5`: compute the body's MD5 and send it as `Content-MD5`. The forms with
  /// `digests` instead take the CRC-64 and the MD5 from the caller when set (see
  /// `body_digests`; Content-MD5 is sent exactly when `digests.md5` is set): what
  /// `multipart_upload` uses, hashing each part on its file threads while reading it.
  template <typename CompletionToken>
  auto async_upload_part(std::string name, std::string upload_id, int part_number,
                         asio::const_buffer body, bool content_md5, diagnostics& diag,
                         CompletionToken&& token) {
    const body_digests none;
    return initiate<part_result>(detail::run_upload_part(*impl_, std::move(name), std::move(upload_id), part_number,
                                                         body, content_md5, none),
                                 diag, token);
  }
  template <typename CompletionToken>
  auto async_upload_part(std::string name, std::string upload_id, int part_number,
                         asio::const_buffer body, body_digests digests, diagnostics& diag,
                         CompletionToken&& token) {
    return initiate<part_result>(detail::run_upload_part(*impl_, std::move(name), std::move(upload_id), part_number,
                                                         body, false, std::move(digests)),
                                 diag, token);
  }
  /// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    bool content_md5 = false);
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    body_digests digests);
  ///@}

  ///@{
  /// CompleteMultipartUpload: joins `parts` (any order; sent sorted by number, duplicates
  /// refused) into the object, and completes with `void(std::error_code, complete_result)`:
  /// its ETag, CRC-64 and the reply's request id.
  /// A `200` reply whose body is an `<Error>` counts as that error. When a retry follows a lost
  /// reply (or a retryable error reply) and the server then answers `NoSuchUpload`, an earlier
  /// attempt may have succeeded; the same holds when the last attempt lost its reply, and for
  /// a success status whose body cannot be read. The client then asks HEAD whether the object
  /// is exactly `parts`: its ETag must name `parts.size()` parts, its size must be the sum of
  /// the parts' `size` (when all are set), and its CRC-64 the combination of their `crc64`; S3
  /// stores keep no CRC-64, so there the object's ETag must be the multipart ETag of the part
  /// ETags (MD5 of their MD5s, `-N`) when those are MD5s. A proven object counts as success
  /// (`complete_result::reconciled`, with the HEAD's request id). When HEAD shows no such
  /// object (or another one), the earlier Complete may still be running on the server, so HEAD
  /// looks again with the back-off, up to 6 times within `stall_timeout`. An object of the
  /// right part count that nothing proves (an OSS reply without CRC-64, parts without `size`
  /// and `crc64`, S3 part ETags that are not MD5s) is `client_errc::unverified`, never
  /// success; pass every part's `size` and `crc64` (as `multipart_upload` does) so that OSS
  /// can prove it. Like Initiate, each attempt opens a new connection, so only this loop
  /// decides about repeating it. Errors: `server_errc::invalid_part`, `invalid_part_order`, `entity_too_small`,
  /// `no_such_upload` (with a note on what HEAD showed), `file_already_exists`,
  /// `callback_failed` (HTTP 203: the object exists), `client_errc::unverified`.
  template <typename CompletionToken>
  auto async_complete_multipart_upload(std::string name, std::string upload_id,
                                       std::vector<completed_part> parts, diagnostics& diag,
                                       CompletionToken&& token) {
    return initiate<complete_result>(
        detail::run_complete_multipart_upload(*impl_, std::move(name), std::move(upload_id), std::move(parts)),
        diag, token);
  }
  /// The plain form: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<complete_result> complete_multipart_upload(
      std::string name, std::string upload_id, std::vector<completed_part> parts);
  ///@}

  ///@{
  /// AbortMultipartUpload: discards the upload and its parts, completing with
  /// `void(std::error_code)`. An upload the server no longer knows (`NoSuchUpload`: already
  /// aborted or completed) counts as success.
  template <typename CompletionToken>
  auto async_abort_multipart_upload(std::string name, std::string upload_id, diagnostics& diag,
                                    CompletionToken&& token) {
    return initiate<std::monostate>(detail::run_abort_multipart_upload(*impl_, std::move(name), std::move(upload_id)),
                                    diag, token);
  }
  /// The plain form: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<void> abort_multipart_upload(std::string name, std::string upload_id);
  ///@}

  ///@{
  /// ListParts: one page of the parts uploaded so far, ascending; completes with
  /// `void(std::error_code, list_parts_result)`. Continue with
  /// `part_number_marker = result.next_part_number_marker` while `result.is_truncated`.
  template <typename CompletionToken>
  auto async_list_parts(std::string name, std::string upload_id, list_parts_options opts,
                        diagnostics& diag, CompletionToken&& token) {
    return initiate<list_parts_result>(detail::run_list_parts(*impl_, std::move(name), std::move(upload_id), opts),
                                       diag, token);
  }
  /// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<list_parts_result> list_parts(std::string name, std::string upload_id,
                                                         list_parts_options opts);
  OSS_DECL asio::awaitable<list_parts_result> list_parts(std::string name, std::string upload_id);
  ///@}

  ///@{
  /// ListParts over every page: all parts in one result (`is_truncated` false), completing with
  /// `void(std::error_code, list_parts_result)`. Stops with `client_errc::malformed_xml` if the
  /// server's marker does not advance.
  template <typename CompletionToken>
  auto async_list_all_parts(std::string name, std::string upload_id, diagnostics& diag,
                            CompletionToken&& token) {
    return initiate<list_parts_result>(detail::run_list_all_parts(*impl_, std::move(name), std::move(upload_id)),
                                       diag, token);
  }
  /// The plain form: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<list_parts_result> list_all_parts(std::string name,
                                                             std::string upload_id);
  ///@}

  ///@{
  /// ListMultipartUploads: one page of the bucket's in-progress uploads (e.g. to find orphans),
  /// completing with `void(std::error_code, list_uploads_result)`.
  template <typename CompletionToken>
  auto async_list_multipart_uploads(list_uploads_options opts, diagnostics& diag,
                                    CompletionToken&& token) {
    return initiate<list_uploads_result>(detail::run_list_multipart_uploads(*impl_, std::move(opts)), diag, token);
  }
  /// The plain forms: as above with `asio::use_awaitable`, throwing `oss::error`.
  OSS_DECL asio::awaitable<list_uploads_result> list_multipart_uploads(list_uploads_options opts);
  OSS_DECL asio::awaitable<list_uploads_result> list_multipart_uploads();
  ///@}

 private:
  friend struct detail::access;

  // A new strand of the client's executor: where each operation runs.
  OSS_DECL asio::any_io_executor operation_strand() const;

  // The one template step of every operation: hands its (not yet started) coroutine to the
  // token (see detail/ops/async_op.hpp).
  template <typename R, typename CompletionToken>
  auto initiate(asio::awaitable<detail::op_outcome<R>> op, diagnostics& diag, CompletionToken& token) {
    return asio::async_initiate<CompletionToken, detail::op_signature_t<R>>(
        detail::spawn_op{operation_strand()}, token, std::move(op), &diag);
  }

  std::unique_ptr<detail::client_impl> impl_;
};

namespace detail {

// The library's way past the public surface: the orchestrator reaches the client's internal,
// non-throwing operations and its part pool through here (impl/client.ipp).
struct access {
  static client_impl& impl(client& c) noexcept { return *c.impl_; }
};

}  // namespace detail

}  // namespace oss

#ifdef OSS_HEADER_ONLY
#include <oss/impl/client.ipp>
#endif

#endif  // OSS_CLIENT_HPP
