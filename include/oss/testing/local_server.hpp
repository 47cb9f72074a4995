// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_LOCAL_SERVER_HPP
#define OSS_TESTING_LOCAL_SERVER_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

/// \file
/// An OSS-compatible HTTP server for tests: `oss::testing::local_server`.
///
/// It speaks the real wire protocol (oss-protocol.md sections 3-5): PutObject, GetObject,
/// HeadObject, DeleteObject and the whole multipart family (InitiateMultipartUpload,
/// UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads),
/// with OSS ETags, `x-oss-hash-crc64ecma`, OSS error bodies and error codes, V1 and V4
/// signature verification, path-style and virtual-hosted addressing, keep-alive, chunked bodies,
/// `Expect: 100-continue` and optional TLS. Objects and unfinished uploads are stored under a
/// directory, so they survive a restart of the server.
///
/// Use it to test code that talks to OSS without a network or an account:
/// \code
///   oss::testing::local_server_thread server({.root = "/tmp/oss-store"});
///   // point your client at server.endpoint() ("http://127.0.0.1:PORT") with path-style
///   // addressing, or at any host name whose first label is the bucket
/// \endcode
///
/// GetObject serves `Range` as OSS does: a single valid range is 206 with `Content-Range` (and
/// the whole object's `x-oss-hash-crc64ecma`); a range that is malformed or reaches past the
/// object is ignored (200, the whole object), unless the request says
/// `x-oss-range-behavior: standard`, which clips an end past the object and answers 416
/// `InvalidRange` for a start past it. GetObject and HeadObject honour `If-Match`,
/// `If-None-Match`, `If-Modified-Since` and `If-Unmodified-Since` (412 `PreconditionFailed`,
/// 304 Not Modified). `PUT /bucket/` (PutBucket) succeeds so that tools which create their
/// bucket first work unchanged.
///
/// With `local_server_options::dialect = oss::api_dialect::s3` the same operations are served
/// the S3 way instead (AWS Signature V4, `x-amz-*` headers, S3 XML and errors, S3 ETags and
/// part limits; see `local_server_options::dialect`), so that S3 clients can be tested too.
///
/// It is a test tool, not a storage service: it listens on loopback by default, keeps one
/// directory per bucket, and implements only the calls listed above. Others get 501
/// `NotImplemented` (405 `MethodNotAllowed` for methods OSS does not use); copies, callbacks,
/// ACLs, versioning and ListObjects are not there.
namespace oss::testing {

/// How a `local_server` is set up. An aggregate: designated initialisers read well.
struct local_server_options {
  /// Directory holding every bucket (`root/<bucket>/objects`, `root/<bucket>/uploads`). Created
  /// when missing. Required: the constructor throws `std::invalid_argument` when it is empty.
  /// Point two servers at the same root only one after the other, never at the same time.
  std::string root{};

  /// Address to listen on. Keep the loopback default in tests. It is also the host that
  /// `endpoint()` names and one of the host names that select path-style addressing.
  std::string host = "127.0.0.1";

  /// TCP port; 0 picks a free one (read it back with `local_server::port()`).
  std::uint16_t port = 0;

  /// Region id used to check V4 signatures (the `Credential` scope must name it). ali-oss's
  /// `region: "oss-cn-local"` signs with `cn-local`, this default.
  std::string region = "cn-local";

  /// AccessKey pair requests must be signed with (V1 or V4). When both are empty the server
  /// accepts anonymous requests and ignores any `Authorization` header.
  std::string access_key_id{};
  /// The secret of `access_key_id`. Never printed or logged by the server.
  std::string access_key_secret{};

  /// When set, every request must carry this value in `x-oss-security-token` (as STS
  /// credentials do), else 403 `InvalidSecurityToken`. Only checked when credentials are set.
  std::string security_token{};

  /// Buckets that exist. Empty: any valid bucket name is accepted and created on first use.
  /// Otherwise requests for other buckets get 404 `NoSuchBucket`.
  std::vector<std::string> buckets{};

  /// Benchmark sink: keep only sizes, ETags and CRC-64s, never the bytes. Uploads behave as
  /// usual (HEAD, ListParts and Complete work, ETags and CRCs are exact); GetObject of an object
  /// stored this way answers 501 `NotImplemented`.
  bool discard = false;

  /// PEM certificate chain and private key: when both are set the server speaks HTTPS only
  /// (TLS 1.2 or later) and `endpoint()` starts with `https://`.
  std::string tls_cert_file{};
  /// The private key of `tls_cert_file` (PEM, unencrypted).
  std::string tls_key_file{};

  /// A signed request whose `Date` (or `x-oss-date`) is further than this from the server's
  /// clock gets 403 `RequestTimeTooSkewed` with `<ServerTime>`. OSS allows 15 minutes.
  std::chrono::seconds max_clock_skew{900};

  /// The API the server speaks. `api_dialect::s3` turns it into an S3-compatible server for the
  /// same operations: AWS Signature V4 (`AWS4-HMAC-SHA256`, scope region `region`, service
  /// `s3`; `x-amz-date` instead of `Date`, `x-amz-security-token` instead of
  /// `x-oss-security-token`, `x-amz-content-sha256` checked against the body when it is a hex
  /// digest), `x-amz-meta-*` metadata, `x-amz-request-id` / `x-amz-id-2` on every reply and no
  /// `x-oss-*` header at all (no CRC-64 either), XML results in the S3 namespace, S3 error
  /// bodies (`Code`, `Message`, `RequestId`, `HostId`; HEAD errors bodiless), lower-case hex
  /// ETags, S3 bucket names (dots allowed), 5 MiB minimum for every part but the last, and
  /// `BadDigest` for a body that does not match its `Content-MD5`. Fault plans work the same.
  /// One server speaks one dialect; a store written in one dialect can be reopened in the
  /// other (ETags compare without regard to case).
  api_dialect dialect = api_dialect::oss;
};

/// A snapshot of a server's counters (`local_server::stats()`).
///
/// The counters are updated atomically while the server runs, so a snapshot may be taken from
/// any thread; fields of one snapshot are read one after the other, not as one transaction.
struct local_server_stats {
  /// Requests whose header was parsed (every operation, including failed ones).
  std::uint64_t requests = 0;
  /// Replies with status 400 or more (including the 400 sent for a malformed request).
  std::uint64_t errors = 0;
  /// TCP (or TLS) connections accepted: with keep-alive, fewer than `requests`.
  std::uint64_t connections = 0;

  // Requests per operation, counted when the request is recognised, whatever its outcome.
  std::uint64_t put_object = 0;                 ///< PutObject requests, whatever their outcome
  std::uint64_t get_object = 0;                 ///< GetObject requests, whatever their outcome
  std::uint64_t head_object = 0;                ///< HeadObject requests, whatever their outcome
  std::uint64_t delete_object = 0;              ///< DeleteObject requests, whatever their outcome
  std::uint64_t initiate_multipart_upload = 0;  ///< InitiateMultipartUpload requests, whatever their outcome
  std::uint64_t upload_part = 0;                ///< UploadPart requests, whatever their outcome
  std::uint64_t complete_multipart_upload = 0;  ///< CompleteMultipartUpload requests, whatever their outcome
  std::uint64_t abort_multipart_upload = 0;     ///< AbortMultipartUpload requests, whatever their outcome
  std::uint64_t list_parts = 0;                 ///< ListParts requests, whatever their outcome
  std::uint64_t list_multipart_uploads = 0;     ///< ListMultipartUploads requests, whatever their outcome

  /// Requests between "header parsed" and "the last write of the reply begins" right now: a
  /// client that got a reply may send its next request at once, and that must not count twice.
  /// A request held by a `delay` or `stall` fault stops counting as soon as its client closes
  /// the connection (it timed out), so `peak_in_flight` reflects the client's real concurrency.
  std::uint64_t in_flight = 0;
  /// The highest `in_flight` seen since start (or since `reset_stats()`): a client's real
  /// concurrency, as the server saw it.
  std::uint64_t peak_in_flight = 0;

  /// Request body bytes received (part and object payloads, XML bodies).
  std::uint64_t bytes_received = 0;
  /// Response body bytes sent (GetObject payloads, XML bodies), counted as each write is issued:
  /// a client that holds a reply finds its bytes already counted.
  std::uint64_t bytes_sent = 0;
  /// UploadPart requests that stored a part (a re-sent part counts again).
  std::uint64_t parts_uploaded = 0;
  /// PutObject, UploadPart and GetObject requests that carried a valid `x-oss-traffic-limit`
  /// (OSS dialect), and the lowest and highest limit among them, in bits per second. The
  /// server checks the range as OSS does (a value outside 819200 .. 838860800 is 400
  /// InvalidArgument) and, as OSS does, moves that request's body no faster.
  std::uint64_t traffic_limited = 0;
  std::uint64_t traffic_limit_min = 0;  ///< the lowest such limit (0: none seen)
  std::uint64_t traffic_limit_max = 0;  ///< the highest such limit (0: none seen)

  /// Requests a fault rule fired on (see `fault_rule`): one per faulted request.
  std::uint64_t faults_injected = 0;
  /// The most UploadPart attempts any one part number has had (see `local_server::part_attempts`).
  std::uint64_t max_part_attempts = 0;
};

/// What a `fault_rule` does to the request it fires on.
///
/// "Effect" below means the operation really happening (a part stored, an upload completed):
/// some actions run it before misbehaving, so that the client's reconciliation is exercised;
/// for the others `fault_rule::apply_then_fail` decides.
enum class fault_action {
  /// Reply `status` with an OSS error body (`code`, `message`; `RequestTimeTooSkewed` also
  /// gets `RequestTime` and `ServerTime`, the server's clock, as OSS sends them). The request
  /// body is read and dropped so the connection stays usable. Effect only with
  /// `apply_then_fail`.
  error_reply,
  /// Handle the request normally, then wait `duration` before sending the reply. With a
  /// `duration` beyond the client's stall timeout the client gives up while the effect has
  /// happened: a lost reply.
  delay,
  /// Stop reading after `after_bytes` bytes of the request body (framing included) for
  /// `duration`, then carry on normally. Nothing moves on the connection meanwhile, which is
  /// what a client's stall timeout watches. With a body shorter than `after_bytes` the stall
  /// happens once the body is in, before the operation runs.
  ///
  /// For both `delay` and `stall`: when the client closes or resets the connection during the
  /// wait (it timed out), the server notices at once, drops the request without running it
  /// (stall) and closes, so that an abandoned request does not count in `in_flight` when the
  /// client's retry arrives.
  stall,
  /// Read the whole request, then close the connection without replying (a FIN, no reset).
  /// Effect only with `apply_then_fail`: set it to model "stored, then the reply was lost".
  close_before_reply,
  /// Read `after_bytes` bytes of the request body, then reset the connection (SO_LINGER 0 and
  /// close: the client sees ECONNRESET). No effect. A body shorter than `after_bytes` is read
  /// whole first.
  reset_during_body,
  /// Effect, then send the reply head with its real `Content-Length` followed by only
  /// `after_bytes` bytes of the body, and close. A reply without a body (UploadPart, PutObject)
  /// has its head cut in half instead.
  truncated_reply,
  /// Effect, then reply without the `ETag` header.
  missing_etag,
  /// Effect, then reply with an `x-oss-hash-crc64ecma` that differs from the stored CRC-64
  /// (the real value with its lowest bit flipped; added when the reply had none). In the S3
  /// dialect too: it models an S3-compatible store that does send a CRC-64 (OSS's S3 endpoint).
  wrong_crc64,
  /// Reply 200 with an `<Error>` body (`code`, `message`) instead of the result, as OSS may
  /// and S3 does for CompleteMultipartUpload (an S3 error body in the S3 dialect). Effect only with `apply_then_fail`.
  error_in_200,
  /// Effect, then replace the reply body with bytes that are not XML (same status, headers and
  /// a correct `Content-Length`).
  garbage_body,
};

/// One rule of a fault plan (`local_server::set_fault_plan`).
///
/// A rule *matches* a request by operation and part number; among the requests it matches it
/// *fires* on the `nth` one (or, with `attempt`, on the given attempt of a part) and on the
/// following ones until it has fired `times` times. At most one rule fires per request: the
/// first rule of the plan that is due. Every rule counts every request it matches, whether or
/// not another rule fired on it, so each rule's `nth` is independent of the others.
///
/// Only requests the server admits are seen by the rules: a request refused anyway (bad
/// signature, invalid name, unknown upload id at admission, malformed HTTP) is neither counted
/// nor faulted.
/// \code
///   using oss::testing::fault_rule, oss::testing::fault_action;
///   server.set_fault_plan({
///       // the 3rd UploadPart gets 503 SlowDown
///       {.operation = "UploadPart", .nth = 3, .action = fault_action::error_reply,
///        .status = 503, .code = "SlowDown"},
///       // part 7's first attempt: the connection is reset after 64 KiB of its body
///       {.operation = "UploadPart", .part_number = 7, .attempt = 1,
///        .action = fault_action::reset_during_body, .after_bytes = 64 * 1024},
///       // Complete succeeds but its reply is lost: the client must reconcile
///       {.operation = "CompleteMultipartUpload", .action = fault_action::close_before_reply,
///        .apply_then_fail = true},
///   });
/// \endcode
struct fault_rule {
  /// The OSS operation name the rule applies to: "PutObject", "GetObject", "HeadObject",
  /// "DeleteObject", "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
  /// "AbortMultipartUpload", "ListParts", "ListMultipartUploads", "PutBucket"; empty, "*" or
  /// "any" for every operation. `set_fault_plan` throws `std::invalid_argument` for other names.
  std::string operation{};
  /// Only requests for this part number (UploadPart's `partNumber`); 0 for any request.
  int part_number = 0;
  /// Fire from the nth matching request on (1-based; 0 counts as 1). Counted from
  /// `set_fault_plan`, not from server start.
  std::uint64_t nth = 0;
  /// When not 0: fire only on UploadPart requests whose attempt number for their part number
  /// is `attempt` or later (1 = the first time this part number is sent to the server, counted
  /// like `part_attempts()`, so across `set_fault_plan` calls until `reset_stats`). Use it with
  /// `part_number` to hit, say, the second attempt of part 5.
  std::uint64_t attempt = 0;
  /// How many times the rule fires; 0 for no limit.
  std::uint64_t times = 1;

  /// What happens (see `fault_action`).
  fault_action action = fault_action::error_reply;
  /// `error_reply`: the HTTP status (`error_in_200` always sends 200).
  int status = 500;
  /// `error_reply`, `error_in_200`: the OSS error `Code` ("InternalError", "SlowDown",
  /// "RequestTimeTooSkewed", "NoSuchUpload", or any string).
  std::string code = "InternalError";
  /// `error_reply`, `error_in_200`: the error `Message`; empty for a generic one.
  std::string message{};
  /// `delay`, `stall`: how long.
  std::chrono::milliseconds duration{0};
  /// `stall`, `reset_during_body`: request body bytes read first; `truncated_reply`: reply
  /// body bytes sent before closing.
  std::uint64_t after_bytes = 0;
  /// `error_reply`, `close_before_reply`, `error_in_200`: run the operation (store the part,
  /// complete the upload, ...) before failing, so that the client cannot know it happened.
  bool apply_then_fail = false;
};

namespace detail {
class local_server_impl;
}  // namespace detail

/// An OSS-compatible server running on an executor you provide.
///
/// The constructor opens the store and binds the listening socket (so `port()` is known at
/// once); `start()` begins accepting. Connections are served concurrently, each on its own
/// strand of the executor, so the server may share a multi-threaded `io_context` with the code
/// under test.
///
/// Addressing: a request is path-style (`/bucket/key`, bucket-level `/bucket/`) when the `Host`
/// header, without its port, is an IP literal, `localhost` or `options.host`; otherwise it is
/// virtual-hosted and the first label of `Host` is the bucket (`/key`). This also covers
/// ali-oss with an IP endpoint, which sends `Host: <bucket>.oss-<region>.aliyuncs.com`. Keys are
/// percent-decoded from the path.
///
/// Every reply carries `x-oss-request-id` (unique per request), `Date` and `Server: AliyunOSS`.
/// Errors carry the OSS error XML (`Code`, `Message`, `RequestId`, `HostId`, `EC`) and
/// `x-oss-ec`; errors to HEAD have no body but an `x-oss-err` header with the Base64 XML.
///
/// Thread safety: `stop()`, `port()`, `endpoint()`, `stats()`, `reset_stats()`,
/// `part_attempts()`, `set_credentials()`, `set_fault_plan()` and `clear_fault_plan()` may be
/// called from any thread. `start()` must be called at most once.
///
/// Fault injection: `set_fault_plan()` makes chosen requests fail the way real networks and
/// servers do (error replies, stalls, resets, lost or truncated or garbled replies; see
/// `fault_rule`), so that a client's retries, timeouts and reconciliation can be tested without
/// timing tricks: assert on `stats().faults_injected`, `part_attempts()` and the per-operation
/// counters afterwards. The listening and accepted sockets are close-on-exec, so child
/// processes a test spawns do not keep the port open.
///
/// Lifetime: the object may be destroyed while connections are still open; the destructor
/// calls `stop()`, and the connection coroutines keep the shared state alive until they end.
/// Run the executor until they do (or destroy the `io_context`). Destroy the server before
/// its `io_context`, as with any Asio I/O object.
class local_server {
 public:
  /// Opens (creates) `options.root` and binds `options.host:options.port`.
  ///
  /// Throws `std::invalid_argument` for unusable options (empty root, only one of the two
  /// credentials or TLS files, an invalid bucket name in `buckets`), `std::system_error` when
  /// the address cannot be bound (`std::errc::address_in_use`, with "HOST:PORT is in use" in
  /// `what()`, when another socket listens there) or the root cannot be created, and the
  /// Asio/OpenSSL error when the TLS files cannot be loaded.
  OSS_DECL local_server(asio::any_io_executor executor, local_server_options options);

  /// Calls `stop()`.
  OSS_DECL ~local_server();

  local_server(const local_server&) = delete;
  local_server& operator=(const local_server&) = delete;

  /// Starts accepting connections. Returns at once; the work runs on the executor.
  OSS_DECL void start();

  /// Stops accepting and closes every connection, including those in the middle of a request
  /// (their requests fail on the client side). Idempotent and thread-safe; the sockets are
  /// closed on their own strands, so the effect is asynchronous when called from elsewhere.
  /// Data already stored stays on disk. A stopped server cannot be started again: make a new
  /// one on the same root.
  OSS_DECL void stop();

  /// The bound TCP port (useful with `options.port == 0`).
  OSS_DECL std::uint16_t port() const noexcept;

  /// `http://HOST:PORT` (or `https://` with TLS), ready for a client's endpoint option. IPv6
  /// hosts are bracketed.
  OSS_DECL std::string endpoint() const;

  /// The options the server runs with.
  OSS_DECL const local_server_options& options() const noexcept;

  /// A snapshot of the counters (see `local_server_stats`).
  OSS_DECL local_server_stats stats() const noexcept;

  /// Sets every counter back to 0, except `in_flight`; `peak_in_flight` restarts from the
  /// current `in_flight`. Also forgets `part_attempts()`.
  OSS_DECL void reset_stats() noexcept;

  /// Blocks the calling thread until `predicate(stats())` holds, or `timeout` passed; returns
  /// whether it holds. The check runs again whenever a connection is accepted, a request is
  /// recognised, admitted or finished, or a part is stored, so a test waits for the server's
  /// state instead of polling it. Not from a server thread: the server could not progress.
  OSS_DECL bool wait_for(std::function<bool(const local_server_stats&)> predicate,
                         std::chrono::milliseconds timeout);

  /// UploadPart requests per part number since start (or `reset_stats()`), counted for every
  /// admitted UploadPart whatever its outcome, faulted ones included; all uploads together.
  /// A part sent once has 1; a retried part more.
  OSS_DECL std::map<int, std::uint64_t> part_attempts() const;

  /// Replaces the credentials the server accepts, from now on (requests already admitted are
  /// not checked again). Both empty: anonymous access. The security token is required in
  /// `x-oss-security-token` when not empty, as `local_server_options::security_token`.
  /// Thread-safe. Throws `std::invalid_argument` when only one of id and secret is empty.
  /// `options()` keeps the values the server was started with.
  OSS_DECL void set_credentials(std::string access_key_id, std::string access_key_secret,
                                std::string security_token);

  /// Installs a fault plan, replacing any previous one (and its rules' counts). Thread-safe;
  /// requests whose head is already parsed keep the decision taken for them. Throws
  /// `std::invalid_argument` for an unknown operation name. See `fault_rule`.
  OSS_DECL void set_fault_plan(std::vector<fault_rule> rules);

  /// Removes the fault plan: every request is served normally again. Thread-safe.
  OSS_DECL void clear_fault_plan();

 private:
  std::shared_ptr<detail::local_server_impl> impl_;
};

/// A `local_server` with its own `io_context` and threads: what a test reaches for.
///
/// The constructor binds and starts the server on `threads` new threads (at least 1); the
/// destructor stops it, waits for every connection to close and joins the threads.
/// \code
///   oss::testing::local_server_thread server({.root = dir, .access_key_id = "ak",
///                                             .access_key_secret = "sk"});
///   run_my_client(server.endpoint());
///   CHECK(server.stats().peak_in_flight <= 4);
/// \endcode
class local_server_thread {
 public:
  /// Throws what `local_server`'s constructor throws; no thread is left running then.
  OSS_DECL explicit local_server_thread(local_server_options options, unsigned threads = 1);

  /// Calls `stop()`.
  OSS_DECL ~local_server_thread();

  local_server_thread(const local_server_thread&) = delete;
  local_server_thread& operator=(const local_server_thread&) = delete;

  /// Stops the server and joins the threads. Idempotent. Call it from a thread other than the
  /// server's own (for example, not from inside a request observer).
  OSS_DECL void stop();

  /// The server, for everything not forwarded below.
  local_server& server() noexcept { return *server_; }
  /// The server, for everything not forwarded below.
  const local_server& server() const noexcept { return *server_; }

  /// `local_server::port()`.
  std::uint16_t port() const noexcept { return server_->port(); }
  /// `local_server::endpoint()`.
  std::string endpoint() const { return server_->endpoint(); }
  /// `local_server::stats()`.
  local_server_stats stats() const noexcept { return server_->stats(); }
  /// `local_server::reset_stats()`.
  void reset_stats() noexcept { server_->reset_stats(); }
  /// `local_server::wait_for()`.
  bool wait_for(std::function<bool(const local_server_stats&)> predicate, std::chrono::milliseconds timeout) {
    return server_->wait_for(std::move(predicate), timeout);
  }
  /// `local_server::part_attempts()`.
  std::map<int, std::uint64_t> part_attempts() const { return server_->part_attempts(); }
  /// `local_server::set_credentials()`.
  void set_credentials(std::string access_key_id, std::string access_key_secret, std::string security_token) {
    server_->set_credentials(std::move(access_key_id), std::move(access_key_secret), std::move(security_token));
  }
  /// `local_server::set_fault_plan()`.
  void set_fault_plan(std::vector<fault_rule> rules) { server_->set_fault_plan(std::move(rules)); }
  /// `local_server::clear_fault_plan()`.
  void clear_fault_plan() { server_->clear_fault_plan(); }

 private:
  asio::io_context io_;
  std::unique_ptr<local_server> server_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace oss::testing

#ifdef OSS_HEADER_ONLY
#include <oss/testing/impl/local_server.ipp>
#endif

#endif  // OSS_TESTING_LOCAL_SERVER_HPP
