// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DIAGNOSTICS_HPP
#define OSS_DIAGNOSTICS_HPP

#include <oss/detail/config.hpp>

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <system_error>

namespace oss {

/// What is known about a failure beyond its `std::error_code`.
///
/// Server fields come from the OSS error body (or its Base64 copy in the `x-oss-err` header);
/// `request_id` falls back to the `x-oss-request-id` header. Server text is kept apart from
/// `client_message`, our own text, because the server may echo user input. Server text is
/// length-capped and stripped of control characters before it lands here. Nothing secret is
/// ever stored: no headers, no Authorization, no StringToSign, no access key id or secret.
struct diagnostics {
  /// HTTP status of the reply, or 0 when no reply was read.
  int http_status = 0;
  /// The server's `Code` ("NoSuchUpload"), kept even when `server_errc` does not know it.
  std::string code;
  /// The server's `Message`.
  std::string message;
  /// `RequestId` of the body, else the `x-oss-request-id` header: quote it to OSS support.
  std::string request_id;
  /// `HostId` of the body.
  std::string host_id;
  /// `EC`, OSS's fine-grained error code ("0042-00000203"), from the body or `x-oss-ec`.
  std::string ec;
  /// The operation that failed ("upload_part", "complete_multipart_upload", ...).
  std::string operation;
  /// The part being transferred, or 0.
  int part_number = 0;
  /// How many times the request was sent, or 0 when unknown.
  int attempts = 0;
  /// Our own explanation, when the error code alone is not enough.
  std::string client_message;
  /// The exception that ended the operation, when one did: thrown by a function the caller
  /// supplied (`client_errc::handler_exception`), or escaped from the library
  /// (`client_errc::unexpected_exception`, `std::errc::not_enough_memory` for `std::bad_alloc`,
  /// a `std::system_error`'s own code); else null. Never part of `oss::error::what()`.
  std::exception_ptr exception;

  /// Resets every field, so one object can be reused across calls.
  void clear() { *this = diagnostics{}; }
};

/// The exception thrown at the public edge: a `std::system_error` with `diagnostics`.
///
/// `code()` is the error code. `what()` reads
/// "Code: Message (RequestId X, operation Y, part N, attempts K)" when the server gave a code,
/// else "<category message>: <client_message> (operation Y, ...)"; parts that are unknown are
/// left out. It never contains XML, headers or secrets.
class error : public std::system_error {
 public:
  /// An error with code `ec`; `what()` is composed from `ec` and `diag` once, here.
  OSS_DECL error(std::error_code ec, diagnostics diag);

  /// The details the server and the library gave about this failure.
  const diagnostics& get_diagnostics() const noexcept { return diag_; }

  /// The one-line message described above.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  diagnostics diag_;
  std::string what_;
};

/// Throws `oss::error(ec, diag)`.
[[noreturn]] OSS_DECL void throw_error(std::error_code ec, const diagnostics& diag);

namespace detail {

/// Server text made safe to keep and print: control characters (C0, DEL, C1) become spaces,
/// bytes that are not valid UTF-8 become '?', and the result is cut to at most `max_bytes`
/// on a character boundary (with "..." when cut).
OSS_DECL std::string sanitize_text(std::string_view text, std::size_t max_bytes);

/// Caps (in bytes) for the server fields of `diagnostics`.
inline constexpr std::size_t max_code_bytes = 64;
inline constexpr std::size_t max_message_bytes = 512;
inline constexpr std::size_t max_id_bytes = 128;
inline constexpr std::size_t max_client_message_bytes = 1024;

/// The text of `oss::error::what()` for `ec` and `diag`.
OSS_DECL std::string format_error_message(const std::error_code& ec, const diagnostics& diag);

}  // namespace detail
}  // namespace oss

#ifdef OSS_HEADER_ONLY
#include <oss/impl/diagnostics.ipp>
#endif

#endif  // OSS_DIAGNOSTICS_HPP
