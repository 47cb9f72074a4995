// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_CRC64_IPP
#define OSS_IMPL_CRC64_IPP

#include <oss/detail/crc64.hpp>

#ifdef OSS_HAS_ISAL
#include <isa-l/crc64.h>
#endif

#include <array>
#include <bit>
#include <cstring>

namespace oss::detail {

namespace crc64_impl {

// ECMA-182 polynomial 0x42F0E1EBA9EA3693, bit-reversed for the LSB-first (reflected) form.
inline constexpr std::uint64_t reflected_poly = 0xC96C5795D7870F42ULL;

using table_set = std::array<std::array<std::uint64_t, 256>, 8>;

// tables[k][b] is the CRC contribution of byte b followed by k zero bytes, which lets the main
// loop fold eight input bytes with eight independent lookups.
constexpr table_set make_tables() {
  table_set t{};
  for (std::uint64_t i = 0; i < 256; ++i) {
    std::uint64_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ reflected_poly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  return t;
}

inline constexpr table_set tables = make_tables();

// GF(2) 64x64 matrix (one column per bit) applied to a vector.
constexpr std::uint64_t gf2_times(const std::array<std::uint64_t, 64>& mat, std::uint64_t vec) noexcept {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; vec != 0; ++i, vec >>= 1)
    if (vec & 1) sum ^= mat[i];
  return sum;
}

constexpr void gf2_square(std::array<std::uint64_t, 64>& square, const std::array<std::uint64_t, 64>& mat) noexcept {
  for (std::size_t n = 0; n < 64; ++n) square[n] = gf2_times(mat, mat[n]);
}

}  // namespace crc64_impl

OSS_DECL std::uint64_t crc64_portable(std::uint64_t crc, const void* data, std::size_t n) noexcept {
  const auto& t = crc64_impl::tables;
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  if constexpr (std::endian::native == std::endian::little) {
    while (n >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, 8);  // unaligned-safe; compiles to one load
      crc ^= word;
      crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
            t[4][(crc >> 24) & 0xff] ^ t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^
            t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
      p += 8;
      n -= 8;
    }
  }
  while (n-- != 0) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

OSS_DECL std::uint64_t crc64(std::uint64_t crc, const void* data, std::size_t n) noexcept {
#ifdef OSS_HAS_ISAL
  // ISA-L's reflected variant inverts the seed on entry and the result on exit, which is exactly
  // the OSS chaining convention (previous finished CRC in, finished CRC out, 0 to start).
  return crc64_ecma_refl(crc, static_cast<const unsigned char*>(data), n);
#else
  return crc64_portable(crc, data, n);
#endif
}

OSS_DECL std::uint64_t crc64_combine(std::uint64_t crc1, std::uint64_t crc2, std::uint64_t len2) noexcept {
  using crc64_impl::gf2_square;
  using crc64_impl::gf2_times;
  if (len2 == 0) return crc1;
  // Appending zero bytes to A turns crc(A) into crc(A||0...0); XOR with crc(B) then gives
  // crc(A||B) because the init/xorout terms cancel (zlib crc32_combine, Mark Adler).
  std::array<std::uint64_t, 64> even{};
  std::array<std::uint64_t, 64> odd{};
  odd[0] = crc64_impl::reflected_poly;  // operator for one zero bit
  std::uint64_t row = 1;
  for (std::size_t n = 1; n < 64; ++n, row <<= 1) odd[n] = row;
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four zero bits
  do {
    gf2_square(even, odd);  // first pass: one zero byte, then 4, 16, ...
    if (len2 & 1) crc1 = gf2_times(even, crc1);
    len2 >>= 1;
    if (len2 == 0) break;
    gf2_square(odd, even);
    if (len2 & 1) crc1 = gf2_times(odd, crc1);
    len2 >>= 1;
  } while (len2 != 0);
  return crc1 ^ crc2;
}

}  // namespace oss::detail

#endif  // OSS_IMPL_CRC64_IPP
