// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DATES_HPP
#define OSS_DETAIL_DATES_HPP

#include <oss/detail/config.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

// The three date forms OSS uses, both directions, always UTC. The client writes them to sign
// requests and reads them to correct its clock; the local server reads them to check clock skew
// and writes them into replies and XML documents.
//
// The parsers are strict: exactly the layout below (upper-case 'T' and 'Z', English names, no
// surrounding spaces), a real calendar date, hours 00-23, minutes 00-59 and seconds 00-60 (60:
// a leap second, as RFC 1123 allows). Anything else gives nullopt.
namespace oss::detail {

using date_time = std::chrono::system_clock::time_point;

// RFC 1123, the HTTP Date header: "Wed, 28 Dec 2022 10:27:41 GMT". Whole seconds (fractions are
// dropped, never rounded up).
OSS_DECL std::string http_date(date_time t);
// The weekday must be one of the seven names but need not match the date (RFC 9110 does not
// ask recipients to check it). The obsolete RFC 850 and asctime forms are refused.
OSS_DECL std::optional<date_time> parse_http_date(std::string_view text) noexcept;

// ISO 8601 basic, the V4 x-oss-date: "20221228T102741Z". Whole seconds.
OSS_DECL std::string iso8601_basic(date_time t);
OSS_DECL std::optional<date_time> parse_iso8601_basic(std::string_view text) noexcept;

// ISO 8601 extended with milliseconds, as in OSS XML (LastModified, Initiated, ServerTime):
// "2022-12-28T10:27:41.000Z".
OSS_DECL std::string iso8601_extended(date_time t);
// Accepts "2022-12-28T10:27:41Z" and one or more fraction digits before the 'Z'
// ("...41.5Z", "...41.123456Z"); digits beyond milliseconds are dropped.
OSS_DECL std::optional<date_time> parse_iso8601_extended(std::string_view text) noexcept;

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/impl/dates.ipp>
#endif

#endif  // OSS_DETAIL_DATES_HPP
