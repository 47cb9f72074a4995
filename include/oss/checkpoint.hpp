// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_CHECKPOINT_HPP
#define OSS_CHECKPOINT_HPP

#include <oss/detail/config.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

/// \file
/// `oss::checkpoint`: the resumable state of a multipart upload, and its JSON file.
///
/// **Boost.JSON.** The checkpoint file is JSON, read and written with Boost.JSON, which is not
/// header-only. A program that uses this header (or `multipart_upload.hpp`, which includes it)
/// must provide Boost.JSON's implementation exactly once: either include
/// `<oss/json_impl.hpp>` in exactly one of its translation units, or link the compiled library
/// (`-lboost_json`, meson `dependency('boost', modules : ['json'])`). Doing neither fails at
/// link time with `undefined reference to boost::json::...`; doing the first twice fails with
/// `multiple definition of boost::json::...`. The library itself never includes
/// `<boost/json/src.hpp>`.
///
/// **File format** (design.md section 4), one JSON object:
/// \code{.json}
/// { "version": 1, "kind": "oss-multipart-upload",
///   "endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "bucket": "b", "dialect": "oss",
///   "name": "videos/a.mp4",
///   "file": "/data/a.mp4", "fileSize": 734003200, "fileMtimeNs": 1732550400123456789,
///   "partSize": 8388608, "uploadId": "0004B9895DBBB6EC98E36",
///   "doneParts": [ { "number": 1, "etag": "\"95714944FBE90D6B77FE6BA931A5A99E\"",
///                    "size": 8388608, "crc64": "11051210869376104954" } ] }
/// \endcode
/// While InitiateMultipartUpload is in flight the file holds an *intent* instead (no upload id
/// yet, no parts), so that an upload whose Initiate reply is lost to a cancellation, a timeout
/// or a crash is found and aborted by the next run rather than forgotten:
/// \code{.json}
/// { "version": 1, "kind": "oss-multipart-upload", "state": "initiating",
///   "initiatedAfter": "2026-11-25T16:00:00.123Z", "uploadId": "", "doneParts": [], ... }
/// \endcode
///
/// It is a superset of the checkpoint object of ali-oss `multipartUpload` (same field names), so
/// ali-oss can read ours, and a checkpoint that ali-oss wrote (no `version`, `kind`, `endpoint`,
/// `bucket`, `fileMtimeNs`, part sizes or CRCs) is accepted: it loads with `version == 0` and
/// its parts are confirmed against ListParts before they count. `crc64` is a decimal string
/// because JSON numbers lose precision above 2^53 in most readers. There are never secrets in a
/// checkpoint: no access key, no token, no signature.
namespace oss {

/// One part the server has confirmed (UploadPart or ListParts).
struct part_record {
  /// Part number, 1..10000.
  int number = 0;
  /// The part ETag exactly as the server returned it, quotes included.
  std::string etag;
  /// Bytes in the part. 0 in a checkpoint imported from ali-oss (unknown there).
  std::uint64_t size = 0;
  /// CRC-64/ECMA of the part's bytes. 0 in a checkpoint imported from ali-oss (unknown there).
  std::uint64_t crc64 = 0;
};

/// The `kind` of resumable-download checkpoints (`resumable_download`). They hold the same
/// fields as an upload's, read for a download: `file` is the local target, `file_size` the
/// object's size, `done_parts` the ranges already written to `<file>.part` and made durable
/// (`etag` empty), `upload_id` empty; and two of their own, `objectEtag` and `objectCrc64`.
inline constexpr std::string_view download_checkpoint_kind = "oss-resumable-download";

/// Where a checkpointed upload stands (JSON `state`).
enum class checkpoint_state {
  /// The upload exists: `upload_id` names it and `done_parts` lists its parts (JSON: no `state`
  /// field, which is what older versions and ali-oss write).
  uploading,
  /// InitiateMultipartUpload was about to be sent when the checkpoint was written, and its reply
  /// never came back (JSON `"state": "initiating"`): `upload_id` and `done_parts` are empty and
  /// `initiated_after` says when. The server may or may not have created the upload. The next
  /// `multipart_upload` (or `abort_upload`) with this checkpoint lists the uploads of `name`
  /// initiated since then (less `intent_clock_tolerance`) that hold no part, aborts them, and
  /// starts a new upload.
  initiating,
};

/// How much earlier than `checkpoint::initiated_after` an upload may have been initiated by the
/// server's clock and still count as the one an `initiating` checkpoint stands for: the server
/// records whole seconds, and a client clock may run a little ahead of it.
inline constexpr std::chrono::seconds intent_clock_tolerance{15};

/// The state needed to resume a multipart upload: which upload, of which data, to where, and
/// which parts are done. Plain data: copy it, store it, hand it back through
/// `upload_options::checkpoint` to resume.
struct checkpoint {
  /// Format version: 1 for checkpoints written by this library, 0 for one imported from
  /// ali-oss (then `endpoint`, `bucket`, `file_mtime_ns` and the parts' sizes and CRCs are
  /// unknown and left empty/0).
  int version = 1;
  /// "oss-multipart-upload", or "oss-resumable-download" for a download.
  std::string kind = "oss-multipart-upload";
  /// The client's endpoint URL (`client::endpoint_url()`), e.g. "https://oss-cn-hangzhou.aliyuncs.com".
  std::string endpoint;
  /// The bucket.
  std::string bucket;
  /// The API dialect the upload was made in: "oss" or "s3" (JSON `dialect`; absent in
  /// checkpoints written before the S3 dialect and by ali-oss, which are "oss"). An upload id
  /// of one dialect means nothing to the other, so a checkpoint of the other dialect is
  /// refused like one of another endpoint (`client_errc::checkpoint_mismatch`).
  std::string dialect = "oss";
  /// The object name (key).
  std::string name;
  /// Absolute path of the uploaded file; empty for in-memory and stream sources.
  std::string file;
  /// Size of the source in bytes when the upload began; 0 for streams of unknown length.
  std::uint64_t file_size = 0;
  /// Modification time of the file (nanoseconds since the Unix epoch) when the upload began;
  /// 0 for in-memory and stream sources.
  std::int64_t file_mtime_ns = 0;
  /// Bytes per part (the last part may be shorter).
  std::uint64_t part_size = 0;
  /// The server's upload id; empty in the `initiating` state.
  std::string upload_id;
  /// Parts done so far, in the order they finished (not sorted).
  std::vector<part_record> done_parts;
  /// `uploading`, or `initiating` for the intent written just before InitiateMultipartUpload.
  checkpoint_state state = checkpoint_state::uploading;
  /// `initiating` only (JSON `initiatedAfter`, ISO 8601 with milliseconds): the server's time,
  /// as far as the client knows it, just before InitiateMultipartUpload was sent. Whole
  /// milliseconds; ignored in the `uploading` state.
  std::chrono::system_clock::time_point initiated_after{};
  /// Downloads: the object's ETag when the download began (JSON `objectEtag`). Every ranged
  /// GET carries it in `If-Match`, so no byte of another version of the object is written.
  std::string object_etag;
  /// Downloads: the object's CRC-64 as the server announced it, when it did (JSON
  /// `objectCrc64`, a decimal string).
  std::optional<std::uint64_t> object_crc64;
  /// Shares of an upload (`upload_options::share`): the object's part number of this share's
  /// first part (JSON `shareFirstPart`); 0 for an upload of the whole object. The part
  /// numbers in `done_parts` count within the share, from 1.
  std::uint32_t share_first_part = 0;
};

/// The `kind` of multipart-upload checkpoints.
inline constexpr std::string_view checkpoint_kind = "oss-multipart-upload";

/// Reads the checkpoint stored at `path`: the JSON file, plus the parts recorded in its journal
/// `<path>.journal` since the JSON was last written (a running upload appends one line per part
/// there instead of rewriting the JSON; a torn last line is ignored; see design.md).
///
/// Errors (the file is never modified): `std::errc::no_such_file_or_directory` when there is
/// no file; the OS error when it cannot be read; `client_errc::checkpoint_corrupt` when it is
/// not JSON, is larger than 64 MiB, has an unknown `version`, `kind` or `state`, lacks a required
/// field, or has a field of the wrong type or range (an `initiating` checkpoint needs a valid
/// `initiatedAfter` and must list no part; any other needs a non-empty `uploadId`). A checkpoint without `version` is read as an
/// ali-oss checkpoint (`version == 0`). Returns a default checkpoint on error.
OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path, std::error_code& ec);

/// As above, but throws `oss::error` on failure.
OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path);

/// Writes `cp` to `path` atomically and durably: a temporary file in the same folder (mode
/// 0600), written, fsync'ed, renamed over `path`, then the folder fsync'ed. A crash leaves
/// either the old or the new file, never a torn one. A journal `<path>.journal` left by an
/// upload is removed afterwards, so `load_checkpoint` reads back `cp`. The folder must exist. Errors are the
/// OS's (`ec`); on error `path` is unchanged and no temporary file is left behind.
OSS_DECL void save_checkpoint(const std::filesystem::path& path, const checkpoint& cp,
                              std::error_code& ec);

/// As above, but throws `oss::error` on failure.
OSS_DECL void save_checkpoint(const std::filesystem::path& path, const checkpoint& cp);

/// The JSON text of `cp` (the format above), as `save_checkpoint` writes it.
OSS_DECL std::string checkpoint_to_json(const checkpoint& cp);

/// Parses JSON text into a checkpoint with the rules of `load_checkpoint`
/// (`client_errc::checkpoint_corrupt` on any problem).
OSS_DECL checkpoint checkpoint_from_json(std::string_view json, std::error_code& ec);

namespace detail {

// load_checkpoint and checkpoint_from_json that also say what is wrong (`problem`: which field,
// why), for diagnostics::client_message. `problem` never quotes file contents.
OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path, std::error_code& ec,
                                    std::string& problem);
OSS_DECL checkpoint checkpoint_from_json(std::string_view json, std::error_code& ec,
                                         std::string& problem);

// The file part of save_checkpoint: writes `text` to `path` atomically and durably. Lets the
// orchestrator serialise on its strand and do the blocking I/O elsewhere.
OSS_DECL void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                    std::error_code& ec);

// Largest checkpoint file accepted: 10 000 parts take about 1.5 MB, so anything this big is
// not a checkpoint.
inline constexpr std::uint64_t max_checkpoint_bytes = 64ull << 20;

}  // namespace detail
}  // namespace oss

#ifdef OSS_HEADER_ONLY
#include <oss/impl/checkpoint.ipp>
#endif

#endif  // OSS_CHECKPOINT_HPP
