// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_HTTP_MESSAGE_HPP
#define OSS_DETAIL_HTTP_MESSAGE_HPP

#include <oss/detail/config.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

// The HTTP/1.1 message model shared by the client (requests out, responses in) and the local
// server (requests in, responses out). Sans-io: no sockets, only strings.
namespace oss::detail::http {

// One header line. `name` keeps the spelling it was given (OSS signs some names verbatim).
struct field {
  std::string name;
  std::string value;
};

// Header names compare case-insensitively (RFC 9110 5.1), ASCII only.
OSS_DECL bool iequals(std::string_view a, std::string_view b) noexcept;

// RFC 9110 token: the characters a header name (and a method) may use. Empty is invalid.
OSS_DECL bool is_valid_field_name(std::string_view name) noexcept;

// A value is valid when it holds no CR, LF, NUL or other control character except HTAB, and
// does not start or end with whitespace (the parser trims those, so they would not survive a
// round trip). obs-text (bytes >= 0x80, e.g. UTF-8) is allowed. The layers above validate
// user-supplied values with this before they reach serialize_head and report
// client_errc::invalid_header_value themselves.
OSS_DECL bool is_valid_field_value(std::string_view value) noexcept;

// Insertion-ordered header list with case-insensitive lookup. Duplicates are allowed (add);
// set() replaces every field of that name by one, at the position of the first.
class fields {
 public:
  using const_iterator = std::vector<field>::const_iterator;

  OSS_DECL void set(std::string_view name, std::string_view value);
  OSS_DECL void add(std::string_view name, std::string_view value);
  // First field with that name, or nullptr.
  OSS_DECL const std::string* find(std::string_view name) const noexcept;
  // Number of fields with that name.
  OSS_DECL std::size_t count(std::string_view name) const noexcept;
  // Removes every field with that name; true when at least one was removed.
  OSS_DECL bool erase(std::string_view name);
  void clear() noexcept { items_.clear(); }

  const_iterator begin() const noexcept { return items_.begin(); }
  const_iterator end() const noexcept { return items_.end(); }
  std::size_t size() const noexcept { return items_.size(); }
  bool empty() const noexcept { return items_.empty(); }

 private:
  std::vector<field> items_;
};

struct request {
  std::string method;   // "PUT"
  std::string target;   // origin-form, already percent-encoded: "/bucket/key?partNumber=1"
  fields headers;
};

struct response {
  int status = 0;
  std::string reason;
  fields headers;
  std::string body;     // empty when the body was streamed to a sink
};

// The standard reason phrase for a status ("Not Found"), or "Unknown".
OSS_DECL std::string_view reason_phrase(int status) noexcept;

// "METHOD target HTTP/1.1\r\n" + "Name: value\r\n"... + "\r\n". Headers are written exactly as
// given, in order: nothing is added (no Host, no Content-Length; the transport adds those when
// missing). Never writes a header that could split the message: a method or name that is not
// a token, a target with whitespace or control characters, or a value failing
// is_valid_field_value throws std::invalid_argument, because it means a layer above skipped
// validation (a bug), not bad network input.
OSS_DECL std::string serialize_head(const request& req);

// "HTTP/1.1 status reason\r\n" + headers + "\r\n" (server side). An empty reason is replaced by
// reason_phrase(status). Same validation and exception as for requests; status must be 100..999.
OSS_DECL std::string serialize_head(const response& res);

}  // namespace oss::detail::http

#ifdef OSS_HEADER_ONLY
#include <oss/detail/http/impl/message.ipp>
#endif

#endif  // OSS_DETAIL_HTTP_MESSAGE_HPP
