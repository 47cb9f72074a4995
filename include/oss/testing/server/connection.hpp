// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).

// First and outside the guard: header-only, local_server.hpp ends by including the server's
// bodies, which include this header again; the public types must be complete by then.
#include <oss/testing/local_server.hpp>

#ifndef OSS_TESTING_SERVER_CONNECTION_HPP
#define OSS_TESTING_SERVER_CONNECTION_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/http/parser.hpp>
#include <oss/testing/server/counters.hpp>
#include <oss/testing/server/handler.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

// The connection loop of the local server: one coroutine per connection, on its own strand,
// that parses request heads, lets the handler admit them, streams bodies, applies the fault
// plan's socket-level actions and writes replies, keep-alive until either side closes.
namespace oss::testing::detail {

class local_server_impl;

class server_connection : public std::enable_shared_from_this<server_connection> {
 public:
  OSS_DECL server_connection(std::shared_ptr<local_server_impl> server, asio::ip::tcp::socket socket);
  server_connection(const server_connection&) = delete;
  server_connection& operator=(const server_connection&) = delete;
  OSS_DECL ~server_connection();

  const asio::any_io_executor& get_executor() const noexcept { return executor_; }

  // Closes the socket (on the connection's strand): an orderly FIN.
  OSS_DECL void close();
  // A TCP reset instead of an orderly close: what a crashed peer or a middlebox produces.
  OSS_DECL void reset();

  // Serves the connection until it ends, then closes it.
  OSS_DECL static asio::awaitable<void> run(std::shared_ptr<server_connection> self);

 private:
  enum class body_status { complete, malformed, too_large, closed, paused };
  static constexpr std::uint64_t no_limit = ~std::uint64_t{0};

  asio::ip::tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  std::string_view pending() const noexcept { return {buffer_.data() + begin_, end_ - begin_}; }

  OSS_DECL asio::awaitable<void> serve();
  OSS_DECL asio::awaitable<void> read_more(std::error_code& ec);
  OSS_DECL asio::awaitable<void> write(const std::vector<asio::const_buffer>& buffers, std::error_code& ec);
  OSS_DECL asio::awaitable<body_status> read_body(oss::detail::http::message_parser& parser,
                                                  std::uint64_t stop_after = no_limit, std::uint64_t limit_bits = 0);
  OSS_DECL asio::awaitable<void> pace(std::chrono::steady_clock::time_point start, std::uint64_t bytes,
                                      std::uint64_t limit_bits);
  OSS_DECL asio::awaitable<void> send(const request_state& rs, reply& rep, bool keep_alive, std::error_code& ec,
                                      std::uint64_t body_limit = no_limit);
  OSS_DECL asio::awaitable<bool> pause(std::chrono::milliseconds duration);
  OSS_DECL asio::awaitable<void> wait_timer();
  OSS_DECL asio::awaitable<void> wait_readable();
  OSS_DECL asio::awaitable<bool> faulted_body(const fault_rule& fault, oss::detail::http::message_parser& parser);
  OSS_DECL asio::awaitable<void> reject(const oss::detail::http::message_parser& parser, std::error_code parse_error);
  OSS_DECL asio::awaitable<void> linger();

  std::shared_ptr<local_server_impl> server_;
  request_handler& handler_;
  asio::any_io_executor executor_;
  asio::steady_timer fault_timer_;  // delay and stall; close() cancels it
  request_slot slot_;                // the current request's in-flight slot
  std::optional<asio::ip::tcp::socket> plain_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tls_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;  // bytes in buffer_[begin_, end_) are read but not yet parsed
  std::size_t end_ = 0;
};

// Asio opens sockets without SOCK_CLOEXEC, so a child process spawned by the program under test
// would inherit the listening socket (keeping the port bound after the server stops) and
// accepted connections (keeping them open after the server closes them).
OSS_DECL void set_close_on_exec(int fd) noexcept;

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/connection.ipp>
#endif

#endif  // OSS_TESTING_SERVER_CONNECTION_HPP
