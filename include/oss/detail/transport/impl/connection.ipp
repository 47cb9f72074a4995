// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_IMPL_CONNECTION_IPP
#define OSS_DETAIL_TRANSPORT_IMPL_CONNECTION_IPP

#include <oss/detail/transport/connection.hpp>

#include <asio/connect.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/ip/address.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>

#include <cerrno>

#include <limits>
#include <memory>
#include <string>
#include <tuple>

namespace oss::detail::transport {

namespace connection_detail {

using resolve_channel = asio::experimental::concurrent_channel<void(std::error_code, asio::ip::tcp::resolver::results_type)>;

// Name resolution runs on Asio's resolver thread and ignores cancellation slots, so awaiting
// it directly would make the connect timeout wait for getaddrinfo. The lookup posts its result
// into a channel instead; the channel wait is cancellable, and a late result is dropped
// together with the state it keeps alive.
struct resolve_state {
  resolve_state(const asio::any_io_executor& ex) : resolver(ex), results(ex, 1) {}
  asio::ip::tcp::resolver resolver;
  resolve_channel results;
};

inline asio::awaitable<std::pair<std::error_code, asio::ip::tcp::resolver::results_type>> resolve(
    asio::any_io_executor ex, const std::string& host, std::uint16_t port) {
  using asio::experimental::as_tuple;
  auto state = std::make_shared<resolve_state>(ex);
  auto on_resolved = [state](std::error_code ec, asio::ip::tcp::resolver::results_type r) {
    state->results.try_send(ec, std::move(r));
  };
  state->resolver.async_resolve(host, std::to_string(port), std::move(on_resolved));
  auto [ec, results] = co_await state->results.async_receive(as_tuple(asio::use_awaitable));
  co_return std::make_pair(ec, std::move(results));
}

// async_write's completion condition, called before every write_some with the running total:
// the progress hook, and no cap on how much one write_some may take (transfer_all would cut
// plain TCP writes to 64 KiB). A named type, not a lambda: a lambda's type in this header-defined
// coroutine frame trips GCC's -Wsubobject-linkage.
struct write_progress {
  std::size_t* reported;
  const std::function<void(std::size_t)>* on_written;
  std::size_t operator()(const std::error_code& ec, std::size_t total) const {
    if (total > *reported) {
      (*on_written)(total - *reported);
      *reported = total;
    }
    return ec ? 0 : std::numeric_limits<std::size_t>::max();
  }
};

}  // namespace connection_detail

OSS_DECL connection::connection(asio::any_io_executor ex, endpoint ep) : ep_(std::move(ep)), ex_(std::move(ex)) {}

OSS_DECL asio::awaitable<std::error_code> connection::connect(asio::ssl::context& tls, bool verify_peer) {
  using asio::experimental::as_tuple;
  using tcp = asio::ip::tcp;

  if (socket_) co_return asio::error::already_connected;
  socket_.emplace(ex_);

  // IP literals skip the resolver thread altogether.
  std::error_code ec;
  asio::ip::address literal = asio::ip::make_address(ep_.host, ec);
  const bool is_literal = !ec;
  if (is_literal) {
    tcp::endpoint target(literal, ep_.port);
    auto [cec] = co_await socket_->async_connect(target, as_tuple(asio::use_awaitable));
    if (cec) co_return cec;
  } else {
    auto [rec, results] = co_await connection_detail::resolve(ex_, ep_.host, ep_.port);
    if (rec) co_return rec;
    auto [cec, chosen] = co_await asio::async_connect(*socket_, results, as_tuple(asio::use_awaitable));
    if (cec) co_return cec;
  }
  // Requests are written in one gather write and then we wait: Nagle would only add latency.
  socket_->set_option(tcp::no_delay(true), ec);

  if (ep_.tls) {
    tls_ = std::make_unique<tls_stream>(*socket_, tls);
    ec = tls_->configure(ep_.host, is_literal, verify_peer);
    if (ec) co_return ec;
    ec = co_await tls_->handshake();
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> connection::read_some(asio::mutable_buffer buf) {
  using asio::experimental::as_tuple;
  if (tls_) {
    auto result = co_await tls_->read_some(buf);
    co_return result;
  }
  auto [ec, n] = co_await socket_->async_read_some(buf, as_tuple(asio::use_awaitable));
  co_return std::make_pair(ec, n);
}

OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> connection::write_all(
    const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written) {
  using asio::experimental::as_tuple;
  if (tls_) {
    auto result = co_await tls_->write_all(bufs, on_written);
    co_return result;
  }
  std::size_t reported = 0;
  const connection_detail::write_progress condition{&reported, &on_written};
  std::error_code ec;
  std::size_t n = 0;
  std::tie(ec, n) = co_await asio::async_write(*socket_, bufs, condition, as_tuple(asio::use_awaitable));
  if (n > reported) on_written(n - reported);
  co_return std::make_pair(ec, n);
}

OSS_DECL void connection::close() noexcept {
  if (!socket_) return;
  std::error_code ignored;
  socket_->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_->close(ignored);
}

OSS_DECL bool connection::is_open() const noexcept {
  return socket_ && socket_->is_open();
}

OSS_DECL bool connection::readable_while_idle() noexcept {
  if (!is_open()) return true;
  if (tls_ && tls_->has_pending()) return true;
  // Between exchanges the peer has nothing to say: a readable socket means it closed (EOF,
  // RST, TLS close_notify) or broke the protocol. Either way the connection is not reusable.
  // One non-blocking peek tells without consuming anything; MSG_DONTWAIT keeps it to one
  // system call per reuse (toggling the socket's non-blocking mode around it took three).
  char probe = 0;
  const ssize_t n = ::recv(socket_->native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return true;  // bytes waiting (n > 0) or an orderly shutdown (n == 0)
}

}  // namespace oss::detail::transport

#endif  // OSS_DETAIL_TRANSPORT_IMPL_CONNECTION_IPP
