// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_RANGES_HPP
#define OSS_TESTING_SERVER_RANGES_HPP

#include <oss/detail/config.hpp>

#include <oss/detail/http/message.hpp>

#include <cstdint>
#include <string_view>

// Ranged and conditional reads (GetObject, HeadObject), oss-protocol.md section 11b. Sans-io:
// header values and the object's size, ETag and modification time in, a decision out.
namespace oss::testing::detail {

// Which rules a Range header is read by.
enum class range_rules {
  // OSS by default: a single valid range is served (206); one that is malformed or reaches past
  // the object (an end past the last byte, a start past the size, a suffix longer than the
  // object) is ignored and the whole object comes back with 200. Of several ranges only the
  // first is served.
  oss_default,
  // OSS with `x-oss-range-behavior: standard`: an end past the object is clipped (206), a start
  // at or past the size is 416 InvalidRange; otherwise as oss_default.
  oss_standard,
  // S3 (RFC 9110 14.2): as oss_standard, but several ranges are ignored (200, the whole object).
  s3,
};

// What a GET answers for its Range header.
struct range_decision {
  enum class outcome {
    whole,          // 200 with every byte (no Range, or one that is ignored)
    partial,        // 206 with `length` bytes from `offset`
    unsatisfiable,  // 416 InvalidRange
  };
  outcome result = outcome::whole;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

// `range` is the Range header's value ("bytes=0-499", "bytes=500-", "bytes=-500").
OSS_DECL range_decision decide_range(std::string_view range, std::uint64_t size, range_rules rules) noexcept;

// The outcome of the conditional headers If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since, evaluated in the order of RFC 9110 13.2.2 (If-Unmodified-Since only
// without If-Match, If-Modified-Since only without If-None-Match). A date that does not parse
// is ignored, as RFC 9110 asks.
struct precondition_decision {
  enum class outcome {
    proceed,       // serve the object
    failed,        // 412 PreconditionFailed
    not_modified,  // 304 Not Modified
  };
  outcome result = outcome::proceed;
  // The header that decided ("If-Match", ...): the <Condition> of the 412 error document.
  std::string_view condition;
};

// `etag` is the object's ETag as the server sends it (quoted); `last_modified_ms` its
// modification time in milliseconds since the epoch (compared in whole seconds, the
// resolution of Last-Modified). If-Match uses the strong comparison (a weak tag never matches),
// If-None-Match the weak one; "*" matches any object.
OSS_DECL precondition_decision check_preconditions(const oss::detail::http::fields& headers, std::string_view etag,
                                                   std::int64_t last_modified_ms);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/ranges.ipp>
#endif

#endif  // OSS_TESTING_SERVER_RANGES_HPP
