// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_HTTP_IMPL_MESSAGE_IPP
#define OSS_DETAIL_HTTP_IMPL_MESSAGE_IPP

#include <oss/detail/http/message.hpp>

#include <oss/detail/ascii.hpp>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace oss::detail::http {

namespace message_detail {

// RFC 9110 5.6.2 tchar.
constexpr bool is_tchar(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Request targets are origin-form (or '*'); anything that could end the request line early
// or smuggle a second line is refused.
inline bool is_valid_target(std::string_view t) noexcept {
  if (t.empty()) return false;
  return std::none_of(t.begin(), t.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7f;
  });
}

inline void append_fields(std::string& out, const fields& headers) {
  for (const field& f : headers) {
    if (!is_valid_field_name(f.name))
      throw std::invalid_argument("http::serialize_head: invalid header name");
    if (!is_valid_field_value(f.value))
      throw std::invalid_argument("http::serialize_head: invalid value for header " + f.name);
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  out.append("\r\n");
}

inline std::size_t fields_size(const fields& headers) noexcept {
  std::size_t n = 2;
  for (const field& f : headers) n += f.name.size() + f.value.size() + 4;
  return n;
}

}  // namespace message_detail

OSS_DECL bool iequals(std::string_view a, std::string_view b) noexcept { return ascii_iequals(a, b); }

OSS_DECL bool is_valid_field_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return message_detail::is_tchar(static_cast<unsigned char>(c)); });
}

OSS_DECL bool is_valid_field_value(std::string_view value) noexcept {
  if (!value.empty()) {
    char first = value.front(), last = value.back();
    if (first == ' ' || first == '\t' || last == ' ' || last == '\t') return false;
  }
  return std::none_of(value.begin(), value.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

OSS_DECL void fields::set(std::string_view name, std::string_view value) {
  auto first = std::find_if(items_.begin(), items_.end(),
                            [&](const field& f) { return iequals(f.name, name); });
  if (first == items_.end()) {
    items_.push_back(field{std::string(name), std::string(value)});
    return;
  }
  first->name.assign(name);
  first->value.assign(value);
  items_.erase(std::remove_if(std::next(first), items_.end(),
                              [&](const field& f) { return iequals(f.name, name); }),
               items_.end());
}

OSS_DECL void fields::add(std::string_view name, std::string_view value) {
  items_.push_back(field{std::string(name), std::string(value)});
}

OSS_DECL const std::string* fields::find(std::string_view name) const noexcept {
  for (const field& f : items_)
    if (iequals(f.name, name)) return &f.value;
  return nullptr;
}

OSS_DECL std::size_t fields::count(std::string_view name) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(items_.begin(), items_.end(), [&](const field& f) { return iequals(f.name, name); }));
}

OSS_DECL bool fields::erase(std::string_view name) {
  auto before = items_.size();
  items_.erase(std::remove_if(items_.begin(), items_.end(),
                              [&](const field& f) { return iequals(f.name, name); }),
               items_.end());
  return items_.size() != before;
}

OSS_DECL std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

OSS_DECL std::string serialize_head(const request& req) {
  if (!is_valid_field_name(req.method))
    throw std::invalid_argument("http::serialize_head: invalid method");
  if (!message_detail::is_valid_target(req.target))
    throw std::invalid_argument("http::serialize_head: invalid request target");
  std::string out;
  out.reserve(req.method.size() + req.target.size() + 12 + message_detail::fields_size(req.headers));
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  message_detail::append_fields(out, req.headers);
  return out;
}

OSS_DECL std::string serialize_head(const response& res) {
  if (res.status < 100 || res.status > 999)
    throw std::invalid_argument("http::serialize_head: status out of range");
  std::string_view reason = res.reason.empty() ? reason_phrase(res.status) : std::string_view(res.reason);
  // The reason phrase shares the value grammar (HTAB, SP, VCHAR, obs-text).
  if (!is_valid_field_value(reason))
    throw std::invalid_argument("http::serialize_head: invalid reason phrase");
  std::string out;
  out.reserve(reason.size() + 16 + message_detail::fields_size(res.headers));
  out.append("HTTP/1.1 ").append(std::to_string(res.status)).append(" ").append(reason).append("\r\n");
  message_detail::append_fields(out, res.headers);
  return out;
}

}  // namespace oss::detail::http

#endif  // OSS_DETAIL_HTTP_IMPL_MESSAGE_IPP
