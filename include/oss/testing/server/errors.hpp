// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_ERRORS_HPP
#define OSS_TESTING_SERVER_ERRORS_HPP

#include <oss/detail/config.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

// The errors the local server answers with: its own table of OSS codes, statuses, messages and
// EC values, written from oss-protocol.md (sections 3, 5.1, 5.2 and 11b) rather than taken from
// the client's error enumeration, so that a code the client misspells cannot pass unnoticed.
namespace oss::testing::detail {

// The OSS errors the server produces by itself (fault plans may send any code).
enum class error_id {
  no_such_upload = 1,
  invalid_part,
  invalid_part_order,
  entity_too_small,
  entity_too_large,
  file_already_exists,
  signature_does_not_match,
  access_denied,
  invalid_access_key_id,
  invalid_security_token,
  request_time_too_skewed,
  no_such_bucket,
  no_such_key,
  missing_content_length,
  invalid_digest,
  internal_error,
  invalid_argument,
  invalid_object_name,
  invalid_bucket_name,
  method_not_allowed,
  not_implemented,
  malformed_xml,
  invalid_request,
  invalid_range,
  precondition_failed,
};

// The category of `error_id` (the store reports with it); name() is "oss.testing.server".
OSS_DECL const std::error_category& server_error_category() noexcept;

inline std::error_code make_error_code(error_id e) noexcept {
  return {static_cast<int>(e), server_error_category()};
}

// One error reply before it is written: the HTTP status and the fields of the error document.
struct server_error {
  int status = 500;
  std::string code;     // <Code>
  std::string message;  // <Message>
  std::string ec;       // <EC> and x-oss-ec (OSS only; empty for S3 errors)
  // Elements after HostId (UploadId, ServerTime, Condition, ...), in order.
  std::vector<std::pair<std::string, std::string>> extra;
};

// The code, status, default message and EC of `id`. The EC values OSS documents are used;
// codes without a documented EC get a local "9999-..." value (clients must not build logic
// on EC anyway, oss-protocol.md 5.1). A non-empty `message` or `ec` replaces the default.
OSS_DECL server_error make_error(error_id id, std::string message = {}, std::string ec = {});

// The OSS <Code> of `id` ("NoSuchUpload").
OSS_DECL std::string_view error_code_text(error_id id) noexcept;

// An error whose Code the table does not hold (S3's own codes: InvalidToken, BadDigest, ...).
OSS_DECL server_error make_error(int status, std::string code, std::string message);

// The reply for a store or I/O failure: the store's `error_id`, anything else InternalError.
OSS_DECL server_error from_error_code(std::error_code ec, std::string message = {});

}  // namespace oss::testing::detail

namespace std {
template <>
struct is_error_code_enum<oss::testing::detail::error_id> : true_type {};
}  // namespace std

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/errors.ipp>
#endif

#endif  // OSS_TESTING_SERVER_ERRORS_HPP
