// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_IMPL_DATES_IPP
#define OSS_DETAIL_IMPL_DATES_IPP

#include <oss/detail/dates.hpp>

#include <array>
#include <cstdio>

namespace oss::detail {

namespace dates_impl {

inline constexpr std::array<std::string_view, 7> weekday_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
inline constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Fixed-width decimal field: every character a digit (no sign, no space). Fields are at most 4
// digits here, so the value cannot overflow.
inline bool digits(std::string_view s, int& out) noexcept {
  if (s.empty()) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

// The index of `s` in `names`, or -1.
template <std::size_t N>
int name_index(const std::array<std::string_view, N>& names, std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == s) return static_cast<int>(i);
  return -1;
}

inline constexpr int min_year = 1900;
inline constexpr int max_year = 2199;

inline std::optional<date_time> make_time(int y, int mo, int d, int h, int mi, int s) noexcept {
  using namespace std::chrono;
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits, which spans only the years 1678..2261: a hostile
  // Date header outside that range would overflow the conversion (undefined behaviour).
  if (y < min_year || y > max_year) return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
}

// A time split into calendar fields, UTC.
struct calendar_fields {
  int year;
  unsigned month, day, weekday;  // weekday: 0 = Sunday
  int hour, minute, second, millisecond;
};

inline calendar_fields to_calendar(date_time t) noexcept {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day_start = floor<days>(ms);
  const year_month_day ymd{day_start};
  const hh_mm_ss hms{ms - day_start};
  return calendar_fields{static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()),
                weekday{day_start}.c_encoding(),
                static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count())};
}

}  // namespace dates_impl

OSS_DECL std::string http_date(date_time t) {
  const dates_impl::calendar_fields f = dates_impl::to_calendar(t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3s, %02u %.3s %04d %02d:%02d:%02d GMT",
                dates_impl::weekday_names[f.weekday].data(), f.day, dates_impl::month_names[f.month - 1].data(),
                f.year, f.hour, f.minute, f.second);
  return buf;
}

OSS_DECL std::optional<date_time> parse_http_date(std::string_view text) noexcept {
  // "Wed, 28 Dec 2022 10:27:41 GMT": fixed layout, 29 characters.
  if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
      text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT")
    return std::nullopt;
  if (dates_impl::name_index(dates_impl::weekday_names, text.substr(0, 3)) < 0) return std::nullopt;
  const int month = dates_impl::name_index(dates_impl::month_names, text.substr(8, 3)) + 1;
  int d = 0, y = 0, h = 0, mi = 0, s = 0;
  if (month == 0 || !dates_impl::digits(text.substr(5, 2), d) || !dates_impl::digits(text.substr(12, 4), y) ||
      !dates_impl::digits(text.substr(17, 2), h) || !dates_impl::digits(text.substr(20, 2), mi) ||
      !dates_impl::digits(text.substr(23, 2), s))
    return std::nullopt;
  return dates_impl::make_time(y, month, d, h, mi, s);
}

OSS_DECL std::string iso8601_basic(date_time t) {
  const dates_impl::calendar_fields f = dates_impl::to_calendar(t);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", f.year, f.month, f.day, f.hour, f.minute, f.second);
  return buf;
}

OSS_DECL std::optional<date_time> parse_iso8601_basic(std::string_view text) noexcept {
  // "20221228T102741Z"
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!dates_impl::digits(text.substr(0, 4), y) || !dates_impl::digits(text.substr(4, 2), mo) ||
      !dates_impl::digits(text.substr(6, 2), d) || !dates_impl::digits(text.substr(9, 2), h) ||
      !dates_impl::digits(text.substr(11, 2), mi) || !dates_impl::digits(text.substr(13, 2), s))
    return std::nullopt;
  return dates_impl::make_time(y, mo, d, h, mi, s);
}

OSS_DECL std::string iso8601_extended(date_time t) {
  const dates_impl::calendar_fields f = dates_impl::to_calendar(t);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", f.year, f.month, f.day, f.hour, f.minute,
                f.second, f.millisecond);
  return buf;
}

OSS_DECL std::optional<date_time> parse_iso8601_extended(std::string_view text) noexcept {
  // "2022-12-28T10:27:41", then an optional ".fff...", then "Z".
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text.back() != 'Z')
    return std::nullopt;
  const std::string_view fraction = text.substr(19, text.size() - 20);
  int ms = 0;
  if (!fraction.empty()) {
    if (fraction.front() != '.' || fraction.size() < 2) return std::nullopt;
    int scale = 100;
    for (char c : fraction.substr(1)) {
      if (c < '0' || c > '9') return std::nullopt;
      ms += (c - '0') * scale;
      scale /= 10;
    }
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!dates_impl::digits(text.substr(0, 4), y) || !dates_impl::digits(text.substr(5, 2), mo) ||
      !dates_impl::digits(text.substr(8, 2), d) || !dates_impl::digits(text.substr(11, 2), h) ||
      !dates_impl::digits(text.substr(14, 2), mi) || !dates_impl::digits(text.substr(17, 2), s))
    return std::nullopt;
  auto t = dates_impl::make_time(y, mo, d, h, mi, s);
  if (t) *t += std::chrono::milliseconds(ms);
  return t;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_IMPL_DATES_IPP
