// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_RULES_HPP
#define OSS_TESTING_SERVER_RULES_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>
#include <oss/detail/ascii.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/testing/server/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The rules the local server judges names, numbers, headers and ETags by, written from
// oss-protocol.md section 4 ("Limits") and 3.1 (the object headers of Initiate and PutObject),
// and for the S3 dialect from AWS's bucket-naming and metadata rules. They are the server's
// own: the client's validators (detail/ops/validate.hpp) check the same limits from the other
// side, and a rule the two disagree on must show up as a failing test, not pass twice.
namespace oss::testing::detail {

inline constexpr std::size_t max_header_bytes = 64 * 1024;
inline constexpr std::uint64_t max_xml_body = 4 * 1024 * 1024;  // Complete lists 10 000 parts in ~1 MiB
inline constexpr std::uint64_t max_object_size = 5ull * 1024 * 1024 * 1024;  // PutObject and UploadPart
inline constexpr std::size_t max_object_name_bytes = 1023;
inline constexpr std::size_t max_meta_bytes = 8 * 1024;     // every x-oss-meta-* name + value
inline constexpr std::size_t max_s3_meta_bytes = 2 * 1024;  // every x-amz-meta-* (S3's limit)
inline constexpr std::uint64_t oss_min_part_size = 100 * 1024;
inline constexpr std::uint64_t s3_min_part_size = 5ull * 1024 * 1024;
inline constexpr std::uint64_t max_part_number = 10000;
inline constexpr std::uint64_t max_list_entries = 1000;  // max-parts, max-uploads

using header_list = std::vector<std::pair<std::string, std::string>>;

// Primitives shared with the client (the server judges requests, not bytes): ASCII case and
// strict unsigned decimals (no sign, no spaces; nullopt on junk or overflow).
using oss::detail::ascii_lower;
using oss::detail::parse_decimal;

// Well-formed UTF-8: no stray continuation bytes, no overlong forms, no surrogates, <= U+10FFFF.
OSS_DECL bool is_valid_utf8(std::string_view s) noexcept;

// OSS: 3..63 characters of [a-z0-9-], not starting or ending with '-'.
OSS_DECL bool is_valid_oss_bucket_name(std::string_view name) noexcept;
// S3: 3..63 characters of [a-z0-9.-], a letter or digit at both ends, no ".." and no dot next
// to a '-', not an IPv4 address, no "xn--" / "sthree-" prefix, no "-s3alias" / "--ol-s3" suffix.
OSS_DECL bool is_valid_s3_bucket_name(std::string_view name) noexcept;
OSS_DECL bool is_valid_bucket_name(std::string_view name, api_dialect dialect) noexcept;

// OSS object names: 1..1023 bytes of UTF-8, not starting with '/' or '\'. nullopt when valid,
// else the InvalidObjectName error (Message says why, EC 0016-00000001 / 2 / 5).
OSS_DECL std::optional<server_error> object_name_error(std::string_view key);

// The object headers of a PutObject or InitiateMultipartUpload request, as they are stored
// and later returned by HEAD and GET: the standard headers (Content-Type, Cache-Control,
// Content-Disposition, Content-Encoding, Content-Language, Expires), user metadata
// (x-oss-meta-*: names letters, digits and '-', lower-cased; values printable ASCII; names and
// values 8 KiB in all) and the other x-oss-* settings (storage class, tagging, encryption...),
// but not the headers that only steer the request (date, signature, token, callback...).
// Content-Type defaults to application/octet-stream. `forbid_overwrite` reads
// x-oss-forbid-overwrite. S3: x-amz-meta-* (2 KiB, S3's MetadataTooLarge) and the x-amz-*
// settings S3 keeps with an object. Repeated headers: the first wins.
OSS_DECL std::optional<server_error> collect_object_headers(const oss::detail::http::fields& headers,
                                                            api_dialect dialect, header_list& out,
                                                            bool& forbid_overwrite);

OSS_DECL const std::string* find_header(const header_list& headers, std::string_view name) noexcept;

// An ETag as Complete compares it: without its quotes, upper case. Go's SDK sends the quotes
// XML-escaped, some tools strip them, and the case of hex digits carries no meaning.
OSS_DECL std::string normalize_etag(std::string_view etag);

// "\"<32 hex>\"" of an MD5: upper case in OSS, lower case in S3.
OSS_DECL std::string quoted_hex_etag(const unsigned char* md5, std::size_t size, api_dialect dialect);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/rules.ipp>
#endif

#endif  // OSS_TESTING_SERVER_RULES_HPP
