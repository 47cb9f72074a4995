// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_OPS_OBJECT_CHECK_HPP
#define OSS_DETAIL_OPS_OBJECT_CHECK_HPP

#include <oss/detail/config.hpp>

#include <oss/client_types.hpp>

#include <span>
#include <string>

// The one answer to "is the stored object exactly these parts?", asked after a Complete whose
// reply was lost (client), when a resumed upload finds its upload id gone (multipart), and by
// the HEAD reconciliation. Sans-io: HEAD's metadata and the part list in, a verdict out.
namespace oss::detail {

enum class object_match {
  matches,  // the evidence proves the object is the concatenation of the parts
  differs,  // the evidence proves it is not (another object, an older one, a forged one)
  unknown,  // nothing available proves either: never to be taken as success
};

// What proved a match.
enum class object_evidence {
  none,
  crc64,           // the server's whole-object CRC-64 equals the combination of the part CRCs
  multipart_etag,  // S3: the object ETag is MD5(part MD5s)-N of the part ETags
};

struct object_verdict {
  object_match match = object_match::unknown;
  object_evidence evidence = object_evidence::none;
  // One line without a trailing period: why it differs, or what could not be checked (empty
  // for a match). Holds sizes, counts, CRCs and ETags only: nothing secret.
  std::string reason{};
};

// Compares HEAD's `meta` with `parts` (any order; each part's size and crc64 may be unknown).
// In this order:
//  1. part count: the object ETag must be a multipart ETag naming parts.size() parts;
//  2. size: when every part's size is known, their sum must be meta.size;
//  3. when the server keeps a CRC-64 (meta.crc64): it must equal the combined CRC-64 of the
//     parts; a part whose size or CRC-64 is unknown makes the answer unknown;
//  4. without one, in the S3 dialect: when every part ETag is an MD5 (32 hex digits), the
//     object ETag must be s3_multipart_etag of them; other part ETags (SSE-KMS) give unknown;
//  5. without one in the OSS dialect: unknown (OSS always keeps a CRC-64, so a missing one
//     means a middlebox or an incompatible store; OSS does not document its multipart ETag).
// An empty list or repeated part numbers: unknown.
OSS_DECL object_verdict check_object_parts(const object_meta& meta,
                                           std::span<const oss::completed_part> parts,
                                           api_dialect dialect);

}  // namespace oss::detail

#ifdef OSS_HEADER_ONLY
#include <oss/detail/ops/impl/object_check.ipp>
#endif

#endif  // OSS_DETAIL_OPS_OBJECT_CHECK_HPP
