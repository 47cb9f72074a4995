// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_SIGN_SIGN_S3_HPP
#define OSS_DETAIL_SIGN_SIGN_S3_HPP

#include <oss/detail/config.hpp>

#include <oss/credentials.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/sign/sign.hpp>  // query_param, constant_time_equal

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// AWS Signature Version 4 for S3 (AWS4-HMAC-SHA256, service "s3"), for both sides: the client
// signs what it sends (s3_sign_request), the local server parses and verifies what it receives
// (s3_parse_authorization, s3_check_request, s3_verify_signature). Sans-io: strings in, strings
// out. Follows oss-protocol.md 2.8; the four AWS example vectors are in tests/unit/
// test_sign_s3.cpp, and tests/integration/test_s3_sign.cpp compares s3_sign_request with the
// AWS SDK for JavaScript's signer (@smithy/signature-v4) on generated requests.
//
// Only the Authorization-header form with a single-chunk payload: no presigned URLs, no
// aws-chunked streaming signatures (x-amz-content-sha256 is UNSIGNED-PAYLOAD or a hex digest).
//
// Nothing in this file may log or throw with a secret, a signature or a string-to-sign in it.
namespace oss::detail {

inline constexpr std::string_view s3_algorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view s3_unsigned_payload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string: the x-amz-content-sha256 of a signed empty body.
inline constexpr std::string_view s3_empty_payload_sha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// A read-only view of the parts of a request that SigV4 signs.
struct s3_sign_input {
  std::string_view method;             // "PUT"; used as given (upper case)
  std::string_view path;               // decoded path as sent: "/bucket/key", "/key", "/"
  std::span<const query_param> query;  // decoded; an empty value is signed as "name="
  const http::fields& headers;         // as sent, including Host and x-amz-date
};

// Headers the AWS JS signer (@smithy/signature-v4 ALWAYS_UNSIGNABLE_HEADERS plus the proxy-*
// and sec-* patterns) never signs, because proxies and browsers may change them in transit:
// authorization, cache-control, connection, expect, from, keep-alive, max-forwards, pragma,
// referer, te, trailer, transfer-encoding, upgrade, user-agent, x-amzn-trace-id, proxy-*, sec-*.
// `lower_name` must be lower case.
OSS_DECL bool s3_is_unsignable_header(std::string_view lower_name) noexcept;

// The SignedHeaders list s3_sign_request uses: the lower-cased name of every header present
// that is not unsignable, sorted and de-duplicated.
OSS_DECL std::vector<std::string> s3_signed_header_names(const http::fields& headers);

// CanonicalURI: `path` URI-encoded once (RFC 3986 unreserved kept, '/' kept), no dot-segment or
// "//" normalisation (S3 keys may contain both). An empty path is "/".
OSS_DECL std::string s3_canonical_uri(std::string_view path);

// CanonicalQueryString: every parameter as encode(name) "=" encode(value) (so a value-less
// "uploads" is "uploads="), sorted by encoded name, then by encoded value, joined by '&'.
OSS_DECL std::string s3_canonical_query(std::span<const query_param> query);

// CanonicalRequest over the headers named in `signed_headers` (lower case, sorted, unique; the
// caller normalises). Each signed header is "name:value\n" with the value's runs of spaces and
// tabs folded to one space and the ends trimmed; a name present several times gets its values
// joined by ',' in arrival order; a listed name that is absent gets an empty value (such a
// request never verifies, see s3_check_request). HashedPayload is the x-amz-content-sha256
// header (empty when absent).
OSS_DECL std::string s3_canonical_request(const s3_sign_input& in, std::span<const std::string> signed_headers);

// "AWS4-HMAC-SHA256\n" + amz_date + "\n" + date8/region/s3/aws4_request + "\n" +
// hex(SHA-256(canonical_request)). `amz_date` is ISO 8601 basic (20130524T000000Z).
OSS_DECL std::string s3_string_to_sign(std::string_view canonical_request, std::string_view amz_date,
                                       std::string_view region);

// HMAC chain "AWS4" + secret -> date8 (YYYYMMDD) -> region -> "s3" -> "aws4_request".
OSS_DECL sha256_digest s3_signing_key(std::string_view secret, std::string_view date8, std::string_view region);

// Lower-hex signature of `in` over `signed_headers`, dated by its x-amz-date header.
OSS_DECL std::string s3_signature(const s3_sign_input& in, std::string_view secret, std::string_view region,
                                  std::span<const std::string> signed_headers);

// Client side. Signs `req` in place:
//  - removes a previous Authorization (a retry re-signs);
//  - sets x-amz-date (ISO 8601 basic of `now`) and x-amz-content-sha256 = `payload_hash`;
//  - sets x-amz-security-token when creds.security_token is non-empty, removes it otherwise;
//  - sets Authorization = "AWS4-HMAC-SHA256 Credential=<ak>/<date8>/<region>/s3/aws4_request,
//    SignedHeaders=<s3_signed_header_names>, Signature=<hex>" (", " separators, as the AWS
//    SDKs write it).
// `path` is the decoded path that req.target encodes (with request_target's encoding: "/" +
// ["bucket/" for path style] + key), `query` the decoded parameters of req.target. Every
// header already in `req` is signed except the unsignable ones, so add Content-MD5,
// Content-Type, Content-Length, x-amz-meta-* etc. before calling. A Date header, if present,
// is signed as is (AWS's own example does; the JS SDK never sends one). Host must be present.
// `payload_hash` is s3_unsigned_payload or the lower-hex SHA-256 of the body.
// With empty (anonymous) credentials the request is left untouched.
// Throws std::invalid_argument (a caller bug) when Host is missing, `payload_hash` has neither
// form, or `region` is empty.
OSS_DECL void s3_sign_request(http::request& req, std::string_view path, std::span<const query_param> query,
                              const credentials& creds, std::string_view region,
                              std::chrono::system_clock::time_point now, std::string_view payload_hash);

// The fields of an "AWS4-HMAC-SHA256 ..." Authorization header.
struct s3_authorization {
  std::string access_key_id;
  std::string date;                         // scope date, YYYYMMDD
  std::string region;                       // scope region
  std::vector<std::string> signed_headers;  // lower case, strictly sorted, contains "host"
  std::string signature;                    // 64 lower-hex digits

  bool operator==(const s3_authorization&) const = default;
};

// Server side. Parses "AWS4-HMAC-SHA256 Credential=<ak>/<YYYYMMDD>/<region>/s3/aws4_request,
// SignedHeaders=<a;b;...>, Signature=<64 lower hex>". The three items may come in any order,
// each exactly once, separated by ',' with optional spaces after it. nullopt for anything else,
// among which: another algorithm or service, a date that is not a calendar day of the years
// 1970-2199, an empty key id
// or region, a SignedHeaders list with an empty, upper-case, unsorted or repeated name or
// without "host", a signature of another length or case.
OSS_DECL std::optional<s3_authorization> s3_parse_authorization(std::string_view header);

// The header text for `auth`, in the AWS SDK layout; s3_parse_authorization of it gives `auth`
// back for every value s3_parse_authorization returned.
OSS_DECL std::string s3_format_authorization(const s3_authorization& auth);

// Why a request cannot verify, before any signature is computed (no secret needed). The local
// server maps these to S3 error codes as noted.
enum class s3_request_problem {
  none,
  missing_date,           // no valid x-amz-date (ISO 8601 basic, 1970-2199, once) AccessDenied
  date_scope_mismatch,    // x-amz-date's day differs from the scope date  AuthorizationHeaderMalformed
  missing_content_sha256, // no x-amz-content-sha256                       InvalidRequest
  signed_header_absent,   // SignedHeaders names a header not sent         SignatureDoesNotMatch
  unsigned_amz_header,    // an x-amz-* header sent but not signed         AccessDenied
};

// Structural checks of `in` against a parsed Authorization: the contract the signature itself
// cannot express. x-amz-date must be signed (it is an x-amz-* header). The caller still checks:
// the access key id is known, auth.region is its region, x-amz-date is fresh (clock skew), and,
// when x-amz-content-sha256 is a hex digest, that the body hashes to it (UNSIGNED-PAYLOAD: no
// body check; any other value, e.g. STREAMING-AWS4-HMAC-SHA256-PAYLOAD, is the caller's to
// refuse).
OSS_DECL s3_request_problem s3_check_request(const s3_sign_input& in, const s3_authorization& auth);

// True when s3_check_request finds no problem and the signature recomputed with `secret` over
// auth.signed_headers and auth.region equals auth.signature (compared in constant time).
OSS_DECL bool s3_verify_signature(const s3_sign_input& in, const s3_authorization& auth, std::string_view secret);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/sign/impl/sign_s3.ipp>
#endif

#endif  // OSS_DETAIL_SIGN_SIGN_S3_HPP
