// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_CONNECTION_IPP
#define OSS_TESTING_SERVER_IMPL_CONNECTION_IPP

#include <oss/testing/server/connection.hpp>

#include <oss/error.hpp>
#include <oss/testing/server/faults.hpp>
#include <oss/testing/server/server.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>

namespace oss::testing::detail {
namespace connection_impl {

namespace http = oss::detail::http;
using asio::experimental::as_tuple;

constexpr std::size_t io_chunk = 256 * 1024;

// Under x-oss-traffic-limit a body moves in pieces of about 100 ms at the rate, so it flows
// steadily instead of in a burst followed by seconds of silence, which a client's stall timeout
// would take for a dead server.
constexpr std::size_t paced_piece(std::uint64_t limit_bits) {
  return static_cast<std::size_t>(std::clamp<std::uint64_t>(limit_bits / 8 / 10, 4096, io_chunk));
}
constexpr auto linger_timeout = std::chrono::seconds(2);

inline bool bodiless(const reply& rep, const request_state& rs) noexcept {
  return rs.head || rep.status < 200 || rep.status == 204 || rep.status == 304;
}

}  // namespace connection_impl

OSS_DECL void set_close_on_exec(int fd) noexcept {
  if (fd < 0) return;
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

OSS_DECL server_connection::server_connection(std::shared_ptr<local_server_impl> server, asio::ip::tcp::socket socket)
    : server_(std::move(server)),
      handler_(server_->handler),
      executor_(socket.get_executor()),
      fault_timer_(executor_),
      buffer_(connection_impl::io_chunk) {
  if (server_->tls)
    tls_.emplace(std::move(socket), *server_->tls);
  else
    plain_.emplace(std::move(socket));
}

OSS_DECL server_connection::~server_connection() { server_->remove_connection(this); }

OSS_DECL void server_connection::close() {
  std::error_code ignored;
  fault_timer_.cancel();
  handler_.counters().resume(&slot_);  // never poll a descriptor number after its close
  // The client may react to the close at once (retry elsewhere): leave in_flight first.
  handler_.counters().leave(slot_);
  socket().close(ignored);
}

OSS_DECL void server_connection::reset() {
  std::error_code ignored;
  fault_timer_.cancel();
  handler_.counters().resume(&slot_);
  handler_.counters().leave(slot_);
  socket().set_option(asio::socket_base::linger(true, 0), ignored);
  socket().close(ignored);
}

OSS_DECL asio::awaitable<void> server_connection::run(std::shared_ptr<server_connection> self) {
  try {
    co_await self->serve();
  } catch (const std::exception&) {
    // A bug or an allocation failure in one connection must not take the server down.
  }
  self->close();
}

OSS_DECL asio::awaitable<void> server_connection::read_more(std::error_code& ec) {
  using connection_impl::as_tuple;
  begin_ = end_ = 0;
  std::size_t n = 0;
  auto buf = asio::buffer(buffer_);
  if (tls_)
    std::tie(ec, n) = co_await tls_->async_read_some(buf, as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await plain_->async_read_some(buf, as_tuple(asio::use_awaitable));
  end_ = n;
}

OSS_DECL asio::awaitable<void> server_connection::write(const std::vector<asio::const_buffer>& buffers,
                                                        std::error_code& ec) {
  using connection_impl::as_tuple;
  std::size_t n = 0;
  if (tls_)
    std::tie(ec, n) = co_await asio::async_write(*tls_, buffers, as_tuple(asio::use_awaitable));
  else
    std::tie(ec, n) = co_await asio::async_write(*plain_, buffers, as_tuple(asio::use_awaitable));
}

// `stop_after`: return `paused` once that many body bytes (as sent, framing included) were fed.
// `limit_bits`: the request's x-oss-traffic-limit; the body is read no faster.
OSS_DECL asio::awaitable<server_connection::body_status> server_connection::read_body(
    oss::detail::http::message_parser& parser, std::uint64_t stop_after, std::uint64_t limit_bits) {
  std::error_code ec;
  std::uint64_t fed = 0;
  const auto start = std::chrono::steady_clock::now();
  while (!parser.done()) {
    if (limit_bits) co_await pace(start, fed, limit_bits);
    if (fed >= stop_after) co_return body_status::paused;
    if (begin_ == end_) {
      co_await read_more(ec);
      if (ec) co_return body_status::closed;
    }
    std::string_view piece = pending();
    if (piece.size() > stop_after - fed) piece = piece.substr(0, static_cast<std::size_t>(stop_after - fed));
    if (limit_bits) piece = piece.substr(0, connection_impl::paced_piece(limit_bits));
    const std::size_t used = parser.feed(piece, ec);
    begin_ += used;
    fed += used;
    if (ec) co_return ec == client_errc::response_too_large ? body_status::too_large : body_status::malformed;
  }
  if (limit_bits) co_await pace(start, fed, limit_bits);  // the last piece too: no reply before its time
  co_return body_status::complete;
}

// x-oss-traffic-limit as OSS applies it: a body moves at most `limit_bits` per second. Waits
// until `bytes` since `start` are within that rate. Not reading holds the client back through
// TCP's flow control; not writing holds the reply back. close() cancels the wait.
OSS_DECL asio::awaitable<void> server_connection::pace(std::chrono::steady_clock::time_point start,
                                                       std::uint64_t bytes, std::uint64_t limit_bits) {
  const auto due = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(bytes) * 8 / static_cast<double>(limit_bits)));
  if (due <= std::chrono::steady_clock::now() || !socket().is_open()) co_return;
  fault_timer_.expires_at(due);
  co_await wait_timer();
}

OSS_DECL asio::awaitable<void> server_connection::wait_timer() {
  co_await fault_timer_.async_wait(connection_impl::as_tuple(asio::use_awaitable));
}

OSS_DECL asio::awaitable<void> server_connection::wait_readable() {
  co_await socket().async_wait(asio::socket_base::wait_read, connection_impl::as_tuple(asio::use_awaitable));
}

// delay and stall: nothing moves for `duration`, but a client that gives up (its stall timeout)
// ends the pause at once, so an abandoned request stops counting as in flight before the
// client's retry arrives. While pausing, SO_RCVLOWAT keeps queued request bytes from making
// the socket readable: only FIN or RST do. false: the client is gone (or stop() closed us).
OSS_DECL asio::awaitable<bool> server_connection::pause(std::chrono::milliseconds duration) {
  using namespace asio::experimental::awaitable_operators;
  const int fd = socket().native_handle();
  int never = 1 << 30;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &never, sizeof never);
  const auto deadline = std::chrono::steady_clock::now() + duration;
  handler_.counters().pause(&slot_);
  bool gone = false;
  while (!gone && socket().is_open() && std::chrono::steady_clock::now() < deadline) {
    fault_timer_.expires_at(deadline);
    auto raced = co_await (wait_timer() || wait_readable());
    if (raced.index() == 0 || !socket().is_open()) break;  // the time is up, or stop() closed us
    gone = peer_gone(fd);
    if (gone) break;
    // Readable although the client is there (a full receive window, or readiness the reactor
    // remembered): look again every few milliseconds instead of spinning on it.
    fault_timer_.expires_after(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(5), deadline - std::chrono::steady_clock::now()));
    co_await wait_timer();
    gone = socket().is_open() && peer_gone(fd);
  }
  handler_.counters().resume(&slot_);
  int one = 1;
  if (socket().is_open()) ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  co_return !gone && socket().is_open();
}

// The body phase of stall and reset_during_body. false: the connection is finished with.
OSS_DECL asio::awaitable<bool> server_connection::faulted_body(const fault_rule& fault,
                                                               oss::detail::http::message_parser& parser) {
  const auto status = co_await read_body(parser, fault.after_bytes);
  if (fault.action == fault_action::reset_during_body) {
    handler_.counters().bytes_received += parser.body_bytes();
    reset();
    co_return false;
  }
  if (status == body_status::paused || status == body_status::complete) {
    const bool still_there = co_await pause(fault.duration);
    if (!still_there) {
      handler_.counters().bytes_received += parser.body_bytes();
      close();
      co_return false;
    }
  }
  co_return true;
}

// Closing right after the last reply would turn unread request bytes into a TCP reset, which
// can destroy the reply before the client reads it. So: stop sending, read and drop whatever
// the client still sends until it closes (bounded by a timer), then close.
OSS_DECL asio::awaitable<void> server_connection::linger() {
  std::error_code ec;
  auto& s = socket();
  s.shutdown(asio::socket_base::shutdown_send, ec);
  if (!ec) {
    asio::steady_timer timer(executor_, connection_impl::linger_timeout);
    auto self = shared_from_this();
    auto on_timeout = [self](std::error_code e) {
      if (!e) self->close();
    };
    timer.async_wait(on_timeout);
    std::vector<char> sink(16 * 1024);
    std::size_t n = 0;
    do {
      std::tie(ec, n) = co_await s.async_read_some(asio::buffer(sink), connection_impl::as_tuple(asio::use_awaitable));
    } while (!ec);
    timer.cancel();
  }
  close();
}

// `body_limit`: send only that many body bytes (at most all but one), for truncated_reply.
OSS_DECL asio::awaitable<void> server_connection::send(const request_state& rs, reply& rep, bool keep_alive,
                                                       std::error_code& ec, std::uint64_t body_limit) {
  const std::string head = oss::detail::http::serialize_head(handler_.response_head(rs, rep, keep_alive));
  const bool send_body = !connection_impl::bodiless(rep, rs);
  const bool streaming = send_body && rep.object && rep.object->file && rep.length > 0;
  const bool has_body = send_body && (!rep.body.empty() || streaming);
  if (body_limit != no_limit && !has_body) {
    // A truncated reply without a body: cut the head itself.
    std::vector<asio::const_buffer> half{asio::buffer(head.data(), head.size() / 2)};
    handler_.counters().leave(slot_);
    co_await write(half, ec);
    co_return;
  }
  std::vector<asio::const_buffer> buffers{asio::buffer(head)};
  std::size_t body_bytes = 0;
  if (send_body && !rep.body.empty()) {
    body_bytes = rep.body.size();
    if (body_limit != no_limit) body_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(body_limit, body_bytes - 1));
    buffers.push_back(asio::buffer(rep.body.data(), body_bytes));
  }
  // The request leaves in_flight just before its reply's last write: once the client holds the
  // reply it may send its next request on another connection, possibly before this coroutine
  // resumes, and the server must not count both.
  if (!streaming) handler_.counters().leave(slot_);
  // Counted before the write for the same reason: a client holding the reply must see its
  // bytes in the stats (a test that resets the stats next would otherwise catch them late).
  if (send_body) handler_.counters().bytes_sent += body_bytes;
  co_await write(buffers, ec);
  if (ec || !streaming) co_return;

  // GetObject: stream the file. A file shorter than its record ends the connection mid-body,
  // so the client sees a truncated reply rather than wrong bytes.
  std::FILE* file = rep.object->file;
  if (::fseeko(file, static_cast<off_t>(rep.offset), SEEK_SET) != 0) {
    ec = std::make_error_code(std::errc::io_error);
    co_return;
  }
  std::vector<char> chunk(connection_impl::io_chunk);
  std::uint64_t left = rep.length;
  if (body_limit != no_limit) left = std::min<std::uint64_t>(body_limit, left - 1);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  while (left > 0) {
    const std::size_t piece_size = rs.traffic_limit_bits ? connection_impl::paced_piece(rs.traffic_limit_bits) : chunk.size();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, piece_size));
    const std::size_t got = std::fread(chunk.data(), 1, want, file);
    if (got == 0) {
      ec = std::make_error_code(std::errc::io_error);
      co_return;
    }
    // Each piece leaves only once the bytes up to its end are within the rate.
    if (rs.traffic_limit_bits) co_await pace(start, sent + got, rs.traffic_limit_bits);
    std::vector<asio::const_buffer> piece{asio::buffer(chunk.data(), got)};
    if (got == left) handler_.counters().leave(slot_);
    handler_.counters().bytes_sent += got;
    co_await write(piece, ec);
    if (ec) co_return;
    left -= got;
    sent += got;
  }
}

OSS_DECL asio::awaitable<void> server_connection::reject(const oss::detail::http::message_parser& parser,
                                                         std::error_code parse_error) {
  request_state rs;
  rs.request_id = handler_.next_request_id();
  rs.head = parser.header_done() && parser.method() == "HEAD";
  server_error e;
  if (parse_error == client_errc::response_too_large && !parser.header_done()) {
    e = make_error(error_id::invalid_request, "The request header exceeds 64 KiB.");
    e.status = 431;
  } else if (parse_error == client_errc::response_too_large) {
    e = make_error(error_id::invalid_argument, "The request body exceeds the 4 MiB this operation accepts.");
  } else {
    e = make_error(error_id::invalid_request);
  }
  reply rep = handler_.error_reply(rs, e);
  std::error_code ec;
  co_await send(rs, rep, false, ec);
  co_await linger();
}

OSS_DECL asio::awaitable<void> server_connection::serve() {
  using connection_impl::as_tuple;
  namespace http = oss::detail::http;
  std::error_code ec;
  if (tls_) {
    std::tie(ec) = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  http::message_parser parser(http::parser_kind::request, http::parser_limits{max_header_bytes, max_xml_body});
  for (;;) {
    while (!parser.header_done()) {
      if (begin_ == end_) {
        co_await read_more(ec);
        if (ec) co_return;  // the client closed (or stop() did): nobody to answer
      }
      begin_ += parser.feed(pending(), ec);
      if (ec) {
        co_await reject(parser, ec);
        co_return;
      }
    }

    slot_.fd = socket().native_handle();
    in_flight_guard guard(handler_.counters(), slot_);
    const request_head head{parser.method(), parser.target(), parser.headers(), parser.content_length(),
                            parser.chunked()};
    request_state rs;
    reply rep;
    bool keep_alive = parser.keep_alive();
    std::optional<server_error> error = handler_.admit(rs, head);
    std::optional<fault_rule> fault;
    if (!error) fault = server_->faults.decide(rs.op, rs.part_number);
    // An error fault that must not take effect is answered like a refused request.
    if (fault && !fault->apply_then_fail &&
        (fault->action == fault_action::error_reply || fault->action == fault_action::error_in_200)) {
      error = fault_error(*fault, std::chrono::system_clock::now());
      fault.reset();
    }
    if (error) {
      rep = handler_.error_reply(rs, *error);
      if (!parser.done()) {
        if (parser.expects_continue()) {
          // The client waits for a verdict before sending the body: refuse and close, so the
          // body it may still send is not taken for the next request.
          co_await send(rs, rep, false, ec);
          co_await linger();
          co_return;
        }
        // Drop the body so the connection stays usable for the next request.
        auto drop = [](std::string_view) {};
        parser.set_body_sink(drop);
        const auto status = co_await read_body(parser);
        handler_.counters().bytes_received += parser.body_bytes();
        if (status == body_status::closed) co_return;
        if (status != body_status::complete) {
          co_await reject(parser, make_error_code(client_errc::malformed_response));
          co_return;
        }
      }
    } else {
      if (parser.expects_continue() && !parser.done()) {
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        std::vector<asio::const_buffer> interim{asio::buffer(continue_line)};
        co_await write(interim, ec);
        if (ec) co_return;
      }
      if (rs.writer) {
        body_writer* writer = rs.writer.get();
        auto sink = [writer](std::string_view bytes) { writer->write(bytes); };
        parser.set_body_sink(sink);
      }
      if (fault && (fault->action == fault_action::stall || fault->action == fault_action::reset_during_body)) {
        const bool go_on = co_await faulted_body(*fault, parser);
        if (!go_on) co_return;
      }
      const auto status = co_await read_body(parser, no_limit, rs.traffic_limit_bits);
      handler_.counters().bytes_received += parser.body_bytes();
      if (status == body_status::closed) co_return;
      if (status != body_status::complete) {
        const std::error_code parse_error = status == body_status::too_large
                                                ? make_error_code(client_errc::response_too_large)
                                                : make_error_code(client_errc::malformed_response);
        co_await reject(parser, parse_error);
        co_return;
      }
      // close_before_reply without apply_then_fail models a reply lost before the work.
      if (!fault || fault->action != fault_action::close_before_reply || fault->apply_then_fail)
        rep = handler_.execute(rs, head, parser.body());
      if (fault) {
        if (fault->action == fault_action::close_before_reply) {
          close();
          co_return;
        }
        if (fault->action == fault_action::error_reply || fault->action == fault_action::error_in_200)
          rep = handler_.error_reply(rs, fault_error(*fault, std::chrono::system_clock::now()));
        else
          alter_reply(*fault, rep);
        if (fault->action == fault_action::delay) {
          const bool still_there = co_await pause(fault->duration);
          if (!still_there) {
            close();
            co_return;
          }
        }
      }
    }

    keep_alive = keep_alive && !server_->stopped();
    if (fault && fault->action == fault_action::truncated_reply) {
      co_await send(rs, rep, false, ec, fault->after_bytes);
      close();
      co_return;
    }
    co_await send(rs, rep, keep_alive, ec);
    if (ec) co_return;
    if (!keep_alive) {
      co_await linger();
      co_return;
    }
    parser.reset();
  }
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_CONNECTION_IPP
