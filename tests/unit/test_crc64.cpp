// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// CRC-64/XZ as OSS computes x-oss-hash-crc64ecma (oss-protocol.md section 6): check values,
// chaining, combining, and ISA-L against the portable tables.

#include <oss/detail/crc64.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace oss::detail;

std::uint64_t crc_of(std::string_view s) { return crc64(0, s.data(), s.size()); }
std::uint64_t portable_of(std::string_view s) { return crc64_portable(0, s.data(), s.size()); }

constexpr std::string_view huxley =
    "Even if I could be Shakespeare, I think I should still choose to be Faraday. - A. Huxley";
constexpr std::string_view broadcast = "This is a test of the emergency broadcast system.";

// Bit-at-a-time reference straight from the definition (reflected ECMA-182, init/xorout ~0),
// independent of both table-driven implementations.
std::uint64_t crc_bitwise(std::uint64_t crc, std::string_view s) {
  crc = ~crc;
  for (const char ch : s) {
    crc ^= static_cast<unsigned char>(ch);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0xC96C5795D7870F42ULL : crc >> 1;
  }
  return ~crc;
}

}  // namespace

TEST_CASE("crc64 reproduces the vectors of oss-protocol.md 6.2") {
  // Setup
  std::string concatenated = "123456789";
  concatenated += broadcast;
  const std::string zeros(1 << 20, '\0');
  struct vector {
    std::string_view input;
    std::uint64_t crc;
  };
  const vector vectors[] = {
      {"", 0},
      {"a", 3675645893302102789ULL},
      {"123456789", 11051210869376104954ULL},
      {broadcast, 2871916124362751090ULL},
      {huxley, 8850241425668899847ULL},
      {concatenated, 7672622622872733320ULL},
      {zeros, 6947770692288575170ULL},
  };

  for (const auto& v : vectors) {
    CAPTURE(v.input.size());
    // Run / Check
    CHECK(crc_of(v.input) == v.crc);
    CHECK(portable_of(v.input) == v.crc);
  }
  CHECK(crc_of("123456789") == 0x995DC9BBDF1939FAULL);
  CHECK(crc_bitwise(0, "123456789") == 0x995DC9BBDF1939FAULL);
}

TEST_CASE("crc64 chains like the OSS SDKs: the previous finished CRC is the seed") {
  // Setup
  const std::string text = std::string(huxley);

  for (std::size_t split = 0; split <= text.size(); ++split) {
    CAPTURE(split);
    // Run
    const std::uint64_t first = crc64(0, text.data(), split);
    const std::uint64_t chained = crc64(first, text.data() + split, text.size() - split);
    const std::uint64_t first_p = crc64_portable(0, text.data(), split);
    const std::uint64_t chained_p = crc64_portable(first_p, text.data() + split, text.size() - split);

    // Check
    CHECK(chained == 8850241425668899847ULL);
    CHECK(chained_p == 8850241425668899847ULL);
  }
}

TEST_CASE("crc64_combine joins the CRCs of every split of the Huxley string") {
  // Setup
  const std::string text = std::string(huxley);

  for (std::size_t split = 0; split <= text.size(); ++split) {
    CAPTURE(split);
    // Run
    const std::uint64_t a = crc64(0, text.data(), split);
    const std::uint64_t b = crc64(0, text.data() + split, text.size() - split);

    // Check
    CHECK(crc64_combine(a, b, text.size() - split) == 8850241425668899847ULL);
  }
}

TEST_CASE("crc64_combine edge cases and a multi-part fold") {
  // Setup
  std::mt19937_64 rng(4242);
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  const std::uint64_t whole = crc_of(data);

  // Run: fold uneven "parts" as the uploader does, starting from 0.
  std::uint64_t folded = 0;
  std::size_t offset = 0;
  std::size_t part = 1;
  while (offset < data.size()) {
    const std::size_t n = std::min<std::size_t>(part * 100003, data.size() - offset);
    folded = crc64_combine(folded, crc64(0, data.data() + offset, n), n);
    offset += n;
    part = part * 3 % 17 + 1;
  }

  // Check
  CHECK(folded == whole);
  CHECK(crc64_combine(0x995DC9BBDF1939FAULL, 0x27DB187FC15BBC72ULL, 49) == 7672622622872733320ULL);
  CHECK(crc64_combine(12345, 999, 0) == 12345);           // nothing appended
  CHECK(crc64_combine(0, 0x995DC9BBDF1939FAULL, 9) == 0x995DC9BBDF1939FAULL);
  // A large len2 exercises many squarings: 1 MiB of zeros appended to "123456789".
  const std::string zeros(1 << 20, '\0');
  CHECK(crc64_combine(crc_of("123456789"), crc_of(zeros), zeros.size()) ==
        crc64(crc_of("123456789"), zeros.data(), zeros.size()));
}

TEST_CASE("crc64 (ISA-L when built with it) equals crc64_portable for many lengths and alignments") {
  // Setup
  std::mt19937_64 rng(20240611);
  std::vector<unsigned char> buffer(70000 + 64);
  for (auto& b : buffer) b = static_cast<unsigned char>(rng());
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (const std::size_t n : {511, 512, 513, 1023, 1024, 4095, 4096, 4097, 65535, 65536, 70000})
    lengths.push_back(n);
#ifdef OSS_HAS_ISAL
  MESSAGE("crc64 uses ISA-L crc64_ecma_refl");
#else
  MESSAGE("crc64 uses the portable implementation (no ISA-L)");
#endif

  std::size_t compared = 0;
  for (const std::size_t n : lengths) {
    for (std::size_t align = 0; align < 16; ++align) {
      const unsigned char* p = buffer.data() + align;
      const std::uint64_t seed = (n + align) % 3 == 0 ? 0 : rng();
      // Run
      const std::uint64_t fast = crc64(seed, p, n);
      const std::uint64_t portable = crc64_portable(seed, p, n);

      // Check
      if (fast != portable) {
        CAPTURE(n);
        CAPTURE(align);
        CHECK(fast == portable);
      }
      ++compared;
    }
  }
  CHECK(compared == lengths.size() * 16);
  // The slicing-by-8 tables agree with the bitwise definition on short odd-sized inputs.
  for (std::size_t n = 0; n < 40; ++n) {
    const std::string_view s(reinterpret_cast<const char*>(buffer.data() + 3), n);
    CHECK(crc64_portable(77, s.data(), s.size()) == crc_bitwise(77, s));
  }
}
