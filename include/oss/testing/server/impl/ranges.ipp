// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_RANGES_IPP
#define OSS_TESTING_SERVER_IMPL_RANGES_IPP

#include <oss/testing/server/ranges.hpp>

#include <oss/detail/dates.hpp>
#include <oss/testing/server/rules.hpp>

#include <algorithm>
#include <chrono>
#include <optional>

namespace oss::testing::detail {
namespace ranges_impl {

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One byte-range-spec: "a-b", "a-" or the suffix form "-n".
struct range_spec {
  bool suffix = false;
  std::uint64_t first = 0;  // the suffix length when `suffix`
  std::optional<std::uint64_t> last;
};

inline std::optional<range_spec> parse_spec(std::string_view s) noexcept {
  s = trim(s);
  const auto dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view first = s.substr(0, dash), last = s.substr(dash + 1);
  range_spec spec;
  if (first.empty()) {
    const auto n = parse_decimal(last);
    if (!n) return std::nullopt;
    spec.suffix = true;
    spec.first = *n;
    return spec;
  }
  const auto a = parse_decimal(first);
  if (!a) return std::nullopt;
  spec.first = *a;
  if (last.empty()) return spec;
  const auto b = parse_decimal(last);
  if (!b || *b < *a) return std::nullopt;  // RFC 9110: last < first makes the spec invalid
  spec.last = *b;
  return spec;
}

inline range_decision partial(std::uint64_t offset, std::uint64_t length) noexcept {
  return {range_decision::outcome::partial, offset, length};
}

// Does the entity-tag list `list` (If-Match, If-None-Match) name `etag`? A malformed member
// ends the list: what follows it cannot be read reliably.
inline bool list_names(std::string_view list, std::string_view etag, bool weak_comparison) noexcept {
  list = trim(list);
  if (list == "*") return true;
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    if (i == list.size()) break;
    bool weak = false;
    if (list.substr(i, 2) == "W/") {
      weak = true;
      i += 2;
    }
    if (i >= list.size() || list[i] != '"') return false;
    const auto close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    const std::string_view tag = list.substr(i, close - i + 1);
    if (tag == etag && (weak_comparison || !weak)) return true;
    i = close + 1;
  }
  return false;
}

// The date of an If-(Un)Modified-Since header in whole seconds; nullopt when it does not parse.
inline std::optional<std::int64_t> header_seconds(const oss::detail::http::fields& headers, std::string_view name) {
  const std::string* value = headers.find(name);
  if (!value) return std::nullopt;
  const auto when = oss::detail::parse_http_date(trim(*value));
  if (!when) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(when->time_since_epoch()).count();
}

}  // namespace ranges_impl

OSS_DECL range_decision decide_range(std::string_view range, std::uint64_t size, range_rules rules) noexcept {
  using namespace ranges_impl;
  const range_decision whole;
  range = trim(range);
  const auto eq = range.find('=');
  if (eq == std::string_view::npos || !oss::detail::http::iequals(trim(range.substr(0, eq)), "bytes")) return whole;
  std::string_view set = range.substr(eq + 1);
  if (const auto comma = set.find(','); comma != std::string_view::npos) {
    if (rules == range_rules::s3) return whole;
    set = set.substr(0, comma);
  }
  const auto spec = parse_spec(set);
  if (!spec) return whole;
  const bool lenient = rules == range_rules::oss_default;
  if (spec->suffix) {
    const std::uint64_t n = spec->first;
    if (lenient) return n == 0 || n > size ? whole : partial(size - n, n);
    if (n == 0 || size == 0) return {range_decision::outcome::unsatisfiable, 0, 0};
    const std::uint64_t length = std::min(n, size);
    return partial(size - length, length);
  }
  if (spec->first >= size) return lenient ? whole : range_decision{range_decision::outcome::unsatisfiable, 0, 0};
  std::uint64_t last = size - 1;
  if (spec->last) {
    if (*spec->last > last && lenient) return whole;
    last = std::min(*spec->last, last);
  }
  return partial(spec->first, last - spec->first + 1);
}

OSS_DECL precondition_decision check_preconditions(const oss::detail::http::fields& headers, std::string_view etag,
                                                   std::int64_t last_modified_ms) {
  using namespace ranges_impl;
  using outcome = precondition_decision::outcome;
  const std::int64_t modified = last_modified_ms / 1000;
  if (const std::string* if_match = headers.find("If-Match")) {
    if (!list_names(*if_match, etag, false)) return {outcome::failed, "If-Match"};
  } else if (const auto since = header_seconds(headers, "If-Unmodified-Since")) {
    if (modified > *since) return {outcome::failed, "If-Unmodified-Since"};
  }
  if (const std::string* if_none_match = headers.find("If-None-Match")) {
    if (list_names(*if_none_match, etag, true)) return {outcome::not_modified, "If-None-Match"};
  } else if (const auto since = header_seconds(headers, "If-Modified-Since")) {
    if (modified <= *since) return {outcome::not_modified, "If-Modified-Since"};
  }
  return {};
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_RANGES_IPP
