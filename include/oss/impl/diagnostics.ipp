// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_DIAGNOSTICS_IPP
#define OSS_IMPL_DIAGNOSTICS_IPP

#include <oss/diagnostics.hpp>

#include <cstdint>
#include <utility>

namespace oss {
namespace detail {

// Length of the UTF-8 sequence at s[i] and its code point, or 0 when it is not valid UTF-8
// (overlong forms, surrogates and values above U+10FFFF are invalid too).
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1Fu;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0Fu;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07u;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const unsigned char b = byte(k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return len;
}

// Characters that would let server text break a log line or reorder what a reader sees:
// C0/C1 controls, DEL, the Unicode line separators and the bidirectional overrides.
inline bool is_unsafe_code_point(char32_t cp) noexcept {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

OSS_DECL std::string sanitize_text(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(text.size() < max_bytes ? text.size() : max_bytes + 4);
  bool pending_space = false;
  for (std::size_t i = 0; i < text.size() && out.size() <= max_bytes;) {
    char32_t cp = 0;
    const std::size_t len = utf8_sequence(text, i, cp);
    if (len != 0 && (cp == ' ' || is_unsafe_code_point(cp))) {
      // Runs of blanks and control characters collapse into one space; none leads or trails.
      pending_space = !out.empty();
      i += len;
      continue;
    }
    if (pending_space) {
      out += ' ';
      pending_space = false;
    }
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes >= 3 ? max_bytes - 3 : 0;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0u) == 0x80u) --cut;
    out.resize(cut);
    out.append("...", max_bytes >= 3 ? 3 : max_bytes);
  }
  return out;
}

OSS_DECL std::string format_error_message(const std::error_code& ec, const diagnostics& diag) {
  std::string out;
  const std::string code = sanitize_text(diag.code, max_code_bytes);
  if (!code.empty()) {
    out = code;
    const std::string message = sanitize_text(diag.message, max_message_bytes);
    if (!message.empty()) {
      out += ": ";
      out += message;
    }
  } else {
    out = ec.message();
    const std::string client = sanitize_text(diag.client_message, max_client_message_bytes);
    if (!client.empty()) {
      out += ": ";
      out += client;
    }
  }

  std::string details;
  const auto add = [&details](std::string_view label, std::string_view value) {
    if (value.empty()) return;
    details += details.empty() ? " (" : ", ";
    details += label;
    details += ' ';
    details += value;
  };
  add("RequestId", sanitize_text(diag.request_id, max_id_bytes));
  add("operation", sanitize_text(diag.operation, max_id_bytes));
  if (diag.part_number > 0) add("part", std::to_string(diag.part_number));
  if (diag.attempts > 0) add("attempts", std::to_string(diag.attempts));
  if (!details.empty()) details += ')';
  return out + details;
}

}  // namespace detail

OSS_DECL error::error(std::error_code ec, diagnostics diag)
    : std::system_error(ec), diag_(std::move(diag)), what_(detail::format_error_message(ec, diag_)) {}

OSS_DECL void throw_error(std::error_code ec, const diagnostics& diag) { throw error(ec, diag); }

}  // namespace oss

#endif  // OSS_IMPL_DIAGNOSTICS_IPP
