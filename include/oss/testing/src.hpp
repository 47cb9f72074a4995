// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SRC_HPP
#define OSS_TESTING_SRC_HPP

/// \file
/// The one translation unit of the local test server in separate compilation: define
/// OSS_SEPARATE_COMPILATION for every translation unit of the program, include `<oss/src.hpp>`
/// in one of them (the library) and this header in one of them (the server). Programs that do
/// not use `oss::testing::local_server` leave it out.

#ifndef OSS_SEPARATE_COMPILATION
#error "oss/testing/src.hpp is for separate compilation: define OSS_SEPARATE_COMPILATION everywhere"
#endif

#include <oss/testing/local_server.hpp>

// Sans-io parts: errors, rules, documents, ranges, routing, authentication, the store
#include <oss/testing/server/impl/errors.ipp>
#include <oss/testing/server/impl/rules.ipp>
#include <oss/testing/server/impl/documents.ipp>
#include <oss/testing/server/impl/ranges.ipp>
#include <oss/testing/server/impl/routing.ipp>
#include <oss/testing/server/impl/auth.ipp>
#include <oss/testing/server/impl/store.ipp>
// The request handler, the fault plan
#include <oss/testing/server/impl/handler.ipp>
#include <oss/testing/server/impl/operations.ipp>
#include <oss/testing/server/impl/faults.ipp>
// Sockets: the connection loop, the listening server, the facade
#include <oss/testing/server/impl/connection.ipp>
#include <oss/testing/server/impl/server.ipp>
#include <oss/testing/impl/local_server.ipp>

#endif  // OSS_TESTING_SRC_HPP
