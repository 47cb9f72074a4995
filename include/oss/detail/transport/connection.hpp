// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_CONNECTION_HPP
#define OSS_DETAIL_TRANSPORT_CONNECTION_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/transport/endpoint.hpp>
#include <oss/detail/transport/tls_stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace oss::detail::transport {

// One TCP or TLS connection. Not thread-safe: one exchange at a time owns it. No timeouts of
// its own: the pool races these operations against its timers and closes the connection when
// one fires (after a timeout the TLS state is unknown, so the stream is never reused).
class connection {
 public:
  OSS_DECL connection(asio::any_io_executor ex, endpoint ep);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Resolve, connect to the first address that accepts, TCP_NODELAY, and for TLS: SNI, peer
  // and host-name verification (when `verify_peer`), handshake. Expected failures are
  // returned, never thrown.
  OSS_DECL asio::awaitable<std::error_code> connect(asio::ssl::context& tls, bool verify_peer);

  // One read on the stream; never throws on I/O errors.
  OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf);

  // Gather-writes every byte of `bufs` (or fails), calling `on_written(n)` each time n more
  // bytes left; never throws on I/O errors. The awaiting coroutine is resumed only when the
  // socket would block, not per write or per TLS record. Returns the bytes written.
  OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> write_all(
      const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written);

  // Closes the socket without a TLS close_notify (used after errors and timeouts too, when
  // the TLS session state is unknown). Idempotent.
  OSS_DECL void close() noexcept;
  OSS_DECL bool is_open() const noexcept;

  // An idle pooled connection whose peer already closed it (or sent unexpected bytes) shows up
  // as readable; checked without blocking before reuse.
  OSS_DECL bool readable_while_idle() noexcept;

  const endpoint& target() const noexcept { return ep_; }
  bool reused = false;  // served at least one exchange before the current one

 private:
  endpoint ep_;
  asio::any_io_executor ex_;
  std::optional<asio::ip::tcp::socket> socket_;
  std::unique_ptr<tls_stream> tls_;  // over socket_, for https endpoints
};

}  // namespace oss::detail::transport

#ifdef OSS_HEADER_ONLY
#include <oss/detail/transport/impl/connection.ipp>
#endif

#endif  // OSS_DETAIL_TRANSPORT_CONNECTION_HPP
