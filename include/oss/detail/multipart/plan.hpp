// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_MULTIPART_PLAN_HPP
#define OSS_DETAIL_MULTIPART_PLAN_HPP

#include <oss/detail/config.hpp>

#include <oss/checkpoint.hpp>
#include <oss/client_types.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/ops/response.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

// The decisions of the orchestrator that need no I/O: part planning, progress arithmetic,
// reconciling a checkpoint with ListParts, and the whole-object CRC. Kept apart so that they
// can be tested without sockets.
namespace oss::detail::multipart {

inline constexpr std::uint64_t min_part_size = 100 * 1024;  // oss-protocol.md section 4
inline constexpr std::uint64_t max_part_size = 5ull << 30;
inline constexpr std::uint32_t max_parts = 10000;
// Parts per worker that may be sent and not yet durable in the checkpoint file (group commit:
// workers do not wait for the checkpoint's fdatasync, within this bound).
inline constexpr std::size_t undurable_parts_max = 4;
// The checkpoint committer waits this long after a part is handed to it (or until half the
// undurable bound is pending) before writing: one fdatasync for several parts, each of which
// costs a disk flush, and a progress report at most this much later.
inline constexpr std::chrono::milliseconds commit_gather_time{10};
// S3 refuses a Complete whose parts other than the last are smaller (EntityTooSmall), after
// every part was uploaded; checking part_size up front saves that whole upload.
inline constexpr std::uint64_t s3_min_part_size = 5ull << 20;

inline std::uint64_t min_part_size_of(api_dialect dialect) noexcept {
  return dialect == api_dialect::s3 ? s3_min_part_size : min_part_size;
}

// Why `part_size` cannot be used in `dialect` (one line for diagnostics), empty when it can.
inline std::string part_size_problem(std::uint64_t part_size, api_dialect dialect) {
  if (part_size > max_part_size)
    return "part_size is " + std::to_string(part_size) +
           " bytes; it must be at most 5368709120 (5 GiB)";
  if (dialect == api_dialect::s3 && part_size < s3_min_part_size)
    return "part_size is " + std::to_string(part_size) +
           " bytes; S3 needs at least 5242880 (5 MiB) per part except the last, so set "
           "upload_options::part_size to 5 MiB or more";
  if (part_size < min_part_size)
    return "part_size is " + std::to_string(part_size) +
           " bytes; it must be within 102400 (100 KiB) .. 5368709120 (5 GiB)";
  return {};
}

// The checkpoint spelling of `dialect` (checkpoint::dialect).
inline std::string_view dialect_name(api_dialect dialect) noexcept {
  return dialect == api_dialect::s3 ? std::string_view("s3") : std::string_view("oss");
}

// The part size used for `size` bytes: `requested`, raised to ceil(size / 10000) when more
// parts would be needed (ali-oss's rule, oss-protocol.md section 4). 0 when even 5 GiB parts
// cannot cover `size` in 10 000 parts. `requested` must already be within the limits.
// A stream of unknown length grows its parts, so that a long pipe does not fail after 10 000
// parts of the first size: parts 1..N at the first size, the next N at twice it, and so on,
// never above max_part_size, with N the longest interval that still lets 10 000 parts hold
// max_stream_bytes. A pure function of the first size: a resume with the same part size cuts
// the stream at the same boundaries. (100 KiB parts: N = 608, 1200 MiB in 2630 parts.)
inline constexpr std::uint64_t max_stream_bytes = 5ull << 40;

// What max_parts parts hold when the size doubles every `interval` parts from `first`.
inline std::uint64_t stream_capacity(std::uint64_t first, std::uint32_t interval) noexcept {
  std::uint64_t total = 0, size = first;
  for (std::uint32_t start = 0; start < max_parts; start += interval) {
    const std::uint64_t count = std::min<std::uint64_t>(interval, max_parts - start);
    total += count * size;
    if (total >= max_stream_bytes) return total;
    size = std::min(size * 2, max_part_size);
  }
  return total;
}

inline std::uint32_t stream_growth_interval(std::uint64_t first) noexcept {
  if (first == 0) return max_parts;
  if (stream_capacity(first, max_parts) >= max_stream_bytes) return max_parts;  // never grows
  // The capacity falls as the interval grows: the largest interval that still suffices.
  std::uint32_t lo = 1, hi = max_parts;
  while (lo < hi) {
    const std::uint32_t mid = lo + (hi - lo + 1) / 2;
    if (stream_capacity(first, mid) >= max_stream_bytes)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

// The size of stream part `number` (1-based), the interval from stream_growth_interval.
inline std::uint64_t stream_part_size(std::uint64_t first, std::uint32_t interval, int number) noexcept {
  if (number < 1 || interval == 0) return first;
  std::uint64_t size = first;
  for (std::uint32_t doublings = static_cast<std::uint32_t>(number - 1) / interval; doublings > 0 && size < max_part_size;
       --doublings)
    size = std::min(size * 2, max_part_size);
  return size;
}

inline std::uint64_t effective_part_size(std::uint64_t size, std::uint64_t requested) noexcept {
  std::uint64_t part = requested;
  if (size / max_parts >= part) part = size / max_parts + (size % max_parts != 0 ? 1 : 0);
  return part > max_part_size ? 0 : part;
}

inline std::uint32_t part_count(std::uint64_t size, std::uint64_t part) noexcept {
  return static_cast<std::uint32_t>(size / part + (size % part != 0 ? 1 : 0));
}

inline std::uint64_t part_offset(std::uint64_t part, int number) noexcept {
  return static_cast<std::uint64_t>(number - 1) * part;
}

// Length of part `number` (1-based) of a `size`-byte source.
inline std::uint64_t part_length(std::uint64_t size, std::uint64_t part, int number) noexcept {
  const std::uint64_t offset = part_offset(part, number);
  return offset >= size ? 0 : std::min(part, size - offset);
}

// bytes_done / bytes_total, kept below 1.0: exactly 1.0 is reserved for the event after
// Complete, so a handler that sees 1.0 knows the object exists.
inline double progress_fraction(std::uint64_t done, std::uint64_t total) noexcept {
  if (total == 0) return 0.0;
  const double f = static_cast<double>(done) / static_cast<double>(total);
  const double below_one = std::nextafter(1.0, 0.0);
  return f < below_one ? f : below_one;
}

// CRC-64 of the object made of `parts` (sorted by number, contiguous), from the part CRCs
// (oss-protocol.md section 6.3).
inline std::uint64_t combine_part_crcs(std::span<const part_record> sorted_parts) noexcept {
  crc64_concat object;
  for (const auto& p : sorted_parts) object.append(p.crc64, p.size);
  return object.crc;
}

// The integrity values of one part, computed on the file executor right where its bytes are read
// (or, for memory and stream sources, where they are first touched), and handed to the client
// so that UploadPart / PutObject do not hash the body again on the event loop: the CRC-64
// always, the MD5 for Content-MD5 when `with_md5`. The part is walked in slices small enough to
// stay in the CPU cache from the first digest to the second, so the memory is read once.
// `with_sha256` adds the SHA-256 the S3 dialect signs with client_options::s3_sign_payload.
inline body_digests digest_part(const std::byte* data, std::size_t len, bool with_md5,
                                bool with_sha256 = false) {
  constexpr std::size_t slice = 256 * 1024;
  std::uint64_t crc = 0;
  std::optional<md5_hasher> hasher;
  std::optional<sha256_hasher> sha;
  if (with_md5) hasher.emplace();
  if (with_sha256) sha.emplace();
  for (std::size_t done = 0; done < len;) {
    const std::size_t n = std::min(slice, len - done);
    crc = crc64(crc, data + done, n);
    if (hasher) hasher->update(data + done, n);
    if (sha) sha->update(data + done, n);
    done += n;
  }
  body_digests d;
  d.crc64 = crc;
  if (hasher) d.md5 = hasher->finish();
  if (sha) d.sha256 = sha->finish();
  return d;
}

// Which digests the file threads compute besides the CRC-64: the MD5 for Content-MD5
// (`upload_options::content_md5`, always in the S3 dialect with `s3_content_md5`) and the
// SHA-256 the S3 dialect signs with `client_options::s3_sign_payload`.
struct part_digests_wanted {
  bool md5 = false;
  bool sha256 = false;
};

inline part_digests_wanted digests_wanted(const client_options& client, bool content_md5) noexcept {
  const bool s3 = client.dialect == api_dialect::s3;
  return {content_md5 || (s3 && client.s3_content_md5), s3 && client.s3_sign_payload};
}

inline body_digests digest_part(const std::byte* data, std::size_t len, part_digests_wanted wanted) {
  return digest_part(data, len, wanted.md5, wanted.sha256);
}

// The parts of `records` that `keep(number)` selects, as the client's Complete and the object
// check (check_object_parts) take them: with their sizes and CRC-64s.
template <typename Keep>
std::vector<oss::completed_part> completed_parts_of(std::span<const part_record> records, Keep keep) {
  std::vector<oss::completed_part> out;
  out.reserve(records.size());
  for (const part_record& p : records)
    if (keep(p.number)) out.push_back(oss::completed_part{p.number, p.etag, p.size, p.crc64});
  return out;
}

inline void sort_parts(std::vector<part_record>& parts) {
  std::sort(parts.begin(), parts.end(),
            [](const part_record& a, const part_record& b) { return a.number < b.number; });
}

// Which of a checkpoint's parts the server still holds as recorded (oss-protocol.md 8.4: a
// local record that disagrees with the server must not be trusted). A part counts when the
// server lists it with the same ETag and the expected size, and, when both sides know it, the
// same CRC-64. The CRC kept is the server's (aliyun-oss-ios-sdk #286), else the recorded one;
// a part whose CRC nobody knows (ali-oss checkpoint, server without CRCs) is sent again,
// because the whole-object check needs it.
//
// `expected_size(number)` gives the size part `number` must have, or 0 when the source's size
// is unknown (streams: then the recorded size must be 1..part_size).
template <typename ExpectedSize>
std::vector<part_record> reconcile_parts(const checkpoint& cp, std::span<const part_info> server,
                                         std::uint64_t part_size, ExpectedSize expected_size) {
  // A stream's parts grow (stream_part_size): part n may be as long as its place allows.
  const std::uint32_t interval = stream_growth_interval(part_size);
  std::map<int, const part_info*> by_number;
  for (const auto& s : server) by_number[s.part_number] = &s;
  std::vector<part_record> confirmed;
  for (const auto& p : cp.done_parts) {
    auto it = by_number.find(p.number);
    if (it == by_number.end()) continue;
    const part_info& s = *it->second;
    if (!etag_equal(s.etag, p.etag)) continue;
    std::uint64_t want = expected_size(p.number);
    if (want == 0) {
      if (p.size == 0 || p.size > stream_part_size(part_size, interval, p.number)) continue;
      want = p.size;
    }
    if (s.size != want) continue;
    const bool recorded_crc = cp.version >= 1;
    if (recorded_crc && p.size != want) continue;
    if (recorded_crc && s.crc64 && *s.crc64 != p.crc64) continue;
    if (!recorded_crc && !s.crc64) continue;
    confirmed.push_back(part_record{p.number, s.etag, want, s.crc64 ? *s.crc64 : p.crc64});
  }
  sort_parts(confirmed);
  return confirmed;
}

using detail::etag_md5;

// What a resume does with a part the checkpoint claims once that part of the source has been
// read and hashed again (the file's size and mtime prove little: rsync -t, a restore or
// `touch -r` put an old mtime on new bytes).
enum class resumed_part {
  keep_crc64,        // the bytes are the recorded ones, and ListParts gave the server's CRC-64
  keep_md5,          // the bytes are the recorded ones, and the part's ETag is their MD5
  keep_unconfirmed,  // the bytes are the recorded ones, but nothing from the server confirms it
  changed,           // the source (or the stored part) differs: send the part again
};

// `recorded`: the part after reconcile_parts (its CRC the server's when ListParts had one,
// `listed_crc`); `source_md5`: computed when the ETag can be checked with it.
inline resumed_part judge_resumed_part(const part_record& recorded, bool listed_crc, std::uint64_t source_crc,
                                       const std::optional<md5_digest>& source_md5) {
  if (source_crc != recorded.crc64) return resumed_part::changed;
  if (listed_crc) return resumed_part::keep_crc64;
  if (source_md5) {
    if (const std::optional<md5_digest> stored = etag_md5(recorded.etag))
      return *stored == *source_md5 ? resumed_part::keep_md5 : resumed_part::changed;
  }
  return resumed_part::keep_unconfirmed;
}

// The uploads of `page` that an intent (checkpoint_state::initiating) for object `name` written
// at `after` may stand for: exactly that key, initiated by the server's clock at or after
// `after - intent_clock_tolerance`. An upload whose Initiated time cannot be read is left
// alone: nothing says it is ours. The caller still checks that a candidate holds no part (we
// never learnt its id, so we cannot have sent one) before aborting it.
inline std::vector<std::string> intended_uploads(std::span<const oss::upload_info> page, std::string_view name,
                                                 std::chrono::system_clock::time_point after) {
  std::vector<std::string> ids;
  const auto earliest = after - intent_clock_tolerance;
  for (const auto& u : page) {
    if (u.key != name) continue;
    const std::optional<date_time> initiated = parse_iso8601_extended(u.initiated);
    if (initiated && *initiated >= earliest) ids.push_back(u.upload_id);
  }
  return ids;
}

}  // namespace oss::detail::multipart

#endif  // OSS_DETAIL_MULTIPART_PLAN_HPP
