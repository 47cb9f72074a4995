// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_RETRY_HPP
#define OSS_DETAIL_OPS_RETRY_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/http/message.hpp>

#include <chrono>
#include <optional>
#include <string_view>

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

// Server time minus `local_now`, from a RequestTimeTooSkewed reply: the Date header (RFC 1123)
// when it parses, else the ServerTime of the error body (`server_time`, ISO 8601 extended, may be
// empty). nullopt when neither gives a time.
OSS_DECL std::optional<std::chrono::milliseconds> server_clock_offset(
    const http::response& reply, std::string_view server_time,
    std::chrono::system_clock::time_point local_now) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/retry.ipp>
#endif

#endif  // OSS_DETAIL_OPS_RETRY_HPP
