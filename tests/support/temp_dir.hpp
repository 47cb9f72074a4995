// Test support: a temporary folder removed with everything in it when the test ends.
#ifndef OSS_TESTS_SUPPORT_TEMP_DIR_HPP
#define OSS_TESTS_SUPPORT_TEMP_DIR_HPP

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace oss_test {

class temp_dir {
 public:
  temp_dir() : temp_dir(std::filesystem::temp_directory_path()) {}
  // A new folder under `base`.
  explicit temp_dir(const std::filesystem::path& base) {
    std::string pattern = (base / "asio-oss-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Deterministic pseudo-random bytes: a failing test can be reproduced byte for byte.
inline std::string random_bytes(std::size_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t v = rng();
    for (int b = 0; b < 8; ++b) data[i + b] = static_cast<char>(v >> (8 * b));
  }
  for (std::uint64_t v = rng(); i < size; ++i, v >>= 8) data[i] = static_cast<char>(v);
  return data;
}

inline void write_file(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace oss_test

#endif
