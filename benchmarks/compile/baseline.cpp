// The compile-time baseline of the quick start (scripts/bench --only compile): a small Asio
// coroutine program of its kind (resolve, connect, TLS, one request, a JSON document), built on
// the same libraries, with the same flags.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <boost/json/src.hpp>

#include <iostream>
#include <string>

asio::awaitable<void> fetch(asio::ssl::context& tls, std::string host) {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  asio::ssl::stream<asio::ip::tcp::socket> stream(ex, tls);
  auto endpoints = co_await resolver.async_resolve(host, "443", asio::use_awaitable);
  co_await asio::async_connect(stream.next_layer(), endpoints, asio::use_awaitable);
  co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  std::string request = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(stream, asio::buffer(request), asio::use_awaitable);
  std::string reply;
  auto [ec, n] = co_await asio::async_read(stream, asio::dynamic_buffer(reply),
                                           asio::experimental::as_tuple(asio::use_awaitable));
  boost::json::object doc;
  doc["bytes"] = n;
  doc["error"] = ec.message();
  std::cout << boost::json::serialize(doc) << "\n";
}

int main(int argc, char** argv) {
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_default_verify_paths();
  asio::co_spawn(io, fetch(tls, argc > 1 ? argv[1] : "example.com"), asio::detached);
  io.run();
}
