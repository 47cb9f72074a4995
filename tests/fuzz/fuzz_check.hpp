// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTS_FUZZ_CHECK_HPP
#define OSS_TESTS_FUZZ_CHECK_HPP

// Shared by the fuzz targets. A broken invariant aborts, which libFuzzer reports as a crash
// and saves the input; the plain regression runner (regression_main.cpp) fails the same way.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);    \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace oss::fuzz {

// Reads bytes off the front of the input, for targets that need a few control values before
// the payload (flags, split points). Past the end it yields zeros, so every input is usable.
class byte_reader {
 public:
  byte_reader(const std::uint8_t* data, std::size_t size) noexcept
      : data_(reinterpret_cast<const char*>(data), size) {}
  std::uint8_t byte() noexcept {
    if (data_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  // Up to `n` bytes, or up to the first `stop` byte (consumed, not returned).
  std::string_view take(std::size_t n, char stop) noexcept {
    std::string_view out = data_.substr(0, n);
    auto at = out.find(stop);
    if (at != std::string_view::npos) {
      out = out.substr(0, at);
      data_.remove_prefix(at + 1);
    } else {
      data_.remove_prefix(out.size());
    }
    return out;
  }
  std::string_view rest() const noexcept { return data_; }
  bool empty() const noexcept { return data_.empty(); }

 private:
  std::string_view data_;
};

}  // namespace oss::fuzz

#endif  // OSS_TESTS_FUZZ_CHECK_HPP
