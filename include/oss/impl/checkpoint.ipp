// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_CHECKPOINT_IPP
#define OSS_IMPL_CHECKPOINT_IPP

#include <oss/checkpoint.hpp>

#include <oss/detail/ascii.hpp>
#include <oss/detail/dates.hpp>
#include <oss/detail/engine/checkpoint_journal.hpp>
#include <oss/detail/ops/validate.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace oss {

namespace detail {

namespace checkpoint_impl {

namespace json = boost::json;

inline std::error_code corrupt(std::string& problem, std::string why) {
  problem = std::move(why);
  return make_error_code(client_errc::checkpoint_corrupt);
}

// Numbers: ali-oss writes JavaScript numbers, which a JSON writer may render as 1048576 or
// 1048576.0; accept integral doubles in the exactly representable range, nothing fractional.
inline std::optional<std::uint64_t> to_u64(const json::value& v) {
  if (v.is_uint64()) return v.get_uint64();
  if (v.is_int64()) {
    if (v.get_int64() < 0) return std::nullopt;
    return static_cast<std::uint64_t>(v.get_int64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (d >= 0 && d <= 9007199254740992.0 && std::floor(d) == d) return static_cast<std::uint64_t>(d);
  }
  return std::nullopt;
}

inline std::optional<std::int64_t> to_i64(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::fabs(d) <= 9007199254740992.0 && std::floor(d) == d) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// Reads the fields of one JSON object, remembering the first problem.
class reader {
 public:
  reader(const json::object& obj, std::string where) : obj_(obj), where_(std::move(where)) {}

  bool has(std::string_view key) const { return obj_.contains(key); }

  std::string str(std::string_view key, bool allow_empty = true) {
    const json::value* v = find(key);
    if (!v) return {};
    if (!v->is_string()) return fail(key, "is not a string"), std::string{};
    if (!allow_empty && v->get_string().empty()) return fail(key, "is empty"), std::string{};
    return std::string(v->get_string());
  }

  std::uint64_t u64(std::string_view key) {
    const json::value* v = find(key);
    if (!v) return 0;
    auto n = to_u64(*v);
    if (!n) return fail(key, "is not a non-negative integer"), 0;
    return *n;
  }

  std::int64_t i64(std::string_view key) {
    const json::value* v = find(key);
    if (!v) return 0;
    auto n = to_i64(*v);
    if (!n) return fail(key, "is not an integer"), 0;
    return *n;
  }

  // A uint64 written as a decimal string (CRC-64 values exceed 2^53).
  std::uint64_t decimal_string(std::string_view key) {
    const json::value* v = find(key);
    if (!v) return 0;
    if (!v->is_string()) return fail(key, "is not a decimal string"), 0;
    const std::optional<std::uint64_t> n = parse_decimal(std::string_view(v->get_string()));
    if (!n) return fail(key, "is not a decimal string of a 64-bit number"), 0;
    return *n;
  }

  const json::array* array(std::string_view key) {
    const json::value* v = find(key);
    if (!v) return nullptr;
    if (!v->is_array()) return fail(key, "is not an array"), nullptr;
    return &v->get_array();
  }

  bool ok() const { return problem_.empty(); }
  const std::string& problem() const { return problem_; }
  void fail(std::string_view key, std::string_view why) {
    if (problem_.empty()) problem_ = "field '" + where_ + std::string(key) + "' " + std::string(why);
  }

 private:
  const json::value* find(std::string_view key) {
    const json::value* v = obj_.if_contains(key);
    if (!v) fail(key, "is missing");
    return v;
  }

  const json::object& obj_;
  std::string where_;
  std::string problem_;
};

inline std::error_code errno_code() { return {errno, std::system_category()}; }

inline int close_keep_errno(int fd) {
  const int saved = errno;
  const int r = ::close(fd);
  errno = saved;
  return r;
}

}  // namespace checkpoint_impl

OSS_DECL checkpoint checkpoint_from_json(std::string_view text, std::error_code& ec,
                                         std::string& problem) {
  namespace json = boost::json;
  using namespace checkpoint_impl;
  ec.clear();
  problem.clear();

  std::error_code parse_ec;
  json::value root = json::parse(text, parse_ec);
  if (parse_ec) {
    ec = corrupt(problem, "the checkpoint is not valid JSON");
    return {};
  }
  if (!root.is_object()) {
    ec = corrupt(problem, "the checkpoint is not a JSON object");
    return {};
  }
  const json::object& obj = root.get_object();
  reader r(obj, "");
  checkpoint cp;

  // No `version`: a checkpoint written by ali-oss (oss-protocol.md 7.2), which knows only the
  // fields read in the else branch.
  if (r.has("version")) {
    const json::value& v = obj.at("version");
    auto version = to_i64(v);
    if (!version || *version != 1) {
      ec = corrupt(problem, "unknown checkpoint version (this library writes version 1)");
      return {};
    }
    cp.version = 1;
    cp.kind = r.str("kind");
    if (r.ok() && cp.kind != checkpoint_kind && cp.kind != download_checkpoint_kind) {
      ec = corrupt(problem,
                   "unknown checkpoint kind (expected \"oss-multipart-upload\" or \"oss-resumable-download\")");
      return {};
    }
    cp.endpoint = r.str("endpoint");
    cp.bucket = r.str("bucket");
    cp.file_mtime_ns = r.i64("fileMtimeNs");
    // Written since the S3 dialect exists; older checkpoints are OSS ones.
    if (r.has("dialect")) {
      cp.dialect = r.str("dialect");
      if (r.ok() && cp.dialect != "oss" && cp.dialect != "s3") {
        ec = corrupt(problem, "field 'dialect' is neither \"oss\" nor \"s3\"");
        return {};
      }
    }
    // An intent written before InitiateMultipartUpload (absent: an upload in progress).
    if (r.has("state")) {
      const std::string state = r.str("state");
      if (r.ok() && state == "initiating") {
        cp.state = checkpoint_state::initiating;
      } else if (r.ok() && state != "uploading") {
        ec = corrupt(problem, "field 'state' is neither \"uploading\" nor \"initiating\"");
        return {};
      }
    }
  } else {
    cp.version = 0;
    cp.kind = std::string(checkpoint_kind);
    if (r.has("kind")) {
      // Someone else's format that happens to lack a version.
      ec = corrupt(problem, "a checkpoint with a kind but no version");
      return {};
    }
  }
  const bool initiating = cp.state == checkpoint_state::initiating;
  const bool download = cp.kind == download_checkpoint_kind;
  cp.name = r.str("name", false);
  cp.file = r.str("file");
  cp.file_size = r.u64("fileSize");
  cp.part_size = r.u64("partSize");
  if (download) {
    // A download has no upload id; it pins the object by its ETag instead.
    if (initiating) {
      ec = corrupt(problem, "a download checkpoint has no 'initiating' state");
      return {};
    }
    cp.object_etag = r.str("objectEtag", false);
    if (r.has("objectCrc64")) cp.object_crc64 = r.decimal_string("objectCrc64");
  } else {
    // An intent has no upload id yet.
    cp.upload_id = r.str("uploadId", initiating);
    if (r.has("shareFirstPart")) {
      const std::uint64_t first = r.u64("shareFirstPart");
      if (r.ok() && (first < 1 || first > 10000)) {
        ec = corrupt(problem, "field 'shareFirstPart' is outside 1..10000");
        return {};
      }
      cp.share_first_part = static_cast<std::uint32_t>(first);
    }
  }
  if (initiating) {
    const std::string after = r.str("initiatedAfter", false);
    if (r.ok()) {
      const std::optional<date_time> t = parse_iso8601_extended(after);
      if (!t) {
        ec = corrupt(problem, "field 'initiatedAfter' is not an ISO 8601 time");
        return {};
      }
      cp.initiated_after = std::chrono::time_point_cast<std::chrono::milliseconds>(*t);
    }
  }
  const json::array* parts = r.array("doneParts");
  if (!r.ok()) {
    ec = corrupt(problem, r.problem());
    return {};
  }
  if (cp.part_size == 0) {
    ec = corrupt(problem, "field 'partSize' is 0");
    return {};
  }
  if (initiating && (!cp.upload_id.empty() || !parts->empty())) {
    ec = corrupt(problem, "an initiating checkpoint names an upload id or parts");
    return {};
  }
  if (!cp.upload_id.empty() && !is_valid_upload_id(cp.upload_id)) {
    // A hostile or damaged id would fail every request it went into, run after run.
    // Field names and fixed words only, within the fuzz target's plain_problem rule.
    ec = corrupt(problem, "field 'uploadId' is not 1.." + std::to_string(max_upload_id_bytes) +
                              " printable ASCII characters, so this checkpoint can neither resume nor abort "
                              "its upload (delete it)");
    return {};
  }

  std::set<int> seen;
  for (std::size_t i = 0; i < parts->size(); ++i) {
    const json::value& pv = (*parts)[i];
    const std::string where = "doneParts[" + std::to_string(i) + "].";
    if (!pv.is_object()) {
      ec = corrupt(problem, "field 'doneParts[" + std::to_string(i) + "]' is not an object");
      return {};
    }
    reader pr(pv.get_object(), where);
    part_record part;
    const std::uint64_t number = pr.u64("number");
    part.etag = pr.str("etag", download);  // a download's ranges have none
    if (cp.version >= 1) {
      part.size = pr.u64("size");
      part.crc64 = pr.decimal_string("crc64");
    }
    if (!pr.ok()) {
      ec = corrupt(problem, pr.problem());
      return {};
    }
    if (number < 1 || number > 10000) {
      ec = corrupt(problem, "field '" + where + "number' is outside 1..10000");
      return {};
    }
    part.number = static_cast<int>(number);
    if (!seen.insert(part.number).second) {
      // ali-oss may record a part twice (a part that finished after an error was reported);
      // both entries name the same server part, the later one being the newer upload.
      if (cp.version >= 1) {
        ec = corrupt(problem, "part " + std::to_string(part.number) + " is listed twice");
        return {};
      }
      for (auto& existing : cp.done_parts)
        if (existing.number == part.number) existing = part;
      continue;
    }
    cp.done_parts.push_back(std::move(part));
  }
  return cp;
}

OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path, std::error_code& ec,
                                    std::string& problem) {
  using namespace checkpoint_impl;
  ec.clear();
  problem.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = errno_code();
    problem = "cannot open the checkpoint file";
    return {};
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ec = errno_code();
    close_keep_errno(fd);
    problem = "cannot stat the checkpoint file";
    return {};
  }
  if (!S_ISREG(st.st_mode)) {
    close_keep_errno(fd);
    ec = corrupt(problem, "the checkpoint path is not a regular file");
    return {};
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_checkpoint_bytes) {
    close_keep_errno(fd);
    ec = corrupt(problem, "the checkpoint file is larger than 64 MiB");
    return {};
  }
  std::string text;
  char chunk[65536];
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      ec = errno_code();
      close_keep_errno(fd);
      problem = "cannot read the checkpoint file";
      return {};
    }
    if (n == 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
    if (text.size() > max_checkpoint_bytes) {
      close_keep_errno(fd);
      ec = corrupt(problem, "the checkpoint file is larger than 64 MiB");
      return {};
    }
  }
  ::close(fd);
  checkpoint cp = checkpoint_from_json(text, ec, problem);
  if (ec) return {};
  // The parts finished since the JSON was last written.
  replay_journal_file(path, cp, ec, problem);
  if (ec) return {};
  return cp;
}

}  // namespace detail

OSS_DECL std::string checkpoint_to_json(const checkpoint& cp) {
  namespace json = boost::json;
  json::object obj;
  obj["version"] = 1;
  obj["kind"] = checkpoint_kind;
  obj["endpoint"] = cp.endpoint;
  obj["bucket"] = cp.bucket;
  obj["dialect"] = cp.dialect;
  obj["name"] = cp.name;
  obj["file"] = cp.file;
  obj["fileSize"] = cp.file_size;
  obj["fileMtimeNs"] = cp.file_mtime_ns;
  obj["partSize"] = cp.part_size;
  if (cp.kind == download_checkpoint_kind) {
    obj["kind"] = download_checkpoint_kind;
    obj["objectEtag"] = cp.object_etag;
    if (cp.object_crc64) obj["objectCrc64"] = std::to_string(*cp.object_crc64);
  } else {
    obj["uploadId"] = cp.upload_id;
    if (cp.share_first_part) obj["shareFirstPart"] = cp.share_first_part;
  }
  // Only intents carry a state, so every other checkpoint stays readable by older versions.
  if (cp.state == checkpoint_state::initiating) {
    obj["state"] = "initiating";
    obj["initiatedAfter"] = detail::iso8601_extended(cp.initiated_after);
  }
  json::array parts;
  parts.reserve(cp.done_parts.size());
  for (const auto& p : cp.done_parts) {
    json::object po;
    po["number"] = p.number;
    po["etag"] = p.etag;
    po["size"] = p.size;
    po["crc64"] = std::to_string(p.crc64);
    parts.emplace_back(std::move(po));
  }
  obj["doneParts"] = std::move(parts);
  std::string text = json::serialize(obj);
  text += '\n';
  return text;
}

OSS_DECL checkpoint checkpoint_from_json(std::string_view json, std::error_code& ec) {
  std::string problem;
  return detail::checkpoint_from_json(json, ec, problem);
}

OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path, std::error_code& ec) {
  std::string problem;
  return detail::load_checkpoint(path, ec, problem);
}

OSS_DECL checkpoint load_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  std::string problem;
  checkpoint cp = detail::load_checkpoint(path, ec, problem);
  if (ec) {
    diagnostics diag;
    diag.operation = "load_checkpoint";
    diag.client_message = problem + " (" + path.string() + ")";
    throw_error(ec, diag);
  }
  return cp;
}

OSS_DECL void save_checkpoint(const std::filesystem::path& path, const checkpoint& cp,
                              std::error_code& ec) {
  detail::write_file_atomically(path, checkpoint_to_json(cp), ec);
  if (ec) return;
  // The file holds the whole state now; a journal left beside it would add parts to it.
  std::error_code journal_ec;
  std::filesystem::remove(detail::journal_path_of(path), journal_ec);
}

namespace detail {

OSS_DECL void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                    std::error_code& ec) {
  using checkpoint_impl::close_keep_errno;
  using checkpoint_impl::errno_code;
  ec.clear();

  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  // Same folder as the target, so the rename stays within one file system and is atomic.
  std::string temp = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    ec = errno_code();
    return;
  }
  auto fail = [&](int open_fd) {
    ec = errno_code();
    if (open_fd >= 0) close_keep_errno(open_fd);
    ::unlink(temp.c_str());
  };
  // mkostemp already creates 0600; say so explicitly in case a future libc differs.
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) return fail(fd);
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(fd);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(fd);
  if (::close(fd) != 0) return fail(-1);
  if (::rename(temp.c_str(), path.c_str()) != 0) return fail(-1);
  // The rename is only durable once the folder's entry is on disk too.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int r = ::fsync(dfd);
    if (r != 0 && errno != EINVAL && errno != EROFS) ec = errno_code();
    ::close(dfd);
  }
}

}  // namespace detail

OSS_DECL void save_checkpoint(const std::filesystem::path& path, const checkpoint& cp) {
  std::error_code ec;
  save_checkpoint(path, cp, ec);
  if (ec) {
    diagnostics diag;
    diag.operation = "save_checkpoint";
    diag.client_message = "cannot write the checkpoint file " + path.string();
    throw_error(ec, diag);
  }
}

}  // namespace oss

#endif  // OSS_IMPL_CHECKPOINT_IPP
