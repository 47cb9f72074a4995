// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CLIENT_HPP
#define OSS_CLIENT_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/credentials.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <asio/any_io_executor.hpp>
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
#include <vector>

namespace asio::ssl {
class context;
}  // namespace asio::ssl

namespace oss {

namespace detail {
class client_impl;
struct access;
}  // namespace detail

/// A connection to one OSS bucket: the single OSS operations, each one HTTP request with
/// signing, retries, integrity checks and typed errors.
///
/// **Forms.** Every operation exists twice. The plain form returns `asio::awaitable<R>` and
/// throws `oss::error` (a `std::system_error` whose `get_diagnostics()` holds the HTTP status,
/// the server's Code, Message, RequestId, HostId and EC, the operation name, the part number and
/// the number of attempts). The form with trailing `(std::error_code& ec, diagnostics& diag)`
/// never throws for request failures: it sets `ec` (cleared on success) and fills `diag`, and
/// returns a default-constructed `R` on failure. Both may still throw `std::bad_alloc`.
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
/// **Executor and threads.** Operations run on the caller's coroutine executor and complete on
/// it; nothing is invoked inline from another thread. One client may serve many concurrent
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
/// **Cancellation.** Every operation honours terminal cancellation of the awaiting coroutine
/// (for example `||` with a timer, or a cancellation slot bound to `co_spawn`): the request in
/// flight is abandoned and its connection closed, a pending back-off wait ends, and the
/// operation completes with `asio::error::operation_aborted`. A cancelled UploadPart or Complete
/// may or may not have taken effect on the server; both are safe to repeat.
///
/// **GCC 12.** The option-less overloads exist instead of `= {}` default arguments: GCC 12
/// miscompiles a braced-init temporary passed inside a `co_await` expression (double
/// destruction). For the same reason, pass options as named variables, not as `{...}`.
///
/// **Lifetimes.** The client must outlive every operation started on it. It cannot be copied;
/// it can be moved while no operation runs on it (the connections, credentials, counters and
/// part buffers move along). A moved-from client may only be destroyed or assigned to. Buffers passed as `body` and every argument passed by reference must stay
/// valid until the operation completes (awaiting it in the same expression guarantees that).
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
  /// PutObject: stores `body` as object `name` in one request.
  ///
  /// Completes with the ETag, the CRC-64 of the body and the reply's request id once the server
  /// confirmed ETag and CRC. Errors: validation codes (see class notes),
  /// `client_errc::crc64_mismatch` when the server's CRC differs (retried first), server codes
  /// such as `access_denied`, `file_already_exists` (`x-oss-forbid-overwrite`), `invalid_digest`
  /// (Content-MD5). `body` and `opts` must stay valid until completion.
  ///
  /// The forms with `digests` take the body's CRC-64 and MD5 from the caller when set (see
  /// `body_digests`), so a caller that hashed the bytes while reading them, off the event loop,
  /// spares the client a second pass on its thread. The other forms compute the CRC-64, and the
  /// MD5 when `opts.content_md5`, on the thread that runs the operation.
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts, std::error_code& ec,
                                                  diagnostics& diag);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts,
                                                  body_digests digests);
  OSS_DECL asio::awaitable<put_result> put_object(std::string name, asio::const_buffer body,
                                                  const object_options& opts,
                                                  body_digests digests, std::error_code& ec,
                                                  diagnostics& diag);
  ///@}

  ///@{
  /// GetObject: the whole object in memory, at most `options().max_get_object_size` bytes
  /// (`client_errc::response_too_large` beyond). When the reply carries a CRC-64 the bytes are
  /// checked against it (`client_errc::crc64_mismatch`). Missing object: `server_errc::no_such_key`.
  OSS_DECL asio::awaitable<std::string> get_object(std::string name);
  OSS_DECL asio::awaitable<std::string> get_object(std::string name, std::error_code& ec,
                                                   diagnostics& diag);
  ///@}

  ///@{
  /// HeadObject: size, ETag, type, CRC-64 and stored metadata of `name`. A missing object gives
  /// `server_errc::no_such_key` (HEAD replies have no body; the code comes from the `x-oss-err`
  /// header when present, else from the 404 status).
  OSS_DECL asio::awaitable<object_meta> head(std::string name);
  OSS_DECL asio::awaitable<object_meta> head(std::string name, std::error_code& ec,
                                             diagnostics& diag);
  ///@}

  ///@{
  /// InitiateMultipartUpload: starts an upload of `name` and completes with its upload id.
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
  OSS_DECL asio::awaitable<std::string> initiate_multipart_upload(std::string name,
                                                                  const object_options& opts);
  OSS_DECL asio::awaitable<std::string> initiate_multipart_upload(std::string name);
  OSS_DECL asio::awaitable<std::string> initiate_multipart_upload(std::string name,
                                                                  const object_options& opts,
                                                                  std::error_code& ec,
                                                                  diagnostics& diag);
  ///@}

  ///@{
  /// UploadPart: uploads `body` as part `part_number` (1..10000) of `upload_id`. Re-uploading a
  /// number replaces that part, so the request is retried freely. Completes with the part's
  /// ETag, CRC-64 and the reply's request id. Errors: `client_errc::missing_etag`,
  /// `crc64_mismatch` (after retries), `server_errc::no_such_upload` (the upload was completed
  /// or aborted), `invalid_digest` (with Content-MD5). `diag.part_number` names the part. `body`
  /// must stay valid until completion.
  ///
  /// `content_md5`: compute the body's MD5 and send it as `Content-MD5`. The forms with
  /// `digests` instead take the CRC-64 and the MD5 from the caller when set (see
  /// `body_digests`; Content-MD5 is sent exactly when `digests.md5` is set): what
  /// `multipart_upload` uses, hashing each part on its file threads while reading it.
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    bool content_md5 = false);
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    bool content_md5, std::error_code& ec,
                                                    diagnostics& diag);
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    body_digests digests);
  OSS_DECL asio::awaitable<part_result> upload_part(std::string name, std::string upload_id,
                                                    int part_number, asio::const_buffer body,
                                                    body_digests digests, std::error_code& ec,
                                                    diagnostics& diag);
  ///@}

  ///@{
  /// CompleteMultipartUpload: joins `parts` (any order; sent sorted by number, duplicates
  /// refused) into the object, and completes with its ETag, CRC-64 and the reply's request id.
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
  OSS_DECL asio::awaitable<complete_result> complete_multipart_upload(
      std::string name, std::string upload_id, std::vector<completed_part> parts);
  OSS_DECL asio::awaitable<complete_result> complete_multipart_upload(
      std::string name, std::string upload_id, std::vector<completed_part> parts,
      std::error_code& ec, diagnostics& diag);
  ///@}

  ///@{
  /// AbortMultipartUpload: discards the upload and its parts. An upload the server no longer
  /// knows (`NoSuchUpload`: already aborted or completed) counts as success.
  OSS_DECL asio::awaitable<void> abort_multipart_upload(std::string name, std::string upload_id);
  OSS_DECL asio::awaitable<void> abort_multipart_upload(std::string name, std::string upload_id,
                                                        std::error_code& ec, diagnostics& diag);
  ///@}

  ///@{
  /// ListParts: one page of the parts uploaded so far, ascending. Continue with
  /// `part_number_marker = result.next_part_number_marker` while `result.is_truncated`.
  OSS_DECL asio::awaitable<list_parts_result> list_parts(std::string name, std::string upload_id,
                                                         list_parts_options opts);
  OSS_DECL asio::awaitable<list_parts_result> list_parts(std::string name, std::string upload_id);
  OSS_DECL asio::awaitable<list_parts_result> list_parts(std::string name, std::string upload_id,
                                                         list_parts_options opts,
                                                         std::error_code& ec, diagnostics& diag);
  ///@}

  ///@{
  /// ListParts over every page: all parts in one result (`is_truncated` false). Stops with
  /// `client_errc::malformed_xml` if the server's marker does not advance.
  OSS_DECL asio::awaitable<list_parts_result> list_all_parts(std::string name,
                                                             std::string upload_id);
  OSS_DECL asio::awaitable<list_parts_result> list_all_parts(std::string name,
                                                             std::string upload_id,
                                                             std::error_code& ec,
                                                             diagnostics& diag);
  ///@}

  ///@{
  /// ListMultipartUploads: one page of the bucket's in-progress uploads (e.g. to find orphans).
  OSS_DECL asio::awaitable<list_uploads_result> list_multipart_uploads(list_uploads_options opts);
  OSS_DECL asio::awaitable<list_uploads_result> list_multipart_uploads();
  OSS_DECL asio::awaitable<list_uploads_result> list_multipart_uploads(list_uploads_options opts,
                                                                      std::error_code& ec,
                                                                      diagnostics& diag);
  ///@}

 private:
  friend struct detail::access;
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
