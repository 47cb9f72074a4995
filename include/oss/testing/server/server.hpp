// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).

// First and outside the guard: header-only, local_server.hpp ends by including the server's
// bodies, which include this header again; the public types must be complete by then.
#include <oss/testing/local_server.hpp>

#ifndef OSS_TESTING_SERVER_SERVER_HPP
#define OSS_TESTING_SERVER_SERVER_HPP

#include <oss/detail/config.hpp>

#include <oss/testing/server/faults.hpp>
#include <oss/testing/server/handler.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

// The state one local_server shares with its connections: the options, the request handler,
// the fault plan, the listening socket and the open connections (so that stop() can close
// them). Connections hold it by shared_ptr, so it outlives the local_server object if needed.
namespace oss::testing::detail {

class server_connection;

class local_server_impl : public std::enable_shared_from_this<local_server_impl> {
 public:
  // Opens the store, loads TLS, binds. Throws what local_server's constructor documents.
  OSS_DECL local_server_impl(asio::any_io_executor executor, local_server_options options);

  OSS_DECL void start();
  OSS_DECL void stop();
  OSS_DECL std::string endpoint() const;
  OSS_DECL local_server_stats stats() const noexcept;
  OSS_DECL void reset_stats() noexcept;
  OSS_DECL bool wait_for(const std::function<bool(const local_server_stats&)>& predicate,
                         std::chrono::milliseconds timeout);

  // false once stop() ran: the caller must drop the connection (stop() would never close it).
  OSS_DECL bool add_connection(const std::shared_ptr<server_connection>& c);
  OSS_DECL void remove_connection(server_connection* c);
  bool stopped() const noexcept { return stopped_.load(); }

  const local_server_options options;
  request_handler handler;
  fault_plan faults;
  std::unique_ptr<asio::ssl::context> tls;  // set: HTTPS only
  std::uint16_t port = 0;

 private:
  OSS_DECL static asio::awaitable<void> accept_loop(std::shared_ptr<local_server_impl> self);

  asio::any_io_executor executor_;
  asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::mutex connections_mutex_;
  std::map<server_connection*, std::weak_ptr<server_connection>> connections_;
};

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/server.ipp>
#endif

#endif  // OSS_TESTING_SERVER_SERVER_HPP
