// Integration tests of the connection pool over real sockets on 127.0.0.1: small Asio servers
// (plain TCP and TLS with a certificate generated at test time) play the peer, including the
// misbehaving ones (stalls, early closes, broken replies).
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/transport/pool.hpp>
#include <oss/error.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <future>
#include <thread>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../support/tls_certs.hpp"

namespace http = oss::detail::http;
namespace transport = oss::detail::transport;
using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
using oss::client_errc;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------------------------------------
// A self-signed certificate for DNS:localhost (deliberately no IP SAN, so "127.0.0.1" is a wrong
// host name for it), made once per run and removed at exit.
const oss_test::self_signed_cert& cert() {
  static const oss_test::self_signed_cert instance("localhost");
  return instance;
}

// ---------------------------------------------------------------------------------------------
// Server side of one accepted connection.
class server_conn {
 public:
  server_conn(tcp::socket s, asio::ssl::context* tls, int index) : index(index) {
    if (tls)
      tls_.emplace(std::move(s), *tls);
    else
      plain_.emplace(std::move(s));
  }

  awaitable<bool> handshake() {
    if (!tls_) co_return true;
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    if (ec) co_return false;
    if (const char* name = ::SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name)) sni = name;
    co_return true;
  }

  awaitable<std::pair<std::error_code, std::size_t>> read_some(asio::mutable_buffer b) {
    if (tls_) {
      auto [ec, n] = co_await tls_->async_read_some(b, as_tuple(use_awaitable));
      co_return std::make_pair(ec, n);
    }
    auto [ec, n] = co_await plain_->async_read_some(b, as_tuple(use_awaitable));
    co_return std::make_pair(ec, n);
  }

  awaitable<bool> write(std::string data) {
    if (tls_) {
      auto [ec, n] = co_await asio::async_write(*tls_, asio::buffer(data), as_tuple(use_awaitable));
      co_return !ec;
    }
    auto [ec, n] = co_await asio::async_write(*plain_, asio::buffer(data), as_tuple(use_awaitable));
    co_return !ec;
  }

  // One request, with the body buffered into `body` (when given). nullopt when the client
  // closed or sent garbage.
  awaitable<std::optional<http::request>> read_request(std::string* body = nullptr) {
    http::message_parser p(http::parser_kind::request, http::parser_limits{64 * 1024, 1ull << 32});
    std::string sunk;
    p.set_body_sink([&sunk](std::string_view s) { sunk.append(s); });
    auto buf = std::make_unique<char[]>(64 * 1024);
    while (true) {
      while (!pending_.empty() && !p.done()) {
        std::error_code ec;
        std::size_t n = p.feed(pending_, ec);
        if (ec) co_return std::nullopt;
        pending_.erase(0, n);
      }
      if (p.done()) break;
      auto [ec, n] = co_await read_some(asio::buffer(buf.get(), 64 * 1024));
      if (ec) co_return std::nullopt;
      pending_.append(buf.get(), n);
    }
    if (body) *body = std::move(sunk);
    co_return p.release_request();
  }

  // Reads only the head of the next request, leaving its body unread.
  awaitable<std::optional<http::request>> read_head() {
    http::message_parser p(http::parser_kind::request);
    auto buf = std::make_unique<char[]>(4096);
    while (!p.header_done()) {
      if (pending_.empty()) {
        auto [ec, n] = co_await read_some(asio::buffer(buf.get(), 4096));
        if (ec) co_return std::nullopt;
        pending_.append(buf.get(), n);
      }
      std::error_code ec;
      pending_.erase(0, p.feed(pending_, ec));
      if (ec) co_return std::nullopt;
    }
    co_return p.release_request();
  }

  // Reads and discards until the client goes away (the "stalled server" never answers).
  awaitable<void> wait_closed() {
    auto buf = std::make_unique<char[]>(4096);
    while (true) {
      auto [ec, n] = co_await read_some(asio::buffer(buf.get(), 4096));
      if (ec) co_return;
    }
  }

  void close() {
    std::error_code ignored;
    socket().close(ignored);
  }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

  int index;
  std::string sni;

 private:
  std::optional<tcp::socket> plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  std::string pending_;
};

struct server_options {
  bool tls = false;
  int receive_buffer = 0;  // SO_RCVBUF for accepted sockets (0: system default)
};

struct recorded_request {
  int connection;
  http::request req;
  std::string body;
};

class test_server {
 public:
  using handler_fn = std::function<awaitable<void>(server_conn&)>;

  test_server(asio::io_context& io, handler_fn handler, server_options opts)
      : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), handler_(std::move(handler)) {
    if (opts.receive_buffer > 0) acceptor_.set_option(asio::socket_base::receive_buffer_size(opts.receive_buffer));
    if (opts.tls) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert().cert_file());
      tls_->use_private_key_file(cert().key_file(), asio::ssl::context::pem);
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  int accepted = 0;
  int active = 0;
  int peak_active = 0;
  int closed = 0;
  std::vector<std::string> sni_seen;

 private:
  awaitable<void> accept_loop() {
    while (true) {
      auto [ec, sock] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
      if (ec) co_return;
      // As HTTP servers do: with Nagle, a small early reply (413) could wait behind unacknowledged
      // bytes (TLS session tickets) and be discarded by the reset of a close with unread data.
      std::error_code nd;
      sock.set_option(tcp::no_delay(true), nd);
      auto conn = std::make_shared<server_conn>(std::move(sock), tls_ ? &*tls_ : nullptr, accepted++);
      asio::co_spawn(io_, serve(conn), asio::detached);
    }
  }

  awaitable<void> serve(std::shared_ptr<server_conn> conn) {
    ++active;
    peak_active = std::max(peak_active, active);
    // GCC 12 miscompiles co_await directly in an if condition: name the result first.
    bool ready = co_await conn->handshake();
    if (ready) {
      if (tls_) sni_seen.push_back(conn->sni);
      co_await handler_(*conn);
    }
    conn->close();
    --active;
    ++closed;
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  std::optional<asio::ssl::context> tls_;
  handler_fn handler_;
};

std::string reply(std::string_view body, std::string_view extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "\r\n" + std::string(body);
}

// The usual well-behaved server: answers every request on a connection with `respond`.
using respond_fn = std::function<std::string(const recorded_request&)>;
test_server::handler_fn answer_all(respond_fn respond, std::vector<recorded_request>* log = nullptr) {
  return [respond, log](server_conn& c) -> awaitable<void> {
    while (true) {
      std::string body;
      auto req = co_await c.read_request(&body);
      if (!req) co_return;
      recorded_request rec{c.index, std::move(*req), std::move(body)};
      std::string out = respond(rec);
      if (log) log->push_back(std::move(rec));
      bool sent = co_await c.write(std::move(out));
      if (!sent) co_return;
    }
  };
}

struct fixture {
  asio::io_context io;
  asio::ssl::context client_tls{asio::ssl::context::tls_client};
  std::vector<std::unique_ptr<test_server>> servers;

  test_server& serve(test_server::handler_fn h, server_options o = {}) {
    servers.push_back(std::make_unique<test_server>(io, std::move(h), o));
    return *servers.back();
  }

  transport::endpoint plain_endpoint(const test_server& s) const { return {false, "127.0.0.1", s.port()}; }

  // Runs the coroutine `fn` and fails (instead of hanging) if it is not done within `limit`.
  template <class Fn>
  void run(Fn fn, std::chrono::milliseconds limit = 30s) {
    bool finished = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(fn), [&](std::exception_ptr e) {
      finished = true;
      failure = e;
      io.stop();
    });
    io.restart();
    io.run_for(limit);
    REQUIRE_MESSAGE(finished, "the test coroutine did not finish: hung");
    if (failure) std::rethrow_exception(failure);
  }
};

http::request make_request(std::string method, std::string target) {
  http::request r;
  r.method = std::move(method);
  r.target = std::move(target);
  return r;
}

transport::transport_options fast_options() {
  transport::transport_options o;
  o.connect_timeout = 2000ms;
  o.stall_timeout = 2000ms;
  return o;
}

}  // namespace

TEST_CASE("transport: sequential requests reuse one keep-alive connection") {
  // Setup
  fixture f;
  std::vector<recorded_request> log;
  auto& server = f.serve(answer_all([](const recorded_request& r) { return reply("echo:" + r.body); }, &log));
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
  auto ep = f.plain_endpoint(server);
  std::vector<std::string> bodies;

  // Run
  f.run([&]() -> awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      std::error_code ec;
      auto req = make_request("PUT", "/bucket/obj" + std::to_string(i));
      std::string payload = "payload-" + std::to_string(i);
      transport::exchange_options eo;
      auto res = co_await pool.exchange(ep, req, asio::buffer(payload), eo, ec);
      REQUIRE_FALSE(ec);
      CHECK(res.status == 200);
      bodies.push_back(res.body);
    }
  });

  // Check
  REQUIRE(bodies.size() == 5);
  CHECK(bodies[3] == "echo:payload-3");
  CHECK(server.accepted == 1);
  auto c = pool.counters();
  CHECK(c.connections_opened == 1);
  CHECK(c.connections_reused == 4);
  CHECK(c.open_connections == 1);
  REQUIRE(log.size() == 5);
  // The transport frames the request itself when the caller did not.
  CHECK(*log[0].req.headers.find("host") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(*log[0].req.headers.find("content-length") == "9");
  CHECK(log[4].req.target == "/bucket/obj4");
}

TEST_CASE("transport: Content-Length, chunked, HEAD, close-delimited and Connection: close replies") {
  // Setup
  fixture f;
  auto& server = f.serve([](server_conn& c) -> awaitable<void> {
    while (true) {
      auto req = co_await c.read_request();
      if (!req) co_return;
      std::string out;
      if (req->target == "/length") {
        out = reply("fixed body");
      } else if (req->target == "/chunked") {
        out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nchun\r\n3\r\nked\r\n0\r\nTrailer-A: b\r\n\r\n";
      } else if (req->target == "/head") {
        out = "HTTP/1.1 200 OK\r\nContent-Length: 123456\r\nETag: \"E\"\r\n\r\n";
      } else if (req->target == "/close-after") {
        co_await c.write(reply("last", "Connection: close\r\n"));
        co_return;
      } else if (req->target == "/until-close") {
        co_await c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
        co_return;
      }
      bool sent = co_await c.write(std::move(out));
      if (!sent) co_return;
    }
  });
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
  auto ep = f.plain_endpoint(server);

  // Run / Check
  f.run([&]() -> awaitable<void> {
    std::error_code ec;
    transport::exchange_options eo;
    auto r1 = co_await pool.exchange(ep, make_request("GET", "/length"), asio::const_buffer(), eo, ec);
    REQUIRE_FALSE(ec);
    CHECK(r1.body == "fixed body");
    auto r2 = co_await pool.exchange(ep, make_request("GET", "/chunked"), asio::const_buffer(), eo, ec);
    REQUIRE_FALSE(ec);
    CHECK(r2.body == "chunked");
    transport::exchange_options head;
    head.head_request = true;
    auto r3 = co_await pool.exchange(ep, make_request("HEAD", "/head"), asio::const_buffer(), head, ec);
    REQUIRE_FALSE(ec);
    CHECK(r3.body.empty());
    CHECK(*r3.headers.find("content-length") == "123456");
    auto r3b = co_await pool.exchange(ep, make_request("HEAD", "/head"), asio::const_buffer(), eo, ec);
    REQUIRE_FALSE(ec);  // the method alone implies a bodiless reply
    CHECK(r3b.body.empty());
    CHECK(pool.counters().connections_opened == 1);  // all three on one connection

    auto r4 = co_await pool.exchange(ep, make_request("GET", "/close-after"), asio::const_buffer(), eo, ec);
    REQUIRE_FALSE(ec);
    CHECK(r4.body == "last");
    CHECK(pool.counters().open_connections == 0);  // Connection: close honoured

    auto r5 = co_await pool.exchange(ep, make_request("GET", "/until-close"), asio::const_buffer(), eo, ec);
    REQUIRE_FALSE(ec);
    CHECK(r5.body == "until the end");
    CHECK(pool.counters().open_connections == 0);
  });
  // One connection for the first four (closed by "Connection: close"), one for the last.
  CHECK(server.accepted == 2);
  CHECK(pool.counters().connections_opened == 2);
}

TEST_CASE("transport: the per-endpoint connection limit holds under many parallel exchanges") {
  // Setup: the server holds every reply until `limit` requests are in flight at once, which
  // proves the pool reaches the limit; its peak of open connections proves it never exceeds it.
  constexpr int limit = 3;
  constexpr int exchanges = 12;
  fixture f;
  int in_flight = 0;
  bool released = false;
  asio::steady_timer gate(f.io, asio::steady_timer::time_point::max());
  auto& server = f.serve([&](server_conn& c) -> awaitable<void> {
    while (true) {
      auto req = co_await c.read_request();
      if (!req) co_return;
      ++in_flight;
      if (in_flight >= limit) {
        released = true;
        gate.cancel();
      }
      while (!released) co_await gate.async_wait(as_tuple(use_awaitable));
      --in_flight;
      bool sent = co_await c.write(reply(req->target));
      if (!sent) co_return;
    }
  });
  auto opts = fast_options();
  opts.max_connections_per_endpoint = limit;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);
  int ok = 0, done = 0;
  asio::steady_timer all_done(f.io, asio::steady_timer::time_point::max());

  // Run
  f.run([&]() -> awaitable<void> {
    for (int i = 0; i < exchanges; ++i) {
      auto one = [&, i]() -> awaitable<void> {
        std::error_code ec;
        transport::exchange_options eo;
        auto res = co_await pool.exchange(ep, make_request("GET", "/p" + std::to_string(i)), asio::const_buffer(), eo, ec);
        if (!ec && res.body == "/p" + std::to_string(i)) ++ok;
        if (++done == exchanges) all_done.cancel();
      };
      asio::co_spawn(f.io, std::move(one), asio::detached);
    }
    while (done < exchanges) co_await all_done.async_wait(as_tuple(use_awaitable));
  });

  // Check
  CHECK(ok == exchanges);
  CHECK(released);
  CHECK(server.peak_active == limit);
  CHECK(pool.counters().peak_open_connections == limit);
  CHECK(pool.counters().connections_opened == limit);
}

TEST_CASE("transport: a server that stops answering trips the stall timeout") {
  // Setup
  fixture f;
  auto& server = f.serve([](server_conn& c) -> awaitable<void> {
    if (c.index == 0) {
      // Send half a reply, then nothing.
      co_await c.read_request();
      co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
      co_await c.wait_closed();
      co_return;
    }
    auto req = co_await c.read_request();
    if (req) co_await c.write(reply("fine"));
  });
  auto opts = fast_options();
  opts.stall_timeout = 150ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);

  // Run
  std::error_code first, second;
  std::string body;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    co_await pool.exchange(ep, make_request("GET", "/a"), asio::const_buffer(), eo, first);
    auto r = co_await pool.exchange(ep, make_request("GET", "/b"), asio::const_buffer(), eo, second);
    body = r.body;
  });

  // Check
  CHECK(first == client_errc::connection_timeout);
  CHECK_FALSE(second);
  CHECK(body == "fine");
  auto c = pool.counters();
  CHECK(c.connections_opened == 2);  // the timed-out connection was not reused
  CHECK(c.connections_dropped == 1);
  CHECK(c.stale_retries == 0);
}

TEST_CASE("transport: a large body into a server that stops reading trips the stall timeout") {
  // Setup: a small receive buffer so the client's writes block soon; the server never reads.
  fixture f;
  auto& server = f.serve(
      [](server_conn&) -> awaitable<void> {
        asio::steady_timer never(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
        co_await never.async_wait(as_tuple(use_awaitable));
      },
      server_options{false, 64 * 1024});
  auto opts = fast_options();
  opts.stall_timeout = 200ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);
  std::string big(64u << 20, 'b');

  // Run
  std::error_code ec;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    co_await pool.exchange(ep, make_request("PUT", "/big"), asio::buffer(big), eo, ec);
  });

  // Check
  CHECK(ec == client_errc::connection_timeout);
  CHECK(pool.counters().open_connections == 0);
  CHECK(pool.counters().connections_dropped == 1);
}

TEST_CASE("transport: a slow but moving upload does not trip the stall timeout") {
  // Setup: the server pauses 60 ms after each of the first 10 MiB, so the upload takes well over
  // the 300 ms stall timeout in total while no single gap comes near it.
  fixture f;
  std::uint64_t received = 0;
  auto& server = f.serve(
      [&](server_conn& c) -> awaitable<void> {
        asio::steady_timer pause(co_await asio::this_coro::executor);
        auto buf = std::make_unique<char[]>(64 * 1024);
        std::uint64_t next_pause = 1u << 20;
        // The head is small; read it by hand, then count body bytes.
        http::message_parser p(http::parser_kind::request);
        p.set_body_sink([&](std::string_view s) { received += s.size(); });
        while (!p.done()) {
          auto [ec, n] = co_await c.read_some(asio::buffer(buf.get(), 64 * 1024));
          if (ec) co_return;
          std::string_view data(buf.get(), n);
          while (!data.empty() && !p.done()) {
            std::error_code pec;
            data.remove_prefix(p.feed(data, pec));
            if (pec) co_return;
          }
          if (received >= next_pause && received <= (10u << 20)) {
            next_pause += 1u << 20;
            pause.expires_after(60ms);
            co_await pause.async_wait(as_tuple(use_awaitable));
          }
        }
        co_await c.write(reply(std::to_string(received)));
      },
      server_options{false, 64 * 1024});
  auto opts = fast_options();
  opts.stall_timeout = 300ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);
  std::string big(24u << 20, 'u');

  // Run
  std::error_code ec;
  std::string body;
  auto started = std::chrono::steady_clock::now();
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    auto r = co_await pool.exchange(ep, make_request("PUT", "/slow"), asio::buffer(big), eo, ec);
    body = r.body;
  });
  auto took = std::chrono::steady_clock::now() - started;

  // Check
  CHECK_FALSE(ec);
  CHECK(body == std::to_string(big.size()));
  // Not a timing assertion on our code: it checks the scenario really outlasted the timeout.
  CHECK(took > opts.stall_timeout);
}

namespace {

// A server that answers each request with `whole` written `piece` bytes at a time, one piece
// per `interval`, until the client goes away.
test_server::handler_fn drip_reply(std::string whole, std::size_t piece, std::chrono::milliseconds interval) {
  return [whole, piece, interval](server_conn& c) -> awaitable<void> {
    auto req = co_await c.read_request();
    if (!req) co_return;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (std::size_t off = 0; off < whole.size(); off += piece) {
      bool sent = co_await c.write(whole.substr(off, piece));
      if (!sent) co_return;
      pause.expires_after(interval);
      co_await pause.async_wait(as_tuple(use_awaitable));
    }
  };
}

struct timed_exchange {
  std::error_code ec;
  transport::exchange_report report;
  std::string body;
  std::chrono::steady_clock::duration took{};
};

timed_exchange exchange_once(fixture& f, transport::connection_pool& pool, const test_server& server) {
  timed_exchange out;
  const auto started = std::chrono::steady_clock::now();
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    auto r = co_await pool.exchange(f.plain_endpoint(server), make_request("GET", "/drip"), asio::const_buffer(), eo,
                                    out.ec, out.report);
    out.body = std::move(r.body);
  });
  out.took = std::chrono::steady_clock::now() - started;
  return out;
}

}  // namespace

TEST_CASE("transport: a reply dripping one byte at a time trips the progress floor") {
  // Setup: 1 byte per 200 ms keeps "no byte for stall_timeout" quiet forever.
  fixture f;
  auto& server = f.serve(drip_reply(reply(std::string(2000, 'd')), 1, 200ms));
  auto opts = fast_options();
  opts.stall_timeout = 1000ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);

  // Run
  const timed_exchange r = exchange_once(f, pool, server);

  // Check
  CHECK(r.ec == client_errc::connection_timeout);
  CHECK(r.report.stall == transport::stall_kind::slow);
  CHECK(r.took < 5s);  // one window after the first byte, far from the drip's 400 s
  CHECK(pool.counters().connections_dropped == 1);
}

TEST_CASE("transport: a reply that passes the floor but not the size bound is cut; a slow real one is not") {
  // Setup: 5000 bytes per 400 ms fill every window (4096 bytes), but 100 KiB would take 8 s,
  // beyond 500 ms * (4 + ~100 KiB / 64 KiB) = about 2.8 s. 16 KiB per 100 ms (160 KiB/s) is
  // slow but real: 200 KiB in 1.3 s, within its bound of about 3.6 s.
  fixture f;
  auto& crawling = f.serve(drip_reply(reply(std::string(100 * 1024, 'c')), 5000, 400ms));
  const std::string real_body(200 * 1024, 'r');
  auto& slow = f.serve(drip_reply(reply(real_body), 16 * 1024, 100ms));
  auto opts = fast_options();
  opts.stall_timeout = 500ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);

  // Run
  const timed_exchange cut = exchange_once(f, pool, crawling);
  const timed_exchange kept = exchange_once(f, pool, slow);

  // Check
  CHECK(cut.ec == client_errc::connection_timeout);
  CHECK(cut.report.stall == transport::stall_kind::too_long);
  CHECK(cut.took < 6s);
  CHECK_FALSE(kept.ec);
  CHECK(kept.report.stall == transport::stall_kind::none);
  CHECK(kept.body == real_body);
  CHECK(kept.took > opts.stall_timeout * 2);  // the scenario really outlasted two windows
}

TEST_CASE("transport: an idle connection closed by the peer is replaced transparently") {
  // Setup: the server advertises keep-alive, then closes right after each reply.
  fixture f;
  auto& server = f.serve([](server_conn& c) -> awaitable<void> {
    auto req = co_await c.read_request();
    if (req) co_await c.write(reply("once"));
  });
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
  auto ep = f.plain_endpoint(server);

  // Run
  std::vector<std::error_code> errors;
  f.run([&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      std::error_code ec;
      transport::exchange_options eo;
      auto r = co_await pool.exchange(ep, make_request("GET", "/x"), asio::const_buffer(), eo, ec);
      errors.push_back(ec);
      CHECK(r.body == "once");
      // Wait (bounded, no clock) until the server has closed, as a real idle connection would be.
      for (int spin = 0; spin < 10000 && server.closed < i + 1; ++spin)
        co_await asio::post(co_await asio::this_coro::executor, use_awaitable);
    }
  });

  // Check
  CHECK(errors == std::vector<std::error_code>(3));
  CHECK(server.accepted == 3);
  auto c = pool.counters();
  CHECK(c.connections_opened == 3);
  CHECK(c.stale_retries == 0);  // found dead while idle, before a byte was written to it
  CHECK(c.connections_dropped == 2);
}

TEST_CASE("transport: a reused connection closed before any reply byte is retried once") {
  // Setup: on the first connection the server answers one request, then reads the second and
  // closes without a byte, exactly like a keep-alive timeout racing a new request.
  fixture f;
  std::vector<recorded_request> log;
  auto& server = f.serve([&](server_conn& c) -> awaitable<void> {
    std::string body;
    auto req = co_await c.read_request(&body);
    if (!req) co_return;
    log.push_back({c.index, *req, body});
    co_await c.write(reply("first"));
    if (c.index == 0) {
      auto second = co_await c.read_request(&body);
      if (second) log.push_back({c.index, *second, body});
      co_return;  // close without answering
    }
    while (true) {
      auto more = co_await c.read_request(&body);
      if (!more) co_return;
      log.push_back({c.index, *more, body});
      co_await c.write(reply("again"));
    }
  });
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
  auto ep = f.plain_endpoint(server);
  std::string payload = "part-bytes";

  // Run
  std::error_code e1, e2;
  transport::exchange_report r1, r2;
  std::string b2;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    co_await pool.exchange(ep, make_request("PUT", "/one"), asio::buffer(payload), eo, e1, r1);
    auto r = co_await pool.exchange(ep, make_request("PUT", "/two"), asio::buffer(payload), eo, e2, r2);
    b2 = r.body;
  });

  // Check
  CHECK_FALSE(e1);
  CHECK_FALSE(e2);
  CHECK(b2 == "first");  // served by the fresh connection's first reply
  // The report counts what went out: the head the transport completed, then the body; the
  // replayed request twice.
  http::request sent = make_request("PUT", "/one");
  sent.headers.add("Host", "127.0.0.1:" + std::to_string(server.port()));
  sent.headers.add("Content-Length", std::to_string(payload.size()));
  CHECK(r1.request_bytes_written == http::serialize_head(sent).size() + payload.size());
  CHECK(r2.request_bytes_written == 2 * r1.request_bytes_written);
  auto c = pool.counters();
  CHECK(c.stale_retries == 1);
  CHECK(c.connections_opened == 2);
  REQUIRE(log.size() == 3);
  CHECK(log[1].connection == 0);
  CHECK(log[2].connection == 1);
  CHECK(log[2].req.target == "/two");
  CHECK(log[2].body == payload);  // the body went out again in full
}

TEST_CASE("transport: fresh connections and second failures are not retried") {
  SUBCASE("fresh connection closed before the reply") {
    fixture f;
    auto& server = f.serve([](server_conn& c) -> awaitable<void> { co_await c.read_request(); });
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      co_await pool.exchange(f.plain_endpoint(server), make_request("GET", "/"), asio::const_buffer(), eo, ec);
    });
    CHECK(ec == asio::error::eof);
    CHECK(server.accepted == 1);
    CHECK(pool.counters().stale_retries == 0);
  }
  SUBCASE("the retry fails too") {
    fixture f;
    // Connection 0 answers once and then drops the next request; every later connection drops
    // its first request.
    auto& server = f.serve([](server_conn& c) -> awaitable<void> {
      auto req = co_await c.read_request();
      if (req && c.index == 0) {
        co_await c.write(reply("ok"));
        co_await c.read_request();
      }
    });
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code e1, e2;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      auto ep = f.plain_endpoint(server);
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e1);
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e2);
    });
    CHECK_FALSE(e1);
    CHECK(e2 == asio::error::eof);
    CHECK(server.accepted == 2);  // exactly one retry
    CHECK(pool.counters().stale_retries == 1);
  }
  SUBCASE("a stall on a reused connection is a timeout, not a retry") {
    fixture f;
    auto& server = f.serve([](server_conn& c) -> awaitable<void> {
      auto req = co_await c.read_request();
      if (!req) co_return;
      co_await c.write(reply("ok"));
      co_await c.wait_closed();
    });
    auto opts = fast_options();
    opts.stall_timeout = 100ms;
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
    std::error_code e1, e2;
    transport::exchange_report r1, r2;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      auto ep = f.plain_endpoint(server);
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e1, r1);
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e2, r2);
    });
    CHECK_FALSE(e1);
    CHECK(e2 == client_errc::connection_timeout);
    CHECK(server.accepted == 1);
    CHECK(pool.counters().stale_retries == 0);
    // A stall after the request went out: the same error as a connect timeout, but the report
    // shows the request left (the watchdog's win does not lose the count).
    CHECK(r1.request_bytes_written > 0);
    CHECK(r2.request_bytes_written == r1.request_bytes_written);
  }
}

TEST_CASE("transport: the caller's cancellation aborts an exchange and closes the connection") {
  // Setup: the server never answers; as soon as it has the request, the test cancels.
  fixture f;
  asio::cancellation_signal cancel;
  bool server_saw_close = false;
  auto& server = f.serve([&](server_conn& c) -> awaitable<void> {
    auto req = co_await c.read_request();
    if (!req) co_return;
    asio::post(c.socket().get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
    co_await c.wait_closed();
    server_saw_close = true;
  });
  auto opts = fast_options();
  opts.stall_timeout = 10s;  // must not be what ends the exchange
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);

  // Run
  std::error_code ec;
  bool finished = false;
  f.run([&]() -> awaitable<void> {
    auto victim = [&]() -> awaitable<void> {
      transport::exchange_options eo;
      co_await pool.exchange(ep, make_request("GET", "/hang"), asio::const_buffer(), eo, ec);
    };
    asio::steady_timer done(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto on_done = [&](std::exception_ptr) {
      finished = true;
      done.cancel();
    };
    asio::co_spawn(f.io, std::move(victim), asio::bind_cancellation_slot(cancel.slot(), std::move(on_done)));
    while (!finished) co_await done.async_wait(as_tuple(use_awaitable));
    // Give the server a chance to observe the close.
    for (int i = 0; i < 100 && !server_saw_close; ++i) co_await asio::post(co_await asio::this_coro::executor, use_awaitable);
  });

  // Check
  CHECK(finished);
  CHECK(ec == asio::error::operation_aborted);
  CHECK(server_saw_close);
  CHECK(pool.counters().open_connections == 0);
}

TEST_CASE("transport: cancelling an exchange that waits for a connection slot") {
  // Setup: limit 1; the first exchange holds the only connection (the server stalls), the
  // second waits for it and is cancelled while waiting.
  fixture f;
  asio::cancellation_signal cancel_waiter, cancel_holder;
  auto& server = f.serve([&](server_conn& c) -> awaitable<void> {
    auto req = co_await c.read_request();
    if (!req) co_return;
    asio::post(c.socket().get_executor(), [&] { cancel_waiter.emit(asio::cancellation_type::terminal); });
    co_await c.wait_closed();
  });
  auto opts = fast_options();
  opts.max_connections_per_endpoint = 1;
  opts.stall_timeout = 10s;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);

  // Run
  std::error_code holder_ec, waiter_ec;
  int finished = 0;
  f.run([&]() -> awaitable<void> {
    asio::steady_timer done(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto holder = [&]() -> awaitable<void> {
      transport::exchange_options eo;
      co_await pool.exchange(ep, make_request("GET", "/holder"), asio::const_buffer(), eo, holder_ec);
    };
    auto waiter = [&]() -> awaitable<void> {
      transport::exchange_options eo;
      co_await pool.exchange(ep, make_request("GET", "/waiter"), asio::const_buffer(), eo, waiter_ec);
    };
    auto on_waiter_done = [&](std::exception_ptr) {
      ++finished;
      cancel_holder.emit(asio::cancellation_type::terminal);  // then release the holder too
      done.cancel();
    };
    auto on_holder_done = [&](std::exception_ptr) {
      ++finished;
      done.cancel();
    };
    asio::co_spawn(f.io, std::move(holder), asio::bind_cancellation_slot(cancel_holder.slot(), std::move(on_holder_done)));
    asio::co_spawn(f.io, std::move(waiter), asio::bind_cancellation_slot(cancel_waiter.slot(), std::move(on_waiter_done)));
    while (finished < 2) co_await done.async_wait(as_tuple(use_awaitable));
  });

  // Check
  CHECK(waiter_ec == asio::error::operation_aborted);
  CHECK(holder_ec == asio::error::operation_aborted);
  CHECK(server.accepted == 1);
  CHECK(pool.counters().open_connections == 0);
}

TEST_CASE("transport: network, framing and size errors") {
  SUBCASE("connection refused passes through untouched") {
    fixture f;
    std::uint16_t closed_port = 0;
    {
      tcp::acceptor probe(f.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      closed_port = probe.local_endpoint().port();
    }
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    transport::exchange_report report;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{false, "127.0.0.1", closed_port};
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, ec, report);
    });
    CHECK(ec == asio::error::connection_refused);
    CHECK(pool.counters().connections_opened == 0);
    CHECK(report.request_bytes_written == 0);
  }
  SUBCASE("a malformed reply drops the connection") {
    fixture f;
    auto& server = f.serve([](server_conn& c) -> awaitable<void> {
      while (auto req = co_await c.read_request()) {
        if (req->target == "/bad")
          co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        else
          co_await c.write(reply("good"));
      }
    });
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code e1, e2;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      auto ep = f.plain_endpoint(server);
      co_await pool.exchange(ep, make_request("GET", "/bad"), asio::const_buffer(), eo, e1);
      co_await pool.exchange(ep, make_request("GET", "/good"), asio::const_buffer(), eo, e2);
    });
    CHECK(e1 == client_errc::malformed_response);
    CHECK_FALSE(e2);
    CHECK(server.accepted == 2);
  }
  SUBCASE("a reply larger than max_response_body") {
    fixture f;
    auto& server = f.serve(answer_all([](const recorded_request&) { return reply(std::string(5000, 'x')); }));
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      eo.max_response_body = 4096;
      co_await pool.exchange(f.plain_endpoint(server), make_request("GET", "/"), asio::const_buffer(), eo, ec);
    });
    CHECK(ec == client_errc::response_too_large);
    CHECK(pool.counters().open_connections == 0);
  }
  SUBCASE("a truncated reply is the network error, not a success") {
    fixture f;
    auto& server = f.serve([](server_conn& c) -> awaitable<void> {
      auto req = co_await c.read_request();
      if (req) co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      co_await pool.exchange(f.plain_endpoint(server), make_request("GET", "/"), asio::const_buffer(), eo, ec);
    });
    CHECK(ec == asio::error::eof);
  }
  SUBCASE("a Content-Length that disagrees with the body is a bug above: it throws") {
    fixture f;
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    bool threw = false;
    f.run([&]() -> awaitable<void> {
      auto req = make_request("PUT", "/k");
      req.headers.add("Content-Length", "99");
      std::string body = "short";
      std::error_code ec;
      transport::exchange_options eo;
      transport::endpoint ep{false, "127.0.0.1", 9};
      try {
        co_await pool.exchange(ep, req, asio::buffer(body), eo, ec);
      } catch (const std::invalid_argument&) {
        threw = true;
      }
    });
    CHECK(threw);
  }
}

TEST_CASE("transport: a body sink receives the reply body as it streams") {
  // Setup
  fixture f;
  std::string big(3u << 20, 'd');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto& server = f.serve(answer_all([&](const recorded_request&) { return reply(big); }));
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());

  // Run
  std::string sunk;
  std::size_t calls = 0;
  std::error_code ec;
  std::string buffered;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    eo.max_response_body = 1024;  // does not apply to a sink
    eo.body_sink = [&](std::string_view s) {
      sunk.append(s);
      ++calls;
    };
    auto r = co_await pool.exchange(f.plain_endpoint(server), make_request("GET", "/big"), asio::const_buffer(), eo, ec);
    buffered = r.body;
  });

  // Check
  CHECK_FALSE(ec);
  CHECK(sunk == big);
  CHECK(buffered.empty());
  CHECK(calls > 1);
}

TEST_CASE("transport: TLS with a trusted certificate, SNI and keep-alive") {
  // Setup
  fixture f;
  f.client_tls.load_verify_file(cert().cert_file());
  auto& server = f.serve(answer_all([](const recorded_request& r) { return reply("tls:" + r.req.target); }),
                         server_options{true, 0});
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
  transport::endpoint ep{true, "localhost", server.port()};

  // Run
  std::vector<std::string> bodies;
  f.run([&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      std::error_code ec;
      transport::exchange_options eo;
      auto r = co_await pool.exchange(ep, make_request("GET", "/t" + std::to_string(i)), asio::const_buffer(), eo, ec);
      REQUIRE_FALSE(ec);
      bodies.push_back(r.body);
    }
  });

  // Check
  CHECK(bodies == std::vector<std::string>{"tls:/t0", "tls:/t1", "tls:/t2"});
  CHECK(server.accepted == 1);
  REQUIRE(server.sni_seen.size() == 1);
  CHECK(server.sni_seen[0] == "localhost");
  CHECK(pool.counters().connections_reused == 2);
}

TEST_CASE("transport: TLS verification failures") {
  fixture f;
  auto& server = f.serve(answer_all([](const recorded_request&) { return reply("secret"); }), server_options{true, 0});

  SUBCASE("a self-signed certificate the client does not trust") {
    f.client_tls.set_default_verify_paths();
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{true, "localhost", server.port()};
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, ec);
    });
    REQUIRE(ec);
    CHECK(ec.category() == asio::error::get_ssl_category());
    CHECK(ec.message().find("certificate verify failed") != std::string::npos);
    CHECK(pool.counters().connections_opened == 0);
  }
  SUBCASE("a trusted certificate for another host name") {
    f.client_tls.load_verify_file(cert().cert_file());
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    std::error_code ec;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{true, "127.0.0.1", server.port()};  // the certificate names only localhost
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, ec);
    });
    REQUIRE(ec);
    CHECK(ec.message().find("certificate verify failed") != std::string::npos);
  }
  SUBCASE("verify_peer = false accepts it (tests against self-signed servers only)") {
    auto opts = fast_options();
    opts.verify_peer = false;
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
    std::error_code ec;
    std::string body;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{true, "127.0.0.1", server.port()};
      auto r = co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, ec);
      body = r.body;
    });
    CHECK_FALSE(ec);
    CHECK(body == "secret");
  }
}

TEST_CASE("transport: connect timeout covers the TLS handshake") {
  // No loopback trick makes a TCP connect hang, so the server accepts TCP and then never speaks
  // TLS: the connect timeout (resolve + connect + handshake) must fire.
  fixture f;
  auto& server = f.serve([](server_conn& c) -> awaitable<void> { co_await c.wait_closed(); });
  auto opts = fast_options();
  opts.connect_timeout = 100ms;
  opts.stall_timeout = 10s;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  std::error_code ec;
  transport::exchange_report report;
  report.request_bytes_written = 12345;  // must be reset

  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    transport::endpoint ep{true, "127.0.0.1", server.port()};
    std::string body = "never sent";
    co_await pool.exchange(ep, make_request("PUT", "/"), asio::buffer(body), eo, ec, report);
  });

  CHECK(ec == client_errc::connection_timeout);
  CHECK(server.accepted == 1);
  CHECK(pool.counters().connections_opened == 0);
  CHECK(report.request_bytes_written == 0);  // the request provably never left
}

TEST_CASE("transport: the caller's cancellation also stops a connect in progress") {
  // Setup: the server accepts TCP and never answers the TLS handshake; the test cancels as soon
  // as the server has accepted.
  fixture f;
  asio::cancellation_signal cancel;
  auto& server = f.serve([&](server_conn& c) -> awaitable<void> {
    asio::post(c.socket().get_executor(), [&] { cancel.emit(asio::cancellation_type::terminal); });
    co_await c.wait_closed();
  });
  auto opts = fast_options();
  opts.connect_timeout = 10s;  // must not be what ends the exchange
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);

  // Run
  std::error_code ec;
  f.run([&]() -> awaitable<void> {
    bool finished = false;
    asio::steady_timer done(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    auto victim = [&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{true, "127.0.0.1", server.port()};
      co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, ec);
    };
    auto on_done = [&](std::exception_ptr) {
      finished = true;
      done.cancel();
    };
    asio::co_spawn(f.io, std::move(victim), asio::bind_cancellation_slot(cancel.slot(), std::move(on_done)));
    while (!finished) co_await done.async_wait(as_tuple(use_awaitable));
  });

  // Check
  CHECK(ec == asio::error::operation_aborted);
  CHECK(server.accepted == 1);
  CHECK(pool.counters().connections_opened == 0);
}

TEST_CASE("transport: TLS stall mid-reply times out and the stream is not reused") {
  // Setup
  fixture f;
  f.client_tls.load_verify_file(cert().cert_file());
  auto& server = f.serve(
      [](server_conn& c) -> awaitable<void> {
        auto req = co_await c.read_request();
        if (!req) co_return;
        if (c.index == 0) {
          co_await c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
          co_await c.wait_closed();
          co_return;
        }
        co_await c.write(reply("recovered"));
      },
      server_options{true, 0});
  auto opts = fast_options();
  opts.stall_timeout = 150ms;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  transport::endpoint ep{true, "localhost", server.port()};

  // Run
  std::error_code e1, e2;
  std::string body;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e1);
    auto r = co_await pool.exchange(ep, make_request("GET", "/"), asio::const_buffer(), eo, e2);
    body = r.body;
  });

  // Check
  CHECK(e1 == client_errc::connection_timeout);
  CHECK_FALSE(e2);
  CHECK(body == "recovered");
  CHECK(server.accepted == 2);
}

TEST_CASE("transport: a large TLS upload arrives intact in one exchange") {
  // Setup: once as fast as the server reads, once into a small receive buffer, so that the
  // records gathered per send() often meet a full socket and are sent in parts.
  fixture f;
  f.client_tls.load_verify_file(cert().cert_file());
  std::string big(8u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 7);
  for (int receive_buffer : {0, 4096}) {
    CAPTURE(receive_buffer);
    std::vector<recorded_request> log;
    auto& server = f.serve(answer_all([](const recorded_request& r) { return reply(std::to_string(r.body.size())); }, &log),
                           server_options{true, receive_buffer});
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    // 1 MiB through the small buffer: enough full sockets, and quick even under ASan.
    const std::string sent = receive_buffer ? big.substr(0, 1u << 20) : big;

    // Run
    std::error_code ec;
    std::string body;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      transport::endpoint ep{true, "localhost", server.port()};
      auto r = co_await pool.exchange(ep, make_request("PUT", "/big"), asio::buffer(sent), eo, ec);
      body = r.body;
    });

    // Check
    CHECK_FALSE(ec);
    CHECK(body == std::to_string(sent.size()));
    REQUIRE(log.size() == 1);
    CHECK(log[0].body == sent);
  }
}

TEST_CASE("transport: a read_body request goes out piece by piece, plain and TLS; the reader's error ends it") {
  // Setup: a body of several pieces and a short last one, produced by a reader that hands out
  // one buffer of its own, refilled per call, and records where it was asked to read.
  fixture f;
  f.client_tls.load_verify_file(cert().cert_file());
  constexpr std::size_t piece = 100 * 1024;
  std::string big(4 * piece + 4321, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) >> 7);
  std::string buffer(piece, '\0');

  for (bool tls : {false, true}) {
    CAPTURE(tls);
    std::vector<recorded_request> log;
    auto& server = f.serve(answer_all([](const recorded_request& r) { return reply(std::to_string(r.body.size())); }, &log),
                           server_options{tls, 0});
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    const transport::endpoint ep = tls ? transport::endpoint{true, "localhost", server.port()} : f.plain_endpoint(server);
    std::vector<std::uint64_t> offsets;
    std::uint64_t fail_at = std::numeric_limits<std::uint64_t>::max();
    transport::exchange_options eo;
    eo.body_size = big.size();
    eo.read_body = [&](std::uint64_t at) -> awaitable<std::pair<std::error_code, asio::const_buffer>> {
      offsets.push_back(at);
      if (at >= fail_at) co_return std::make_pair(std::error_code(oss::client_errc::file_changed), asio::const_buffer());
      const std::size_t n = std::min(piece, big.size() - static_cast<std::size_t>(at));
      std::memcpy(buffer.data(), big.data() + at, n);
      co_return std::make_pair(std::error_code(), asio::const_buffer(buffer.data(), n));
    };

    // Run 1: the whole body.
    std::error_code ec;
    std::string body;
    f.run([&]() -> awaitable<void> {
      auto r = co_await pool.exchange(ep, make_request("PUT", "/streamed"), asio::const_buffer(), eo, ec);
      body = r.body;
    });
    CHECK_FALSE(ec);
    CHECK(body == std::to_string(big.size()));
    REQUIRE(log.size() == 1);
    CHECK(log[0].body == big);
    const std::vector<std::uint64_t> in_order{0, piece, 2 * piece, 3 * piece, 4 * piece};
    CHECK(offsets == in_order);

    // Run 2: the reader fails on its third piece: that error ends the exchange, nothing is
    // retried, and the connection with its incomplete request is closed, not pooled.
    offsets.clear();
    fail_at = 2 * piece;
    f.run([&]() -> awaitable<void> {
      co_await pool.exchange(ep, make_request("PUT", "/streamed"), asio::const_buffer(), eo, ec);
    });
    CHECK(ec == oss::client_errc::file_changed);
    CHECK(offsets.size() == 3);
    CHECK(pool.counters().open_connections == 0);
    CHECK(log.size() == 1);  // the server never saw a whole second request
  }
}

TEST_CASE("transport: over TLS, a close-delimited reply ends at the TCP close even without close_notify") {
  // Setup: the server ends the body by closing the socket, with no TLS close_notify (as many do).
  fixture f;
  f.client_tls.load_verify_file(cert().cert_file());
  auto& server = f.serve(
      [](server_conn& c) -> awaitable<void> {
        auto req = co_await c.read_request();
        if (req) co_await c.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
      },
      server_options{true, 0});
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());

  // Run
  std::error_code ec;
  http::response res;
  f.run([&]() -> awaitable<void> {
    transport::exchange_options eo;
    transport::endpoint ep{true, "localhost", server.port()};
    res = co_await pool.exchange(ep, make_request("GET", "/eof"), asio::const_buffer(), eo, ec);
  });

  // Check
  CHECK_FALSE(ec);
  CHECK(res.status == 200);
  CHECK(res.body == "until the end");
  CHECK(pool.counters().open_connections == 0);
}

TEST_CASE("transport: fresh_connection never reuses an idle connection and keeps the limit") {
  // Setup
  fixture f;
  auto& server = f.serve(answer_all([](const recorded_request& r) { return reply(r.req.target); }));
  auto opts = fast_options();
  opts.max_connections_per_endpoint = 1;
  transport::connection_pool pool(f.io.get_executor(), f.client_tls, opts);
  auto ep = f.plain_endpoint(server);

  // Run
  std::vector<std::string> bodies;
  f.run([&]() -> awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      std::error_code ec;
      transport::exchange_options eo;
      eo.fresh_connection = i == 1;
      auto r = co_await pool.exchange(ep, make_request("POST", "/p" + std::to_string(i)), asio::const_buffer(), eo, ec);
      REQUIRE_FALSE(ec);
      bodies.push_back(r.body);
    }
  });

  // Check: request 1 got a new connection (the idle one was closed for it), request 2 reused it.
  CHECK(bodies == std::vector<std::string>{"/p0", "/p1", "/p2"});
  CHECK(server.accepted == 2);
  CHECK(server.peak_active <= 2);  // the old one may still be closing on the server side
  auto c = pool.counters();
  CHECK(c.connections_opened == 2);
  CHECK(c.connections_reused == 1);
  CHECK(c.peak_open_connections == 1);
  CHECK(c.open_connections == 1);
}

TEST_CASE("transport: an early reply to a request whose body the server refuses is still read, plain and TLS") {
  // Setup: the server reads only the head, answers 413 and closes with the body unread (the
  // kernel then resets the connection), so the client's body write fails midway with EPIPE or
  // ECONNRESET. Over TLS a send without MSG_NOSIGNAL would raise SIGPIPE and end this test
  // program, and a socket error outside Asio's category would not be recognised as the reset it
  // is, so the reply would never be read.
  for (const bool tls : {false, true}) {
    CAPTURE(tls);
    fixture f;
    if (tls) f.client_tls.load_verify_file(cert().cert_file());
    auto& server = f.serve(
        [](server_conn& c) -> awaitable<void> {
          auto req = co_await c.read_head();
          if (req) co_await c.write("HTTP/1.1 413 Content Too Large\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntoo big");
        },
        server_options{tls, 64 * 1024});
    transport::connection_pool pool(f.io.get_executor(), f.client_tls, fast_options());
    const transport::endpoint ep = tls ? transport::endpoint{true, "localhost", server.port()} : f.plain_endpoint(server);
    std::string big(32u << 20, 'x');

    // Run
    std::error_code ec;
    http::response res;
    f.run([&]() -> awaitable<void> {
      transport::exchange_options eo;
      res = co_await pool.exchange(ep, make_request("PUT", "/huge"), asio::buffer(big), eo, ec);
    });

    // Check
    CHECK_FALSE(ec);
    CHECK(res.status == 413);
    CHECK(res.body == "too big");
    CHECK(pool.counters().open_connections == 0);
  }
}

TEST_CASE("transport: exchanges from several threads share one pool") {
  // Setup: the server runs on its own thread; the client pool on a 3-thread pool.
  asio::io_context server_io;
  test_server server(server_io, answer_all([](const recorded_request& r) { return reply(r.req.target); }),
                     server_options{true, 0});
  auto work = asio::make_work_guard(server_io);
  std::thread server_thread([&] { server_io.run(); });
  asio::thread_pool workers(3);
  asio::ssl::context client_tls(asio::ssl::context::tls_client);
  client_tls.load_verify_file(cert().cert_file());
  auto opts = fast_options();
  opts.max_connections_per_endpoint = 4;
  constexpr int tasks = 24, per_task = 4;
  std::atomic<int> ok{0}, finished{0};
  std::promise<void> all_done;

  {
    transport::connection_pool pool(workers.get_executor(), client_tls, opts);
    transport::endpoint ep{true, "localhost", server.port()};

    // Run
    for (int t = 0; t < tasks; ++t) {
      auto task = [&, t]() -> awaitable<void> {
        for (int i = 0; i < per_task; ++i) {
          std::error_code ec;
          transport::exchange_options eo;
          std::string target = "/t" + std::to_string(t) + "/" + std::to_string(i);
          auto r = co_await pool.exchange(ep, make_request("GET", target), asio::const_buffer(), eo, ec);
          if (!ec && r.body == target) ++ok;
        }
        if (++finished == tasks) all_done.set_value();
      };
      asio::co_spawn(workers, std::move(task), asio::detached);
    }
    bool in_time = all_done.get_future().wait_for(60s) == std::future_status::ready;
    workers.join();

    // Check
    REQUIRE_MESSAGE(in_time, "the exchanges did not finish: hung");
    CHECK(ok == tasks * per_task);
    auto c = pool.counters();
    CHECK(c.peak_open_connections <= 4);
    CHECK(c.connections_opened + c.connections_reused == tasks * per_task);
  }
  work.reset();
  server_io.stop();
  server_thread.join();
  CHECK(server.peak_active <= 4);
}
