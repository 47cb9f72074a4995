// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_HTTP_PARSER_HPP
#define OSS_DETAIL_HTTP_PARSER_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/http/message.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace oss::detail::http {

enum class parser_kind { request, response };

struct parser_limits {
  // Bytes of the start line plus header block (and, separately, of a chunked trailer section).
  // Exceeding it fails with client_errc::response_too_large.
  std::size_t max_header_bytes = 64 * 1024;
  // Body bytes the parser may buffer into body(). Not applied while a body sink is set: the
  // sink's owner decides (the server streams multi-GiB parts to disk). Exceeding it fails with
  // client_errc::response_too_large; a Content-Length body fails before its first byte is
  // buffered (the check waits for the first body byte, so a sink set after header_done() counts).
  std::uint64_t max_body_bytes = 64ull * 1024 * 1024;
};

// Sans-io HTTP/1.1 parser for one message at a time: requests (server side) or responses
// (client side).
//
// Usage: feed() bytes as they arrive; it returns how many it consumed. It stops consuming
// (returns early) at two points: right after the header block, so the caller can look at the
// head and install a body sink before any body byte is delivered; and right after the end of
// the message, so pipelined bytes stay with the caller. Otherwise it consumes everything and
// keeps partial lines internally, so the caller never has to re-feed bytes. When the peer
// closes, call finish_on_eof(): a response whose body runs until close is then complete.
// After done(), reset() prepares for the next message on the same connection.
//
// Errors (sticky until reset()): client_errc::malformed_response for any syntax or framing
// violation, client_errc::response_too_large for limits. The request parser uses the same
// codes (the server maps them to 400 / 431 / 413).
//
// Framing rules (RFC 9112 6.3): no body for responses to HEAD (expect_no_body()), 1xx, 204
// and 304; otherwise chunked when Transfer-Encoding ends in "chunked", else Content-Length,
// else (responses) until the connection closes, else (requests) no body. Content-Length
// together with Transfer-Encoding, conflicting Content-Length values, obs-fold continuation
// lines, whitespace before a colon, bare LF line ends and control characters in the head are
// rejected. Interim 1xx responses other than 101 (e.g. "100 Continue") are skipped by the
// response parser: header_done() becomes true only for the final response.
class message_parser {
 public:
  using body_sink = std::function<void(std::string_view)>;

  explicit message_parser(parser_kind kind, parser_limits limits = {}) noexcept
      : kind_(kind), limits_(limits) {}

  // Response parser only: the request was HEAD, so the response has no body whatever its
  // Content-Length says. Call before feeding; reset() clears it.
  void expect_no_body() noexcept { no_body_expected_ = true; }

  // Deliver body bytes to `sink` (in order, as they arrive, never buffered) instead of body().
  // May be set before the first feed or after header_done(); reset() clears it.
  void set_body_sink(body_sink sink) { sink_ = std::move(sink); }

  // Parses from `data`; returns the number of bytes consumed (see above). On error sets `ec`
  // and returns the bytes consumed before the offending one. Feeding after done() consumes 0.
  OSS_DECL std::size_t feed(std::string_view data, std::error_code& ec);

  // The peer closed the connection. Completes a body that runs until close; any other
  // incomplete message (including no bytes at all) sets client_errc::malformed_response.
  OSS_DECL void finish_on_eof(std::error_code& ec);

  // Forget the current message (keeps kind and limits; clears expect_no_body and the sink).
  OSS_DECL void reset() noexcept;

  bool header_done() const noexcept { return state_ > state::header; }
  bool done() const noexcept { return state_ == state::complete; }
  // True once any byte of the current message (including skipped 1xx responses) was consumed.
  bool started() const noexcept { return started_; }

  // Start line. Requests: method()/target(); responses: status()/reason().
  const std::string& method() const noexcept { return method_; }
  const std::string& target() const noexcept { return target_; }
  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }
  int version_minor() const noexcept { return version_minor_; }  // 0 or 1
  const fields& headers() const noexcept { return headers_; }

  // Framing decided from the header (valid after header_done()).
  bool chunked() const noexcept { return body_mode_ == body_mode::chunked; }
  bool body_until_eof() const noexcept { return body_mode_ == body_mode::until_eof; }
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }

  // Persistent connection after this message: HTTP/1.1 unless "Connection: close"; HTTP/1.0
  // only with "Connection: keep-alive"; never when the body runs until close.
  OSS_DECL bool keep_alive() const noexcept;
  // Request parser: HTTP/1.1 request with "Expect: 100-continue".
  OSS_DECL bool expects_continue() const noexcept;

  // Body bytes seen so far (buffered or streamed).
  std::uint64_t body_bytes() const noexcept { return body_seen_; }
  std::string& body() noexcept { return body_; }
  const std::string& body() const noexcept { return body_; }

  // Moves the parsed message out (valid once done(); the parser must be reset() afterwards).
  OSS_DECL response release_response();
  OSS_DECL request release_request();

 private:
  enum class state { header, body_length, body_eof, chunk_size, chunk_data, chunk_data_crlf, trailer, complete };
  enum class body_mode { none, length, chunked, until_eof };

  OSS_DECL std::size_t feed_header(std::string_view data, std::error_code& ec);
  OSS_DECL void parse_head(std::string_view head, std::error_code& ec);
  OSS_DECL bool parse_start_line(std::string_view line);
  OSS_DECL void decide_framing(std::error_code& ec);
  OSS_DECL bool deliver(std::string_view bytes, std::error_code& ec);
  OSS_DECL bool take_line(std::string_view data, std::size_t& pos, std::error_code& ec);
  OSS_DECL void clear_message() noexcept;

  parser_kind kind_;
  parser_limits limits_;
  body_sink sink_;
  bool no_body_expected_ = false;

  state state_ = state::header;
  body_mode body_mode_ = body_mode::none;
  std::error_code error_;
  bool started_ = false;

  std::string head_;          // header block collected so far
  std::size_t scan_pos_ = 0;  // where the search for the blank line resumes
  std::string line_;          // partial chunk-size / trailer line
  std::size_t trailer_bytes_ = 0;
  std::size_t interim_bytes_ = 0;  // of the 1xx heads skipped before this one

  std::string method_, target_, reason_;
  int status_ = 0;
  int version_minor_ = 1;
  fields headers_;
  std::optional<std::uint64_t> content_length_;
  std::uint64_t remaining_ = 0;  // of the Content-Length body or of the current chunk
  std::uint64_t body_seen_ = 0;
  std::string body_;
};

}  // namespace oss::detail::http

#ifdef OSS_HEADER_ONLY
#include <oss/detail/http/impl/parser.ipp>
#endif

#endif  // OSS_DETAIL_HTTP_PARSER_HPP
