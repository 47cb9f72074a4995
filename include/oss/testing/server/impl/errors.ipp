// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_ERRORS_IPP
#define OSS_TESTING_SERVER_IMPL_ERRORS_IPP

#include <oss/testing/server/errors.hpp>

namespace oss::testing::detail {
namespace errors_impl {

struct entry {
  error_id id;
  int status;
  std::string_view code;
  std::string_view message;
  std::string_view ec;
};

// Codes and statuses: oss-protocol.md 5.2 (multipart), 3.3 (Complete), 4 (limits), 11b (ranges,
// preconditions). Messages are OSS's where the document quotes them.
inline constexpr entry table[] = {
    {error_id::no_such_upload, 404, "NoSuchUpload",
     "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
     "0042-00000203"},
    {error_id::invalid_part, 400, "InvalidPart",
     "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
     "0042-00000207"},
    {error_id::invalid_part_order, 400, "InvalidPartOrder",
     "The list of parts was not in ascending order. Parts list must be specified in order by part number.",
     "0042-00000209"},
    {error_id::entity_too_small, 400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
     "0042-00000213"},
    {error_id::entity_too_large, 400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.",
     "9999-00000001"},
    {error_id::file_already_exists, 409, "FileAlreadyExists",
     "The object you specified already exists and can not be overwritten.", "0042-00000214"},
    {error_id::signature_does_not_match, 403, "SignatureDoesNotMatch",
     "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
     "0002-00000040"},
    {error_id::access_denied, 403, "AccessDenied", "You have no right to access this object.", "0003-00000001"},
    {error_id::invalid_access_key_id, 403, "InvalidAccessKeyId",
     "The OSS Access Key Id you provided does not exist in our records.", "0002-00000902"},
    {error_id::invalid_security_token, 403, "InvalidSecurityToken", "The security token you provided is invalid.",
     "0002-00000908"},
    {error_id::request_time_too_skewed, 403, "RequestTimeTooSkewed",
     "The difference between the request time and the current time is too large.", "0002-00000504"},
    {error_id::no_such_bucket, 404, "NoSuchBucket", "The specified bucket does not exist.", "0015-00000101"},
    {error_id::no_such_key, 404, "NoSuchKey", "The specified key does not exist.", "0026-00000001"},
    {error_id::missing_content_length, 411, "MissingContentLength", "You must provide the Content-Length HTTP header.",
     "9999-00000002"},
    {error_id::invalid_digest, 400, "InvalidDigest", "The Content-MD5 you specified was invalid.", "9999-00000003"},
    {error_id::internal_error, 500, "InternalError", "We encountered an internal error. Please try again.",
     "9999-00000004"},
    {error_id::invalid_argument, 400, "InvalidArgument", "Invalid argument.", "9999-00000005"},
    {error_id::invalid_object_name, 400, "InvalidObjectName", "The specified object is not valid.", "0016-00000005"},
    {error_id::invalid_bucket_name, 400, "InvalidBucketName", "The specified bucket is not valid.", "9999-00000006"},
    {error_id::method_not_allowed, 405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
     "9999-00000007"},
    {error_id::not_implemented, 501, "NotImplemented", "The local server does not implement this operation.",
     "9999-00000008"},
    {error_id::malformed_xml, 400, "MalformedXML",
     "The XML you provided was not well-formed or did not validate against our published schema.", "9999-00000009"},
    {error_id::invalid_request, 400, "InvalidRequest", "The request is not a valid HTTP/1.1 request.", "9999-00000010"},
    {error_id::invalid_range, 416, "InvalidRange", "The requested range cannot be satisfied.", "0017-00000101"},
    {error_id::precondition_failed, 412, "PreconditionFailed",
     "At least one of the pre-conditions you specified did not hold.", "9999-00000011"},
};

inline const entry& lookup(error_id id) noexcept {
  for (const entry& e : table)
    if (e.id == id) return e;
  // Only a value outside the enumeration gets here.
  for (const entry& e : table)
    if (e.id == error_id::internal_error) return e;
  return table[0];
}

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "oss.testing.server"; }
  std::string message(int value) const override {
    for (const entry& e : table)
      if (static_cast<int>(e.id) == value) return std::string(e.code);
    return "unknown local server error";
  }
};

}  // namespace errors_impl

OSS_DECL const std::error_category& server_error_category() noexcept {
  static const errors_impl::category instance;
  return instance;
}

OSS_DECL std::string_view error_code_text(error_id id) noexcept { return errors_impl::lookup(id).code; }

OSS_DECL server_error make_error(error_id id, std::string message, std::string ec) {
  const errors_impl::entry& e = errors_impl::lookup(id);
  server_error out;
  out.status = e.status;
  out.code = e.code;
  out.message = message.empty() ? std::string(e.message) : std::move(message);
  out.ec = ec.empty() ? std::string(e.ec) : std::move(ec);
  return out;
}

OSS_DECL server_error make_error(int status, std::string code, std::string message) {
  server_error out;
  out.status = status;
  out.code = std::move(code);
  out.message = std::move(message);
  return out;
}

OSS_DECL server_error from_error_code(std::error_code ec, std::string message) {
  if (ec.category() == server_error_category()) return make_error(static_cast<error_id>(ec.value()), std::move(message));
  return make_error(error_id::internal_error);
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_ERRORS_IPP
