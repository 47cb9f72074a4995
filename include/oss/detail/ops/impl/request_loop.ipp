// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_REQUEST_LOOP_IPP
#define OSS_DETAIL_OPS_IMPL_REQUEST_LOOP_IPP

// The client's state (client_impl) and the loop every operation sends its request through:
// build the request, sign it, send it on the pool, judge the reply, and retry (back-off, retry
// budget, throttling, refreshed credentials, clock skew). The operations on top of it are in
// impl/client.ipp, which includes this file.

#include <oss/client.hpp>

#include <oss/detail/engine/part_pool.hpp>
#include <oss/detail/ops/credentials_cache.hpp>
#include <oss/detail/ops/endpoint.hpp>
#include <oss/detail/ops/object_check.hpp>
#include <oss/detail/ops/requests.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/retry.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/detail/sign/sign_s3.hpp>
#include <oss/detail/transport/pool.hpp>

#include <asio/cancellation_type.hpp>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <random>
#include <string>

// GCC 12 at -O2 pairs Asio's coroutine frame allocator with the wrong delete here too; see the
// same suppression in impl/client.ipp.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail {

inline constexpr std::string_view default_user_agent = "asio-oss/0.1.0";

// What the retry loop learned besides the final outcome.
struct execute_info {
  // An earlier attempt failed in a way that leaves open whether the server acted on it (the
  // reply was lost, or a retryable error reply arrived, possibly a 200 with an <Error> body).
  // Complete uses it to tell "NoSuchUpload because our first attempt already completed it"
  // from a real NoSuchUpload.
  bool earlier_attempt_ambiguous = false;
  // The last attempt failed after its request was (maybe) sent, without a reply: it may have
  // taken effect.
  bool last_attempt_lost = false;
};

inline double jitter_random() {
  // One generator per thread: the client may be driven from several threads, and a shared one
  // would need a lock for numbers that need not be reproducible.
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

// Replies that say the credentials are no longer good (oss-protocol.md 2.6, 5.2): with a
// provider, the cure is new credentials, not waiting.
inline bool is_credentials_refusal(std::error_code ec, const diagnostics& diag) noexcept {
  // ExpiredToken, InvalidToken and TokenRefreshRequired are S3's names for the same refusals.
  return ec == server_errc::security_token_expired || ec == server_errc::invalid_security_token ||
         ec == server_errc::invalid_access_key_id || diag.code == "AccessKeyIdAndSecurityTokenNotMatch" ||
         diag.code == "ExpiredToken" || diag.code == "InvalidToken" || diag.code == "TokenRefreshRequired";
}

// Repeats of one request after credential refusals: the first with freshly fetched credentials,
// the others only with credentials newer than those refused.
inline constexpr int max_credential_retries = 3;

inline void append_note(diagnostics& diag, std::string_view note) {
  if (!diag.client_message.empty()) diag.client_message += "; ";
  diag.client_message += note;
}

class client_impl {
 public:
  client_impl(asio::any_io_executor ex, client_options options, asio::ssl::context* user_tls)
      : ex_(std::move(ex)), options_(std::move(options)), budget_(options_.retry_budget) {
    std::error_code ec;
    std::string problem;
    endpoint_ = check_client_options(options_, ec, problem);
    if (ec) {
      diagnostics diag;
      diag.operation = "client";
      diag.client_message = std::move(problem);
      throw_error(ec, diag);
    }
    target_ = transport::endpoint{endpoint_.tls, endpoint_.host, endpoint_.port};
    user_agent_ = options_.user_agent.empty() ? std::string(default_user_agent) : options_.user_agent;
    if (options_.creds_provider) {
      creds_ = std::make_shared<credentials_cache>(ex_, options_.creds_provider,
                                                   options_.creds_refresh_margin, options_.clock.now);
    } else {
      creds_ = std::make_shared<credentials_cache>(options_.creds);
    }
    if (user_tls) {
      tls_ = user_tls;
    } else {
      own_tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      // Loading the system CA bundle parses every certificate in it (tens of milliseconds per
      // client); a plain-http client never verifies a peer, so it skips that. A CA file the
      // caller names is still loaded, so a wrong path is reported whatever the endpoint.
      if (endpoint_.tls) own_tls_->set_default_verify_paths();
      if (!options_.ca_file.empty()) own_tls_->load_verify_file(options_.ca_file);
      own_tls_->set_verify_mode(options_.verify_tls ? asio::ssl::verify_peer : asio::ssl::verify_none);
      tls_ = own_tls_.get();
    }
    transport::transport_options topts;
    topts.connect_timeout = options_.connect_timeout;
    topts.stall_timeout = options_.stall_timeout;
    topts.max_connections_per_endpoint = options_.max_connections;
    topts.verify_peer = options_.verify_tls;
    if (options_.budget) {
      topts.send_limit = options_.budget->send_limit();
      topts.receive_limit = options_.budget->receive_limit();
    }
    pool_ = std::make_unique<transport::connection_pool>(ex_, *tls_, topts);
    part_pool_ = std::make_shared<part_pool>(ex_, std::max<std::size_t>(options_.max_connections, 1));
  }

  // Sends `op` with up to max_attempts attempts (plus one after a credentials refresh) and
  // returns the successful reply; on failure `ec` and `diag` describe the last attempt.
  asio::awaitable<http::response> execute(const op_request& op, std::error_code& ec,
                                          diagnostics& diag, execute_info& info);

  // The back-off wait before a retry: the user's clock hook or a steady_timer. False when the
  // operation was cancelled meanwhile.
  asio::awaitable<bool> back_off(std::chrono::milliseconds delay,
                                 const asio::cancellation_state& cancel_state);

  // PutObject and UploadPart behind every public form: `given` holds what the caller hashed
  // already, the flag asks for a Content-MD5 computed here (see make_put_object).
  asio::awaitable<put_result> put_object(std::string_view name, asio::const_buffer body,
                                         const object_options& opts, const body_digests& given,
                                         std::error_code& ec, diagnostics& diag);
  // With `streamed`, the body is read as it is sent (`body` must be empty; `given` carries no
  // CRC-64, the reader computes it).
  asio::awaitable<part_result> upload_part(std::string_view name, std::string_view upload_id,
                                           int part_number, asio::const_buffer body,
                                           bool content_md5, const body_digests& given,
                                           std::error_code& ec, diagnostics& diag,
                                           const streamed_body* streamed = nullptr);

  // The other operations behind every public form (one implementation each): they never
  // throw for request failures, but set `ec` (cleared on success) and fill `diag`. Arguments
  // passed by reference must outlive the returned awaitable.
  asio::awaitable<std::string> get_object(std::string_view name, std::error_code& ec, diagnostics& diag);
  asio::awaitable<object_meta> head(std::string_view name, std::error_code& ec, diagnostics& diag);
  // A ranged GetObject (make_get_range) whose 2xx body goes to `receiver`; returns the reply
  // (its head, and the body of an error document).
  asio::awaitable<http::response> get_range(std::string_view name, std::uint64_t first, std::uint64_t last,
                                            std::string_view etag, const body_receiver& receiver,
                                            std::error_code& ec, diagnostics& diag);
  asio::awaitable<std::string> initiate_multipart_upload(std::string_view name, const object_options& opts,
                                                         std::error_code& ec, diagnostics& diag);
  asio::awaitable<oss::complete_result> complete_multipart_upload(std::string_view name,
                                                                  std::string_view upload_id,
                                                                  std::vector<oss::completed_part> parts,
                                                                  std::error_code& ec, diagnostics& diag);
  asio::awaitable<void> abort_multipart_upload(std::string_view name, std::string_view upload_id,
                                               std::error_code& ec, diagnostics& diag);
  asio::awaitable<oss::list_parts_result> list_parts(std::string_view name, std::string_view upload_id,
                                                     const list_parts_options& opts, std::error_code& ec,
                                                     diagnostics& diag);
  asio::awaitable<oss::list_parts_result> list_all_parts(std::string_view name, std::string_view upload_id,
                                                         std::error_code& ec, diagnostics& diag);
  asio::awaitable<oss::list_uploads_result> list_multipart_uploads(const list_uploads_options& opts,
                                                                   std::error_code& ec, diagnostics& diag);

  // Asks HEAD whether a Complete of `parts` took effect although its reply was lost or
  // unreadable, and judges the answer with check_object_parts (object_check.hpp). Fills `out`
  // on a match. A failed HEAD is unknown (its reason says why), except NoSuchKey: differs.
  asio::awaitable<object_verdict> reconcile_complete(std::string_view name,
                                                     const std::vector<oss::completed_part>& parts,
                                                     oss::complete_result& out, std::error_code& head_ec);

  // How the server confirms the object our own Complete made of `made_of` (`size` bytes):
  // the reply's CRC-64 (S3: its multipart ETag), else what a HEAD shows, by the rule of
  // check_object_parts. `verdict.match` is matches when it did (`by_head`: through the HEAD),
  // differs when the object is not those parts, unknown when nothing proved either (the
  // reason says why).
  struct completed_object {
    object_verdict verdict;
    bool by_head = false;
  };
  asio::awaitable<completed_object> confirm_completed(std::string_view name,
                                                      const std::vector<oss::completed_part>& made_of,
                                                      std::uint64_t size, const oss::complete_result& reply);

  // S3 dialect with client_options::s3_content_md5: PutObject and UploadPart send Content-MD5.
  bool s3_content_md5() const noexcept {
    return options_.dialect == api_dialect::s3 && options_.s3_content_md5;
  }

  // x-oss-traffic-limit on a request carrying bytes `upward` (or down), under a budget that
  // asks for it (transfer_budget::limits::server_traffic_limit).
  void add_traffic_limit(op_request& op, bool upward) const {
    const transfer_budget* budget = options_.budget.get();
    if (!budget || !budget->get_limits().server_traffic_limit || options_.dialect != api_dialect::oss) return;
    const transfer_budget::limits& l = budget->get_limits();
    const std::uint64_t rate = upward ? l.upload_bytes_per_second : l.download_bytes_per_second;
    if (rate == 0) return;
    for (const auto& h : op.headers)
      if (http::iequals(h.first, "x-oss-traffic-limit")) return;
    op.headers.emplace_back("x-oss-traffic-limit", std::to_string(traffic_limit_bits(rate, l.connections)));
  }

  asio::any_io_executor ex_;
  client_options options_;
  service_endpoint endpoint_;
  transport::endpoint target_;
  std::string user_agent_;
  std::unique_ptr<asio::ssl::context> own_tls_;
  asio::ssl::context* tls_ = nullptr;
  std::unique_ptr<transport::connection_pool> pool_;
  // Shared with a refresh in flight, which may outlive the client by a little.
  std::shared_ptr<credentials_cache> creds_;
  retry_budget budget_;
  // Part buffers of the multipart uploads running on this client (engine/part_pool.hpp).
  std::shared_ptr<part_pool> part_pool_;
  // Server time minus local time. Atomic: operations on several threads read it while a
  // RequestTimeTooSkewed reply updates it; any recent value is good enough.
  std::atomic<std::int64_t> clock_offset_ms_{0};
  // client_counters; relaxed, they are statistics.
  std::atomic<std::uint64_t> requests_{0}, attempts_{0}, retries_{0}, retries_denied_{0},
      credential_retries_{0}, throttled_retries_{0};

  // Time for retry_time: the user's clock hook when set (tests advance it from their sleep
  // hook), else the steady clock.
  std::chrono::milliseconds steady_now() const {
    const auto t = options_.clock.now ? options_.clock.now().time_since_epoch()
                                      : std::chrono::steady_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::milliseconds>(t);
  }
};

// Says which rule of client_options::stall_timeout ended an attempt.
inline void note_stall(diagnostics& diag, transport::stall_kind kind, const transport::transport_options& t) {
  const std::string window = std::to_string(t.stall_timeout.count()) + " ms";
  switch (kind) {
    case transport::stall_kind::idle:
      append_note(diag, "no byte moved for " + window + " (stall_timeout)");
      break;
    case transport::stall_kind::slow:
      append_note(diag, "fewer than " + std::to_string(t.stall_min_bytes) + " bytes moved within " + window +
                            " (stall_timeout): the reply or the body was dripping");
      break;
    case transport::stall_kind::too_long:
      append_note(diag, "the request took longer than its size allows (4 stall_timeouts, plus one per " +
                            std::to_string(t.deadline_bytes_per_window / 1024) + " KiB sent and received)");
      break;
    case transport::stall_kind::none:
      break;
  }
}

inline void reset_attempt(diagnostics& diag, const op_request& op, int attempt) {
  diag.clear();
  diag.operation = std::string(op.operation);
  diag.part_number = op.part_number;
  diag.attempts = attempt;
}

inline asio::awaitable<bool> client_impl::back_off(std::chrono::milliseconds delay,
                                                   const asio::cancellation_state& cancel_state) {
  // Asio 1.22 throws from a co_await in a coroutine whose cancellation already fired; the
  // error-code contract wants operation_aborted instead.
  if (cancel_state.cancelled() != asio::cancellation_type::none) co_return false;
  if (options_.clock.sleep) {
    std::exception_ptr failure;
    try {
      asio::awaitable<void> waiting = options_.clock.sleep(delay);
      co_await std::move(waiting);
    } catch (...) {
      failure = std::current_exception();
    }
    // A hook may end a cancelled wait by throwing or by returning: both mean cancelled here.
    if (cancel_state.cancelled() != asio::cancellation_type::none) co_return false;
    if (failure) std::rethrow_exception(failure);
    co_return true;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  auto [wait_ec] = co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  co_return !wait_ec && cancel_state.cancelled() == asio::cancellation_type::none;
}

inline asio::awaitable<http::response> client_impl::execute(const op_request& op,
                                                            std::error_code& ec,
                                                            diagnostics& diag,
                                                            execute_info& info) {
  asio::cancellation_state cancel_state = co_await asio::this_coro::cancellation_state;
  const addressing_style style = effective_style(options_.address_style, endpoint_, options_.bucket);
  const std::string target = request_target(style, options_.bucket, op.key, op.query);
  const std::string host = host_header(options_.address_style, endpoint_, options_.bucket);
  const bool s3 = options_.dialect == api_dialect::s3;
  // Once per request, not per attempt: the body does not change between attempts.
  const std::string s3_path = s3 ? request_path(style, options_.bucket, op.key) : std::string();
  const std::string payload_hash = s3 ? s3_payload_hash(op, options_.s3_sign_payload) : std::string();
  transport::exchange_options xopts;
  xopts.head_request = op.head;
  xopts.max_response_body = op.max_response_body;
  xopts.fresh_connection = op.fresh_connection;
  if (op.streamed) {
    xopts.body_size = op.streamed->size;
    xopts.read_body = op.streamed->read;
  }
  if (op.receiver) {
    xopts.on_head = op.receiver->on_head;
    xopts.body_sink = op.receiver->sink;
    xopts.body_drain = op.receiver->drain;
  }
  requests_.fetch_add(1, std::memory_order_relaxed);

  std::uint32_t last_taken = 0;        // budget tokens of the latest retry, refunded on success
  std::uint64_t rejected_generation = 0;
  int credential_retries = 0;
  // Attempts that count against max_attempts: all but credential repeats and throttled ones.
  int counted_attempts = 0;
  const std::chrono::milliseconds first_attempt = steady_now();

  for (int attempt = 1;; ++attempt) {
    reset_attempt(diag, op, attempt);
    if (cancel_state.cancelled() != asio::cancellation_type::none) {
      ec = asio::error::operation_aborted;
      co_return http::response{};
    }

    credentials_cache::snapshot creds;
    if (creds_->refreshable()) {
      std::error_code cec;
      std::string problem;
      creds = co_await creds_->get(rejected_generation, cec, problem);
      if (cec) {
        ec = cec;
        diag.client_message = std::move(problem);
        co_return http::response{};
      }
    } else {
      creds = creds_->fixed();
    }
    if (cancel_state.cancelled() != asio::cancellation_type::none) {  // came during the fetch
      ec = asio::error::operation_aborted;
      co_return http::response{};
    }

    http::request req;
    req.method = op.method;
    req.target = target;
    req.headers.set("Host", host);
    req.headers.set("User-Agent", user_agent_);
    for (const auto& [name, value] : op.headers) req.headers.add(name, value);
    const auto now = std::chrono::system_clock::now() +
                     std::chrono::milliseconds(clock_offset_ms_.load(std::memory_order_relaxed));
    if (!s3)
      sign_request(req, options_.bucket, op.key, op.query, *creds.creds, options_.signature,
                   endpoint_.region, now);
    else if (!creds.creds->empty())  // anonymous S3 requests go unsigned, as in OSS
      s3_sign_request(req, s3_path, op.query, *creds.creds, endpoint_.region, now, payload_hash);

    std::error_code xec;
    transport::exchange_report report;
    attempts_.fetch_add(1, std::memory_order_relaxed);
    http::response reply = co_await pool_->exchange(target_, req, op.payload(), xopts, xec, report);

    retry_class cls = retry_class::fatal;
    std::optional<std::chrono::milliseconds> server_wait;  // Retry-After
    info.last_attempt_lost = false;
    if (xec) {
      ec = xec;
      if (xec == asio::error::operation_aborted) co_return http::response{};
      cls = classify(xec, 0);
      if (xec == client_errc::connection_timeout) note_stall(diag, report.stall, pool_->options());
      // Not one request byte written (refused, unresolvable, TLS handshake failed or timed out):
      // the server cannot have acted on it, so even Initiate may try again.
      const bool maybe_sent = report.request_bytes_written > 0;
      if (maybe_sent) {
        if (!op.retry_after_sending && cls != retry_class::fatal) {
          cls = retry_class::fatal;
          append_note(diag,
                      "not retried: the request may have reached the server, and a second attempt "
                      "could leave an orphaned multipart upload");
        }
        info.earlier_attempt_ambiguous = true;
        info.last_attempt_lost = true;
      }
    } else {
      error_body body;
      ec = check_reply(op, reply, diag, body);
      if (!ec) {
        budget_.on_success(last_taken);
        co_return reply;
      }
      if (ec == server_errc::request_time_too_skewed) {
        // Re-sign with the server's clock (cpp SDK enableDateSkewAdjustment, go2
        // FeatureCorrectClockSkew): the offset stays for every later request too.
        if (auto offset = server_clock_offset(reply, body.server_time, std::chrono::system_clock::now()))
          clock_offset_ms_.store(offset->count(), std::memory_order_relaxed);
      }
      if (creds_->refreshable() && is_credentials_refusal(ec, diag)) {
        // Refused before it was acted on, so repeating is safe for every operation. The first
        // refusal asks for new credentials (one fetch, shared with every request refused the
        // same ones). A later refusal is final, unless even newer credentials arrived while
        // this request was under way (it was signed before another rotation): those are used
        // without a further fetch.
        const bool newer = creds_->generation() > creds.generation;
        if (credential_retries < max_credential_retries && (credential_retries == 0 || newer)) {
          ++credential_retries;
          rejected_generation = creds.generation;
          credential_retries_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        append_note(diag, "the server refused the credentials again after they were refreshed");
      }
      cls = classify(ec, reply.status);
      if (cls != retry_class::fatal && is_throttling_code(diag.code)) cls = retry_class::throttled;
      if (cls != retry_class::fatal) server_wait = retry_after_delay(reply, now);
      // A retryable error reply (5xx, or a 200 whose body is an <Error>) may come from a
      // server that acted on the request all the same.
      if (cls != retry_class::fatal) info.earlier_attempt_ambiguous = true;
    }

    if (cls == retry_class::fatal) co_return http::response{};
    const bool throttled = cls == retry_class::throttled;
    if (!throttled) ++counted_attempts;
    // max_attempts = 1 turns every retry off, throttled ones included.
    if (options_.max_attempts == 1 || (!throttled && counted_attempts >= options_.max_attempts))
      co_return http::response{};

    const double random = options_.clock.random ? options_.clock.random() : jitter_random();
    std::chrono::milliseconds delay =
        retry_delay(cls, attempt, options_.retry_base_delay, options_.retry_max_delay, random);
    if (server_wait) {
      // The server named its wait: that, capped, plus a jitter below the base delay so that the
      // many requests it told the same do not return in one burst.
      delay = std::min(*server_wait, options_.max_retry_after) +
              std::chrono::milliseconds(static_cast<std::int64_t>(
                  std::clamp(random, 0.0, 1.0) * static_cast<double>(options_.retry_base_delay.count())));
    }

    if (throttled) {
      // Throttling is retried within retry_time from the first attempt, not max_attempts. It
      // neither pays nor waits for the retry budget: the server paces these retries (its
      // Retry-After, else the doubled back-off growing to retry_max_delay) and retry_time ends
      // them, so a throttling store can neither drain the budget that guards against dead
      // endpoints nor cause a storm.
      const std::chrono::milliseconds spent = steady_now() - first_attempt;
      if (spent + delay > options_.retry_time) {
        append_note(diag, "not retried: the server kept throttling this request for " +
                              std::to_string(spent.count()) + " ms and the next wait (" +
                              std::to_string(delay.count()) + " ms) would exceed the retry time (" +
                              std::to_string(options_.retry_time.count()) + " ms)");
        co_return http::response{};
      }
    } else {
      std::uint32_t taken = 0;
      if (!budget_.try_acquire(ec == client_errc::connection_timeout, taken)) {
        retries_denied_.fetch_add(1, std::memory_order_relaxed);
        append_note(diag,
                    "not retried: the client's retry budget is exhausted, because many requests "
                    "of this client failed recently (is the endpoint down?); it refills as "
                    "requests succeed");
        co_return http::response{};
      }
      last_taken = taken;
    }

    // Asio 1.22 throws operation_aborted from the co_await of a coroutine once the caller's
    // cancellation fired (throw_if_cancelled): look before calling one, so that a cancellation
    // that came with the reply ends the request with the error code, not an exception.
    bool waited = false;
    if (cancel_state.cancelled() == asio::cancellation_type::none) waited = co_await back_off(delay, cancel_state);
    if (!waited) {
      reset_attempt(diag, op, attempt);
      ec = asio::error::operation_aborted;
      co_return http::response{};
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    if (throttled) throttled_retries_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace oss::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_OPS_IMPL_REQUEST_LOOP_IPP
