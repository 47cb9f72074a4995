// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_JSON_IMPL_HPP
#define OSS_JSON_IMPL_HPP

/// \file
/// Boost.JSON's implementation, for programs that do not link `-lboost_json`.
///
/// The checkpoint file (`<oss/checkpoint.hpp>`, used by `<oss/multipart_upload.hpp>`) is read
/// and written with Boost.JSON, which in Boost 1.81 has no header-only switch. Include this
/// header in exactly ONE translation unit of your program (typically the one with `main`), or
/// link the compiled Boost.JSON instead. Both at once is fine; this header in two translation
/// units is a `multiple definition` link error.
#include <boost/json/src.hpp>

#endif  // OSS_JSON_IMPL_HPP
