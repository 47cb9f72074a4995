// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_IMPL_CRC64_IPP
#define OSS_DETAIL_IMPL_CRC64_IPP

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

// Polynomials in the reflected form: bit 63 is x^0. a(x) * b(x) mod P(x).
constexpr std::uint64_t multmodp(std::uint64_t a, std::uint64_t b) noexcept {
  if (a == 0) return 0;  // never for the operands below (P(0) = 1 makes x invertible); no endless loop
  std::uint64_t m = 1ULL << 63;
  std::uint64_t p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ reflected_poly : b >> 1;
  }
  return p;
}

// x2n[k] = x^(2^k) mod P(x) (zlib 1.2.12's crc32_combine scheme, for CRC-64/ECMA). 67 entries:
// a 64-bit byte count is at most 2^64 * 8 bits, and ECMA-182's P(x) is not known to make the
// powers periodic, so the table is not wrapped around.
constexpr std::array<std::uint64_t, 67> make_x2n() noexcept {
  std::array<std::uint64_t, 67> t{};
  std::uint64_t p = 1ULL << 62;  // x^1
  t[0] = p;
  for (std::size_t n = 1; n < t.size(); ++n) t[n] = p = multmodp(p, p);
  return t;
}
inline constexpr std::array<std::uint64_t, 67> x2n = make_x2n();

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
  // crc(A||B) = crc(A) * x^(8*len(B)) mod P  xor  crc(B): the init/xorout terms cancel (zlib's
  // crc32_combine, Mark Adler). x^(8n) is a product of table entries, one per set bit of n,
  // so this costs about popcount(len2) 64-step multiplications instead of ~60 matrix squarings.
  if (len2 == 0) return crc1;     // an empty B adds nothing (crc2 is then ignored, as before)
  std::uint64_t op = 1ULL << 63;  // x^0
  unsigned k = 3;                 // 8 bits per byte
  for (std::uint64_t n = len2; n != 0; n >>= 1, ++k)
    if (n & 1) op = crc64_impl::multmodp(crc64_impl::x2n[k], op);
  return crc64_impl::multmodp(op, crc1) ^ crc2;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_IMPL_CRC64_IPP
