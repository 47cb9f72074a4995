// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CLIENT_TYPES_HPP
#define OSS_CLIENT_TYPES_HPP

#include <oss/detail/config.hpp>

#include <oss/credentials.hpp>

#include <asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// \file
/// The plain data of `oss::client`: its options, the per-object options and the result of each
/// operation. Kept apart from `client.hpp` so the request builders can use these types without
/// pulling in the client itself.
namespace oss {

namespace detail {

// N of a multipart ETag `"<hex>-N"` (quotes optional), 0 for any other ETag. OSS documents the
// form but not the hex part (oss-protocol.md 3.3), so only the count is read.
inline int multipart_etag_part_count(std::string_view etag) noexcept {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  const auto dash = etag.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return 0;
  const std::string_view digits = etag.substr(dash + 1);
  if (digits.empty() || digits.size() > 5) return 0;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

}  // namespace detail

/// Which API the store speaks. The same operations, checkpoint, progress, retries and
/// cancellation work in both.
enum class api_dialect {
  /// Alibaba Cloud OSS: `x-oss-*` headers, OSS V1/V4 signatures, CRC-64 on every reply.
  oss,
  /// Amazon S3 and S3-compatible stores (MinIO, Ceph, OSS's `s3.oss-<region>.aliyuncs.com`):
  /// `x-amz-*` headers and AWS Signature V4.
  s3,
};

/// How the bucket is named in each request (oss-protocol.md section 1.2).
enum class addressing_style {
  /// The bucket prefixes the endpoint host: what OSS itself requires.
  /// `Host: <bucket>.<endpoint host>`, path `/<key>`. When the endpoint host is an IP literal
  /// there is no name to prefix, so path style is used instead.
  virtual_hosted,
  /// `Host: <endpoint host>`, path `/<key>`: the endpoint is a custom domain bound to the
  /// bucket. The bucket option is still required, because it is part of what gets signed.
  cname,
  /// `Host: <endpoint host>`, path `/<bucket>/<key>`: local servers, private deployments and
  /// IP endpoints. Real OSS rejects it on its own domains.
  path_style,
};

/// The per-client retry budget: a token bucket shared by every request of one client, as in
/// the AWS SDKs' standard retry strategy.
///
/// Each retry takes tokens from the bucket; a request that succeeds puts back what its last
/// retry took, or `success_refund` when it needed none. While the bucket cannot pay for a retry,
/// failures are not retried at all: they surface at once, with a diagnostics note saying so.
/// A healthy endpoint with occasional errors never notices the budget; a dead one gets about
/// `capacity / retry_cost` retries from the whole client (all parts of all uploads together)
/// instead of `max_attempts - 1` per request.
struct retry_budget_options {
  /// Tokens in a full bucket, which is also where a client starts. 0 turns the budget off:
  /// only `max_attempts` limits retries.
  std::uint32_t capacity = 500;
  /// Tokens one retry takes.
  std::uint32_t retry_cost = 5;
  /// Tokens one retry after `client_errc::connection_timeout` takes: a timeout ties up a
  /// connection for the whole timeout, so it costs more.
  std::uint32_t timeout_retry_cost = 10;
  /// Tokens a request that succeeds at its first attempt puts back (up to `capacity`).
  std::uint32_t success_refund = 1;
};

/// Time as the client sees it, replaceable so that tests (and programs with their own time
/// source) control it. Every member may be left empty for the default.
///
/// The hooks may be called from every thread that runs the client's operations, concurrently.
struct client_clock {
  /// The current time, for credential expiry (`expiring_credentials::expiration`,
  /// `client_options::creds_refresh_margin`) and for `client_options::retry_time` (a test that
  /// advances it from `sleep` checks the time budget without waiting). Empty:
  /// `std::chrono::system_clock::now` for expiry and the steady clock for `retry_time`.
  /// Request signatures always use the system clock (corrected by `client::clock_offset()`),
  /// because the server checks them against its own.
  std::function<std::chrono::system_clock::time_point()> now{};

  /// Waits `delay` before a retry. Empty: an `asio::steady_timer` on the operation's executor.
  /// A replacement must end early when the awaiting coroutine is cancelled (terminal
  /// cancellation), by returning or by throwing; the operation then completes with
  /// `asio::error::operation_aborted`. Other exceptions propagate to the operation's caller.
  std::function<asio::awaitable<void>(std::chrono::milliseconds delay)> sleep{};

  /// A number drawn uniformly from [0, 1) for the back-off jitter. Empty: a per-thread
  /// Mersenne Twister seeded from `std::random_device`.
  std::function<double()> random{};
};

namespace detail::transport {
class token_bucket;
}  // namespace detail::transport
namespace detail {
class shared_allowance;
}  // namespace detail

/// What every transfer of the clients that hold it (`client_options::budget`) shares: uploads
/// and downloads, on any thread. Transfers wait for budget, never fail for the lack of it; a
/// transfer's own `parallel` is its cap within the budget.
///
/// - **Bandwidth**, each way: each request's bytes go out (and come in) in slices of 10 ms
///   worth, spaced as the rate allows (a virtual clock shared by every connection).
/// - **Memory**: bytes of part buffers. A part takes what it holds before it is read and gives
///   it back once its request has ended: 1 MiB for a file part streamed from the page cache
///   (the OSS dialect) or a downloaded range, the whole part for a file part read whole (S3,
///   Content-MD5) or a stream's part, two 1 MiB pieces for a stream's part spooled to
///   a temporary file (`upload_options::spool_parts_above`: stream parts above half the budget
///   are), nothing for a buffer source (the caller's memory). A part larger than the whole
///   budget waits until it can run alone.
/// - **Connections**: part requests in flight at once, each on a connection of its own.
///
/// Waiters are served in arrival order.
/// \code
///   auto budget = std::make_shared<oss::transfer_budget>(
///       oss::transfer_budget::limits{.upload_bytes_per_second = 50 << 20, .memory_bytes = 64 << 20});
///   options.budget = budget;  // one budget for several clients: give each the same pointer
/// \endcode
class transfer_budget {
 public:
  /// 0: no limit.
  struct limits {
    std::uint64_t upload_bytes_per_second = 0;    ///< request bytes sent (heads included)
    std::uint64_t download_bytes_per_second = 0;  ///< reply bytes received
    std::uint64_t memory_bytes = 0;               ///< bytes of part buffers held at once
    std::uint64_t connections = 0;                ///< part requests in flight at once
    /// Also ask OSS to cap each request that carries a transfer's bytes (UploadPart,
    /// PutObject, a download's ranged GetObject) with `x-oss-traffic-limit`: the rate of its
    /// direction divided by `connections` (when set), in bits per second, within OSS's
    /// 819200 .. 838860800 (100 KiB/s .. 100 MiB/s). The client's own limiter still holds the
    /// sum; the server's keeps each connection's pace even. OSS dialect only (S3 has no such
    /// header); a request whose headers already carry one keeps it.
    bool server_traffic_limit = false;
  };

  /// A budget of these limits; a limit of 0 is no limit.
  OSS_DECL explicit transfer_budget(limits l);
  /// Clients still holding the budget keep its limiters alive (they share them).
  OSS_DECL ~transfer_budget();
  transfer_budget(const transfer_budget&) = delete;
  transfer_budget& operator=(const transfer_budget&) = delete;

  /// The limits as given.
  const limits& get_limits() const noexcept { return limits_; }

  /// The shared limiter of request bytes sent (null without an upload limit); the client's
  /// transport holds it.
  const std::shared_ptr<detail::transport::token_bucket>& send_limit() const noexcept { return send_; }
  /// The shared limiter of reply bytes received (null without a download limit).
  const std::shared_ptr<detail::transport::token_bucket>& receive_limit() const noexcept { return receive_; }
  /// The shared allowance of part-buffer bytes (null without a memory limit).
  const std::shared_ptr<detail::shared_allowance>& memory() const noexcept { return memory_; }
  /// The shared allowance of part requests in flight (null without a connection limit).
  const std::shared_ptr<detail::shared_allowance>& connections() const noexcept { return connections_; }

 private:
  limits limits_;
  std::shared_ptr<detail::transport::token_bucket> send_;
  std::shared_ptr<detail::transport::token_bucket> receive_;
  std::shared_ptr<detail::shared_allowance> memory_;
  std::shared_ptr<detail::shared_allowance> connections_;
};

/// Everything a `client` needs to know; an aggregate, so designated initialisers read well:
/// `oss::client_options{.region = "cn-hangzhou", .bucket = "b", .creds = {...}}`.
///
/// The constructor of `client` checks these and throws `oss::error` when they cannot work, so a
/// misconfiguration never reaches the network.
struct client_options {
  /// Where to send requests. Either empty (then `region` picks the public OSS endpoint) or a
  /// host with optional scheme and port: `oss-cn-hangzhou.aliyuncs.com`,
  /// `https://static.example.com`, `http://127.0.0.1:9000`. The scheme defaults to https; plain
  /// http is used only when the string says `http://`. A path other than `/` is refused with
  /// `client_errc::invalid_endpoint`.
  std::string endpoint{};

  /// The region, as OSS region id (`cn-hangzhou`) or in the ali-oss spelling (`oss-cn-hangzhou`).
  /// Alone it gives `https://oss-<region>.aliyuncs.com`. It is also the V4 signing region: when
  /// the endpoint is an `*.aliyuncs.com` name the region is read from it, but for a custom domain
  /// or an IP endpoint V4 signing needs this option (`client_errc::invalid_endpoint` otherwise).
  std::string region{};

  /// The bucket every operation addresses: 3..63 characters of `[a-z0-9-]`, not starting or
  /// ending with `-` (`client_errc::invalid_bucket_name` otherwise). The S3 dialect also allows
  /// dots, with S3's rules (see `dialect`).
  std::string bucket{};

  /// AccessKey pair and optional STS token. Empty `access_key_id`: anonymous, unsigned requests
  /// (public-write buckets, local servers without credentials), unless `creds_provider` is set.
  /// A key id without a secret is refused (`client_errc::missing_credentials`), as are CR, LF or
  /// control characters in the key id or token (`client_errc::invalid_header_value`).
  credentials creds{};

  /// Where credentials that change come from (STS tokens, rotated keys); see
  /// `credentials_provider`. Set either this or `creds`, not both (`std::errc::invalid_argument`).
  std::shared_ptr<credentials_provider> creds_provider{};

  /// How long before `expiring_credentials::expiration` the client fetches new credentials.
  /// For credentials that live less than twice this long, refreshing starts halfway through
  /// their life instead, so short-lived tokens are not fetched again for every request.
  std::chrono::seconds creds_refresh_margin{300};

  /// The API the endpoint speaks; see `api_dialect`. In the S3 dialect:
  ///  - `endpoint` empty: `region` alone gives `https://s3.<region>.amazonaws.com`; otherwise
  ///    the endpoint is used as given (`s3.oss-cn-hangzhou.aliyuncs.com`,
  ///    `http://127.0.0.1:9000`). `internal` and `accelerate` are OSS endpoints and are refused.
  ///  - every signed request needs `region` (the SigV4 scope), unless the endpoint is an AWS
  ///    (`s3.<r>.amazonaws.com`) or OSS (`s3.oss-<r>.aliyuncs.com`, region `<r>`) name that
  ///    names it; `client_errc::invalid_endpoint` otherwise.
  ///  - `bucket` follows the S3 naming rules, dots allowed.
  ///  - `address_style::virtual_hosted` falls back to path style for IP and `localhost`
  ///    endpoints, and for bucket names with dots over https (a dotted name does not match the
  ///    certificate's `*.s3.<region>.amazonaws.com`).
  ///  - `signature` does not apply: S3 requests are always signed with AWS Signature V4.
  api_dialect dialect = api_dialect::oss;

  /// S3 dialect only: sign the hex SHA-256 of each request body (`x-amz-content-sha256`)
  /// instead of `UNSIGNED-PAYLOAD`. Costs one SHA-256 pass over every body (roughly 0.5-2 GB/s
  /// per core, depending on SHA extensions), on the thread that calls `put_object` /
  /// `upload_part`, unless the caller passes `body_digests::sha256`; `multipart_upload`
  /// computes it on its file threads. Integrity is already covered by Content-MD5 (below), so
  /// this is for stores or policies that demand signed payloads.
  bool s3_sign_payload = false;

  /// S3 dialect only: send `Content-MD5` with every PutObject and UploadPart, computed when the
  /// caller did not pass `body_digests::md5` (and by `multipart_upload` on its file threads).
  /// S3 replies carry no CRC-64, so this is the end-to-end integrity check there; turning it
  /// off saves one MD5 pass (about 0.7 GB/s per core) and leaves only TLS to protect bodies.
  bool s3_content_md5 = true;

  /// OSS dialect: V4 (default, what OSS recommends) or V1 for deployments that only know V1.
  /// Ignored in the S3 dialect (always AWS Signature V4).
  signature_version signature = signature_version::v4;

  /// How the bucket appears in Host and path; see `addressing_style`.
  addressing_style address_style = addressing_style::virtual_hosted;

  /// With only a region: use the VPC endpoint `oss-<region>-internal.aliyuncs.com` (ECS in the
  /// same region). Ignored when `endpoint` is set.
  bool internal = false;

  /// With only a region: use the global transfer-acceleration endpoint
  /// `oss-accelerate.aliyuncs.com` (signing still uses `region`). Ignored when `endpoint` is set.
  bool accelerate = false;

  /// A PEM file of extra CA certificates to trust in addition to the system store, e.g. the
  /// self-signed certificate of a local test server. Only used by the TLS context the client
  /// creates itself. A file that cannot be loaded makes the constructor throw.
  std::string ca_file{};

  /// Verify the server certificate chain and host name (default). Turning it off makes TLS
  /// encryption-only and open to interception; meant for throw-away test setups.
  bool verify_tls = true;

  /// Upper bound on open connections per endpoint; requests beyond it wait for a free one.
  std::size_t max_connections = 64;

  /// Bandwidth shared with every client given the same budget (`transfer_budget`); null: none.
  std::shared_ptr<transfer_budget> budget{};

  /// Time allowed to resolve, connect and finish the TLS handshake of a new connection.
  std::chrono::milliseconds connect_timeout{10000};

  /// The progress window of every request. A request fails when
  ///  - no byte moves in either direction for this long; or
  ///  - fewer than 4096 bytes move within this long, counted from the first byte of each
  ///    window (the request and the reply each open their own): a server dripping a byte at a
  ///    time cannot hold a request forever. A reply smaller than that must arrive within one
  ///    window from its first byte; or
  ///  - the whole request takes longer than
  ///    `stall_timeout * (4 + (request bytes + reply bytes) / 65536)`, the reply counted by its
  ///    Content-Length (else by what arrived so far): on average at least 64 KiB per window
  ///    after a grace of four windows. With the default 30 s, an 8 MiB part may take 66 min.
  ///
  /// So a slow but real transfer (a few KiB/s) is never cut, however long it takes, while
  /// large parts are not held to one total deadline. All three, like `connect_timeout`,
  /// surface as `client_errc::connection_timeout` (`diagnostics::client_message` names the
  /// rule).
  std::chrono::milliseconds stall_timeout{30000};

  /// Attempts per request, the first one included; 1 disables every retry, throttled ones
  /// included. Retried (see `oss::classify`): connection errors and timeouts (transient), 408
  /// and `RequestTimeout` (transient), `RequestTimeTooSkewed` (after the clock correction),
  /// CRC-64 mismatches and `InvalidDigest` (transient), other 5xx (server). Each of these
  /// retries also needs tokens from `retry_budget`. Throttling replies (429, 503, `SlowDown`,
  /// OSS's `*QpsLimitExceeded` and `*TrafficRateLimitExceeded` codes) do not count here: they
  /// are retried within `retry_time`. A request the server refused because the credentials
  /// from `creds_provider` expired is repeated with fresh ones, on top of these attempts (once;
  /// up to 3 times only when even newer credentials arrived meanwhile).
  int max_attempts = 3;

  /// Exponential back-off with full jitter: before retry n the client waits a random time in
  /// `[0, min(retry_max_delay, retry_base_delay * 2^n))`; throttling replies double the base.
  /// A reply with `Retry-After` sets the wait instead (see `max_retry_after`).
  std::chrono::milliseconds retry_base_delay{200};

  /// Cap of one back-off wait.
  std::chrono::milliseconds retry_max_delay{20000};

  /// How long a request keeps retrying while the server throttles it (429, 503, `SlowDown`
  /// and OSS's other throttling codes): throttling is retried as long as the next attempt
  /// would start within this time of the first one, instead of stopping after
  /// `max_attempts` (whose other failures still count). Throttled retries neither take nor
  /// wait for tokens of `retry_budget`: the server paces them (`Retry-After`, else the
  /// doubled back-off, growing to `retry_max_delay`) and this time ends them, so a throttling
  /// store cannot drain the budget that guards against dead endpoints, and cannot turn the
  /// client into a storm either. Measured with `clock.now` when set, else the steady clock.
  /// Must be > 0.
  std::chrono::milliseconds retry_time{120000};

  /// Cap of a wait the server asks for with `Retry-After` (delta-seconds or an HTTP date, on
  /// any retryable reply); a longer request is shortened to it. The wait is the (capped)
  /// server value plus a jitter below `retry_base_delay`, in place of the back-off. Must be > 0.
  std::chrono::milliseconds max_retry_after{30000};

  /// The client-wide retry budget that keeps a dead endpoint from causing a retry storm.
  retry_budget_options retry_budget{};

  /// Time source and back-off wait; see `client_clock`.
  client_clock clock{};

  /// Sent as `User-Agent`; empty gives `asio-oss/<version>`.
  std::string user_agent{};

  /// Largest body `get_object` accepts in memory; a bigger object fails with
  /// `client_errc::response_too_large` instead of exhausting memory.
  std::uint64_t max_get_object_size = 64ull << 20;
};

/// What one client has done since it was built (`client::counters()`): for monitoring, and for
/// tests that assert on counts instead of time.
struct client_counters {
  /// Requests the operations made, each counted once however often it was attempted.
  std::uint64_t requests = 0;
  /// Attempts sent (or tried: a refused connection counts too).
  std::uint64_t attempts = 0;
  /// Attempts that were retries after a back-off wait.
  std::uint64_t retries = 0;
  /// Failures that were retryable but not retried because the retry budget was empty.
  std::uint64_t retries_denied = 0;
  /// Calls of `credentials_provider::fetch` (0 with fixed `creds`).
  std::uint64_t credential_refreshes = 0;
  /// Requests repeated because the server refused credentials as expired or unknown.
  std::uint64_t credential_retries = 0;
  /// Retries after throttling replies (also counted in `retries`); they take no budget tokens.
  std::uint64_t throttled_retries = 0;
  /// Tokens left in the retry budget (`retry_budget_options::capacity` when it is full).
  std::uint32_t retry_tokens = 0;
};

/// Object-level settings of `put_object` and `initiate_multipart_upload` (ali-oss `meta`,
/// `mime`, `headers`). They are checked before any request is sent.
struct object_options {
  /// User metadata, sent as `x-oss-meta-<name>` (`x-amz-meta-<name>` in the S3 dialect). Names: letters, digits and `-` (OSS stores
  /// them lower-cased; two names differing only in case are refused); values printable ASCII.
  /// Names plus values must stay within 8 KiB (`client_errc::metadata_too_large`).
  std::vector<std::pair<std::string, std::string>> meta{};

  /// Content-Type of the object. Empty: a `Content-Type` in `headers`, else a type guessed from
  /// the name's extension, else `application/octet-stream`.
  std::string mime{};

  /// Further headers stored with the object or steering the call: `Cache-Control`,
  /// `Content-Disposition`, `Content-Encoding`, `Expires`, `x-oss-forbid-overwrite`,
  /// `x-oss-storage-class`, `x-oss-server-side-encryption`, ... (in the S3 dialect their
  /// `x-amz-*` forms). Headers the client itself owns (`Authorization`, `Host`, `Date`,
  /// `Content-Length`, `x-oss-date`, and in the S3 dialect `x-amz-date`,
  /// `x-amz-content-sha256`, `x-amz-security-token`, ...) are refused with
  /// `client_errc::invalid_header_value`, as is any CR, LF or control character.
  std::vector<std::pair<std::string, std::string>> headers{};

  /// Also send `Content-MD5` so the server rejects a body damaged in flight. Costs one MD5 pass
  /// over the body (about 0.7 GB/s per core) on the calling thread, unless the MD5 is passed in
  /// `body_digests::md5`; the CRC-64 check is always on (against servers that send a CRC-64).
  /// The S3 dialect sends Content-MD5 regardless, see `client_options::s3_content_md5`.
  bool content_md5 = false;
};

/// Integrity values of a body that the caller computed already, typically in the same pass that
/// read the bytes (on a file thread), for the `put_object` and `upload_part` overloads that take
/// them. The client then uses them instead of hashing the body again on its own thread. A wrong
/// value never passes silently: it fails the request as described per field.
struct body_digests {
  /// CRC-64/ECMA of the body (`crc64(0, body)`). Set: the client trusts it instead of computing
  /// it, compares it with the server's `x-oss-hash-crc64ecma` (a difference is
  /// `client_errc::crc64_mismatch`, retried first like any mismatch) and returns it as the
  /// result's `crc64`. Empty: computed from the body.
  std::optional<std::uint64_t> crc64{};
  /// MD5 of the body, the raw 16 bytes. Set: sent (base64) as `Content-MD5`, and the server
  /// refuses a body that does not match with `server_errc::invalid_digest`. Empty: no
  /// `Content-MD5` for `upload_part`; for `put_object` one is computed when
  /// `object_options::content_md5` asks for it.
  std::optional<std::array<unsigned char, 16>> md5{};
  /// SHA-256 of the body, the raw 32 bytes: the signed payload hash of the S3 dialect with
  /// `client_options::s3_sign_payload` (a wrong one is the server's
  /// `XAmzContentSHA256Mismatch`). Empty: computed when needed. Ignored otherwise.
  std::optional<std::array<unsigned char, 32>> sha256{};
};

/// How the server confirmed the bytes of one `put_object` or `upload_part`.
enum class integrity_check {
  /// The reply's `x-oss-hash-crc64ecma` equals the CRC-64 of the bytes sent (a different one
  /// fails the request with `client_errc::crc64_mismatch`).
  crc64,
  /// The reply carried no CRC-64, but the request carried `Content-MD5` and the server accepted
  /// it: the server checked the bytes against it (it refuses a mismatch with `InvalidDigest`,
  /// S3 with `BadDigest`). What S3 stores give.
  content_md5,
  /// Neither: the server accepted the request, but nothing proves it received these bytes
  /// (a store or proxy that sends no CRC-64, and no Content-MD5 was sent). The client does
  /// not fail on this by itself: `multipart_upload` applies `upload_options::require_server_crc`,
  /// and a caller of `put_object` / `upload_part` decides (send Content-MD5 to avoid it).
  none,
};

/// Reply of `put_object`.
struct put_result {
  /// The object ETag exactly as received, quotes included.
  std::string etag{};
  /// CRC-64/ECMA of the body (computed locally); verified against the server's
  /// `x-oss-hash-crc64ecma` when the reply carries one (S3 stores send none).
  std::uint64_t crc64 = 0;
  /// `x-oss-request-id` (S3: `x-amz-request-id`) of the reply (empty when the server sent
  /// none): quote it to support.
  std::string request_id{};
  /// How the server confirmed the bytes; see `integrity_check`.
  integrity_check integrity = integrity_check::none;
};

/// Reply of `head`: the object's size, identity and stored metadata.
struct object_meta {
  std::uint64_t size = 0;            ///< Content-Length
  std::string etag{};                  ///< quotes included; `"<hex>-<N>"` for an N-part object
  std::string content_type{};          ///< Content-Type
  std::string last_modified{};         ///< as sent (RFC 1123)
  std::string object_type{};           ///< x-oss-object-type: Normal, Multipart, Appendable, Symlink
  std::string storage_class{};         ///< x-oss-storage-class (S3: x-amz-storage-class), when present
  std::optional<std::uint64_t> crc64{};///< x-oss-hash-crc64ecma, when the server keeps one
  /// User metadata: names lower-case without the `x-oss-meta-` (`x-amz-meta-`) prefix, in
  /// reply order.
  std::vector<std::pair<std::string, std::string>> meta{};
  std::string cache_control{};         ///< Cache-Control, when stored
  std::string content_disposition{};   ///< Content-Disposition, when stored
  std::string content_encoding{};      ///< Content-Encoding, when stored
  std::string expires{};               ///< Expires, when stored (as sent)
  /// Every reply header as received (names in the server's spelling).
  std::vector<std::pair<std::string, std::string>> headers{};

  /// N for a multipart ETag `"<hex>-N"`, 0 for any other ETag.
  int part_count() const noexcept { return detail::multipart_etag_part_count(etag); }
};

/// Reply of `upload_part`.
struct part_result {
  int part_number = 0;  ///< 1..10000
  /// The part ETag exactly as received (quotes included): what Complete needs.
  std::string etag{};
  /// CRC-64/ECMA of the part (computed locally); verified against the server's
  /// `x-oss-hash-crc64ecma` when the reply carries one.
  std::uint64_t crc64 = 0;
  /// `x-oss-request-id` (S3: `x-amz-request-id`) of the reply (empty when the server sent none).
  std::string request_id{};
  /// How the server confirmed the part's bytes; see `integrity_check`.
  integrity_check integrity = integrity_check::none;
};

/// One entry of the Complete request.
struct completed_part {
  int part_number = 0;  ///< 1..10000, ascending in the Complete request
  std::string etag{};  ///< as returned by `upload_part` or `list_parts`
  /// The part's size and CRC-64, when known (`upload_part` returns the CRC). Not sent. When
  /// every part has both, a Complete whose reply was lost is only reconciled with an object of
  /// exactly the summed size and the combined CRC-64 (see `client::complete_multipart_upload`).
  std::optional<std::uint64_t> size{};
  std::optional<std::uint64_t> crc64{};  ///< see `size`
};

/// Reply of `complete_multipart_upload`.
struct complete_result {
  std::string location{};  ///< the object's URL as the server names it
  std::string bucket{};    ///< as the reply names it
  std::string key{};       ///< the object name, as the reply names it
  std::string etag{};                     ///< the object ETag, `"<hex>-<N>"`
  /// Whole-object CRC from x-oss-hash-crc64ecma; S3 stores send none (`multipart_upload`
  /// still reports the CRC it computed, `upload_result::crc64`).
  std::optional<std::uint64_t> crc64{};
  /// True when the reply of a retried Complete was lost and the result was rebuilt from HEAD:
  /// `location` is then empty.
  bool reconciled = false;
  /// `x-oss-request-id` of the Complete reply, or of the HEAD reply when `reconciled` (empty
  /// when the server sent none).
  std::string request_id{};
};

/// Paging of `list_parts`.
struct list_parts_options {
  int max_parts = 1000;          ///< 1..1000
  int part_number_marker = 0;    ///< list parts with numbers above this
};

/// One uploaded part as ListParts reports it.
struct part_info {
  int part_number = 0;                   ///< 1..10000
  std::string etag{};                    ///< quotes included, as Complete needs it
  std::uint64_t size = 0;                ///< bytes
  std::optional<std::uint64_t> crc64{};  ///< the part's CRC-64, when the server keeps one
  std::string last_modified{};           ///< ISO 8601, as sent
};

/// One page of ListParts (or every page, from `list_all_parts`).
struct list_parts_result {
  std::string bucket{};             ///< as the reply names it
  std::string key{};                ///< the object name
  std::string upload_id{};          ///< the upload listed
  int part_number_marker = 0;       ///< this page lists parts above this number
  int next_part_number_marker = 0;  ///< the marker of the next page, when `is_truncated`
  int max_parts = 0;                ///< the page size the server used
  bool is_truncated = false;        ///< more parts follow on another page
  std::vector<part_info> parts{};  ///< ascending part numbers
};

/// Filter and paging of `list_multipart_uploads`.
struct list_uploads_options {
  std::string prefix{};            ///< only keys starting with this
  std::string delimiter{};         ///< group keys sharing a prefix up to this into common_prefixes
  std::string key_marker{};        ///< continue after this key ...
  std::string upload_id_marker{};  ///< ... and this upload id (with key_marker)
  int max_uploads = 1000;        ///< 1..1000
};

/// One in-progress multipart upload.
struct upload_info {
  std::string key{};        ///< the object name
  std::string upload_id{};  ///< the id to resume or abort it with
  std::string initiated{};  ///< ISO 8601, as sent
};

/// One page of ListMultipartUploads.
struct list_uploads_result {
  std::string bucket{};                        ///< as the reply names it
  std::string prefix{};                        ///< the filter of the request
  std::string delimiter{};                     ///< the grouping of the request
  std::string key_marker{};                    ///< this page starts after this key ...
  std::string upload_id_marker{};              ///< ... and this upload id
  std::string next_key_marker{};               ///< the key marker of the next page, when `is_truncated`
  std::string next_upload_id_marker{};         ///< the upload id marker of the next page
  int max_uploads = 0;                         ///< the page size the server used
  bool is_truncated = false;                   ///< more uploads follow on another page
  std::vector<upload_info> uploads{};          ///< ordered by key, then initiation time
  std::vector<std::string> common_prefixes{};  ///< keys grouped by `delimiter`
};

}  // namespace oss

#endif  // OSS_CLIENT_TYPES_HPP
