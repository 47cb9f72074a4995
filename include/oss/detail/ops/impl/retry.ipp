// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_RETRY_IPP
#define OSS_DETAIL_OPS_IMPL_RETRY_IPP

#include <oss/detail/ops/retry.hpp>

#include <asio/error.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace oss::detail {

namespace retry_impl {

inline bool parse_int(std::string_view s, int& out) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [p, err] = std::from_chars(s.data(), s.data() + s.size(), out);
  return err == std::errc() && p == s.data() + s.size();
}

inline std::optional<std::chrono::system_clock::time_point> make_time(int y, int mo, int d, int h,
                                                                      int mi, int s) noexcept {
  using namespace std::chrono;
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;  // 60: leap second, as RFC 1123 allows
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return system_clock::time_point(sys_days(ymd)) + hours(h) + minutes(mi) + seconds(s);
}

}  // namespace retry_impl

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

OSS_DECL std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view text) noexcept {
  using retry_impl::parse_int;
  // "Wed, 28 Dec 2022 10:27:41 GMT": fixed layout, 29 characters.
  if (text.size() != 29 || text[3] != ',' || text[4] != ' ' || text[7] != ' ' || text[11] != ' ' ||
      text[16] != ' ' || text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  static constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int month = 0;
  for (std::size_t i = 0; i < months.size(); ++i)
    if (text.substr(8, 3) == months[i]) month = static_cast<int>(i) + 1;
  int d = 0, y = 0, h = 0, mi = 0, s = 0;
  if (month == 0 || !parse_int(text.substr(5, 2), d) || !parse_int(text.substr(12, 4), y) ||
      !parse_int(text.substr(17, 2), h) || !parse_int(text.substr(20, 2), mi) ||
      !parse_int(text.substr(23, 2), s))
    return std::nullopt;
  return retry_impl::make_time(y, month, d, h, mi, s);
}

OSS_DECL std::optional<std::chrono::system_clock::time_point> parse_iso8601_utc(
    std::string_view text) noexcept {
  using retry_impl::parse_int;
  // "2022-12-28T10:27:41" then optional ".fff" then "Z".
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z')
    return std::nullopt;
  std::string_view fraction = text.substr(19, text.size() - 20);
  if (!fraction.empty()) {
    if (fraction.front() != '.' || fraction.size() < 2) return std::nullopt;
    for (char c : fraction.substr(1))
      if (c < '0' || c > '9') return std::nullopt;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!parse_int(text.substr(0, 4), y) || !parse_int(text.substr(5, 2), mo) ||
      !parse_int(text.substr(8, 2), d) || !parse_int(text.substr(11, 2), h) ||
      !parse_int(text.substr(14, 2), mi) || !parse_int(text.substr(17, 2), s))
    return std::nullopt;
  if (mo < 1 || mo > 12) return std::nullopt;
  return retry_impl::make_time(y, mo, d, h, mi, s);
}

OSS_DECL std::optional<std::chrono::milliseconds> server_clock_offset(
    const http::response& reply, std::string_view server_time,
    std::chrono::system_clock::time_point local_now) noexcept {
  std::optional<std::chrono::system_clock::time_point> server;
  if (const std::string* date = reply.headers.find("Date")) server = parse_http_date(*date);
  if (!server && !server_time.empty()) server = parse_iso8601_utc(server_time);
  if (!server) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*server - local_now);
}

OSS_DECL bool failed_before_sending(std::error_code ec) noexcept {
  return ec == asio::error::connection_refused || ec == asio::error::host_not_found ||
         ec == asio::error::host_not_found_try_again || ec == asio::error::host_unreachable ||
         ec == asio::error::network_unreachable || ec == asio::error::network_down ||
         ec == asio::error::no_data || ec == asio::error::service_not_found;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_RETRY_IPP
