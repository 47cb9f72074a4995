// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
//
// L0 byte primitives: hex, base64, RFC 3986 percent-encoding, and the OpenSSL digest/MAC
// wrappers against the published vectors (RFC 1321, FIPS 180-2, RFC 2202, RFC 4231, RFC 4648).

#include <oss/detail/ascii.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace oss::detail;

template <class Digest>
std::string hex(const Digest& d) {
  return hex_lower(d.data(), d.size());
}

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

std::string bytes_from(unsigned first, unsigned last) {
  std::string s;
  for (unsigned b = first; b <= last; ++b) s += static_cast<char>(b);
  return s;
}

}  // namespace

TEST_CASE("ASCII helpers: case never the locale's, hex digits, strict decimals") {
  using namespace oss::detail;
  // Only A-Z change case; bytes above 0x7F (UTF-8) and punctuation stay as they are.
  CHECK(ascii_lower("Content-MD5 \xC3\x89T\x7F") == "content-md5 \xC3\x89t\x7F");
  CHECK(ascii_iequals("X-OSS-Meta-A", "x-oss-meta-a"));
  CHECK_FALSE(ascii_iequals("\xC3\x89", "\xC3\xA9"));  // not Unicode case folding
  CHECK_FALSE(ascii_iequals("etag", "etag "));
  CHECK(ascii_istarts_with("X-Amz-Meta-Name", "x-amz-meta-"));
  CHECK_FALSE(ascii_istarts_with("x-amz", "x-amz-meta-"));
  CHECK(hex_digit_value('0') == 0);
  CHECK(hex_digit_value('f') == 15);
  CHECK(hex_digit_value('F') == 15);
  CHECK(hex_digit_value('g') == -1);
  CHECK(hex_digit_value('/') == -1);

  // Digits only, up to 2^64 - 1.
  CHECK(parse_decimal("0") == std::uint64_t{0});
  CHECK(parse_decimal("007") == std::uint64_t{7});
  CHECK(parse_decimal("18446744073709551615") == UINT64_MAX);
  for (std::string_view bad : {"", "18446744073709551616", "99999999999999999999", "+1", "-1", " 1", "1 ", "1e3",
                               "0x10", "1,2"})
    CHECK_MESSAGE(!parse_decimal(bad), std::string(bad));
  static_assert(parse_decimal("42") == std::uint64_t{42});
}

TEST_CASE("hex_lower and hex_upper write two digits per byte") {
  // Setup
  const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};

  // Run / Check
  CHECK(hex_lower(bytes, sizeof bytes) == "00017f80abff");
  CHECK(hex_upper(bytes, sizeof bytes) == "00017F80ABFF");
  CHECK(hex_lower(bytes, 0).empty());
}

TEST_CASE("base64_encode matches RFC 4648 section 10") {
  // Setup
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };

  for (const auto& [plain, encoded] : vectors) {
    // Run
    const std::string e = base64_encode(plain.data(), plain.size());
    const auto d = base64_decode(encoded);

    // Check
    CHECK(e == encoded);
    REQUIRE(d.has_value());
    CHECK(*d == plain);
  }
}

TEST_CASE("base64 uses the standard alphabet and round-trips every byte value") {
  // Setup
  const std::string all = bytes_from(0, 255);
  std::mt19937 rng(20240501);

  // Run
  const std::string e = base64_encode(all.data(), all.size());

  // Check
  CHECK(e.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
        std::string::npos);
  CHECK(base64_encode("\xfb\xff\xbf", 3) == "+/+/");
  CHECK(base64_decode(e) == all);
  for (std::size_t len = 0; len < 70; ++len) {
    std::string s(len, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    const std::string enc = base64_encode(s.data(), s.size());
    CHECK(enc.size() == (len + 2) / 3 * 4);
    CHECK(base64_decode(enc) == s);
  }
}

TEST_CASE("base64_decode is strict") {
  // Setup: each text breaks one rule.
  const std::string_view bad[] = {
      "Zg",        // length not a multiple of 4
      "Zg=",       // same
      "Z===",      // three padding characters
      "====",      // padding only
      "=m9v",      // padding first
      "Zm=v",      // padding in the middle of a group
      "Zg==Zg==",  // padding before the last group
      "Zh==",      // non-zero bits after the last byte
      "Zm9=",      // same, one padding character
      "Zm9 ",      // whitespace
      "Zm9v\n",    // line break
      "Zm9-",      // base64url alphabet
      "Zm9_",      // base64url alphabet
      "Zm9\x80",   // non-ASCII
  };

  for (const std::string_view text : bad) {
    // Run / Check
    CAPTURE(text);
    CHECK_FALSE(base64_decode(text).has_value());
  }
  CHECK(base64_decode("") == std::string());
}

TEST_CASE("uri_encode keeps only RFC 3986 unreserved characters") {
  // Setup
  const std::string all = bytes_from(0, 255);

  // Run
  const std::string enc = uri_encode(all, false);
  const std::string enc_slash = uri_encode(all, true);

  // Check: 66 unreserved characters kept, the other 190 bytes become %XX.
  CHECK(enc.size() == 66 + 190 * 3);
  CHECK(enc_slash.size() == 67 + 189 * 3);
  CHECK(uri_encode("a b+c/d~e*f", false) == "a%20b%2Bc%2Fd~e%2Af");
  CHECK(uri_encode("a b+c/d~e*f", true) == "a%20b%2Bc/d~e%2Af");
  CHECK(uri_encode("AZaz09-_.~", false) == "AZaz09-_.~");
  CHECK(uri_encode("!'()|?#&=%", false) == "%21%27%28%29%7C%3F%23%26%3D%25");
  CHECK(uri_encode("\xc3\xa9/\xe4\xb8\xad", true) == "%C3%A9/%E4%B8%AD");  // é/中
  CHECK(uri_encode("", true).empty());
}

TEST_CASE("percent_decode accepts either hex case and rejects broken escapes") {
  // Setup
  std::mt19937 rng(7);

  // Run / Check
  CHECK(percent_decode("%41%62c") == "Abc");
  CHECK(percent_decode("%c3%A9") == "\xc3\xa9");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%2B", true) == "+");
  CHECK(percent_decode("") == "");
  CHECK(percent_decode("%00") == std::string(1, '\0'));
  for (const std::string_view bad : {"%", "%2", "a%", "%G1", "%1G", "%%", "%%41", "ab%4"}) {
    CAPTURE(bad);
    CHECK_FALSE(percent_decode(bad).has_value());
  }
  for (int i = 0; i < 200; ++i) {
    std::string s(static_cast<std::size_t>(rng() % 40), '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    CHECK(percent_decode(uri_encode(s, i % 2 == 0)) == s);
  }
}

TEST_CASE("md5 matches RFC 1321 appendix A.5") {
  // Setup
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };

  for (const auto& v : vectors) {
    // Run / Check
    CAPTURE(v.first);
    CHECK(hex(md5(v.first)) == v.second);
  }
  // The Content-MD5 of an empty body.
  const auto empty = md5("");
  CHECK(base64_encode(empty.data(), empty.size()) == "1B2M2Y8AsgTpgAmY7PhCfg==");
}

TEST_CASE("sha1 and sha256 match FIPS 180-2 examples") {
  // Setup
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  const std::string million_a = repeat('a', 1000000);

  // Run / Check
  CHECK(hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(sha1(two_blocks)) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(hex(sha1(million_a)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256(two_blocks)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex(sha256(million_a)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("hmac_sha1 matches RFC 2202 section 3") {
  // Setup
  struct vector {
    std::string key, data;
    std::string_view mac;
  };
  const vector vectors[] = {
      {repeat('\x0b', 20), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"},
      {"Jefe", "what do ya want for nothing?", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {repeat('\xaa', 20), repeat('\xdd', 50), "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {bytes_from(1, 25), repeat('\xcd', 50), "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {repeat('\x0c', 20), "Test With Truncation", "4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
      {repeat('\xaa', 80), "Test Using Larger Than Block-Size Key - Hash Key First",
       "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {repeat('\xaa', 80), "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
       "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
  };

  for (std::size_t i = 0; i < std::size(vectors); ++i) {
    // Run / Check
    CAPTURE(i + 1);
    CHECK(hex(hmac_sha1(vectors[i].key, vectors[i].data)) == vectors[i].mac);
  }
}

TEST_CASE("hmac_sha256 matches RFC 4231 section 4") {
  // Setup
  struct vector {
    std::string key, data;
    std::string_view mac;
  };
  const vector vectors[] = {
      {repeat('\x0b', 20), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {repeat('\xaa', 20), repeat('\xdd', 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {bytes_from(1, 25), repeat('\xcd', 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {repeat('\xaa', 131),
       "This is a test using a larger than block-size key and a larger than block-size data. The key needs "
       "to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };

  for (std::size_t i = 0; i < std::size(vectors); ++i) {
    // Run / Check
    CAPTURE(i + 1);
    CHECK(hex(hmac_sha256(vectors[i].key, vectors[i].data)) == vectors[i].mac);
  }
  // Test case 5 is truncated to 128 bits.
  CHECK(hex(hmac_sha256(repeat('\x0c', 20), "Test With Truncation")).substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
  // An empty key is a valid HMAC key (it must not mean "reuse the previous key").
  CHECK(hex(hmac_sha256("", "")) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("streaming hashers equal the one-shot digests at every chunking") {
  // Setup
  const std::string million_a = repeat('a', 1000000);
  std::mt19937 rng(99);
  std::string random(100000, '\0');
  for (auto& c : random) c = static_cast<char>(rng());

  for (const std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{63}, std::size_t{64},
                                  std::size_t{65}, std::size_t{4096}, std::size_t{333333}}) {
    CAPTURE(chunk);
    // Run
    md5_hasher m;
    sha256_hasher s;
    const std::string& data = chunk < 64 ? random : million_a;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      const std::size_t n = std::min(chunk, data.size() - off);
      m.update(data.data() + off, n);
      s.update(std::string_view(data).substr(off, n));
    }

    // Check
    CHECK(m.finish() == md5(data));
    CHECK(s.finish() == sha256(data));
  }
}

TEST_CASE("a finished hasher starts over and hashers can be moved") {
  // Setup
  md5_hasher m;
  sha256_hasher s;
  m.update("abc", 3);
  s.update("abc", 3);

  // Run
  const auto first_md5 = m.finish();
  const auto empty_md5 = m.finish();
  const auto first_sha = s.finish();
  s.update("message digest");
  sha256_hasher moved = std::move(s);
  moved.update(" more");

  // Check
  CHECK(hex(first_md5) == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(hex(empty_md5) == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(hex(first_sha) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(moved.finish() == sha256("message digest more"));
}
