// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_SRC_HPP
#define OSS_SRC_HPP

/// \file
/// The one translation unit of separate compilation: define OSS_SEPARATE_COMPILATION for every
/// translation unit of the program and include this header in exactly one of them. Every
/// non-template body of the library is compiled there once. The local test server has its own
/// translation unit, `<oss/testing/src.hpp>`.

#ifndef OSS_SEPARATE_COMPILATION
#error "oss/src.hpp is for separate compilation: define OSS_SEPARATE_COMPILATION everywhere"
#endif

#include <oss/oss.hpp>

// L0 primitives
#include <oss/detail/impl/encoding.ipp>
#include <oss/detail/impl/crypto.ipp>
#include <oss/detail/impl/crc64.ipp>
#include <oss/detail/impl/dates.ipp>
#include <oss/detail/impl/mime.ipp>
#include <oss/detail/impl/xml.ipp>
#include <oss/impl/error.ipp>
#include <oss/impl/diagnostics.ipp>
// L1 HTTP model, L2 transport
#include <oss/detail/http/impl/message.ipp>
#include <oss/detail/http/impl/parser.ipp>
#include <oss/detail/transport/impl/tls_stream.ipp>
#include <oss/detail/transport/impl/connection.ipp>
#include <oss/detail/transport/impl/pool.ipp>
// L3 signing
#include <oss/detail/sign/impl/sign.ipp>
#include <oss/detail/sign/impl/sign_s3.ipp>
#include <oss/impl/credentials.ipp>
// L4 operations
#include <oss/detail/ops/impl/documents.ipp>
#include <oss/detail/ops/impl/endpoint.ipp>
#include <oss/detail/ops/impl/validate.ipp>
#include <oss/detail/ops/impl/requests.ipp>
#include <oss/detail/ops/impl/response.ipp>
#include <oss/detail/ops/impl/retry.ipp>
#include <oss/detail/ops/impl/object_check.ipp>
#include <oss/detail/ops/impl/request_loop.ipp>
#include <oss/impl/client.ipp>
// L5 orchestration
#include <oss/detail/engine/impl/checkpoint_journal.ipp>
#include <oss/detail/engine/impl/part_source.ipp>
#include <oss/impl/checkpoint.ipp>
#include <oss/impl/multipart_upload.ipp>
#include <oss/impl/resumable_download.ipp>

#endif  // OSS_SRC_HPP
