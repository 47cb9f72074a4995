// Test support: a raw-TCP HTTP server on 127.0.0.1 that answers each request with whatever bytes
// a script returns (oversized headers, an endless chunked body, a malformed status line, a canned
// OSS error, silence), so tests can play a broken or hostile peer the local server never is.
//
// It listens with a loopback_listener (its own thread; stop(), also run by the destructor, ends
// everything). Requests are parsed with the library's own sans-io parser (a request it cannot
// parse ends the connection).
#ifndef OSS_TESTS_SUPPORT_HOSTILE_SERVER_HPP
#define OSS_TESTS_SUPPORT_HOSTILE_SERVER_HPP

#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>

#include "loopback_listener.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace oss_test {

// One request as the hostile server read it.
struct hostile_request {
  std::string method;
  std::string target;
  oss::detail::http::fields headers;
  std::string body;
  std::size_t index = 0;  // 0-based, over the server's life
};

// What to do with one request.
struct hostile_reply {
  std::string raw;                             // written as it is
  std::string repeat;                          // then written again and again: an endless body
  std::uint64_t repeat_limit = 512ull << 20;   // bound of the endless part, in bytes
  bool close = true;                           // close after writing (else read the next request)
  bool silent = false;                         // write nothing; hold the connection until the peer or stop() ends it
};

using hostile_script = std::function<hostile_reply(const hostile_request&)>;

// A complete HTTP/1.1 reply with Content-Length.
inline std::string http_reply(int status, std::string_view reason,
                              const std::vector<std::pair<std::string, std::string>>& headers,
                              std::string_view body, bool keep_alive = false) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  out += "\r\n";
  out.append(body);
  return out;
}

// An OSS error reply; `extra` are further elements of <Error> (e.g. StringToSign, ServerTime).
inline std::string oss_error_reply(int status, std::string_view reason, std::string_view code,
                                   std::string_view message,
                                   const std::vector<std::pair<std::string, std::string>>& extra = {},
                                   const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>" + std::string(code) +
                     "</Code>\n  <Message>" + std::string(message) +
                     "</Message>\n  <RequestId>HOSTILE-REQ</RequestId>\n  <HostId>hostile.local</HostId>\n";
  for (const auto& [name, value] : extra) body += "  <" + name + ">" + value + "</" + name + ">\n";
  body += "</Error>\n";
  auto all = headers;
  all.emplace_back("Content-Type", "application/xml");
  all.emplace_back("x-oss-request-id", "HOSTILE-REQ");
  return http_reply(status, reason, all, body);
}

class hostile_server {
 public:
  explicit hostile_server(hostile_script script) : script_(std::move(script)) {
    auto make = [](asio::io_context& io) { return std::make_shared<tcp::socket>(io); };
    auto serve_one = [this](std::shared_ptr<tcp::socket> sock, std::size_t) { return serve(std::move(sock)); };
    listener_.start(make, serve_one);
  }
  hostile_server(const hostile_server&) = delete;
  hostile_server& operator=(const hostile_server&) = delete;
  ~hostile_server() { stop(); }

  std::uint16_t port() const noexcept { return listener_.port(); }
  std::string endpoint() const { return listener_.endpoint(); }

  std::size_t connections() const noexcept { return listener_.accepted(); }
  std::size_t requests() const noexcept { return requests_.load(); }
  std::uint64_t bytes_sent() const noexcept { return bytes_sent_.load(); }

  // Every request read so far (copies, thread-safe).
  std::vector<hostile_request> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  // Closes the listener and every connection, then joins the thread. Idempotent.
  void stop() { listener_.stop(); }

 private:
  using tcp = asio::ip::tcp;

  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> sock) {
    namespace http = oss::detail::http;
    http::message_parser parser(http::parser_kind::request);
    std::vector<char> buf(65536);
    std::string pending;
    for (;;) {
      while (!parser.done()) {
        if (pending.empty()) {
          auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
          if (ec) co_return;
          pending.assign(buf.data(), n);
        }
        std::error_code pec;
        const std::size_t used = parser.feed(pending, pec);
        if (pec) co_return;
        pending.erase(0, used);
      }
      hostile_request req;
      req.body = std::move(parser.body());
      http::request head = parser.release_request();
      parser.reset();
      req.method = std::move(head.method);
      req.target = std::move(head.target);
      req.headers = std::move(head.headers);
      {
        std::lock_guard lock(mutex_);
        req.index = seen_.size();
        seen_.push_back(req);
      }
      ++requests_;
      const hostile_reply reply = script_(req);

      if (reply.silent) {
        // Hold the connection: read and drop whatever comes until the peer or stop() ends it.
        for (;;) {
          auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), asio::experimental::as_tuple(asio::use_awaitable));
          if (ec) co_return;
        }
      }
      if (!reply.raw.empty()) {
        auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(reply.raw), asio::experimental::as_tuple(asio::use_awaitable));
        bytes_sent_ += n;
        if (ec) co_return;
      }
      if (!reply.repeat.empty()) {
        // Until the peer gives up (closes: the write fails) or the bound is reached.
        std::uint64_t written = 0;
        while (written < reply.repeat_limit) {
          auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(reply.repeat), asio::experimental::as_tuple(asio::use_awaitable));
          bytes_sent_ += n;
          written += n;
          if (ec) co_return;
        }
      }
      if (reply.close) {
        std::error_code ignored;
        sock->shutdown(tcp::socket::shutdown_both, ignored);
        sock->close(ignored);
        co_return;
      }
    }
  }

  hostile_script script_;
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::uint64_t> bytes_sent_{0};
  mutable std::mutex mutex_;
  std::vector<hostile_request> seen_;
  // Last: stopped (joined) first, while what its connections touch is alive.
  loopback_listener<tcp::socket> listener_;
};

// A port on 127.0.0.1 with nothing listening: bound, read, then closed again.
inline std::uint16_t closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

}  // namespace oss_test

#endif
