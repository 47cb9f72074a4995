// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// Fuzz target: the sans-io HTTP/1.1 parser (oss/detail/http/parser.hpp), both kinds.
//
// Input: one flags byte, one split-seed byte, then the byte stream of one connection.
// Invariants, beyond "no crash, no sanitizer report":
//  - the outcome (every message, the error, and the bytes consumed unless it failed) is the
//    same whether the stream arrives at once, one byte at a time, or in pseudo-random pieces;
//    a body sink receives exactly the bytes body() would hold;
//  - feed() always makes progress until the message is done or failed;
//  - a message parsed without error has valid header names and values, a Content-Length body
//    of exactly that length, and serialises (serialize_head) into a message that parses back
//    to the same start line, headers and body.
#include "fuzz_check.hpp"

#include <oss/detail/http/message.hpp>
#include <oss/detail/http/parser.hpp>
#include <oss/error.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace oss::detail::http;

struct parsed_message {
  int status = 0;
  std::string reason, method, target;
  int version_minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false, until_eof = false, keep_alive = false, expects_continue = false;
  std::optional<std::uint64_t> content_length;
  std::uint64_t body_bytes = 0;

  bool operator==(const parsed_message&) const = default;
};

struct outcome {
  std::vector<parsed_message> messages;
  std::error_code ec;
  std::size_t consumed = 0;

  // On error the bytes consumed depend on the pieces: a body piece that crosses the body limit
  // is refused whole, so a byte-wise feed gets further. The connection is dropped then anyway.
  bool operator==(const outcome& o) const {
    return messages == o.messages && ec == o.ec && (ec || consumed == o.consumed);
  }
};

struct config {
  parser_kind kind = parser_kind::response;
  bool no_body = false;
  bool use_sink = false;
  parser_limits limits;
};

constexpr std::size_t max_messages = 8;

// A message the parser completed; checks the per-message invariants on the way.
parsed_message take_message(message_parser& p, const std::string& sunk, bool use_sink) {
  parsed_message m;
  m.status = p.status();
  m.reason = p.reason();
  m.method = p.method();
  m.target = p.target();
  m.version_minor = p.version_minor();
  for (const field& f : p.headers()) {
    FUZZ_CHECK(is_valid_field_name(f.name));
    // Values are trimmed and free of CR, LF, NUL and other controls: nothing can be smuggled
    // into a header the client or the local server acts on.
    FUZZ_CHECK(is_valid_field_value(f.value));
    m.headers.emplace_back(f.name, f.value);
  }
  m.body = use_sink ? sunk : p.body();
  if (use_sink) FUZZ_CHECK(p.body().empty());
  m.chunked = p.chunked();
  m.until_eof = p.body_until_eof();
  m.keep_alive = p.keep_alive();
  m.expects_continue = p.expects_continue();
  m.content_length = p.content_length();
  m.body_bytes = p.body_bytes();
  FUZZ_CHECK(m.body_bytes == m.body.size());
  FUZZ_CHECK(p.version_minor() == 0 || p.version_minor() == 1);
  if (!m.chunked && !m.until_eof && m.content_length && !m.body.empty())
    FUZZ_CHECK(m.body.size() == *m.content_length);
  if (m.until_eof) FUZZ_CHECK(!m.keep_alive);
  if (p.headers().count("content-length") > 0 && p.headers().count("transfer-encoding") > 0)
    FUZZ_CHECK(false);  // the smuggling combination must never parse
  return m;
}

// Parses `stream` as the bytes of one connection arriving in pieces of `piece(i)` bytes.
template <class Piece>
outcome parse_stream(std::string_view stream, const config& cfg, Piece piece) {
  outcome out;
  message_parser p(cfg.kind, cfg.limits);
  std::string sunk;
  auto arm = [&] {
    if (cfg.no_body) p.expect_no_body();
    if (cfg.use_sink) p.set_body_sink([&sunk](std::string_view b) { sunk.append(b); });
  };
  arm();
  std::size_t pos = 0, arrived = 0, reads = 0;
  while (true) {
    if (pos == arrived) {
      if (arrived == stream.size()) break;
      arrived = std::min(stream.size(), arrived + std::max<std::size_t>(1, piece(reads++)));
    }
    std::error_code ec;
    std::size_t k = p.feed(stream.substr(pos, arrived - pos), ec);
    FUZZ_CHECK(k <= arrived - pos);
    pos += k;
    if (ec) {
      FUZZ_CHECK(!p.done());
      out.ec = ec;
      out.consumed = pos;
      return out;
    }
    if (p.done()) {
      out.messages.push_back(take_message(p, sunk, cfg.use_sink));
      sunk.clear();
      if (out.messages.size() == max_messages) break;
      p.reset();
      FUZZ_CHECK(!p.started() && !p.done() && !p.header_done());
      arm();
      continue;
    }
    // Not done, no error: the parser must have taken every byte offered, or paused right
    // after the header block.
    FUZZ_CHECK(pos == arrived || p.header_done());
    FUZZ_CHECK(k > 0);
  }
  out.consumed = pos;
  if (out.messages.size() < max_messages && p.started()) {
    std::error_code ec;
    p.finish_on_eof(ec);
    if (ec) {
      out.ec = ec;
    } else {
      FUZZ_CHECK(p.done());
      out.messages.push_back(take_message(p, sunk, cfg.use_sink));
    }
  }
  return out;
}

// A parsed message written out again with serialize_head parses back to the same message.
void check_reserialises(const parsed_message& m, const config& cfg) {
  if (m.chunked) return;  // the head says chunked but the body is now plain: not comparable
  std::string wire;
  try {
    if (cfg.kind == parser_kind::request) {
      request r;
      r.method = m.method;
      r.target = m.target;
      for (const auto& [n, v] : m.headers) r.headers.add(n, v);
      wire = serialize_head(r);
    } else {
      response r;
      r.status = m.status;
      // The parser keeps the reason phrase verbatim (edge spaces included); the serialiser
      // insists on a trimmed one. Only our own server serialises, so compare without it.
      r.reason = "X";
      for (const auto& [n, v] : m.headers) r.headers.add(n, v);
      wire = serialize_head(r);
    }
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(false);  // the parser accepted something the serialiser calls unsafe
  }
  wire += m.body;
  config plain = cfg;
  plain.use_sink = false;
  plain.limits = parser_limits{};
  outcome again = parse_stream(wire, plain, [&](std::size_t) { return wire.size(); });
  FUZZ_CHECK(!again.ec);
  FUZZ_CHECK(again.messages.size() == 1);
  const parsed_message& b = again.messages.front();
  FUZZ_CHECK(b.status == m.status && b.method == m.method && b.target == m.target);
  FUZZ_CHECK(b.headers == m.headers);
  FUZZ_CHECK(b.body == m.body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  oss::fuzz::byte_reader in(data, size);
  const std::uint8_t flags = in.byte();
  const std::uint8_t seed = in.byte();
  const std::string_view stream = in.rest();

  config cfg;
  cfg.kind = (flags & 1) ? parser_kind::request : parser_kind::response;
  cfg.no_body = (flags & 2) != 0;
  // Small limits reach the too-large paths with small inputs.
  if (flags & 4) cfg.limits.max_header_bytes = 16 + (seed & 0x7f);
  if (flags & 8) cfg.limits.max_body_bytes = seed & 0x3f;

  const outcome whole = parse_stream(stream, cfg, [&](std::size_t) { return stream.size(); });
  const outcome bytewise = parse_stream(stream, cfg, [](std::size_t) { return std::size_t{1}; });
  FUZZ_CHECK(bytewise == whole);

  // Pseudo-random piece sizes 1..64 from a tiny LCG seeded by the input.
  std::uint32_t state = seed * 2654435761u + 1;
  auto random_piece = [&](std::size_t) {
    state = state * 1664525u + 1013904223u;
    return std::size_t{1 + (state >> 26)};
  };
  const outcome pieces = parse_stream(stream, cfg, random_piece);
  FUZZ_CHECK(pieces == whole);

  // A body sink sees the same bytes, in order. No body limit applies to a sink, so a stream
  // the buffering parser refused as too large is not comparable.
  if (!(flags & 8) && whole.ec != oss::client_errc::response_too_large) {
    config sink_cfg = cfg;
    sink_cfg.use_sink = true;
    const outcome sunk = parse_stream(stream, sink_cfg, random_piece);
    FUZZ_CHECK(sunk == whole);
  }

  if (whole.ec)
    FUZZ_CHECK(whole.ec == oss::client_errc::malformed_response ||
               whole.ec == oss::client_errc::response_too_large);
  for (const parsed_message& m : whole.messages) check_reserialises(m, cfg);
  return 0;
}
