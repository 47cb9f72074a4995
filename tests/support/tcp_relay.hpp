// Test support: a byte-level TCP relay on 127.0.0.1:0 in front of a server, for what happens
// below HTTP (it may see only TLS records). It can keep a copy of the traffic in both directions
// (which headers left the client, which request ids came back), and it can hold the next
// connections: accept them and then leave them alone, never read, answered or forwarded, like a
// peer whose TLS handshake hangs. Every other connection is relayed both ways.
//
// It runs its own io_context on one thread; the destructor closes the listener and every
// connection and joins the thread (waiting at most 10 s before stopping the context), so nothing
// outlives the test. Read the copies once the traffic they should contain is over.
#ifndef OSS_TESTS_SUPPORT_TCP_RELAY_HPP
#define OSS_TESTS_SUPPORT_TCP_RELAY_HPP

#include <asio/co_spawn.hpp>
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

namespace oss_test {

class tcp_relay {
 public:
  explicit tcp_relay(std::uint16_t upstream_port, bool record = false)
      : record_(record),
        acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        upstream_(asio::ip::make_address("127.0.0.1"), upstream_port) {
    auto accept = [this]() -> asio::awaitable<void> { co_await accept_loop(); };
    asio::co_spawn(io_, std::move(accept), asio::detached);
    thread_ = std::thread([this] {
      io_.run();
      finished_.set_value();
    });
  }
  ~tcp_relay() {
    asio::post(io_, [this] {
      std::error_code ignored;
      acceptor_.close(ignored);
      for (auto& s : sockets_) s->close(ignored);
    });
    if (finished_.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) io_.stop();
    thread_.join();
  }
  tcp_relay(const tcp_relay&) = delete;
  tcp_relay& operator=(const tcp_relay&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port()); }

  // Accept the next `connections` and leave them hanging.
  void hold(int connections) { hold_ = connections; }
  // Connections accepted so far, held ones included.
  int accepted() const { return accepted_; }

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

  asio::awaitable<void> accept_loop() {
    while (true) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++accepted_;
      auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
      sockets_.push_back(s);
      if (hold_ > 0) {
        --hold_;
        continue;
      }
      auto up = std::make_shared<asio::ip::tcp::socket>(io_);
      sockets_.push_back(up);
      auto relay_fn = [this, s, up]() -> asio::awaitable<void> { co_await relay(s, up); };
      asio::co_spawn(io_, std::move(relay_fn), asio::detached);
    }
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
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint upstream_;
  std::vector<socket_ptr> sockets_;  // touched on the relay thread only
  std::atomic<int> hold_{0};
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::string sent_, received_;
  std::promise<void> finished_;
  std::thread thread_;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_TCP_RELAY_HPP
