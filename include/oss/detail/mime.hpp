// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_MIME_HPP
#define OSS_DETAIL_MIME_HPP

#include <oss/detail/config.hpp>

#include <string_view>

namespace oss::detail {

// The Content-Type an object gets when the caller names none, picked from the extension of the
// object name (case-insensitive, after the last '.' of the last path segment), as ali-oss does
// with `mime.getType(name)`. Unknown or missing extensions give "application/octet-stream".
// The returned view points into a static table.
OSS_DECL std::string_view guess_mime_type(std::string_view object_name) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/mime.ipp>
#endif

#endif  // OSS_DETAIL_MIME_HPP
