// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_TRANSPORT_IMPL_TLS_STREAM_IPP
#define OSS_DETAIL_TRANSPORT_IMPL_TLS_STREAM_IPP

#include <oss/detail/transport/tls_stream.hpp>

#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace oss::detail::transport {

namespace tls_detail {

// The largest plaintext of one TLS record (RFC 8446 5.1).
inline constexpr std::size_t max_record_plaintext = 16384;

// Records gathered per send() while write_all runs: four full records and their framing.
inline constexpr std::size_t gather_capacity = 4 * (max_record_plaintext + 256);

inline tls_socket_io& io_of(BIO* b) { return *static_cast<tls_socket_io*>(BIO_get_data(b)); }

// Sends the gathered bytes: 1 when all are out, 0 with errno-style failure in io.error, or -1
// when the socket would block (what is left stays, at the front of the buffer).
inline int send_out(tls_socket_io& io) {
  std::size_t sent = 0;
  while (sent < io.out_len) {
    const ssize_t n = ::send(io.fd, io.out.get() + sent, io.out_len - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    const int err = errno;
    std::memmove(io.out.get(), io.out.get() + sent, io.out_len - sent);
    io.out_len -= sent;
    if (err == EAGAIN || err == EWOULDBLOCK) return -1;
    io.error = err;
    return 0;
  }
  io.out_len = 0;
  return 1;
}

inline int socket_write(BIO* b, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(b);
  tls_socket_io& io = io_of(b);
  if (io.gather) {
    // What is gathered goes first, so a write that does not fit (more than a few records at
    // once) cannot overtake it.
    if (io.out_len + size > gather_capacity) {
      const int r = send_out(io);
      if (r < 0) BIO_set_retry_write(b);
      if (r <= 0) return 0;
    }
    if (size <= gather_capacity) {
      std::memcpy(io.out.get() + io.out_len, data, size);
      io.out_len += size;
      *written = size;
      return 1;
    }
  }
  for (;;) {
    const ssize_t n = ::send(io.fd, data, size, MSG_NOSIGNAL);
    if (n >= 0) {
      *written = static_cast<std::size_t>(n);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      BIO_set_retry_write(b);
    else
      io.error = errno;
    return 0;
  }
}

inline int socket_read(BIO* b, char* data, std::size_t size, std::size_t* read) {
  BIO_clear_retry_flags(b);
  tls_socket_io& io = io_of(b);
  for (;;) {
    const ssize_t n = ::recv(io.fd, data, size, 0);
    if (n > 0) {
      *read = static_cast<std::size_t>(n);
      return 1;
    }
    if (n == 0) return 0;  // EOF: no retry flag, OpenSSL reports an unexpected EOF or close
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      BIO_set_retry_read(b);
    else
      io.error = errno;
    return 0;
  }
}

inline long socket_ctrl(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after a record; send() has already handed it to the kernel.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

inline int socket_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

inline int socket_destroy(BIO*) { return 1; }  // the data belongs to the tls_stream

// One method table for the process, built on first use (thread-safe static initialisation).
inline BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "asio-oss socket");
    if (m == nullptr) return m;
    BIO_meth_set_write_ex(m, socket_write);
    BIO_meth_set_read_ex(m, socket_read);
    BIO_meth_set_ctrl(m, socket_ctrl);
    BIO_meth_set_create(m, socket_create);
    BIO_meth_set_destroy(m, socket_destroy);
    return m;
  }();
  return method;
}

inline std::error_code ssl_error_from_queue() {
  const unsigned long e = ::ERR_get_error();
  return std::error_code(static_cast<int>(e ? e : 1), asio::error::get_ssl_category());
}

}  // namespace tls_detail

OSS_DECL tls_stream::tls_stream(asio::ip::tcp::socket& socket, asio::ssl::context& context)
    : socket_(socket), io_(std::make_unique<tls_socket_io>()) {
  io_->fd = socket_.native_handle();
  std::error_code ec;
  socket_.native_non_blocking(true, ec);
  if (ec) {
    setup_error_ = ec;
    return;
  }
  ::ERR_clear_error();
  BIO_METHOD* method = tls_detail::socket_method();
  ssl_ = method ? ::SSL_new(context.native_handle()) : nullptr;
  BIO* bio = ssl_ ? ::BIO_new(method) : nullptr;
  if (bio == nullptr) {
    setup_error_ = tls_detail::ssl_error_from_queue();
    return;
  }
  BIO_set_data(bio, io_.get());
  ::SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL from here
  // Partial writes: SSL_write_ex returns after each record, which feeds the progress hook;
  // moving buffers: a retried write may resume from another address (the staging record).
  ::SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read what the socket holds in one recv instead of a header read and a body read per record.
  ::SSL_set_read_ahead(ssl_, 1);
}

OSS_DECL tls_stream::~tls_stream() {
  if (ssl_ != nullptr) ::SSL_free(ssl_);
}

OSS_DECL std::error_code tls_stream::configure(const std::string& host, bool host_is_ip_literal, bool verify_peer) {
  if (setup_error_) return setup_error_;
  ::ERR_clear_error();
  // SNI carries host names only (RFC 6066 3).
  if (!host_is_ip_literal && ::SSL_set_tlsext_host_name(ssl_, host.c_str()) != 1)
    return tls_detail::ssl_error_from_queue();
  if (!verify_peer) {
    ::SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
    return {};
  }
  ::SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
  // OpenSSL checks the name during the handshake (RFC 6125 rules, the same X509_check_host /
  // X509_check_ip_asc that asio::ssl::host_name_verification calls); a mismatch fails it.
  const int named = host_is_ip_literal ? ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(ssl_), host.c_str())
                                       : ::SSL_set1_host(ssl_, host.c_str());
  if (named != 1) return tls_detail::ssl_error_from_queue();
  return {};
}

OSS_DECL std::error_code tls_stream::failure(int ssl_error) const {
  switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;  // the peer's close_notify
    case SSL_ERROR_SYSCALL:
      // Asio's own system category, not std::system_category(): the layers above compare with
      // asio::error::connection_reset and the like, which are in Asio's.
      if (io_->error != 0) return std::error_code(io_->error, asio::error::get_system_category());
      return asio::ssl::error::stream_truncated;  // EOF without close_notify
    case SSL_ERROR_SSL: {
      const unsigned long e = ::ERR_peek_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ::ERR_clear_error();
        return asio::ssl::error::stream_truncated;
      }
      return tls_detail::ssl_error_from_queue();
    }
    default:
      return tls_detail::ssl_error_from_queue();
  }
}

OSS_DECL asio::awaitable<std::error_code> tls_stream::wait_or_fail(int ssl_error) {
  using asio::experimental::as_tuple;
  if (ssl_error == SSL_ERROR_WANT_READ) {
    auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, as_tuple(asio::use_awaitable));
    co_return ec;
  }
  if (ssl_error == SSL_ERROR_WANT_WRITE) {
    auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_write, as_tuple(asio::use_awaitable));
    co_return ec;
  }
  co_return failure(ssl_error);
}

OSS_DECL asio::awaitable<std::error_code> tls_stream::handshake() {
  if (setup_error_) co_return setup_error_;
  for (;;) {
    ::ERR_clear_error();
    io_->error = 0;
    const int r = ::SSL_connect(ssl_);
    if (r == 1) co_return std::error_code{};
    const int e = ::SSL_get_error(ssl_, r);
    const std::error_code ec = co_await wait_or_fail(e);
    if (ec) co_return ec;
  }
}

OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> tls_stream::read_some(asio::mutable_buffer buf) {
  if (setup_error_) co_return std::make_pair(setup_error_, std::size_t{0});
  if (buf.size() == 0) co_return std::make_pair(std::error_code{}, std::size_t{0});
  for (;;) {
    ::ERR_clear_error();
    io_->error = 0;
    std::size_t n = 0;
    const int r = ::SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) co_return std::make_pair(std::error_code{}, n);
    const int e = ::SSL_get_error(ssl_, r);
    const std::error_code ec = co_await wait_or_fail(e);
    if (ec) co_return std::make_pair(ec, std::size_t{0});
  }
}

OSS_DECL asio::awaitable<std::error_code> tls_stream::write_bytes(const char* data, std::size_t size,
                                                                  const std::function<void(std::size_t)>& on_written,
                                                                  std::size_t& total) {
  while (size > 0) {
    ::ERR_clear_error();
    io_->error = 0;
    std::size_t n = 0;
    const int r = ::SSL_write_ex(ssl_, data, size, &n);
    if (r == 1) {
      data += n;
      size -= n;
      total += n;
      on_written(n);
      continue;
    }
    const int e = ::SSL_get_error(ssl_, r);
    const std::error_code ec = co_await wait_or_fail(e);
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

OSS_DECL asio::awaitable<std::error_code> tls_stream::send_gathered() {
  using asio::experimental::as_tuple;
  for (;;) {
    const int r = tls_detail::send_out(*io_);
    if (r > 0) co_return std::error_code{};
    if (r == 0) co_return std::error_code(io_->error, asio::error::get_system_category());
    auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_write, as_tuple(asio::use_awaitable));
    if (ec) co_return ec;
  }
}

OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> tls_stream::write_all(
    const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written) {
  if (setup_error_) co_return std::make_pair(setup_error_, std::size_t{0});
  if (!io_->out) io_->out = std::make_unique_for_overwrite<char[]>(tls_detail::gather_capacity);
  io_->gather = true;
  io_->out_len = 0;
  std::pair<std::error_code, std::size_t> result = co_await write_records(bufs, on_written);
  io_->gather = false;
  if (!result.first) result.first = co_await send_gathered();
  io_->out_len = 0;  // after a failure the connection is closed: nothing more goes out
  co_return result;
}

OSS_DECL asio::awaitable<std::pair<std::error_code, std::size_t>> tls_stream::write_records(
    const std::array<asio::const_buffer, 2>& bufs, const std::function<void(std::size_t)>& on_written) {
  std::size_t total = 0;
  const char* head = static_cast<const char*>(bufs[0].data());
  const char* body = static_cast<const char*>(bufs[1].data());
  std::size_t head_size = bufs[0].size();
  std::size_t body_size = bufs[1].size();
  // A head alone would be a small record and a send() of its own, ahead of every body.
  if (head_size > 0 && head_size < tls_detail::max_record_plaintext && body_size > 0) {
    if (!first_record_) first_record_ = std::make_unique_for_overwrite<char[]>(tls_detail::max_record_plaintext);
    const std::size_t taken = std::min(body_size, tls_detail::max_record_plaintext - head_size);
    std::memcpy(first_record_.get(), head, head_size);
    std::memcpy(first_record_.get() + head_size, body, taken);
    const std::error_code ec = co_await write_bytes(first_record_.get(), head_size + taken, on_written, total);
    if (ec) co_return std::make_pair(ec, total);
    head_size = 0;
    body += taken;
    body_size -= taken;
  }
  std::error_code ec = co_await write_bytes(head, head_size, on_written, total);
  if (!ec) ec = co_await write_bytes(body, body_size, on_written, total);
  co_return std::make_pair(ec, total);
}

OSS_DECL bool tls_stream::has_pending() const noexcept { return ssl_ != nullptr && ::SSL_has_pending(ssl_) == 1; }

}  // namespace oss::detail::transport

#endif  // OSS_DETAIL_TRANSPORT_IMPL_TLS_STREAM_IPP
