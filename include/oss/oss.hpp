// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_OSS_HPP
#define OSS_OSS_HPP

/// \file
/// Every public header of the library, for users (the library itself never includes it).
/// The local test server is separate: `<oss/testing/local_server.hpp>`. The checkpoint uses
/// Boost.JSON: include `<oss/json_impl.hpp>` in exactly one translation unit, or link
/// `-lboost_json`.

#include <oss/checkpoint.hpp>
#include <oss/client.hpp>
#include <oss/credentials.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/progress.hpp>
#include <oss/resumable_download.hpp>

#endif  // OSS_OSS_HPP
