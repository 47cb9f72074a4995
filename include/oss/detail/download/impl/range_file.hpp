// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
// Outside the guard, as download_run.hpp: the header-only build reaches the download's
// implementation from the public header, and that needs the class here.
#include <oss/detail/download/download_run.hpp>

#ifndef OSS_DETAIL_DOWNLOAD_IMPL_RANGE_FILE_HPP
#define OSS_DETAIL_DOWNLOAD_IMPL_RANGE_FILE_HPP

#include <oss/detail/ascii.hpp>
#include <oss/detail/ops/response.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/detail/upload/upload_run.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// What the steps of a download (download_run.ipp, setup.ipp, ranges.ipp, finish.ipp) share:
// writes to and reads of the part file, and the Content-Range check.
namespace oss::detail::download {

namespace download_impl {

inline std::error_code errno_code() { return {errno, std::system_category()}; }

inline std::error_code pwrite_all(int fd, const char* data, std::size_t len, std::uint64_t offset) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code();
    }
    data += n;
    len -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

// CRC-64 of `len` bytes of `fd` from `offset`, or an error.
inline std::error_code crc_of_range(int fd, std::uint64_t offset, std::uint64_t len, std::uint64_t& crc) {
  std::string buf(write_piece, '\0');
  crc = 0;
  while (len > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(len, buf.size()));
    const ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_code();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);  // shorter than it should be
    crc = crc64(crc, buf.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
  }
  return {};
}

inline std::optional<std::uint64_t> decimal(std::string_view s) { return parse_decimal(s); }

// "bytes a-b/total" exactly.
inline bool content_range_is(std::string_view v, std::uint64_t first, std::uint64_t last, std::uint64_t total) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (!ascii_istarts_with(v, "bytes ")) return false;
  v.remove_prefix(6);
  const auto dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  const auto a = decimal(v.substr(0, dash)), b = decimal(v.substr(dash + 1, slash - dash - 1)),
             t = decimal(v.substr(slash + 1));
  return a && b && t && *a == first && *b == last && *t == total;
}

}  // namespace download_impl

}  // namespace oss::detail::download

#endif  // OSS_DETAIL_DOWNLOAD_IMPL_RANGE_FILE_HPP
