// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_RETRY_IPP
#define OSS_DETAIL_OPS_IMPL_RETRY_IPP

#include <oss/detail/ops/retry.hpp>

#include <oss/detail/dates.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <cstdint>

namespace oss::detail {

OSS_DECL std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds base,
                                                 std::chrono::milliseconds max,
                                                 double random) noexcept {
  if (attempt < 1) attempt = 1;
  if (!(random >= 0.0)) random = 0.0;  // also catches NaN
  if (random >= 1.0) random = std::nextafter(1.0, 0.0);
  if (base.count() <= 0 || max.count() <= 0) return std::chrono::milliseconds(0);
  // base * 2^attempt, saturating at max: stop doubling as soon as the cap is reached.
  std::int64_t ceiling = base.count();
  for (int i = 0; i < attempt && ceiling < max.count(); ++i) ceiling *= 2;
  if (ceiling > max.count()) ceiling = max.count();
  auto delay = static_cast<std::int64_t>(random * static_cast<double>(ceiling));
  if (delay >= ceiling) delay = ceiling - 1;  // the interval is half-open
  if (delay < 0) delay = 0;
  return std::chrono::milliseconds(delay);
}

OSS_DECL std::chrono::milliseconds retry_delay(retry_class cls, int attempt,
                                               std::chrono::milliseconds base,
                                               std::chrono::milliseconds max,
                                               double random) noexcept {
  if (cls == retry_class::fatal) return std::chrono::milliseconds(0);
  if (cls == retry_class::throttled) base = base.count() > max.count() / 2 ? max : base * 2;
  return backoff_delay(attempt, base, max, random);
}

OSS_DECL std::optional<std::chrono::milliseconds> retry_after_delay(
    const http::response& reply, std::chrono::system_clock::time_point now) noexcept {
  const std::string* header = reply.headers.find("Retry-After");
  if (!header) return std::nullopt;
  std::string_view v = *header;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Saturates instead of overflowing: any wait this long is capped by the caller anyway.
    constexpr std::int64_t max_seconds = 100000000;
    std::int64_t seconds = 0;
    for (char c : v) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > max_seconds) {
        seconds = max_seconds;
        break;
      }
    }
    return std::chrono::milliseconds(seconds * 1000);
  }
  const auto when = parse_http_date(v);
  if (!when) return std::nullopt;
  std::chrono::system_clock::time_point base = now;
  if (const std::string* date = reply.headers.find("Date"))
    if (const auto server_now = parse_http_date(*date)) base = *server_now;
  if (*when <= base) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*when - base);
}

OSS_DECL bool is_throttling_code(std::string_view code) noexcept {
  constexpr std::string_view codes[] = {
      "SlowDown",           "ServiceUnavailable",          "QpsLimitExceeded",
      "TotalQpsLimitExceeded", "MetaOperationQpsLimitExceeded", "ActiveRequestLimitExceeded",
      "UploadTrafficRateLimitExceeded", "DownloadTrafficRateLimitExceeded"};
  return std::find(std::begin(codes), std::end(codes), code) != std::end(codes);
}

OSS_DECL std::optional<std::chrono::milliseconds> server_clock_offset(
    const http::response& reply, std::string_view server_time,
    std::chrono::system_clock::time_point local_now) noexcept {
  std::optional<std::chrono::system_clock::time_point> server;
  if (const std::string* date = reply.headers.find("Date")) server = parse_http_date(*date);
  if (!server && !server_time.empty()) server = parse_iso8601_extended(server_time);
  if (!server) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*server - local_now);
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_RETRY_IPP
