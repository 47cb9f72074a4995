// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_RETRY_HPP
#define OSS_DETAIL_OPS_RETRY_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/http/message.hpp>

#include <chrono>
#include <optional>
#include <string_view>
#include <system_error>

// The sans-io half of the retry loop: how long to wait, and what the server's clock says.
namespace oss::detail {

// Full-jitter exponential back-off (oss-protocol.md 5.3, go2 `retry/backoff.go`): the wait
// before the next attempt after `attempt` failed attempts (1 after the first failure) is
// `random * min(max, base * 2^attempt)`, `random` drawn uniformly from [0, 1). Values of
// `random` outside [0, 1) are clamped; attempt < 1 counts as 1; the exponent saturates so huge
// attempt counts give `max` instead of overflowing.
OSS_DECL std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                                 std::chrono::milliseconds max,
                                                 double random) noexcept;

// "Wed, 28 Dec 2022 10:27:41 GMT" (RFC 1123, the HTTP Date header). nullopt when malformed.
OSS_DECL std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view text) noexcept;

// "2022-12-28T10:27:41.000Z" or "2022-12-28T10:27:41Z" (the ServerTime of an OSS error body;
// fractions are ignored). nullopt when malformed.
OSS_DECL std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(
    std::string_view text) noexcept;

// Server time minus `local_now`, from a RequestTimeTooSkewed reply: the Date header when it
// parses, else the ServerTime of the error body (`server_time`, may be empty). nullopt when
// neither gives a time.
OSS_DECL std::optional<std::chrono::milliseconds> server_clock_offset(
    const http::response& reply, std::string_view server_time,
    std::chrono::system_clock::time_point local_now) noexcept;

// Whether a transport error proves the request never reached the server (nothing was sent):
// name resolution failed, the connection was refused or unreachable. Used for the one request
// that must not be repeated blindly, InitiateMultipartUpload.
OSS_DECL bool failed_before_sending(std::error_code ec) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/retry.ipp>
#endif

#endif  // OSS_DETAIL_OPS_RETRY_HPP
