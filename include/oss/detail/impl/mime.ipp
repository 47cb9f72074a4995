// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_IMPL_MIME_IPP
#define OSS_DETAIL_IMPL_MIME_IPP

#include <oss/detail/mime.hpp>

#include <oss/detail/ascii.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

namespace oss::detail {

namespace mime_table {

// Sorted by extension so lookup is a binary search; the values follow the IANA registrations that
// the npm `mime` package (ali-oss) uses, so both clients store the same Content-Type.
inline constexpr std::array<std::pair<std::string_view, std::string_view>, 62> types{{
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apk", "application/vnd.android.package-archive"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"flv", "video/x-flv"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/vnd.microsoft.icon"},
    {"iso", "application/x-iso9660-image"},
    {"jar", "application/java-archive"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "application/javascript"},
    {"json", "application/json"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/x-m4v"},
    {"md", "text/markdown"},
    {"mjs", "application/javascript"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"ogg", "audio/ogg"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rar", "application/vnd.rar"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"ts", "video/mp2t"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"zip", "application/zip"},
}};

inline constexpr std::string_view fallback = "application/octet-stream";

}  // namespace mime_table

OSS_DECL std::string_view guess_mime_type(std::string_view object_name) noexcept {
  auto slash = object_name.find_last_of("/\\");
  std::string_view base = slash == std::string_view::npos ? object_name : object_name.substr(slash + 1);
  auto dot = base.rfind('.');
  // ".bashrc" is a hidden file, not a "bashrc" extension.
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == base.size()) return mime_table::fallback;
  std::string_view ext = base.substr(dot + 1);
  // The longest extension in the table has 5 characters: anything longer cannot match.
  constexpr std::size_t max_extension = 8;
  if (ext.size() > max_extension) return mime_table::fallback;
  char lower[max_extension];
  for (std::size_t i = 0; i < ext.size(); ++i) lower[i] = ascii_lower(ext[i]);
  std::string_view key(lower, ext.size());
  const auto& types = mime_table::types;
  auto it = std::lower_bound(types.begin(), types.end(), key,
                             [](const auto& entry, std::string_view k) { return entry.first < k; });
  if (it != types.end() && it->first == key) return it->second;
  return mime_table::fallback;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_IMPL_MIME_IPP
