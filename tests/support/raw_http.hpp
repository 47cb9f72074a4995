// Test support: a small blocking HTTP/1.1 client over 127.0.0.1, plain or TLS, for tests that
// drive a server byte by byte (raw, chunked, pipelined, half-sent requests) where a real client
// would hide the wire. Replies are parsed with the library's parser, which its own unit tests and
// fuzz target cover.
#ifndef OSS_TESTS_SUPPORT_RAW_HTTP_HPP
#define OSS_TESTS_SUPPORT_RAW_HTTP_HPP

#include <oss/detail/ascii.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/detail/ops/documents.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace oss_test {

struct http_reply {
  int status = 0;
  oss::detail::http::fields headers;
  std::string body;

  std::string header(std::string_view name) const {
    const std::string* v = headers.find(name);
    return v ? *v : std::string();
  }
  bool has(std::string_view name) const { return headers.find(name) != nullptr; }
  bool has_oss_header() const {
    for (const auto& f : headers)
      if (oss::detail::ascii_istarts_with(f.name, "x-oss-")) return true;
    return false;
  }
  // The reply's error document; REQUIREs that it is one.
  oss::detail::error_body error() const {
    oss::detail::error_body e;
    REQUIRE_MESSAGE(oss::detail::parse_error_body(body, e), "not an error body: " << body);
    return e;
  }
};

class blocking_client {
 public:
  explicit blocking_client(std::uint16_t port, asio::ssl::context* tls = nullptr) : socket_(io_) {
    socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    // A server that never answers fails the test instead of hanging it.
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (tls) {
      tls_.emplace(socket_, *tls);
      tls_->handshake(asio::ssl::stream_base::client);
    }
  }

  void send_raw(std::string_view bytes) {
    if (tls_)
      asio::write(*tls_, asio::buffer(bytes));
    else
      asio::write(socket_, asio::buffer(bytes));
  }

  void send(const oss::detail::http::request& req, std::string_view body) {
    std::string wire = oss::detail::http::serialize_head(req);
    wire.append(body);
    send_raw(wire);
  }

  // Reads one final response (interim 1xx replies are skipped by the parser).
  http_reply read_reply(bool head = false) {
    namespace http = oss::detail::http;
    http::message_parser parser(http::parser_kind::response);
    if (head) parser.expect_no_body();
    std::error_code ec;
    while (!parser.done()) {
      if (pending_.empty() && !fill()) {
        parser.finish_on_eof(ec);
        REQUIRE_MESSAGE(!ec, "connection closed before a complete reply");
        break;
      }
      std::size_t n = parser.feed(pending_, ec);
      REQUIRE_MESSAGE(!ec, "malformed reply: " << ec.message());
      pending_.erase(0, n);
    }
    auto res = parser.release_response();
    return {res.status, std::move(res.headers), std::move(res.body)};
  }

  // Reads exactly one head (including interim ones such as "100 Continue") as raw text.
  std::string read_head_raw() {
    for (;;) {
      auto end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = pending_.substr(0, end + 4);
        pending_.erase(0, end + 4);
        return head;
      }
      REQUIRE_MESSAGE(fill(), "connection closed before a head");
    }
  }

  http_reply exchange(const oss::detail::http::request& req, std::string_view body = {}, bool head = false) {
    send(req, body);
    return read_reply(head || req.method == "HEAD");
  }

  // True when the server closed the connection (EOF or reset) and sent nothing more.
  bool closed_by_peer() {
    if (!pending_.empty()) return false;
    return !fill();
  }

 private:
  bool fill() {
    char buf[65536];
    std::error_code ec;
    std::size_t n = tls_ ? tls_->read_some(asio::buffer(buf), ec) : socket_.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) FAIL("read timed out");
    if (ec) return false;
    pending_.append(buf, n);
    return true;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  std::string pending_;
};

// "?name=value&name2" with both sides encoded; a parameter with an empty value goes bare.
inline std::string encode_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out;
  for (const auto& [name, value] : query) {
    out += out.empty() ? "?" : "&";
    out += oss::detail::uri_encode(name, false);
    if (!value.empty()) out += "=" + oss::detail::uri_encode(value, false);
  }
  return out;
}

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_RAW_HTTP_HPP
