// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_HTTP_IMPL_PARSER_IPP
#define OSS_DETAIL_HTTP_IMPL_PARSER_IPP

#include <oss/detail/http/parser.hpp>
#include <oss/error.hpp>

#include <oss/detail/ascii.hpp>

#include <algorithm>
#include <limits>
#include <optional>

// States of message_parser (one message at a time):
//   header          collecting the start line and header block up to the blank line; interim
//                   1xx responses are parsed and dropped here, staying in this state
//   body_length     Content-Length body, `remaining_` bytes left
//   body_eof        response body delimited by the connection closing (finish_on_eof)
//   chunk_size      reading "HEX[;ext]CRLF" into `line_`
//   chunk_data      `remaining_` bytes of the current chunk
//   chunk_data_crlf the CRLF that ends a chunk's data
//   trailer         trailer lines after the last chunk, dropped, up to the blank line
//   complete        done(); feed() consumes nothing until reset()
namespace oss::detail::http {

namespace parser_detail {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Field values and reason phrases: HTAB, SP, VCHAR, obs-text. CR, LF, NUL and the other
// controls are what request smuggling and header injection are made of.
inline bool is_clean_text(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}


inline constexpr std::string_view status_line_magic = "HTTP/";

// "HTTP/1.0" or "HTTP/1.1"; other versions are not HTTP/1 framing we can trust.
inline bool parse_version(std::string_view s, int& minor) noexcept {
  if (s.size() != 8 || s.substr(0, 7) != "HTTP/1.") return false;
  if (s[7] != '0' && s[7] != '1') return false;
  minor = s[7] - '0';
  return true;
}

template <class Fn>
void for_each_list_element(std::string_view list, Fn&& fn) {
  while (true) {
    auto comma = list.find(',');
    fn(trim_ows(list.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

inline bool has_token(const fields& headers, std::string_view name, std::string_view token) {
  bool found = false;
  for (const field& f : headers)
    if (iequals(f.name, name))
      for_each_list_element(f.value, [&](std::string_view t) { found = found || iequals(t, token); });
  return found;
}

inline std::error_code malformed() noexcept { return make_error_code(client_errc::malformed_response); }
inline std::error_code too_large() noexcept { return make_error_code(client_errc::response_too_large); }

}  // namespace parser_detail

OSS_DECL void message_parser::clear_message() noexcept {
  head_.clear();
  scan_pos_ = 0;
  line_.clear();
  trailer_bytes_ = 0;
  method_.clear();
  target_.clear();
  reason_.clear();
  status_ = 0;
  version_minor_ = 1;
  headers_.clear();
  content_length_.reset();
  remaining_ = 0;
  body_seen_ = 0;
  body_.clear();
  body_mode_ = body_mode::none;
}

OSS_DECL void message_parser::reset() noexcept {
  clear_message();
  interim_bytes_ = 0;
  sink_ = nullptr;
  no_body_expected_ = false;
  state_ = state::header;
  error_.clear();
  started_ = false;
}

OSS_DECL std::size_t message_parser::feed(std::string_view data, std::error_code& ec) {
  ec.clear();
  if (error_) {
    ec = error_;
    return 0;
  }
  if (state_ == state::complete || data.empty()) return 0;
  started_ = true;

  std::size_t pos = 0;
  while (pos < data.size() && !ec) {
    switch (state_) {
      case state::header: {
        pos += feed_header(data.substr(pos), ec);
        // Pause after the head (or the whole bodiless message) so the caller can inspect it
        // and install a sink before body bytes flow.
        if (!ec && state_ != state::header) {
          return pos;
        }
        break;
      }
      case state::body_length:
      case state::chunk_data: {
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - pos));
        if (!deliver(data.substr(pos, take), ec)) break;
        pos += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          if (state_ == state::body_length) {
            state_ = state::complete;
            return pos;
          }
          state_ = state::chunk_data_crlf;
        }
        break;
      }
      case state::body_eof: {
        if (!deliver(data.substr(pos), ec)) break;
        pos = data.size();
        break;
      }
      case state::chunk_size: {
        if (!take_line(data, pos, ec)) break;
        std::string_view line = line_;
        std::uint64_t size = 0;
        std::size_t i = 0;
        for (; i < line.size(); ++i) {
          int d = hex_digit_value(line[i]);
          if (d < 0) break;
          if (size > (std::numeric_limits<std::uint64_t>::max() >> 4)) {
            ec = parser_detail::malformed();
            break;
          }
          size = (size << 4) | static_cast<std::uint64_t>(d);
        }
        if (ec) break;
        if (i == 0) {
          ec = parser_detail::malformed();
          break;
        }
        // Chunk extensions carry nothing we use; they are only checked for being one clean line.
        std::string_view rest = parser_detail::trim_ows(line.substr(i));
        if (!rest.empty() && (rest.front() != ';' || !parser_detail::is_clean_text(rest))) {
          ec = parser_detail::malformed();
          break;
        }
        line_.clear();
        if (size == 0) {
          state_ = state::trailer;
        } else {
          remaining_ = size;
          state_ = state::chunk_data;
        }
        break;
      }
      case state::chunk_data_crlf: {
        if (!take_line(data, pos, ec)) break;
        if (!line_.empty()) {
          ec = parser_detail::malformed();
          break;
        }
        state_ = state::chunk_size;
        break;
      }
      case state::trailer: {
        if (!take_line(data, pos, ec)) break;
        if (line_.empty()) {
          state_ = state::complete;
          return pos;
        }
        // Trailer fields are parsed for validity and dropped: OSS sends none we rely on, and
        // merging them into headers() after the caller already looked would be surprising.
        std::string_view line = line_;
        auto colon = line.find(':');
        if (parser_detail::is_ows(line.front()) || colon == std::string_view::npos || colon == 0 ||
            !is_valid_field_name(line.substr(0, colon)) || !parser_detail::is_clean_text(line.substr(colon + 1))) {
          ec = parser_detail::malformed();
          break;
        }
        line_.clear();
        break;
      }
      case state::complete:
        return pos;
    }
  }
  if (ec) error_ = ec;
  return pos;
}

// Collects one CRLF-terminated line into line_ (without the CRLF). Returns true when the line
// is complete; false when more bytes are needed or on error.
OSS_DECL bool message_parser::take_line(std::string_view data, std::size_t& pos, std::error_code& ec) {
  auto nl = data.find('\n', pos);
  std::size_t end = nl == std::string_view::npos ? data.size() : nl;
  std::size_t take = end - pos;
  std::size_t limit = limits_.max_header_bytes;
  if (state_ == state::trailer) {
    trailer_bytes_ += take + (nl == std::string_view::npos ? 0 : 1);
    if (trailer_bytes_ > limit) {
      ec = parser_detail::too_large();
      return false;
    }
  } else if (line_.size() + take > limit) {
    // A chunk-size line (with extensions) as long as a whole header block is not a real one.
    ec = parser_detail::malformed();
    return false;
  }
  line_.append(data.substr(pos, take));
  pos = end;
  if (nl == std::string_view::npos) return false;
  ++pos;
  if (line_.empty() || line_.back() != '\r') {
    ec = parser_detail::malformed();  // bare LF
    return false;
  }
  line_.pop_back();
  if (line_.find('\r') != std::string::npos) {
    ec = parser_detail::malformed();
    return false;
  }
  return true;
}

OSS_DECL std::size_t message_parser::feed_header(std::string_view data, std::error_code& ec) {
  std::size_t consumed = 0;
  // One pass per head: interim 1xx responses loop back here with the bytes that follow them.
  while (true) {
    // Interim heads count against the same limit, so a peer cannot stream 100s forever.
    std::size_t limit = limits_.max_header_bytes - std::min(interim_bytes_, limits_.max_header_bytes);
    // Copy at most one byte past the limit: enough to know the limit was exceeded.
    std::size_t room = limit + 1 - std::min(head_.size(), limit);
    std::string_view rest = data.substr(consumed);
    std::size_t take = std::min(room, rest.size());
    std::size_t old_size = head_.size();
    head_.append(rest.substr(0, take));

    // A peer that is not an HTTP server (an SSH or SMTP banner, a TLS record on a plain port)
    // may send a few bytes and then wait forever: fail on the first byte that cannot begin a
    // status line instead of waiting for the end of a head that never comes.
    if (kind_ == parser_kind::response && old_size < parser_detail::status_line_magic.size()) {
      const std::size_t n = std::min(head_.size(), parser_detail::status_line_magic.size());
      if (std::string_view(head_).substr(0, n) != parser_detail::status_line_magic.substr(0, n)) {
        ec = parser_detail::malformed();
        return consumed + take;
      }
    }

    // Scan only the new bytes; a LF must follow a CR and the block ends at CRLF CRLF.
    std::size_t end = 0;
    for (std::size_t i = std::max(scan_pos_, old_size); i < head_.size(); ++i) {
      if (head_[i] != '\n') continue;
      if (i == 0 || head_[i - 1] != '\r') {
        ec = parser_detail::malformed();
        return consumed + (i - old_size);
      }
      if (i >= 3 && head_[i - 2] == '\n' && head_[i - 3] == '\r') {
        end = i + 1;
        break;
      }
    }
    if (end == 0) {
      scan_pos_ = head_.size();
      if (head_.size() > limit) ec = parser_detail::too_large();
      return consumed + take;
    }
    if (end > limit) {
      ec = parser_detail::too_large();
      return consumed + (end - 1 - old_size);
    }
    consumed += end - old_size;
    head_.resize(end);
    parse_head(std::string_view(head_).substr(0, end - 4), ec);
    if (ec || state_ != state::header) return consumed;
    // An interim 1xx was dropped (parse_head cleared the message); the final response follows.
    interim_bytes_ += end;
  }
}

OSS_DECL bool message_parser::parse_start_line(std::string_view line) {
  if (kind_ == parser_kind::response) {
    // HTTP-version SP 3DIGIT SP reason-phrase (the SP before an empty reason is often missing).
    auto sp = line.find(' ');
    if (sp == std::string_view::npos || !parser_detail::parse_version(line.substr(0, sp), version_minor_))
      return false;
    std::string_view rest = line.substr(sp + 1);
    if (rest.size() < 3 || (rest.size() > 3 && rest[3] != ' ')) return false;
    int status = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      if (rest[i] < '0' || rest[i] > '9') return false;
      status = status * 10 + (rest[i] - '0');
    }
    if (status < 100 || status > 599) return false;
    std::string_view reason = rest.size() > 3 ? rest.substr(4) : std::string_view{};
    if (!parser_detail::is_clean_text(reason)) return false;
    status_ = status;
    reason_.assign(reason);
    return true;
  }
  // method SP request-target SP HTTP-version, single spaces.
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!is_valid_field_name(method) || target.empty()) return false;
  if (std::any_of(target.begin(), target.end(), [](char ch) {
        auto c = static_cast<unsigned char>(ch);
        return c <= 0x20 || c == 0x7f;
      }))
    return false;
  if (!parser_detail::parse_version(line.substr(sp2 + 1), version_minor_)) return false;
  method_.assign(method);
  target_.assign(target);
  return true;
}

OSS_DECL void message_parser::parse_head(std::string_view head, std::error_code& ec) {
  // `head` excludes the final CRLF CRLF; every line inside ends with CRLF (checked by the scan).
  auto eol = head.find("\r\n");
  std::string_view start = head.substr(0, eol);
  if (!parse_start_line(start)) {
    ec = parser_detail::malformed();
    return;
  }
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    // obs-fold (RFC 9112 5.2) is rejected: a recipient that unfolds and one that does not
    // would see different headers.
    if (line.empty() || parser_detail::is_ows(line.front())) {
      ec = parser_detail::malformed();
      return;
    }
    auto colon = line.find(':');
    // No whitespace between name and colon (RFC 9112 5.1): the token check refuses it.
    if (colon == std::string_view::npos || !is_valid_field_name(line.substr(0, colon))) {
      ec = parser_detail::malformed();
      return;
    }
    std::string_view value = parser_detail::trim_ows(line.substr(colon + 1));
    if (!parser_detail::is_clean_text(value)) {
      ec = parser_detail::malformed();
      return;
    }
    headers_.add(line.substr(0, colon), value);
  }

  if (kind_ == parser_kind::response && status_ >= 100 && status_ < 200 && status_ != 101) {
    // Interim response (100 Continue, 103 Early Hints): no body, the real one follows.
    clear_message();
    return;
  }
  decide_framing(ec);
}

OSS_DECL void message_parser::decide_framing(std::error_code& ec) {
  using parser_detail::malformed;

  bool has_te = false, te_chunked = false, te_bad = false;
  for (const field& f : headers_) {
    if (!iequals(f.name, "transfer-encoding")) continue;
    has_te = true;
    parser_detail::for_each_list_element(f.value, [&](std::string_view coding) {
      if (coding.empty()) {
        te_bad = true;
        return;
      }
      // "chunked" must be the final coding and appear once.
      if (te_chunked) te_bad = true;
      te_chunked = iequals(coding, "chunked");
    });
  }

  bool has_cl = false;
  std::uint64_t cl = 0;
  for (const field& f : headers_) {
    if (!iequals(f.name, "content-length")) continue;
    bool bad = false;
    parser_detail::for_each_list_element(f.value, [&](std::string_view v) {
      const std::optional<std::uint64_t> n = parse_decimal(v);
      if (!n || (has_cl && *n != cl)) {
        bad = true;
        return;
      }
      has_cl = true;
      cl = *n;
    });
    if (bad) {
      ec = malformed();
      return;
    }
  }

  // Both headers, or a broken coding list, is how request smuggling starts: refuse it.
  if (te_bad || (has_te && has_cl)) {
    ec = malformed();
    return;
  }
  if (has_cl) content_length_ = cl;

  bool bodiless = false;
  if (kind_ == parser_kind::response)
    bodiless = no_body_expected_ || status_ < 200 || status_ == 204 || status_ == 304;

  if (bodiless) {
    body_mode_ = body_mode::none;
  } else if (has_te && te_chunked) {
    body_mode_ = body_mode::chunked;
  } else if (has_te) {
    // A request without a final chunked coding has no determinable length (RFC 9112 6.3).
    if (kind_ == parser_kind::request) {
      ec = malformed();
      return;
    }
    body_mode_ = body_mode::until_eof;
  } else if (has_cl) {
    body_mode_ = body_mode::length;
  } else {
    body_mode_ = kind_ == parser_kind::response ? body_mode::until_eof : body_mode::none;
  }

  switch (body_mode_) {
    case body_mode::none:
      state_ = state::complete;
      break;
    case body_mode::length:
      remaining_ = cl;
      state_ = cl == 0 ? state::complete : state::body_length;
      break;
    case body_mode::chunked:
      state_ = state::chunk_size;
      break;
    case body_mode::until_eof:
      state_ = state::body_eof;
      break;
  }
}

OSS_DECL bool message_parser::deliver(std::string_view bytes, std::error_code& ec) {
  if (sink_) {
    body_seen_ += bytes.size();
    if (!bytes.empty()) sink_(bytes);
    return true;
  }
  // For a declared length, fail before buffering anything rather than after 64 MiB.
  std::uint64_t expected = body_seen_ + bytes.size();
  if (body_mode_ == body_mode::length && content_length_) expected = *content_length_;
  if (expected > limits_.max_body_bytes) {
    ec = parser_detail::too_large();
    return false;
  }
  // One allocation for a declared length instead of a doubling series.
  if (body_.empty() && body_mode_ == body_mode::length) body_.reserve(static_cast<std::size_t>(expected));
  body_seen_ += bytes.size();
  body_.append(bytes);
  return true;
}

OSS_DECL void message_parser::finish_on_eof(std::error_code& ec) {
  ec.clear();
  if (error_) {
    ec = error_;
    return;
  }
  if (state_ == state::complete) return;
  if (state_ == state::body_eof) {
    state_ = state::complete;
    return;
  }
  error_ = ec = parser_detail::malformed();
}

OSS_DECL bool message_parser::keep_alive() const noexcept {
  if (body_mode_ == body_mode::until_eof) return false;
  if (kind_ == parser_kind::response && status_ == 101) return false;
  if (parser_detail::has_token(headers_, "connection", "close")) return false;
  if (version_minor_ == 0) return parser_detail::has_token(headers_, "connection", "keep-alive");
  return true;
}

OSS_DECL bool message_parser::expects_continue() const noexcept {
  if (kind_ != parser_kind::request || version_minor_ < 1) return false;
  const std::string* expect = headers_.find("expect");
  return expect != nullptr && iequals(*expect, "100-continue");
}

OSS_DECL response message_parser::release_response() {
  response r;
  r.status = status_;
  r.reason = std::move(reason_);
  r.headers = std::move(headers_);
  r.body = std::move(body_);
  return r;
}

OSS_DECL request message_parser::release_request() {
  request r;
  r.method = std::move(method_);
  r.target = std::move(target_);
  r.headers = std::move(headers_);
  return r;
}

}  // namespace oss::detail::http

#endif  // OSS_DETAIL_HTTP_IMPL_PARSER_IPP
