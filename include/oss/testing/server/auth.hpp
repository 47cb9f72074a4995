// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_AUTH_HPP
#define OSS_TESTING_SERVER_AUTH_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/testing/server/errors.hpp>
#include <oss/testing/server/routing.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

// Who may use the local server: the signature checks of oss-protocol.md section 2 (OSS V1 and
// V4, 2.2-2.7) and 2.8 (AWS SigV4 in the S3 dialect), and the errors OSS and S3 answer with.
// The canonicalisation and HMAC code is the shared signer's (detail/sign/sign.hpp, sign_s3.hpp),
// which tests cross-check against ali-oss and the AWS SDK; which header dates a request, the
// clock skew, the region, the token and the error each failure gets are decided here.
namespace oss::testing::detail {

// The AccessKey the server accepts right now (both empty: anonymous access).
struct accepted_credentials {
  std::string id, secret, token;
};

struct auth_settings {
  api_dialect dialect = api_dialect::oss;
  std::string_view region;  // the V4 / SigV4 scope region
  std::chrono::seconds max_clock_skew{900};
};

// The parts of a request authentication reads.
struct auth_request {
  std::string_view method;
  std::string_view target;  // as sent: SigV4 canonicalises the decoded path
  const route& r;
  const oss::detail::http::fields& headers;
};

// nullopt when the request may proceed (always, in anonymous mode), else the error to answer.
// OSS:
//  - no Authorization: 403 AccessDenied; one that does not parse: 400 InvalidArgument;
//  - another key id: 403 InvalidAccessKeyId; a wrong or missing x-oss-security-token (when one
//    is configured): 403 InvalidSecurityToken;
//  - no date (V4: x-oss-date; V1: Date, else x-oss-date, as ali-oss sends): 403 AccessDenied
//    EC 0002-00000503; a date in another format: EC 0002-00000502; further than
//    `max_clock_skew` from `now`: 403 RequestTimeTooSkewed with RequestTime and ServerTime;
//  - V4 scope region other than `region`: 403 SignatureDoesNotMatch; x-oss-content-sha256 other
//    than UNSIGNED-PAYLOAD: 400 InvalidArgument EC 0002-00000214;
//  - a signature that does not verify: 403 SignatureDoesNotMatch (never echoing what was signed).
// S3: the AWS codes (AccessDenied, InvalidArgument, AuthorizationHeaderMalformed with <Region>,
// InvalidAccessKeyId, 400 InvalidToken, InvalidRequest, RequestTimeTooSkewed,
// SignatureDoesNotMatch).
OSS_DECL std::optional<server_error> authenticate(const auth_request& request, const accepted_credentials& creds,
                                                  const auth_settings& settings,
                                                  std::chrono::system_clock::time_point now);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/auth.ipp>
#endif

#endif  // OSS_TESTING_SERVER_AUTH_HPP
