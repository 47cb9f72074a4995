// Test support: a byte-level TCP relay on 127.0.0.1:0 in front of a server, for what happens
// below HTTP (it may see only TLS records). It can keep a copy of the traffic in both directions
// (which headers left the client, which request ids came back), and it can hold the next
// connections: accept them and then leave them alone, never read, answered or forwarded, like a
// peer whose TLS handshake hangs. Every other connection is relayed both ways.
//
// It listens with a loopback_listener: its own thread, and the destructor closes the listener and
// every connection and joins the thread, so nothing outlives the test. Read the copies once the traffic they should contain is over.
#ifndef OSS_TESTS_SUPPORT_TCP_RELAY_HPP
#define OSS_TESTS_SUPPORT_TCP_RELAY_HPP

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "loopback_listener.hpp"

namespace oss_test {

class tcp_relay {
 public:
  explicit tcp_relay(std::uint16_t upstream_port, bool record = false)
      : record_(record), upstream_(asio::ip::make_address("127.0.0.1"), upstream_port) {
    auto make = [](asio::io_context& io) { return std::make_shared<relay_link>(io); };
    auto serve_one = [this](link_ptr l, std::size_t) { return serve(std::move(l)); };
    listener_.start(make, serve_one);
  }
  ~tcp_relay() { listener_.stop(); }
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  std::uint16_t port() const { return listener_.port(); }
  std::string endpoint() const { return listener_.endpoint(); }

  // Accept the next `connections` and leave them hanging.
  void hold(int connections) { hold_ = connections; }
  // Connections accepted so far, held ones included.
  int accepted() const { return static_cast<int>(listener_.accepted()); }

  // With recording on: client to server, and server to client, since the last clear().
  std::string sent() const {
    std::lock_guard lock(mutex_);
    return sent_;
  }
  std::string received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    sent_.clear();
    received_.clear();
  }

 private:
  using socket_ptr = std::shared_ptr<asio::ip::tcp::socket>;

  // A client connection and its upstream; a held one waits on `hold` until close().
  struct relay_link {
    explicit relay_link(asio::io_context& io)
        : client(std::make_shared<asio::ip::tcp::socket>(io)),
          upstream(std::make_shared<asio::ip::tcp::socket>(io)),
          hold(io, asio::steady_timer::time_point::max()) {}
    socket_ptr client;
    socket_ptr upstream;
    asio::steady_timer hold;
    friend asio::ip::tcp::socket& socket_of(relay_link& l) { return *l.client; }
    friend void close_connection(relay_link& l) {
      std::error_code ignored;
      l.client->close(ignored);
      l.upstream->close(ignored);
      l.hold.cancel();
    }
  };
  using link_ptr = std::shared_ptr<relay_link>;

  asio::awaitable<void> serve(link_ptr l) {
    if (hold_ > 0) {
      --hold_;
      co_await l->hold.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      co_return;
    }
    co_await relay(l->client, l->upstream);
  }

  // Copies until `from` ends, then passes the end on.
  asio::awaitable<void> pump(socket_ptr from, socket_ptr to, std::string* copy) {
    using asio::experimental::as_tuple;
    std::vector<char> buf(64 * 1024);
    while (true) {
      auto [rec, n] = co_await from->async_read_some(asio::buffer(buf), as_tuple(asio::use_awaitable));
      if (rec) break;
      if (copy) {
        std::lock_guard lock(mutex_);
        copy->append(buf.data(), n);
      }
      auto [wec, w] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), as_tuple(asio::use_awaitable));
      (void)w;
      if (wec) break;
    }
    std::error_code ignored;
    to->shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> relay(socket_ptr client, socket_ptr up) {
    using namespace asio::experimental::awaitable_operators;
    auto [ec] = co_await up->async_connect(upstream_, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) {
      std::error_code ignored;
      client->close(ignored);
      co_return;
    }
    co_await (pump(client, up, record_ ? &sent_ : nullptr) && pump(up, client, record_ ? &received_ : nullptr));
  }

  const bool record_;
  asio::ip::tcp::endpoint upstream_;
  std::atomic<int> hold_{0};
  mutable std::mutex mutex_;
  std::string sent_, received_;
  // Last: stopped (joined) first, while what its connections touch is alive.
  loopback_listener<relay_link> listener_;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_TCP_RELAY_HPP
