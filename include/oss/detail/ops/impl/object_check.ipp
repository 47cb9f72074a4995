// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_IMPL_OBJECT_CHECK_IPP
#define OSS_DETAIL_OPS_IMPL_OBJECT_CHECK_IPP

#include <oss/detail/ops/object_check.hpp>

#include <oss/detail/crc64.hpp>
#include <oss/diagnostics.hpp>
#include <oss/detail/ops/response.hpp>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace oss::detail {

namespace object_check_impl {

inline object_verdict verdict(object_match m, std::string reason) {
  object_verdict v;
  v.match = m;
  v.reason = std::move(reason);
  return v;
}

}  // namespace object_check_impl

OSS_DECL object_verdict check_object_parts(const object_meta& meta,
                                           std::span<const oss::completed_part> parts,
                                           api_dialect dialect) {
  using object_check_impl::verdict;
  if (parts.empty()) return verdict(object_match::unknown, "no parts to compare the object with");
  // The CRC fold and the ETag digest follow part order, whatever order the caller keeps.
  std::vector<const oss::completed_part*> sorted;
  sorted.reserve(parts.size());
  for (const auto& p : parts) sorted.push_back(&p);
  std::sort(sorted.begin(), sorted.end(),
            [](const oss::completed_part* a, const oss::completed_part* b) { return a->part_number < b->part_number; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->part_number == sorted[i - 1]->part_number)
      return verdict(object_match::unknown, "the part list repeats part " + std::to_string(sorted[i]->part_number));

  const int count = meta.part_count();
  if (count == 0)
    return verdict(object_match::differs, "the object's ETag is not a multipart ETag, so it was not made from parts");
  if (count != static_cast<int>(parts.size()))
    return verdict(object_match::differs, "the object was made of " + std::to_string(count) + " parts, not " +
                                              std::to_string(parts.size()));

  bool sizes_known = true;
  bool crcs_known = true;
  crc64_concat object;
  for (const auto* p : sorted) {
    if (!p->size) {
      sizes_known = false;
      crcs_known = false;
      continue;
    }
    if (!p->crc64) crcs_known = false;
    object.append(p->crc64.value_or(0), *p->size);
  }
  const std::uint64_t size = object.size;
  const std::uint64_t crc = object.crc;
  if (sizes_known && meta.size != size)
    return verdict(object_match::differs, "the object holds " + std::to_string(meta.size) + " bytes, the parts " +
                                              std::to_string(size));

  if (meta.crc64) {
    if (!crcs_known)
      return verdict(object_match::unknown,
                     "the server keeps a CRC-64 for the object, but the size or CRC-64 of some parts is unknown");
    if (*meta.crc64 != crc)
      return verdict(object_match::differs, "the object's CRC-64 is " + std::to_string(*meta.crc64) +
                                                ", the parts combine to " + std::to_string(crc));
    object_verdict v;
    v.match = object_match::matches;
    v.evidence = object_evidence::crc64;
    return v;
  }

  if (dialect == api_dialect::s3) {
    std::vector<std::string_view> etags;
    etags.reserve(sorted.size());
    for (const auto* p : sorted) etags.emplace_back(p->etag);
    const std::optional<std::string> want = s3_multipart_etag(etags);
    if (!want)
      return verdict(object_match::unknown,
                     "the server keeps no CRC-64, and the part ETags are not MD5s (encrypted parts?), so "
                     "the object's ETag proves nothing");
    if (!etag_equal(meta.etag, *want))
      return verdict(object_match::differs, "the object's ETag " + sanitize_text(meta.etag, max_id_bytes) + " is not " + *want +
                                                ", the multipart ETag of these parts");
    object_verdict v;
    v.match = object_match::matches;
    v.evidence = object_evidence::multipart_etag;
    return v;
  }
  return verdict(object_match::unknown, "the server sent no CRC-64 for the object (x-oss-hash-crc64ecma)");
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_OPS_IMPL_OBJECT_CHECK_IPP
