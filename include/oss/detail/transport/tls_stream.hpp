// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_TLS_STREAM_HPP
#define OSS_DETAIL_TRANSPORT_TLS_STREAM_HPP

#include <oss/detail/config.hpp>

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/socket_base.hpp>
#include <asio/ssl/context.hpp>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace oss::detail::transport {

// What OpenSSL's I/O callbacks need: the socket and the last system error they met (errno is
// not reliable by the time SSL_get_error() is asked).
struct tls_socket_io {
  int fd = -1;
  int error = 0;
  // While write_all runs, records are gathered here and sent several at a time: one send()
  // per 16 KiB record was a quarter of the system calls of an HTTPS upload, each of which costs
  // a trap on a virtual machine. write_all sends what is left before it returns.
  bool gather = false;
  std::unique_ptr<char[]> out;
  std::size_t out_len = 0;
};

// The client side of TLS, run by OpenSSL straight over a connected, non-blocking socket.
//
// Why not asio::ssl::stream: it runs OpenSSL against a memory BIO pair and moves each record
// through a staging buffer, so every ciphertext byte is copied twice more before the kernel
// sees it, and a composed write resumes Asio's machinery per 16 KiB record. Here OpenSSL
// encrypts a record into its own buffer and a socket callback sends it from there (MSG_NOSIGNAL:
// a library must not raise SIGPIPE); the coroutine is suspended only when the socket would
// block, on the socket's async_wait. Configuration (trust store, protocol versions) comes from
// the asio::ssl::context. Errors are the ones asio::ssl::stream gives (the SSL category,
// stream_truncated for an EOF without close_notify, system errors of the socket), so the layers
// above classify them alike.
//
// Not thread-safe: one operation at a time. The socket must outlive the stream; closing the
// socket cancels a waiting operation.
class tls_stream {
 public:
  OSS_DECL tls_stream(asio::ip::tcp::socket& socket, asio::ssl::context& context);
  OSS_DECL ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  // SNI for a host name (not for an IP literal), and with `verify_peer` the chain and the host
  // name or IP address checked against the certificate.
  OSS_DECL std::error_code configure(const std::string& host, bool host_is_ip_literal, bool verify_peer);

  OSS_DECL asio::awaitable<std::error_code> handshake();

  // One read: the bytes of at least one record (or what is left of one). eof after the peer's
  // close_notify.
  OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer buf);

  // Every byte of `bufs`, or an error; `on_written(n)` as records leave. A short first buffer
  // (an HTTP head) shares its record with the start of the second.
  OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> write_all(
      const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written);

  // Decrypted bytes waiting inside OpenSSL (an idle connection should have none).
  OSS_DECL bool has_pending() const noexcept;

 private:
  OSS_DECL std::error_code failure(int ssl_error) const;
  // Waits for what OpenSSL asked for (SSL_ERROR_WANT_READ/WRITE); anything else is the error.
  OSS_DECL asio::awaitable<std::error_code> wait_or_fail(int ssl_error);
  OSS_DECL asio::awaitable<std::error_code> write_bytes(const char* data, std::size_t size,
                                                        const std::function<void(std::size_t)>& on_written,
                                                        std::size_t& total);
  // write_all's records, gathered in io_->out.
  OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> write_records(
      const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written);
  // Sends the records gathered during write_all, waiting for the socket as needed.
  OSS_DECL asio::awaitable<std::error_code> send_gathered();

  asio::ip::tcp::socket& socket_;
  SSL* ssl_ = nullptr;                    // <openssl/ssl.h> comes with asio/ssl/context.hpp
  std::unique_ptr<tls_socket_io> io_;     // stable address: OpenSSL's callbacks point at it
  std::unique_ptr<char[]> first_record_;  // an HTTP head plus the start of its body
  std::error_code setup_error_;
};

}  // namespace oss::detail::transport

#ifdef OSS_HEADER_ONLY
#include <oss/detail/transport/impl/tls_stream.ipp>
#endif

#endif  // OSS_DETAIL_TRANSPORT_TLS_STREAM_HPP
