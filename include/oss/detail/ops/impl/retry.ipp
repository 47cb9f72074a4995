// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_RETRY_IPP
#define OSS_DETAIL_OPS_IMPL_RETRY_IPP

#include <oss/detail/ops/retry.hpp>

#include <oss/detail/dates.hpp>

#include <cmath>
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
