// Test support: what every test peer of ours shares (hostile_server, hostile_proxy, tcp_relay):
// a listener on 127.0.0.1:0 with its own io_context on one thread, the connections it accepted,
// and stop(), which closes the listener and every connection and joins the thread (after at
// most 10 s it stops the context), so nothing outlives the test.
//
// A peer names its connection type (a socket, or a struct with the accepted socket in it) and
// gives two functions: how to make one on the listener's context, and the coroutine that serves
// it. The listener keeps only weak references: a connection whose coroutine has ended is closed
// by its destructor, as a peer that hangs up.
#ifndef OSS_TESTS_SUPPORT_LOOPBACK_LISTENER_HPP
#define OSS_TESTS_SUPPORT_LOOPBACK_LISTENER_HPP

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace oss_test {

// A plain socket is a connection; other connection types give these two by ADL: where the
// accepted connection goes, and how to end everything it holds (sockets, timers), called on the
// listener's thread.
inline asio::ip::tcp::socket& socket_of(asio::ip::tcp::socket& s) { return s; }
inline void close_connection(asio::ip::tcp::socket& s) {
  std::error_code ignored;
  s.close(ignored);
}

template <typename Connection>
class loopback_listener {
 public:
  using connection_ptr = std::shared_ptr<Connection>;

  loopback_listener() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
  }
  loopback_listener(const loopback_listener&) = delete;
  loopback_listener& operator=(const loopback_listener&) = delete;
  ~loopback_listener() { stop(); }

  // Starts accepting: `make(io)` gives a new connection_ptr, `serve(conn, number)` is the
  // awaitable run for the number-th connection (from 0).
  template <typename Make, typename Serve>
  void start(Make make, Serve serve) {
    auto loop = [this, make = std::move(make), serve = std::move(serve)]() -> asio::awaitable<void> {
      for (std::size_t number = 0;; ++number) {
        connection_ptr conn = make(io_);
        auto [ec] = co_await acceptor_.async_accept(socket_of(*conn), asio::experimental::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        ++accepted_;
        connections_.remove_if([](const std::weak_ptr<Connection>& w) { return w.expired(); });
        connections_.push_back(conn);
        asio::co_spawn(io_, serve(conn, number), asio::detached);
      }
    };
    asio::co_spawn(io_, std::move(loop), asio::detached);
    thread_ = std::thread([this] {
      io_.run();
      finished_.set_value();
    });
  }

  // Closes the listener and every connection, then joins the thread. Idempotent.
  void stop() {
    if (stopped_.exchange(true) || !thread_.joinable()) return;
    asio::post(io_, [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
      for (auto& weak : connections_)
        if (auto c = weak.lock()) close_connection(*c);
    });
    if (finished_.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) io_.stop();
    thread_.join();
  }

  asio::io_context& io() noexcept { return io_; }
  std::uint16_t port() const noexcept { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Connections accepted so far.
  std::size_t accepted() const noexcept { return accepted_.load(); }

 private:
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::list<std::weak_ptr<Connection>> connections_;  // touched on the listener's thread only
  std::atomic<std::size_t> accepted_{0};
  std::atomic<bool> stopped_{false};
  std::promise<void> finished_;
  std::thread thread_;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_LOOPBACK_LISTENER_HPP
