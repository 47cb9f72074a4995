// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_LOCAL_SERVER_HPP
#define OSS_TESTING_LOCAL_SERVER_HPP

#include <oss/detail/config.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
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
/// GetObject honours a single `Range: bytes=a-b` (206, or 416 `InvalidRange`); `PUT /bucket/`
/// (PutBucket) succeeds so that tools which create their bucket first work unchanged.
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

  /// Requests per operation, counted when the request is recognised, whatever its outcome.
  std::uint64_t put_object = 0;
  std::uint64_t get_object = 0;
  std::uint64_t head_object = 0;
  std::uint64_t delete_object = 0;
  std::uint64_t initiate_multipart_upload = 0;
  std::uint64_t upload_part = 0;
  std::uint64_t complete_multipart_upload = 0;
  std::uint64_t abort_multipart_upload = 0;
  std::uint64_t list_parts = 0;
  std::uint64_t list_multipart_uploads = 0;

  /// Requests between "header parsed" and "reply fully written" right now.
  std::uint64_t in_flight = 0;
  /// The highest `in_flight` seen since start (or since `reset_stats()`): a client's real
  /// concurrency, as the server saw it.
  std::uint64_t peak_in_flight = 0;

  /// Request body bytes received (part and object payloads, XML bodies).
  std::uint64_t bytes_received = 0;
  /// Response body bytes sent (GetObject payloads, XML bodies).
  std::uint64_t bytes_sent = 0;
  /// UploadPart requests that stored a part (a re-sent part counts again).
  std::uint64_t parts_uploaded = 0;
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
/// Thread safety: `stop()`, `port()`, `endpoint()`, `stats()` and `reset_stats()` may be called
/// from any thread. `start()` must be called at most once.
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
  /// the address cannot be bound or the root cannot be created, and the Asio/OpenSSL error when
  /// the TLS files cannot be loaded.
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
  /// current `in_flight`.
  OSS_DECL void reset_stats() noexcept;

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
  const local_server& server() const noexcept { return *server_; }

  std::uint16_t port() const noexcept { return server_->port(); }
  std::string endpoint() const { return server_->endpoint(); }
  local_server_stats stats() const noexcept { return server_->stats(); }
  void reset_stats() noexcept { server_->reset_stats(); }

 private:
  asio::io_context io_;
  std::unique_ptr<local_server> server_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace oss::testing

#ifdef OSS_HEADER_ONLY
#include <oss/impl/local_server.ipp>
#endif

#endif  // OSS_TESTING_LOCAL_SERVER_HPP
