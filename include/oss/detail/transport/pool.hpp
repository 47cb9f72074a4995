// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_POOL_HPP
#define OSS_DETAIL_TRANSPORT_POOL_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/transport/endpoint.hpp>
#include <oss/detail/transport/rate_limit.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace asio::ssl {
class context;
}

// L2: sockets, TLS, keep-alive pool, timeouts. Bytes and HTTP framing only: nothing here knows
// about OSS, signing or credentials.
namespace oss::detail::transport {

struct transport_options {
  // Resolve + TCP connect + TLS handshake, as one deadline per new connection.
  std::chrono::milliseconds connect_timeout{10000};
  // The window of the progress rules; an exchange fails (client_errc::connection_timeout)
  //  - when no byte moved in either direction for this long (idle), or
  //  - when fewer than `stall_min_bytes` moved within this long from the first byte of a window
  //    (slow: a peer dripping bytes to keep the idle rule quiet). A window opens at the first
  //    byte after the previous window filled, and the request and the reply have their own
  //    windows (the server's think time between them is the idle rule's business), or
  //  - when the whole exchange takes longer than
  //    stall_timeout * (4 + (request bytes + reply bytes) / deadline_bytes_per_window), the reply
  //    counted by its Content-Length, else by the bytes received so far (too long: a peer that
  //    moves just enough per window to pass the floor, forever). The idle and floor rules
  //    already hold a small exchange to about three windows (request, think time, reply), so
  //    the grace of four never cuts what they let through.
  // A slow but real transfer (at least stall_min_bytes and on average deadline_bytes_per_window
  // per stall_timeout) never trips them, however long it takes.
  std::chrono::milliseconds stall_timeout{30000};
  std::uint64_t stall_min_bytes = 4096;
  std::uint64_t deadline_bytes_per_window = 64 * 1024;
  // Open connections (busy + idle) per endpoint; further exchanges wait for one to free up.
  std::size_t max_connections_per_endpoint = 64;
  // Verify the server certificate chain against the context's trust store and its name against
  // endpoint::host. Only tests against self-signed servers should turn this off.
  bool verify_peer = true;
  // Bandwidth limits shared with other pools (oss::transfer_budget), bytes per second of
  // request bytes sent and of reply bytes received; null: none. Writes go in slices of
  // token_bucket::slice() bytes, each after its wait; a read waits after it by what it took.
  std::shared_ptr<token_bucket> send_limit;
  std::shared_ptr<token_bucket> receive_limit;
};

struct exchange_options {
  // The response carries no body whatever its Content-Length says, as for HEAD (a request
  // whose method is "HEAD" implies it).
  bool head_request = false;
  // Largest response body buffered into response::body; more fails with
  // client_errc::response_too_large. Not applied when body_sink is set.
  std::size_t max_response_body = 64 * 1024 * 1024;
  // When set, response body bytes go here as they arrive and response::body stays empty.
  // The sink runs on the exchange's executor and must not block.
  std::function<void(std::string_view)> body_sink;
  // When set, body_sink takes only the bodies this accepts. Called on every attempt once the
  // reply's head is parsed, before any of its body: true sends the body to body_sink, false
  // buffers it into response::body under max_response_body (an error document); an error it
  // sets ends the exchange with that error, and the connection is closed. A ranged download
  // checks status, Content-Range and ETag here, before a byte of a wrong body is written.
  std::function<bool(int status, const http::fields& headers, std::error_code& ec)> on_head;
  // When set, awaited after each read whose bytes went to body_sink (`last`: the body is
  // complete), so the sink can stage bytes and write them out asynchronously; an error ends the
  // exchange as above.
  std::function<asio::awaitable<std::error_code>(bool last)> body_drain;
  // Run on a newly opened connection, never an idle one. For requests that must not be sent
  // twice (a POST whose effect cannot be detected): on a fresh connection the stale-connection
  // retry never applies, so an error means "maybe processed" and the caller decides. An idle
  // connection is closed instead to stay within the limit; afterwards the new connection joins
  // the pool as usual.
  bool fresh_connection = false;
  // A request body read piece by piece as it is sent, instead of the `body` buffer (which must
  // then be empty): `body_size` bytes. `read_body(offset)` gives the bytes from `offset` on (at
  // least one, at most what is left) in a buffer of the caller's that stays valid until the
  // next call or the end of the exchange; it is called in order from offset 0 on every attempt
  // (a replay on a fresh connection reads again). An error it returns ends the exchange with
  // that error, and the connection is closed (its request is incomplete).
  std::uint64_t body_size = 0;
  std::function<asio::awaitable<std::pair<std::error_code, asio::const_buffer>>(std::uint64_t offset)> read_body;
};

// What one exchange did on the wire, besides its outcome. The error code alone cannot say
// whether the server may have seen the request: client_errc::connection_timeout, for one, is
// both "the TLS handshake never finished" and "the reply never came".
// Which rule of transport_options::stall_timeout ended an exchange.
enum class stall_kind {
  none,      // no stall (or the connect timeout, which writes no byte)
  idle,      // no byte moved for stall_timeout
  slow,      // fewer than stall_min_bytes moved within stall_timeout
  too_long,  // the exchange outlasted the bound its size allows
};

struct exchange_report {
  // Request bytes (head and body) the socket accepted, summed over every attempt of the
  // exchange (a replay after a stale connection included). 0 proves that no byte of the request
  // left this process, whatever the error: the exchange failed while resolving, connecting or
  // in the TLS handshake (or their timeout), so the server cannot have acted on it.
  std::uint64_t request_bytes_written = 0;
  // Set with client_errc::connection_timeout after the connection was up.
  stall_kind stall = stall_kind::none;
};

// Monotonic counters, for tests and diagnostics.
struct pool_counters {
  std::uint64_t connections_opened = 0;   // TCP (+TLS) connections established
  std::uint64_t connections_reused = 0;   // exchanges that ran on an idle pooled connection
  std::uint64_t connections_dropped = 0;  // closed after an error, timeout, or Connection: close
  std::uint64_t stale_retries = 0;        // exchanges retried because a pooled connection was dead
  std::size_t open_connections = 0;       // currently open (busy + idle), all endpoints
  std::size_t peak_open_connections = 0;  // high-water mark of open_connections
};

// A keep-alive connection pool with a per-endpoint limit.
//
// Thread safety: exchange() may be called concurrently from any thread of the executor's
// context; the pool's state is guarded internally. The pool must outlive every exchange.
// Destroying it closes idle connections.
class connection_pool {
 public:
  // `tls` is used for every TLS endpoint and must outlive the pool (the client owns it, set
  // up with set_default_verify_paths()). Its verify mode is overridden per stream by
  // transport_options::verify_peer.
  OSS_DECL connection_pool(asio::any_io_executor ex, asio::ssl::context& tls, transport_options opts = {});
  OSS_DECL ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  // Sends `req` and `body` and reads the response.
  //
  // The head and body go out as one gather write (the body is never copied). The transport
  // adds "Host" (host, plus ":port" when not the scheme default) and "Content-Length: <body
  // size>" when the request lacks them; a Content-Length that disagrees with the body size
  // throws std::invalid_argument (a bug above). `body` must stay valid until completion.
  //
  // Errors (in `ec`; the returned response is then empty):
  //  - client_errc::connection_timeout: connect_timeout (resolve + connect + TLS handshake)
  //    or stall_timeout (no byte moved) expired;
  //  - client_errc::malformed_response / response_too_large from the parser;
  //  - Asio / OpenSSL / system codes unchanged (refused, reset, eof mid-response, certificate
  //    verify failed, ...);
  //  - asio::error::operation_aborted when the awaiting coroutine's terminal cancellation
  //    fired: the connection is closed and the exchange completes.
  // A connection is reused only after a complete response that allows keep-alive; after any
  // error or timeout it is closed. If a connection taken from the idle list turns out to be
  // dead (write fails, or EOF/reset before the first response byte) the exchange is retried
  // once on a new connection; no other failure is retried here. When a write fails because the
  // server closed early (it may answer 4xx before reading a large body), the response it sent
  // is still read and returned if it arrived complete.
  OSS_DECL asio::awaitable<http::response> exchange(const endpoint& ep, const http::request& req,
                                                    asio::const_buffer body, const exchange_options& opts,
                                                    std::error_code& ec);
  // The same, also filling `report` (reset first), on success and on every error.
  OSS_DECL asio::awaitable<http::response> exchange(const endpoint& ep, const http::request& req,
                                                    asio::const_buffer body, const exchange_options& opts,
                                                    std::error_code& ec, exchange_report& report);

  // Closes every idle connection (busy ones close when their exchange ends).
  OSS_DECL void close_idle();

  OSS_DECL pool_counters counters() const;
  OSS_DECL const transport_options& options() const noexcept;
  OSS_DECL asio::any_io_executor get_executor() const noexcept;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace oss::detail::transport

#ifdef OSS_HEADER_ONLY
#include <oss/detail/transport/impl/pool.ipp>
#endif

#endif  // OSS_DETAIL_TRANSPORT_POOL_HPP
