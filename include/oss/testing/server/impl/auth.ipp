// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_AUTH_IPP
#define OSS_TESTING_SERVER_IMPL_AUTH_IPP

#include <oss/testing/server/auth.hpp>

#include <oss/detail/dates.hpp>
#include <oss/detail/encoding.hpp>
#include <oss/detail/sign/sign.hpp>
#include <oss/detail/sign/sign_s3.hpp>

namespace oss::testing::detail {
namespace auth_impl {

using clock_time = std::chrono::system_clock::time_point;

inline bool too_skewed(clock_time when, clock_time now, std::chrono::seconds max_skew) noexcept {
  return (now > when ? now - when : when - now) > max_skew;
}

inline server_error skewed(std::string_view request_time, clock_time now, std::chrono::seconds max_skew) {
  server_error e = make_error(error_id::request_time_too_skewed);
  e.extra.emplace_back("RequestTime", std::string(request_time));
  e.extra.emplace_back("ServerTime", oss::detail::iso8601_extended(now));
  e.extra.emplace_back("MaxAllowedSkewMilliseconds",
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(max_skew).count()));
  return e;
}

inline std::optional<server_error> authenticate_oss(const auth_request& rq, const accepted_credentials& creds,
                                                    const auth_settings& settings, clock_time now) {
  const auto& headers = rq.headers;
  const std::string* authorization = headers.find("authorization");
  if (!authorization)
    return make_error(error_id::access_denied,
                      "This server requires signed requests: the Authorization header is missing.");
  const auto parsed = oss::detail::parse_authorization(*authorization);
  if (!parsed) return make_error(error_id::invalid_argument, "Authorization header is invalid.");
  if (parsed->access_key_id != creds.id) return make_error(error_id::invalid_access_key_id);
  if (!creds.token.empty()) {
    const std::string* token = headers.find("x-oss-security-token");
    if (!token || !oss::detail::constant_time_equal(*token, creds.token))
      return make_error(error_id::invalid_security_token);
  }

  // V4 dates the request with x-oss-date; V1 with Date, else x-oss-date (ali-oss sends only
  // the latter; oss-protocol.md 2.3).
  const bool v4 = parsed->version == signature_version::v4;
  const std::string* date = nullptr;
  std::optional<clock_time> when;
  if (v4) {
    date = headers.find("x-oss-date");
    if (date) when = oss::detail::parse_iso8601_basic(*date);
  } else {
    date = headers.find("date");
    if (!date) date = headers.find("x-oss-date");
    if (date) {
      when = oss::detail::parse_http_date(*date);
      if (!when) when = oss::detail::parse_iso8601_basic(*date);
    }
  }
  if (!date)
    return make_error(error_id::access_denied,
                      v4 ? "V4 requests must carry an x-oss-date header." : "The request carries neither Date nor x-oss-date.",
                      "0002-00000503");
  if (!when) return make_error(error_id::access_denied, "The request date is not in a valid format.", "0002-00000502");
  if (too_skewed(*when, now, settings.max_clock_skew)) return skewed(*date, now, settings.max_clock_skew);
  if (v4 && parsed->region != settings.region)
    return make_error(error_id::signature_does_not_match,
                      "The region in the V4 Credential scope is not the region of this server.");
  // oss-protocol.md 2.1: V4 signs UNSIGNED-PAYLOAD and nothing else. (Without the header the
  // signer reads UNSIGNED-PAYLOAD as well.)
  if (const std::string* payload = headers.find("x-oss-content-sha256"); v4 && payload && *payload != "UNSIGNED-PAYLOAD")
    return make_error(error_id::invalid_argument, "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.", "0002-00000214");

  const oss::detail::sign_input in{rq.method, rq.r.bucket, rq.r.key, rq.r.query, headers};
  if (!oss::detail::verify_signature(in, *parsed, creds.secret)) return make_error(error_id::signature_does_not_match);
  return std::nullopt;
}

inline server_error s3_access_denied(std::string message) { return make_error(403, "AccessDenied", std::move(message)); }

inline server_error s3_malformed(std::string message) {
  return make_error(400, "AuthorizationHeaderMalformed", std::move(message));
}

// AWS Signature V4 (oss-protocol.md 2.8), with the codes S3 answers with.
inline std::optional<server_error> authenticate_s3(const auth_request& rq, const accepted_credentials& creds,
                                                   const auth_settings& settings, clock_time now) {
  const auto& headers = rq.headers;
  const std::string* authorization = headers.find("authorization");
  if (!authorization) return s3_access_denied("Access Denied");
  const auto auth = oss::detail::s3_parse_authorization(*authorization);
  if (!auth) {
    if (!authorization->starts_with(oss::detail::s3_algorithm))
      return make_error(400, "InvalidArgument", "Unsupported Authorization Type");
    return s3_malformed("The authorization header is malformed.");
  }
  if (auth->access_key_id != creds.id)
    return make_error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  if (!creds.token.empty()) {
    const std::string* token = headers.find("x-amz-security-token");
    if (!token || !oss::detail::constant_time_equal(*token, creds.token))
      return make_error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.");
  }
  // SigV4's CanonicalURI is built from the decoded path as sent ("/bucket/key", "/key").
  const auto path = oss::detail::percent_decode(rq.target.substr(0, rq.target.find('?')));
  if (!path) return make_error(error_id::invalid_argument, "The request URI could not be parsed.");
  const oss::detail::s3_sign_input in{rq.method, *path, rq.r.query, headers};
  using problem = oss::detail::s3_request_problem;
  switch (oss::detail::s3_check_request(in, *auth)) {
    case problem::none:
      break;
    case problem::missing_date:
      return s3_access_denied("AWS authentication requires a valid Date or x-amz-date header");
    case problem::date_scope_mismatch:
      return s3_malformed(
          "The authorization header is malformed; the date in the credential scope is not the date of x-amz-date.");
    case problem::missing_content_sha256:
      return make_error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
    case problem::signed_header_absent:
      return make_error(error_id::signature_does_not_match);
    case problem::unsigned_amz_header:
      return s3_access_denied("There were headers present in the request which were not signed");
  }
  // s3_check_request found a valid x-amz-date.
  const std::string& date = *headers.find("x-amz-date");
  const auto when = oss::detail::parse_iso8601_basic(date);
  if (!when) return s3_access_denied("AWS authentication requires a valid Date or x-amz-date header");
  if (too_skewed(*when, now, settings.max_clock_skew)) return skewed(date, now, settings.max_clock_skew);
  if (auth->region != settings.region) {
    server_error e = s3_malformed("The authorization header is malformed; the region '" + auth->region +
                                  "' is wrong; expecting '" + std::string(settings.region) + "'");
    e.extra.emplace_back("Region", std::string(settings.region));
    return e;
  }
  if (!oss::detail::s3_verify_signature(in, *auth, creds.secret)) return make_error(error_id::signature_does_not_match);
  return std::nullopt;
}

}  // namespace auth_impl

OSS_DECL std::optional<server_error> authenticate(const auth_request& request, const accepted_credentials& creds,
                                                  const auth_settings& settings,
                                                  std::chrono::system_clock::time_point now) {
  if (creds.id.empty()) return std::nullopt;  // anonymous mode: any Authorization is ignored
  return settings.dialect == api_dialect::s3 ? auth_impl::authenticate_s3(request, creds, settings, now)
                                             : auth_impl::authenticate_oss(request, creds, settings, now);
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_AUTH_IPP
