// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_OSS_HPP
#define OSS_OSS_HPP

/// \file
/// Every public header of the library, for users (the library itself never includes it).
/// The local test server is separate: `<oss/testing/local_server.hpp>`.

#include <oss/client.hpp>
#include <oss/credentials.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#endif  // OSS_OSS_HPP
