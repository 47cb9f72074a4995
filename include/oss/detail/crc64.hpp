// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_CRC64_HPP
#define OSS_DETAIL_CRC64_HPP

#include <oss/detail/config.hpp>

#include <cstddef>
#include <cstdint>

namespace oss::detail {

// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): the decimal value of the
// x-oss-hash-crc64ecma header (oss-protocol.md section 6).
//
// `crc` is the finished CRC of the bytes before `data` (0 to start), as the OSS SDKs chain it:
// crc64(crc64(0, a, na), b, nb) == crc64 of a followed by b.
//
// Uses ISA-L (carry-less multiply) when built with OSS_HAS_ISAL, else crc64_portable.
OSS_DECL std::uint64_t crc64(std::uint64_t crc, const void* data, std::size_t n) noexcept;

// The same function with slicing-by-8 tables; any alignment, any length.
OSS_DECL std::uint64_t crc64_portable(std::uint64_t crc, const void* data, std::size_t n) noexcept;

// crc64 of A followed by B, given crc64(A), crc64(B) and B's length (zlib's crc32_combine method,
// O(log len2)). combine(c, x, 0) == c and combine(0, c, n) == c, so a fold may start from 0.
OSS_DECL std::uint64_t crc64_combine(std::uint64_t crc1, std::uint64_t crc2, std::uint64_t len2) noexcept;

// The CRC-64 and length of pieces laid end to end (an object from its parts, in part order),
// from each piece's CRC-64 and length: the one fold every part list uses.
struct crc64_concat {
  std::uint64_t crc = 0;
  std::uint64_t size = 0;

  void append(std::uint64_t piece_crc, std::uint64_t piece_size) noexcept {
    crc = crc64_combine(crc, piece_crc, piece_size);
    size += piece_size;
  }
};

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/crc64.ipp>
#endif

#endif  // OSS_DETAIL_CRC64_HPP
