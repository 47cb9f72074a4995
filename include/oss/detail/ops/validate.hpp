// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_VALIDATE_HPP
#define OSS_DETAIL_OPS_VALIDATE_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

// Input checks that run before any request (oss-protocol.md section 4 "Limits"): a bad name or
// header must fail with a clear client_errc, not with a signature error or a half-sent request.
namespace oss::detail {

inline constexpr std::size_t max_object_name_bytes = 1023;
inline constexpr std::size_t max_metadata_bytes = 8 * 1024;
inline constexpr int max_part_number = 10000;
inline constexpr int max_list_page = 1000;

// 3..63 characters of [a-z0-9-], not starting or ending with '-'.
OSS_DECL bool is_valid_bucket_name(std::string_view name) noexcept;

// S3 rules (docs "Bucket naming rules", general purpose buckets): 3..63 characters of
// [a-z0-9.-], starting and ending with a letter or digit, no two adjacent dots and no dot next
// to a '-', not an IPv4 address, no "xn--" / "sthree-" prefix, no "-s3alias" / "--ol-s3"
// suffix. OSS names pass unless they use one of those reserved prefixes or suffixes.
OSS_DECL bool is_valid_s3_bucket_name(std::string_view name) noexcept;

// The bucket-name rule of `dialect`.
OSS_DECL bool is_valid_bucket_name(std::string_view name, api_dialect dialect) noexcept;

// Well-formed UTF-8: no stray continuation bytes, no overlong forms, no surrogates, <= U+10FFFF.
OSS_DECL bool is_valid_utf8(std::string_view s) noexcept;

// Object key rules: 1..1023 bytes of valid UTF-8, not starting with '/' or '\'.
// client_errc::invalid_object_name otherwise.
OSS_DECL std::error_code check_object_name(std::string_view name, std::string& problem);

// Validates `opts` and produces the headers that carry them, in sending order: Content-Type
// (when `content_type`: opts.mime, else a Content-Type among opts.headers, else guessed from
// `name`), the user headers (values trimmed) and x-oss-meta-<lower-case name> for each meta
// entry. Errors: invalid_header_value (bad name, CR/LF/control characters, or a header the client
// owns such as Authorization or Host), invalid_metadata (name not letters/digits/'-', value not
// printable ASCII, duplicate name), metadata_too_large (names + values > 8 KiB).
OSS_DECL std::error_code object_headers(std::string_view name, const object_options& opts,
                                        bool content_type,
                                        std::vector<std::pair<std::string, std::string>>& out,
                                        std::string& problem);

// The same in `dialect`: S3 writes metadata as x-amz-meta-<name> (a header given with that
// prefix obeys the metadata rules), and refuses the x-amz-* headers the signer sets.
OSS_DECL std::error_code object_headers(std::string_view name, const object_options& opts,
                                        bool content_type, api_dialect dialect,
                                        std::vector<std::pair<std::string, std::string>>& out,
                                        std::string& problem);

// Checks credentials before they reach a header: the key id and token go into Authorization
// and x-oss-security-token, so CR, LF or control characters would split the request. Empty
// credentials (anonymous) pass. Errors: missing_credentials (a key id without a secret, or a
// secret or token without a key id), invalid_header_value (spaces, control or non-ASCII
// characters in the key id or token). The message names the field, never its value.
OSS_DECL std::error_code check_credentials(const credentials& c, std::string& problem);

// Longest UploadId accepted. OSS ids are 32 hex digits; S3 ids run to about 200 characters
// (MinIO's are longer, under 300): 1024 leaves room for any real store and keeps a hostile
// reply from planting kilobytes into every request and checkpoint.
inline constexpr std::size_t max_upload_id_bytes = 1024;

// An UploadId as a real store makes one: 1..max_upload_id_bytes characters of printable ASCII
// (0x21..0x7e). Checked when Initiate's reply arrives, by every request builder that sends one
// and when a checkpoint is loaded, so a hostile id (CR LF, 100 KB) never reaches a request line
// or a checkpoint that would fail forever.
inline bool is_valid_upload_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_upload_id_bytes) return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

// True for headers the client computes itself and a caller must not set.
OSS_DECL bool is_reserved_header(std::string_view name) noexcept;

// The same in `dialect`: S3 reserves x-amz-date, x-amz-content-sha256 and x-amz-security-token
// (the SigV4 signer sets them) instead of their x-oss-* twins.
OSS_DECL bool is_reserved_header(std::string_view name, api_dialect dialect) noexcept;

// The user-metadata header prefix of `dialect`: "x-oss-meta-" or "x-amz-meta-".
inline std::string_view meta_header_prefix(api_dialect dialect) noexcept {
  return dialect == api_dialect::s3 ? std::string_view("x-amz-meta-") : std::string_view("x-oss-meta-");
}

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/validate.ipp>
#endif

#endif  // OSS_DETAIL_OPS_VALIDATE_HPP
