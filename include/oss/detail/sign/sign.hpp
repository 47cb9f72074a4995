// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_SIGN_SIGN_HPP
#define OSS_DETAIL_SIGN_SIGN_HPP

#include <oss/detail/config.hpp>

#include <oss/credentials.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>  // http_date (V1 Date), iso8601_basic (V4 x-oss-date)
#include <oss/detail/http/message.hpp>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// OSS request signing, V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256), for both sides: the client
// signs what it sends, the local server verifies what it receives. Sans-io: strings in, strings
// out. Everything here follows docs oss-protocol.md section 2; the vectors of 2.3 and 2.5 are in
// tests/unit/test_sign.cpp and tests/integration/test_alioss_sign.cpp compares us with ali-oss.
//
// Nothing in this file may log or throw with a secret, a signature or a string-to-sign in it.
namespace oss::detail {

using query_param = std::pair<std::string, std::string>;

// A read-only view of the parts of a request that are signed.
struct sign_input {
  std::string_view method;                     // "PUT"; used as given (upper case)
  std::string_view bucket;                     // empty: service level
  std::string_view key;                        // raw UTF-8 object key; empty: bucket level
  std::span<const query_param> query;          // decoded; an empty value means "no value"
  const http::fields& headers;                 // as sent: Date / x-oss-date, Content-*, x-oss-*
};

// Whether a query parameter is a V1 signed sub-resource: the union of the SDK whitelists
// (go1 signKeyList, go2 requiredSignedParametersMap) plus every name starting with "x-oss-".
OSS_DECL bool is_v1_sub_resource(std::string_view name) noexcept;

// V1 StringToSign: VERB, Content-MD5, Content-Type, the date (Date, else x-oss-date), canonical
// x-oss-* headers, then /bucket/key with the signed sub-resources.
OSS_DECL std::string v1_string_to_sign(const sign_input& in);
// base64(HMAC-SHA1(secret, v1_string_to_sign(in))).
OSS_DECL std::string v1_signature(const sign_input& in, std::string_view secret);

// The AdditionalHeaders list as signed: lower-cased, de-duplicated, sorted, without the names
// signed anyway (content-type, content-md5, x-oss-*) and without names absent from `headers`.
OSS_DECL std::vector<std::string> v4_additional_headers(const http::fields& headers,
                                                        std::span<const std::string> requested);
// V4 CanonicalRequest. `additional_headers` is normalised with v4_additional_headers first.
OSS_DECL std::string v4_canonical_request(const sign_input& in,
                                          std::span<const std::string> additional_headers = {});
// "OSS4-HMAC-SHA256\n" + x-oss-date + "\n" + scope + "\n" + hex(SHA-256(canonical request)).
// `region` is the region id (cn-hangzhou), as in the scope.
OSS_DECL std::string v4_string_to_sign(std::string_view canonical_request, std::string_view x_oss_date,
                                       std::string_view region);
// HMAC chain "aliyun_v4" + secret -> date (YYYYMMDD) -> region -> "oss" -> "aliyun_v4_request".
// Remembers the last key per thread (it depends only on these three inputs), so signing many
// requests on one day derives it once; v4_derive_signing_key always runs the chain.
OSS_DECL sha256_digest v4_signing_key(std::string_view secret, std::string_view date8,
                                      std::string_view region);
OSS_DECL sha256_digest v4_derive_signing_key(std::string_view secret, std::string_view date8,
                                             std::string_view region);
// Lower-hex V4 signature of `in`, dated by its x-oss-date header.
OSS_DECL std::string v4_signature(const sign_input& in, std::string_view secret, std::string_view region,
                                  std::span<const std::string> additional_headers = {});

// The region id used in V4 scopes: ali-oss style "oss-cn-hangzhou" becomes "cn-hangzhou"; a
// name without the prefix is returned unchanged.
OSS_DECL std::string_view standard_region(std::string_view region) noexcept;

// Signs `req` in place for `bucket`/`key`/`query` (the decoded values that req.target encodes).
//  - V1: sets Date (RFC 1123); an x-oss-date already present is set to the same value, so both
//    readings of the date slot agree.
//  - V4: sets x-oss-date (ISO 8601 basic), x-oss-content-sha256: UNSIGNED-PAYLOAD and Date.
//  - Both: sets x-oss-security-token when creds.security_token is non-empty (and removes a stale
//    one otherwise), then Authorization. `region` may carry the "oss-" prefix.
// With empty (anonymous) credentials the request is left untouched.
OSS_DECL void sign_request(http::request& req, std::string_view bucket, std::string_view key,
                           std::span<const query_param> query, const credentials& creds,
                           signature_version version, std::string_view region,
                           std::chrono::system_clock::time_point now,
                           std::span<const std::string> additional_headers = {});

// The fields of an Authorization header. For V1 only access_key_id and signature are set.
struct parsed_authorization {
  signature_version version = signature_version::v4;
  std::string access_key_id;
  std::string signature;                          // V1 base64, V4 lower hex
  std::string sign_date;                          // V4 scope date, YYYYMMDD
  std::string region;                             // V4 scope region
  std::vector<std::string> additional_headers;    // V4 AdditionalHeaders, as listed
};

// Parses "OSS <ak>:<base64 sig>" or "OSS4-HMAC-SHA256 Credential=<ak>/<date>/<region>/oss/
// aliyun_v4_request[,AdditionalHeaders=<a;b>],Signature=<64 hex>" (", " separators accepted).
// nullopt for anything else, including an empty AdditionalHeaders list.
OSS_DECL std::optional<parsed_authorization> parse_authorization(std::string_view header);

// Server side: recomputes the signature of `in` with `secret` and compares in constant time.
//  - V1: the date slot is Date, else x-oss-date (ali-oss sends only x-oss-date); when both are
//    present and differ, a signature over either value is accepted.
//  - V4: the x-oss-date header dates the request and must match the scope date; the region is the
//    scope's; the AdditionalHeaders list must be in canonical form and name present headers.
// Freshness of the date (clock skew) is the caller's check.
OSS_DECL bool verify_signature(const sign_input& in, const parsed_authorization& auth, std::string_view secret);

// Equal length and equal bytes, in time independent of where they differ.
OSS_DECL bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/sign/impl/sign.ipp>
#endif

#endif  // OSS_DETAIL_SIGN_SIGN_HPP
