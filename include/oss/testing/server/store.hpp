// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_STORE_HPP
#define OSS_TESTING_SERVER_STORE_HPP

#include <oss/detail/config.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/testing/server/documents.hpp>
#include <oss/testing/server/errors.hpp>
#include <oss/testing/server/rules.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The local server's storage: one directory per bucket under the root.
//
//   <bucket>/objects/<sha256 hex of key>.meta         object record (the key itself is inside)
//   <bucket>/objects/<sha256 hex of key>.<rand>.data  object bytes (absent in discard mode)
//   <bucket>/uploads/<upload id>/meta                 upload record (key, headers, initiated)
//   <bucket>/uploads/<upload id>/part-<n>.meta        part record (size, md5, crc64, data file)
//   <bucket>/uploads/<upload id>/part-<n>.<rand>.data part bytes
//   <bucket>/tmp/                                     bodies being received (emptied at start)
//
// Keys are hashed rather than hex-encoded because a 1023-byte key would not fit in one file
// name (NAME_MAX 255). Data files get a fresh random name on every write and records name them,
// so replacing an object or a part is one atomic rename of its record: a reader (or a restart)
// sees either the old record with the old bytes or the new one with the new bytes.
//
// Records use a line format of our own (no JSON dependency for users): a magic first line, then
// "name value" lines; values are escaped so that they never contain a line break.
namespace oss::testing::detail {

using oss::detail::md5_digest;
using oss::detail::md5_hasher;

// Ordered name/value lines of a record file; names may repeat ("header").
class record {
 public:
  void add(std::string_view name, std::string_view value) { lines_.emplace_back(name, value); }
  void add(std::string_view name, std::uint64_t value) { add(name, std::to_string(value)); }
  // First value of `name`, or nullptr.
  OSS_DECL const std::string* find(std::string_view name) const noexcept;
  OSS_DECL std::optional<std::uint64_t> find_number(std::string_view name) const noexcept;
  const std::vector<std::pair<std::string, std::string>>& lines() const noexcept { return lines_; }

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
};

// `\\`, `\n`, `\r`, `\t` and `\xHH` for the other control bytes; bytes >= 0x80 pass unchanged.
OSS_DECL std::string escape_value(std::string_view s);
OSS_DECL std::optional<std::string> unescape_value(std::string_view s);

OSS_DECL std::string serialize_record(std::string_view magic, const record& r);
// nullopt when the magic differs or a line is malformed.
OSS_DECL std::optional<record> parse_record(std::string_view magic, std::string_view text);

// Writes `content` to `<path>.tmp`, then renames it over `path`.
OSS_DECL std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view content);
OSS_DECL std::optional<std::string> read_small_file(const std::filesystem::path& path);

struct object_info {
  std::string key;
  std::uint64_t size = 0;
  std::string etag;            // quoted, as sent in the ETag header
  std::uint64_t crc64 = 0;
  std::string content_md5;     // base64; Normal objects only
  std::string object_type;     // "Normal" or "Multipart"
  std::int64_t last_modified_ms = 0;
  header_list headers;         // stored object headers (Content-Type, x-oss-meta-*, ...)
  std::string data_file;       // file name in objects/; empty: bytes discarded
};

struct part_info {
  int number = 0;
  std::uint64_t size = 0;
  md5_digest md5{};
  std::uint64_t crc64 = 0;
  std::int64_t last_modified_ms = 0;
  std::string data_file;       // file name in the upload's folder; empty: bytes discarded

  OSS_DECL std::string etag() const;  // "\"<32 upper hex>\""
};

struct upload_info {
  std::string key;
  std::string upload_id;
  std::int64_t initiated_ms = 0;
  bool forbid_overwrite = false;
  header_list headers;         // object headers given to Initiate, applied at Complete
};

// Receives one request body: streams it into a fresh file under <bucket>/tmp (unless
// discarding) while computing MD5 and CRC-64. The file is removed unless a commit took it.
class body_writer {
 public:
  body_writer(const body_writer&) = delete;
  body_writer& operator=(const body_writer&) = delete;
  OSS_DECL ~body_writer();

  OSS_DECL void write(std::string_view bytes);
  // Flushes and closes the file; computes the digest. Call once, after the last write().
  OSS_DECL std::error_code finish();

  // Also hash the body with SHA-256 (S3's x-amz-content-sha256). Call before the first write().
  void enable_sha256() { sha256_.emplace(); }
  // The SHA-256 after finish(), when enabled.
  const std::optional<oss::detail::sha256_digest>& sha256() const noexcept { return sha256_digest_; }

  std::uint64_t size() const noexcept { return size_; }
  const md5_digest& md5() const noexcept { return md5_; }
  std::uint64_t crc64() const noexcept { return crc_; }

 private:
  friend class store;
  body_writer(std::filesystem::path path, bool discard);

  std::filesystem::path path_;  // empty when discarding
  std::FILE* file_ = nullptr;
  std::error_code error_;
  md5_hasher hasher_;
  md5_digest md5_{};
  std::optional<oss::detail::sha256_hasher> sha256_;
  std::optional<oss::detail::sha256_digest> sha256_digest_;
  std::uint64_t crc_ = 0;
  std::uint64_t size_ = 0;
  std::unique_ptr<char[]> buffer_;
};

// An object opened for reading: the record plus an open handle on its bytes, taken under the
// store's lock, so a concurrent overwrite cannot swap the bytes under a reader.
struct object_reader {
  object_info info;
  std::FILE* file = nullptr;  // nullptr when the bytes were discarded
  object_reader() = default;
  object_reader(const object_reader&) = delete;
  object_reader& operator=(const object_reader&) = delete;
  object_reader(object_reader&& o) noexcept : info(std::move(o.info)), file(std::exchange(o.file, nullptr)) {}
  object_reader& operator=(object_reader&& o) noexcept {
    if (this != &o) {
      if (file) std::fclose(file);
      info = std::move(o.info);
      file = std::exchange(o.file, nullptr);
    }
    return *this;
  }
  ~object_reader() {
    if (file) std::fclose(file);
  }
};

struct complete_outcome {
  object_info object;
  std::size_t part_count = 0;
  // EntityTooSmall: the first part under the minimum (S3 names it in its error body).
  int small_part_number = 0;
  std::uint64_t small_part_size = 0;
  std::string small_part_etag;
};

// What differs between the dialects inside the store.
struct store_rules {
  std::uint64_t min_part_size = oss_min_part_size;  // S3: s3_min_part_size (every part but the last)
  bool lower_case_etags = false;         // S3 writes hex digests in lower case, OSS in upper
};

// Every method is thread-safe: one mutex guards the records and the in-memory index of
// uploads; part and object bytes are written and read outside it.
class store {
 public:
  OSS_DECL store(std::filesystem::path root, bool discard, store_rules rules = store_rules{});

  bool discard() const noexcept { return discard_; }
  const store_rules& rules() const noexcept { return rules_; }
  // A part's ETag as this store's dialect writes it.
  OSS_DECL std::string etag_of(const part_info& p) const;
  const std::filesystem::path& root() const noexcept { return root_; }

  // Creates the bucket's folders (and loads its uploads) on first use.
  OSS_DECL std::error_code ensure_bucket(const std::string& bucket);

  OSS_DECL std::unique_ptr<body_writer> new_writer(const std::string& bucket);

  // Objects. Errors are error_id values (I/O errors become internal_error).
  OSS_DECL std::optional<object_info> find_object(const std::string& bucket, const std::string& key);
  OSS_DECL std::optional<object_reader> open_object(const std::string& bucket, const std::string& key,
                                                    std::error_code& ec);
  OSS_DECL std::error_code put_object(const std::string& bucket, object_info info, body_writer& body,
                                      bool forbid_overwrite);
  // true when an object was removed
  OSS_DECL bool delete_object(const std::string& bucket, const std::string& key);

  // Uploads.
  OSS_DECL std::string create_upload(const std::string& bucket, upload_info info, std::error_code& ec);
  OSS_DECL std::optional<upload_info> find_upload(const std::string& bucket, const std::string& upload_id);
  OSS_DECL std::error_code put_part(const std::string& bucket, const std::string& upload_id,
                                    const std::string& key, int number, body_writer& body);
  OSS_DECL std::optional<std::vector<part_info>> list_parts(const std::string& bucket,
                                                            const std::string& upload_id,
                                                            const std::string& key);
  OSS_DECL std::vector<upload_info> list_uploads(const std::string& bucket);
  OSS_DECL std::error_code abort_upload(const std::string& bucket, const std::string& upload_id,
                                        const std::string& key);
  // Validates the selection (InvalidPartOrder, InvalidPart, EntityTooSmall), concatenates the
  // parts into the object and removes the upload. `complete_all` (x-oss-complete-all: yes)
  // takes every uploaded part instead of `selection`. On failure, `message` says why.
  OSS_DECL std::error_code complete_upload(const std::string& bucket, const std::string& upload_id,
                                           const std::string& key, const std::vector<part_selection>& selection,
                                           bool complete_all, bool forbid_overwrite,
                                           complete_outcome& out, std::string& message);

  OSS_DECL static std::int64_t now_ms();

 private:
  struct upload_state {
    upload_info info;
    std::map<int, part_info> parts;
  };
  struct bucket_state {
    std::map<std::string, upload_state> uploads;  // by upload id
  };

  std::filesystem::path bucket_dir(const std::string& bucket) const { return root_ / bucket; }
  std::filesystem::path upload_dir(const std::string& bucket, const std::string& id) const {
    return root_ / bucket / "uploads" / id;
  }
  OSS_DECL std::filesystem::path object_meta_path(const std::string& bucket, const std::string& key) const;
  OSS_DECL std::string random_hex(std::size_t digits);   // caller holds mutex_
  OSS_DECL bucket_state* bucket_locked(const std::string& bucket);  // nullptr: not ensured
  OSS_DECL std::optional<object_info> read_object_locked(const std::string& bucket, const std::string& key);
  OSS_DECL std::error_code write_object_locked(const std::string& bucket, const object_info& info,
                                               const std::filesystem::path* data_source);
  OSS_DECL void load_uploads_locked(const std::string& bucket, bucket_state& state);

  std::filesystem::path root_;
  bool discard_;
  store_rules rules_;
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::map<std::string, bucket_state> buckets_;
};

// Record <-> struct conversions (exposed for tests of the format).
OSS_DECL record to_record(const object_info& o);
OSS_DECL std::optional<object_info> object_from_record(const record& r);
OSS_DECL record to_record(const upload_info& u);
OSS_DECL std::optional<upload_info> upload_from_record(const record& r);
OSS_DECL record to_record(const part_info& p);
OSS_DECL std::optional<part_info> part_from_record(const record& r);

}  // namespace oss::testing::detail

#ifdef OSS_HEADER_ONLY
#include <oss/testing/server/impl/store.ipp>
#endif

#endif  // OSS_TESTING_SERVER_STORE_HPP
