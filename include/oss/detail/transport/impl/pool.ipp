// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_IMPL_POOL_IPP
#define OSS_DETAIL_TRANSPORT_IMPL_POOL_IPP

#include <oss/detail/http/parser.hpp>
#include <oss/detail/transport/connection.hpp>
#include <oss/detail/transport/pool.hpp>
#include <oss/error.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/address.hpp>
#include <asio/ssl/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

// How one exchange runs (connection_pool::impl::exchange):
//  1. Take a permit from the endpoint's semaphore (a concurrent_channel<void()> whose capacity is
//     the connection limit; async_send blocks while all permits are out). Holding a permit
//     entitles the exchange to one connection, so busy + idle connections never exceed the
//     limit: a new one is opened only when no idle one exists.
//  2. Pop the most recently used idle connection, skipping dead ones; else open one, racing
//     resolve + connect + TLS handshake against connect_timeout.
//  3. Write head + body with gather writes and read the response into the parser, racing the
//     whole I/O against a stall watchdog that applies the rules of transport_options::
//     stall_timeout (idle, progress floor per window, bound from the size). One race per
//     exchange (not per operation) keeps multi-GiB TLS bodies cheap: each 16 KiB record only
//     stamps the progress counters (and adds to the request bytes written, which the caller
//     gets in exchange_report).
//  4. Keep the connection only after a complete keep-alive response with no stray bytes; close it
//     after anything else. A reused connection that failed before any response byte is retried
//     once on a fresh connection (the server closed it while it sat idle).
//  5. Return the connection (if kept), then the permit, waking the next waiter.
// Cancellation: the caller's terminal cancellation reaches the race, which cancels the socket
// operation in flight; the connection is closed and the exchange completes with
// operation_aborted. Asio 1.22 awaitables throw operation_aborted from any later co_await of a
// cancelled coroutine, so each stage catches std::system_error and turns it into an error code.
namespace oss::detail::transport {

namespace pool_detail {

using asio::experimental::as_tuple;
using permit_channel = asio::experimental::concurrent_channel<void()>;
using clock = std::chrono::steady_clock;

constexpr std::size_t read_buffer_size = 64 * 1024;

struct endpoint_state {
  endpoint_state(const asio::any_io_executor& ex, endpoint e, std::size_t limit)
      : ep(std::move(e)), permits(ex, limit) {}
  endpoint ep;
  permit_channel permits;
  std::vector<std::unique_ptr<connection>> idle;  // guarded by impl::mutex
};

// Shared by the I/O coroutine and the watchdog, which may run on different threads. Only the
// I/O side writes the window fields; the watchdog reads them (a stale read is off by one piece).
struct progress {
  progress(std::uint64_t min_bytes, std::uint64_t request_bytes) noexcept
      : window_min(min_bytes), request_size(request_bytes) {}

  const std::uint64_t window_min;   // stall_min_bytes
  const std::uint64_t request_size; // head + body
  const clock::time_point started = clock::now();
  std::atomic<clock::rep> last{clock::now().time_since_epoch().count()};
  // First byte of the open window, 0 when none is open (the next byte opens one).
  std::atomic<clock::rep> window_start{0};
  std::atomic<std::uint64_t> window_bytes{0};
  // Reply body size (Content-Length) once the head arrived, and reply bytes received so far.
  std::atomic<std::uint64_t> reply_expected{0};
  std::atomic<std::uint64_t> reply_received{0};
  std::atomic<stall_kind> stall{stall_kind::none};
  // Request bytes the socket accepted. Kept here, not in io_result: when the watchdog wins the
  // race the I/O coroutine's result is lost, and this count is exactly what the caller needs then.
  std::atomic<std::uint64_t> written{0};

  void touch(std::size_t n) noexcept {
    const clock::rep now = clock::now().time_since_epoch().count();
    last.store(now, std::memory_order_relaxed);
    if (window_start.load(std::memory_order_relaxed) == 0) {
      window_bytes.store(0, std::memory_order_relaxed);
      window_start.store(now, std::memory_order_relaxed);
    }
    const std::uint64_t in_window = window_bytes.fetch_add(n, std::memory_order_relaxed) + n;
    if (in_window >= window_min) window_start.store(0, std::memory_order_relaxed);
  }
  // The request is out: the reply gets a window of its own, opened by its first byte.
  void request_sent() noexcept {
    last.store(clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    window_start.store(0, std::memory_order_relaxed);
  }
  clock::time_point last_time() const noexcept {
    return clock::time_point(clock::duration(last.load(std::memory_order_relaxed)));
  }
  // When the open window fails the floor, or nullopt.
  std::optional<clock::time_point> window_due(std::chrono::milliseconds stall) const noexcept {
    const clock::rep start = window_start.load(std::memory_order_relaxed);
    if (start == 0) return std::nullopt;
    return clock::time_point(clock::duration(start)) + stall;
  }
  // stall * (4 + (request + reply bytes) / per_window): the whole exchange's bound.
  clock::time_point deadline(std::chrono::milliseconds stall, std::uint64_t per_window) const noexcept {
    const std::uint64_t reply =
        std::max(reply_expected.load(std::memory_order_relaxed), reply_received.load(std::memory_order_relaxed));
    const std::uint64_t bytes = request_size + reply;
    const long double windows =
        4.0L + static_cast<long double>(bytes) / static_cast<long double>(std::max<std::uint64_t>(per_window, 1));
    const long double ms = windows * static_cast<long double>(stall.count());
    // Beyond about 30 years the bound means nothing; it also keeps the conversion in range.
    constexpr long double cap = 1e12L;
    return started + std::chrono::milliseconds(static_cast<std::int64_t>(ms < cap ? ms : cap));
  }
};

struct io_result {
  std::error_code ec;
  http::response response;
  bool keep_alive = false;
  bool stale = false;  // failed before any response byte in a way a dead idle connection fails
  std::uint64_t written = 0;  // request bytes the socket accepted (set by transfer, from progress)
  stall_kind stall = stall_kind::none;  // set by transfer
};

// How a connection the peer already closed fails when we use it again.
inline bool is_stale_error(const std::error_code& ec) noexcept {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
         ec == asio::error::broken_pipe || ec == asio::error::not_connected;
}

inline bool is_method(std::string_view m, std::string_view x) noexcept { return m == x; }

// The request body's length: read_body's, else the buffer's.
inline std::uint64_t body_size_of(const exchange_options& eo, asio::const_buffer body) noexcept {
  return eo.read_body ? eo.body_size : body.size();
}

inline std::string host_header(const endpoint& ep) {
  std::string host = ep.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6 literal
  if (ep.port != (ep.tls ? 443 : 80)) host += ":" + std::to_string(ep.port);
  return host;
}

inline std::string build_head(const endpoint& ep, const http::request& req, std::size_t body_size) {
  if (req.headers.find("transfer-encoding") != nullptr)
    throw std::invalid_argument("transport: request bodies are framed by Content-Length, not Transfer-Encoding");
  const std::string* cl = req.headers.find("content-length");
  if (cl != nullptr && (req.headers.count("content-length") != 1 || *cl != std::to_string(body_size)))
    throw std::invalid_argument("transport: Content-Length does not match the body size");
  bool need_host = req.headers.find("host") == nullptr;
  // A PUT or POST without a body still needs "Content-Length: 0" (OSS answers 411 otherwise).
  bool need_length = cl == nullptr && (body_size > 0 || is_method(req.method, "PUT") ||
                                       is_method(req.method, "POST") || is_method(req.method, "PATCH"));
  std::string head = http::serialize_head(req);
  if (!need_host && !need_length) return head;
  // Appended before the blank line that ends the head, instead of serializing a copy of the
  // request with two more fields: no per-exchange copy of every header. Both values are made
  // here from the endpoint (checked like any field value) and a number.
  head.resize(head.size() - 2);
  if (need_host) {
    std::string host = host_header(ep);
    if (!http::is_valid_field_value(host)) throw std::invalid_argument("transport: invalid Host value");
    head.append("Host: ").append(host).append("\r\n");
  }
  if (need_length) head.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
  head.append("\r\n");
  return head;
}

inline asio::awaitable<std::error_code> connect_task(connection& c, asio::ssl::context& tls, bool verify_peer) {
  std::error_code ec;
  try {
    ec = co_await c.connect(tls, verify_peer);
  } catch (const std::system_error& e) {
    ec = e.code();
  }
  co_return ec;
}

// True when the deadline passed; false when it was cancelled.
inline asio::awaitable<bool> deadline(std::chrono::milliseconds after) {
  bool fired = false;
  try {
    asio::steady_timer timer(co_await asio::this_coro::executor, after);
    auto [ec] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
    fired = !ec;
  } catch (const std::system_error&) {
  }
  co_return fired;
}

// Completes when a rule of transport_options::stall_timeout fires (setting prog.stall) or when
// cancelled.
inline asio::awaitable<void> stall_watchdog(std::chrono::milliseconds stall, std::uint64_t per_window,
                                            progress& prog) {
  try {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (true) {
      const auto now = clock::now();
      const auto idle_due = prog.last_time() + stall;
      const auto window_due = prog.window_due(stall);
      const auto deadline = prog.deadline(stall, per_window);
      stall_kind fired = stall_kind::none;
      if (now >= idle_due)
        fired = stall_kind::idle;
      else if (window_due && now >= *window_due)
        fired = stall_kind::slow;
      else if (now >= deadline)
        fired = stall_kind::too_long;
      if (fired != stall_kind::none) {
        prog.stall = fired;
        co_return;
      }
      auto due = std::min(idle_due, deadline);
      if (window_due) due = std::min(due, *window_due);
      timer.expires_at(due);
      auto [ec] = co_await timer.async_wait(as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  } catch (const std::system_error&) {
  }
}

// Waits as long as `limit` says `n` bytes must (none without a limit).
inline asio::awaitable<void> pace(token_bucket* limit, std::uint64_t n) {
  if (!limit || n == 0) co_return;
  const auto wait = limit->take(n);
  if (wait <= token_bucket::clock::duration::zero()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor, wait);
  co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

// write_all under a send limit: every byte of `bufs`, in slices of the limit's size, each
// after its wait. Without a limit, write_all itself.
inline asio::awaitable<std::pair<std::error_code, std::size_t>> write_paced(
    connection& c, const std::array<asio::const_buffer, 2>& bufs, token_bucket* limit,
    const std::function<void(std::size_t)>& on_written) {
  if (!limit) co_return co_await c.write_all(bufs, on_written);
  std::size_t total = 0;
  for (asio::const_buffer b : bufs) {
    while (b.size() > 0) {
      const std::size_t n = std::min(b.size(), limit->slice());
      co_await pace(limit, n);
      const std::array<asio::const_buffer, 2> slice{asio::const_buffer(b.data(), n), asio::const_buffer()};
      auto [ec, written] = co_await c.write_all(slice, on_written);
      total += written;
      if (ec) co_return std::make_pair(ec, total);
      b += n;
    }
  }
  co_return std::make_pair(std::error_code(), total);
}

// Writes the head and a read_body request's body, piece by piece through one buffer. Returns
// the error and whether it came from read_body (not from the socket).
inline asio::awaitable<std::pair<std::error_code, bool>> write_streamed(
    connection& c, const std::string& head, const exchange_options& opts, token_bucket* send_limit,
    const std::function<void(std::size_t)>& on_written) {
  std::uint64_t sent = 0;
  bool first = true;
  do {
    asio::const_buffer piece;
    if (sent < opts.body_size) {
      auto [read_ec, got] = co_await opts.read_body(sent);
      if (read_ec) co_return std::make_pair(read_ec, true);
      if (got.size() == 0 || got.size() > opts.body_size - sent)
        throw std::logic_error("transport: read_body gave no bytes or more than the body has left");
      piece = got;
    }
    // The head shares the first write (and TLS record) with the first piece.
    const std::array<asio::const_buffer, 2> bufs{first ? asio::buffer(head) : asio::const_buffer(), piece};
    auto [write_ec, written] = co_await write_paced(c, bufs, send_limit, on_written);
    (void)written;
    if (write_ec) co_return std::make_pair(write_ec, false);
    sent += piece.size();
    first = false;
  } while (sent < opts.body_size);
  co_return std::make_pair(std::error_code(), false);
}

inline asio::awaitable<io_result> io_task(connection& c, const std::string& head, asio::const_buffer body,
                                          const exchange_options& opts, bool head_request, progress& prog,
                                          token_bucket* send_limit, token_bucket* receive_limit) {
  io_result r;
  try {
    // Head and body leave in gather writes straight from the caller's memory (or the reader's
    // pieces), whose progress hook feeds the stall watchdog and the written-bytes count.
    const std::function<void(std::size_t)> on_written = [&prog](std::size_t n) {
      prog.touch(n);
      prog.written.fetch_add(n, std::memory_order_relaxed);
    };
    std::error_code write_ec;
    if (opts.read_body) {
      auto [streamed_ec, from_reader] = co_await write_streamed(c, head, opts, send_limit, on_written);
      if (from_reader) {
        r.ec = streamed_ec;
        co_return r;
      }
      write_ec = streamed_ec;
    } else {
      const std::array<asio::const_buffer, 2> request{asio::buffer(head), body};
      auto [ec, written] = co_await write_paced(c, request, send_limit, on_written);
      (void)written;  // counted through on_written, into prog.written
      write_ec = ec;
    }
    prog.request_sent();
    // A server that rejects a request early (413, 403) may answer and close before reading the
    // whole body; our write then fails, but its reply may be waiting in the receive buffer.
    if (write_ec && write_ec != asio::error::broken_pipe && write_ec != asio::error::connection_reset) {
      r.ec = write_ec;
      r.stale = is_stale_error(write_ec);
      co_return r;
    }

    http::message_parser parser(http::parser_kind::response,
                                http::parser_limits{64 * 1024, opts.max_response_body});
    if (head_request) parser.expect_no_body();
    if (opts.body_sink && !opts.on_head) parser.set_body_sink(opts.body_sink);
    bool sinking = opts.body_sink && !opts.on_head;
    bool drained_last = false;
    // Not zero-filled: 64 KiB of memset per exchange showed up at small part sizes.
    auto buf = std::make_unique_for_overwrite<char[]>(read_buffer_size);
    bool stray_bytes = false;
    while (!parser.done()) {
      // Under a receive limit each read is at most a slice, and waits after it by what it took.
      const std::size_t room = receive_limit ? std::min(read_buffer_size, receive_limit->slice()) : read_buffer_size;
      auto [rec, n] = co_await c.read_some(asio::buffer(buf.get(), room));
      if (n > 0 && receive_limit) co_await pace(receive_limit, n);
      if (n > 0) {
        prog.touch(n);
        prog.reply_received.fetch_add(n, std::memory_order_relaxed);
        std::string_view data(buf.get(), n);
        while (!data.empty() && !parser.done()) {
          std::error_code pec;
          const bool had_head = parser.header_done();
          std::size_t used = parser.feed(data, pec);
          if (!pec && used == 0) pec = client_errc::malformed_response;  // cannot happen; never spin
          if (pec) {
            r.ec = pec;
            co_return r;
          }
          if (!had_head && parser.header_done()) {
            if (auto length = parser.content_length()) prog.reply_expected.store(*length, std::memory_order_relaxed);
            if (opts.on_head) {
              std::error_code hec;
              sinking = opts.on_head(parser.status(), parser.headers(), hec) && opts.body_sink;
              if (hec) {
                r.ec = hec;
                co_return r;
              }
              if (sinking) parser.set_body_sink(opts.body_sink);
            }
          }
          data.remove_prefix(used);
        }
        stray_bytes = stray_bytes || !data.empty();
        if (sinking && opts.body_drain && parser.header_done()) {
          drained_last = parser.done();
          if (std::error_code dec = co_await opts.body_drain(drained_last)) {
            r.ec = dec;
            co_return r;
          }
        }
      }
      if (rec && !parser.done()) {
        // Servers often skip close_notify; for a close-delimited body the TCP FIN is the end.
        bool closed = rec == asio::error::eof || rec == asio::ssl::error::stream_truncated;
        if (closed && parser.header_done() && parser.body_until_eof()) {
          std::error_code pec;
          parser.finish_on_eof(pec);
          break;
        }
        // After a failed write, the write's error is the one that explains what happened.
        r.ec = write_ec ? write_ec : rec;
        r.stale = !parser.started() && is_stale_error(r.ec);
        co_return r;
      }
    }
    // A body that ran until the connection closed ended without a read to drain after.
    if (sinking && opts.body_drain && !drained_last) {
      if (std::error_code dec = co_await opts.body_drain(true)) {
        r.ec = dec;
        co_return r;
      }
    }
    r.keep_alive = parser.keep_alive() && !stray_bytes && !write_ec;
    r.response = parser.release_response();
  } catch (const std::system_error& e) {
    r.ec = e.code();
    r.stale = false;
  }
  co_return r;
}

}  // namespace pool_detail

struct connection_pool::impl {
  impl(asio::any_io_executor e, asio::ssl::context& t, transport_options o)
      : ex(std::move(e)), tls(t), opts(o) {
    opts.max_connections_per_endpoint = std::max<std::size_t>(opts.max_connections_per_endpoint, 1);
  }

  asio::any_io_executor ex;
  asio::ssl::context& tls;
  transport_options opts;

  mutable std::mutex mutex;
  std::vector<std::unique_ptr<pool_detail::endpoint_state>> endpoints;  // few: linear search
  pool_counters stats;

  pool_detail::endpoint_state& state_for(const endpoint& ep) {
    std::lock_guard lock(mutex);
    for (auto& s : endpoints)
      if (s->ep == ep) return *s;
    endpoints.push_back(std::make_unique<pool_detail::endpoint_state>(ex, ep, opts.max_connections_per_endpoint));
    return *endpoints.back();
  }

  // The most recently used live idle connection, or nullptr. With `fresh`, one idle
  // connection is closed instead so that the caller's new one keeps the count within the limit.
  std::unique_ptr<connection> take_idle(pool_detail::endpoint_state& es, bool fresh) {
    std::lock_guard lock(mutex);
    if (fresh) {
      if (!es.idle.empty()) {
        es.idle.front()->close();
        es.idle.erase(es.idle.begin());
        --stats.open_connections;
        ++stats.connections_dropped;
      }
      return nullptr;
    }
    while (!es.idle.empty()) {
      std::unique_ptr<connection> c = std::move(es.idle.back());
      es.idle.pop_back();
      if (c->readable_while_idle()) {
        c->close();
        --stats.open_connections;
        ++stats.connections_dropped;
        continue;
      }
      c->reused = true;
      ++stats.connections_reused;
      return c;
    }
    return nullptr;
  }

  void give_back(pool_detail::endpoint_state& es, std::unique_ptr<connection> c) {
    std::lock_guard lock(mutex);
    es.idle.push_back(std::move(c));
  }

  void note_opened() {
    std::lock_guard lock(mutex);
    ++stats.connections_opened;
    ++stats.open_connections;
    stats.peak_open_connections = std::max(stats.peak_open_connections, stats.open_connections);
  }

  void discard(std::unique_ptr<connection> c, bool counted) {
    c->close();
    if (!counted) return;
    std::lock_guard lock(mutex);
    --stats.open_connections;
    ++stats.connections_dropped;
  }

  void note_retry() {
    std::lock_guard lock(mutex);
    ++stats.stale_retries;
  }

  void close_idle() {
    std::lock_guard lock(mutex);
    for (auto& s : endpoints) {
      for (auto& c : s->idle) c->close();
      stats.open_connections -= s->idle.size();
      s->idle.clear();
    }
  }

  // A connection held by one exchange; closed and uncounted unless handed back.
  struct lease {
    impl* pool;
    std::unique_ptr<connection> conn;
    bool counted = false;
    ~lease() {
      if (conn) pool->discard(std::move(conn), counted);
    }
  };

  struct permit {
    pool_detail::endpoint_state* es;
    ~permit() {
      es->permits.try_receive([](auto...) {});
    }
  };

  static bool was_cancelled(const asio::cancellation_state& cs) noexcept {
    return cs.cancelled() != asio::cancellation_type::none;
  }

  asio::awaitable<std::error_code> open(connection& c) {
    using namespace asio::experimental::awaitable_operators;
    auto raced = co_await (pool_detail::connect_task(c, tls, opts.verify_peer) ||
                           pool_detail::deadline(opts.connect_timeout));
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    std::error_code ec;
    if (raced.index() == 0)
      ec = std::get<0>(raced);
    else
      ec = std::get<1>(raced) ? make_error_code(client_errc::connection_timeout)
                              : std::error_code(asio::error::operation_aborted);
    if (ec && was_cancelled(cs)) ec = asio::error::operation_aborted;
    co_return ec;
  }

  asio::awaitable<pool_detail::io_result> transfer(connection& c, const std::string& head, asio::const_buffer body,
                                                   const exchange_options& eo, bool head_request) {
    using namespace asio::experimental::awaitable_operators;
    pool_detail::progress prog(opts.stall_min_bytes, head.size() + pool_detail::body_size_of(eo, body));
    auto raced = co_await (pool_detail::io_task(c, head, body, eo, head_request, prog, opts.send_limit.get(),
                                                opts.receive_limit.get()) ||
                           pool_detail::stall_watchdog(opts.stall_timeout, opts.deadline_bytes_per_window, prog));
    asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
    pool_detail::io_result r;
    if (raced.index() == 0)
      r = std::move(std::get<0>(raced));
    else
      r.ec = asio::error::operation_aborted;
    r.written = prog.written.load(std::memory_order_relaxed);
    r.stall = prog.stall.load();
    if (r.stall != stall_kind::none) {
      r.ec = client_errc::connection_timeout;
      r.stale = false;
    } else if (r.ec && was_cancelled(cs)) {
      r.ec = asio::error::operation_aborted;
      r.stale = false;
    }
    co_return r;
  }

  asio::awaitable<http::response> exchange(const endpoint& ep, const http::request& req, asio::const_buffer body,
                                           const exchange_options& eo, std::error_code& ec,
                                           exchange_report& report) {
    ec.clear();
    report = exchange_report{};
    // Bugs above (bad header, mismatched length) throw here, before any I/O.
    if (eo.read_body && body.size() != 0) throw std::invalid_argument("transport: a body buffer and read_body");
    const std::string head =
        pool_detail::build_head(ep, req, static_cast<std::size_t>(pool_detail::body_size_of(eo, body)));
    const bool head_request = eo.head_request || req.method == "HEAD";
    pool_detail::endpoint_state& es = state_for(ep);
    http::response out;
    try {
      auto [pec] = co_await es.permits.async_send(pool_detail::as_tuple(asio::use_awaitable));
      if (pec) {
        ec = asio::error::operation_aborted;  // channel_cancelled: only cancellation stops a wait
        co_return out;
      }
      permit held{&es};
      for (int attempt = 0;; ++attempt) {
        lease l{this, take_idle(es, eo.fresh_connection)};
        const bool reused = l.conn != nullptr;
        l.counted = reused;
        if (!reused) {
          l.conn = std::make_unique<connection>(ex, ep);
          ec = co_await open(*l.conn);
          if (ec) break;
          note_opened();
          l.counted = true;
        }
        pool_detail::io_result r = co_await transfer(*l.conn, head, body, eo, head_request);
        report.request_bytes_written += r.written;
        report.stall = r.stall;
        ec = r.ec;
        if (!ec) {
          if (r.keep_alive) give_back(es, std::move(l.conn));
          out = std::move(r.response);
          break;
        }
        if (!(r.stale && reused && attempt == 0)) break;
        note_retry();
        ec.clear();
      }
    } catch (const std::system_error& e) {
      ec = e.code();
      out = http::response{};
    }
    co_return out;
  }
};

OSS_DECL connection_pool::connection_pool(asio::any_io_executor ex, asio::ssl::context& tls, transport_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), tls, opts)) {}

OSS_DECL connection_pool::~connection_pool() { impl_->close_idle(); }

OSS_DECL asio::awaitable<http::response> connection_pool::exchange(const endpoint& ep, const http::request& req,
                                                                   asio::const_buffer body,
                                                                   const exchange_options& opts, std::error_code& ec) {
  exchange_report ignored;
  co_return co_await exchange(ep, req, body, opts, ec, ignored);
}

OSS_DECL asio::awaitable<http::response> connection_pool::exchange(const endpoint& ep, const http::request& req,
                                                                   asio::const_buffer body,
                                                                   const exchange_options& opts, std::error_code& ec,
                                                                   exchange_report& report) {
  // The coroutine keeps the state alive even if the pool object goes away mid-flight.
  std::shared_ptr<impl> self = impl_;
  co_return co_await self->exchange(ep, req, body, opts, ec, report);
}

OSS_DECL void connection_pool::close_idle() { impl_->close_idle(); }

OSS_DECL pool_counters connection_pool::counters() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

OSS_DECL const transport_options& connection_pool::options() const noexcept { return impl_->opts; }

OSS_DECL asio::any_io_executor connection_pool::get_executor() const noexcept { return impl_->ex; }

}  // namespace oss::detail::transport

#endif  // OSS_DETAIL_TRANSPORT_IMPL_POOL_IPP
