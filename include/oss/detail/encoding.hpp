// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENCODING_HPP
#define OSS_DETAIL_ENCODING_HPP

#include <oss/detail/config.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace oss::detail {

// Hex of every byte, two digits each.
OSS_DECL std::string hex_lower(const void* data, std::size_t n);
OSS_DECL std::string hex_upper(const void* data, std::size_t n);

// RFC 4648 base64 with padding and no line breaks (Content-MD5, V1 signatures, x-oss-err).
OSS_DECL std::string base64_encode(const void* data, std::size_t n);

// Strict RFC 4648 decoding: the length must be a multiple of 4, '=' only as the last one or two
// characters, no whitespace, and the unused bits of the last group must be zero (so every
// accepted text has exactly one encoding). nullopt when any rule is broken.
OSS_DECL std::optional<std::string> base64_decode(std::string_view text);

// RFC 3986: unreserved A-Z a-z 0-9 - _ . ~ are kept, every other byte becomes %XX with upper-case
// hex (UTF-8 is encoded byte by byte). keep_slash leaves '/' as is (V4 CanonicalURI, URL paths).
OSS_DECL std::string uri_encode(std::string_view s, bool keep_slash);

// Decodes %XX escapes (either hex case); plus_is_space also turns '+' into ' ' (form encoding).
// nullopt when a '%' is not followed by two hex digits.
OSS_DECL std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/encoding.ipp>
#endif

#endif  // OSS_DETAIL_ENCODING_HPP
