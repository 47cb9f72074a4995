// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_TESTING_SERVER_IMPL_STORE_IPP
#define OSS_TESTING_SERVER_IMPL_STORE_IPP

#include <oss/testing/server/store.hpp>

#include <oss/detail/crc64.hpp>
#include <oss/detail/crypto.hpp>
#include <oss/detail/encoding.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>

namespace oss::testing::detail {

namespace store_impl {

constexpr std::string_view object_magic = "oss-local-server object 1";
constexpr std::string_view upload_magic = "oss-local-server upload 1";
constexpr std::string_view part_magic = "oss-local-server part 1";

inline std::error_code errc(error_id e) { return make_error_code(e); }

inline std::error_code io_error() { return errc(error_id::internal_error); }

inline std::optional<md5_digest> parse_md5_hex(std::string_view s) {
  if (s.size() != 32) return std::nullopt;
  md5_digest d{};
  for (std::size_t i = 0; i < 16; ++i) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + 2 * i, s.data() + 2 * i + 2, v, 16);
    if (ec != std::errc{} || p != s.data() + 2 * i + 2) return std::nullopt;
    d[i] = static_cast<unsigned char>(v);
  }
  return d;
}

inline void add_headers(record& r, const header_list& headers) {
  for (const auto& [name, value] : headers) r.add("header", name + ":" + value);
}

inline bool read_headers(const record& r, header_list& out) {
  for (const auto& [name, value] : r.lines()) {
    if (name != "header") continue;
    auto colon = value.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    out.emplace_back(value.substr(0, colon), value.substr(colon + 1));
  }
  return true;
}

// Writes the concatenation of `sources` to `target`.
inline std::error_code concatenate(const std::vector<std::filesystem::path>& sources,
                                   const std::filesystem::path& target) {
  std::FILE* out = std::fopen(target.c_str(), "wb");
  if (!out) return io_error();
  std::vector<char> buffer(1 << 20);
  bool ok = true;
  for (const auto& source : sources) {
    std::FILE* in = std::fopen(source.c_str(), "rb");
    if (!in) {
      ok = false;
      break;
    }
    for (;;) {
      std::size_t n = std::fread(buffer.data(), 1, buffer.size(), in);
      if (n > 0 && std::fwrite(buffer.data(), 1, n, out) != n) ok = false;
      if (n < buffer.size() || !ok) break;
    }
    if (std::ferror(in)) ok = false;
    std::fclose(in);
    if (!ok) break;
  }
  if (std::fclose(out) != 0) ok = false;
  if (!ok) {
    std::error_code ignored;
    std::filesystem::remove(target, ignored);
    return io_error();
  }
  return {};
}

}  // namespace store_impl

// ---------------------------------------------------------------------------------------------
// Record format

OSS_DECL const std::string* record::find(std::string_view name) const noexcept {
  for (const auto& line : lines_)
    if (line.first == name) return &line.second;
  return nullptr;
}

OSS_DECL std::optional<std::uint64_t> record::find_number(std::string_view name) const noexcept {
  const std::string* v = find(name);
  if (!v) return std::nullopt;
  return parse_decimal(*v);
}

OSS_DECL std::string escape_value(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += digits[c >> 4];
          out += digits[c & 15];
        } else {
          out += ch;
        }
    }
  }
  return out;
}

OSS_DECL std::optional<std::string> unescape_value(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == s.size()) return std::nullopt;
    switch (s[i]) {
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'x': {
        if (s.size() - i < 3) return std::nullopt;  // two hex digits must follow
        unsigned v = 0;
        auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
        if (ec != std::errc{} || p != s.data() + i + 3) return std::nullopt;
        out += static_cast<char>(v);
        i += 2;
        break;
      }
      default: return std::nullopt;
    }
  }
  return out;
}

OSS_DECL std::string serialize_record(std::string_view magic, const record& r) {
  std::string out(magic);
  out += '\n';
  for (const auto& [name, value] : r.lines()) {
    out += name;
    out += ' ';
    out += escape_value(value);
    out += '\n';
  }
  return out;
}

OSS_DECL std::optional<record> parse_record(std::string_view magic, std::string_view text) {
  auto eol = text.find('\n');
  if (eol == std::string_view::npos || text.substr(0, eol) != magic) return std::nullopt;
  record r;
  std::size_t pos = eol + 1;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    // A record always ends with a line break; a missing one means a torn write.
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    auto space = line.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    auto value = unescape_value(line.substr(space + 1));
    if (!value) return std::nullopt;
    r.add(line.substr(0, space), *value);
  }
  return r;
}

OSS_DECL std::error_code write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  auto tmp = path;
  tmp += ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return {errno, std::generic_category()};
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = (std::fclose(f) == 0) && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp, path, ec);
  if (!ok || ec) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return ec ? ec : std::make_error_code(std::errc::io_error);
  }
  return {};
}

OSS_DECL std::optional<std::string> read_small_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return std::nullopt;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Records of objects, uploads and parts

OSS_DECL std::string part_info::etag() const {
  return "\"" + oss::detail::hex_upper(md5.data(), md5.size()) + "\"";
}

OSS_DECL record to_record(const object_info& o) {
  record r;
  r.add("key", o.key);
  r.add("size", o.size);
  r.add("etag", o.etag);
  r.add("crc64", o.crc64);
  if (!o.content_md5.empty()) r.add("content-md5", o.content_md5);
  r.add("type", o.object_type);
  r.add("last-modified", static_cast<std::uint64_t>(o.last_modified_ms));
  if (!o.data_file.empty()) r.add("data", o.data_file);
  store_impl::add_headers(r, o.headers);
  return r;
}

OSS_DECL std::optional<object_info> object_from_record(const record& r) {
  object_info o;
  auto key = r.find("key");
  auto size = r.find_number("size");
  auto etag = r.find("etag");
  auto crc = r.find_number("crc64");
  auto type = r.find("type");
  auto modified = r.find_number("last-modified");
  if (!key || !size || !etag || !crc || !type || !modified) return std::nullopt;
  o.key = *key;
  o.size = *size;
  o.etag = *etag;
  o.crc64 = *crc;
  o.object_type = *type;
  o.last_modified_ms = static_cast<std::int64_t>(*modified);
  if (auto md5 = r.find("content-md5")) o.content_md5 = *md5;
  if (auto data = r.find("data")) o.data_file = *data;
  if (!store_impl::read_headers(r, o.headers)) return std::nullopt;
  return o;
}

OSS_DECL record to_record(const upload_info& u) {
  record r;
  r.add("key", u.key);
  r.add("upload-id", u.upload_id);
  r.add("initiated", static_cast<std::uint64_t>(u.initiated_ms));
  r.add("forbid-overwrite", u.forbid_overwrite ? "true" : "false");
  store_impl::add_headers(r, u.headers);
  return r;
}

OSS_DECL std::optional<upload_info> upload_from_record(const record& r) {
  upload_info u;
  auto key = r.find("key");
  auto id = r.find("upload-id");
  auto initiated = r.find_number("initiated");
  if (!key || !id || !initiated) return std::nullopt;
  u.key = *key;
  u.upload_id = *id;
  u.initiated_ms = static_cast<std::int64_t>(*initiated);
  auto forbid = r.find("forbid-overwrite");
  u.forbid_overwrite = forbid && *forbid == "true";
  if (!store_impl::read_headers(r, u.headers)) return std::nullopt;
  return u;
}

OSS_DECL record to_record(const part_info& p) {
  record r;
  r.add("number", static_cast<std::uint64_t>(p.number));
  r.add("size", p.size);
  r.add("md5", oss::detail::hex_upper(p.md5.data(), p.md5.size()));
  r.add("crc64", p.crc64);
  r.add("last-modified", static_cast<std::uint64_t>(p.last_modified_ms));
  if (!p.data_file.empty()) r.add("data", p.data_file);
  return r;
}

OSS_DECL std::optional<part_info> part_from_record(const record& r) {
  part_info p;
  auto number = r.find_number("number");
  auto size = r.find_number("size");
  auto md5 = r.find("md5");
  auto crc = r.find_number("crc64");
  auto modified = r.find_number("last-modified");
  if (!number || *number < 1 || *number > 10000 || !size || !md5 || !crc || !modified) return std::nullopt;
  auto digest = store_impl::parse_md5_hex(*md5);
  if (!digest) return std::nullopt;
  p.number = static_cast<int>(*number);
  p.size = *size;
  p.md5 = *digest;
  p.crc64 = *crc;
  p.last_modified_ms = static_cast<std::int64_t>(*modified);
  if (auto data = r.find("data")) p.data_file = *data;
  return p;
}

// ---------------------------------------------------------------------------------------------
// body_writer

OSS_DECL body_writer::body_writer(std::filesystem::path path, bool discard) {
  if (discard) return;
  path_ = std::move(path);
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) {
    error_ = {errno, std::generic_category()};
    return;
  }
  // Bodies arrive in socket-read sized pieces; a larger buffer means fewer write calls.
  buffer_ = std::make_unique<char[]>(256 * 1024);
  std::setvbuf(file_, buffer_.get(), _IOFBF, 256 * 1024);
}

OSS_DECL body_writer::~body_writer() {
  if (file_) std::fclose(file_);
  if (!path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
}

OSS_DECL void body_writer::write(std::string_view bytes) {
  size_ += bytes.size();
  crc_ = oss::detail::crc64(crc_, bytes.data(), bytes.size());
  hasher_.update(bytes.data(), bytes.size());
  if (sha256_) sha256_->update(bytes);
  if (file_ && !error_ && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    error_ = {errno ? errno : EIO, std::generic_category()};
}

OSS_DECL std::error_code body_writer::finish() {
  md5_ = hasher_.finish();
  if (sha256_) sha256_digest_ = sha256_->finish();
  if (file_) {
    if (std::fclose(file_) != 0 && !error_) error_ = {errno ? errno : EIO, std::generic_category()};
    file_ = nullptr;
  }
  return error_;
}

// ---------------------------------------------------------------------------------------------
// store

OSS_DECL store::store(std::filesystem::path root, bool discard, store_rules rules)
    : root_(std::move(root)), discard_(discard), rules_(rules), rng_(std::random_device{}()) {
  std::filesystem::create_directories(root_);
}

OSS_DECL std::string store::etag_of(const part_info& p) const {
  if (!rules_.lower_case_etags) return p.etag();
  return "\"" + oss::detail::hex_lower(p.md5.data(), p.md5.size()) + "\"";
}

OSS_DECL std::int64_t store::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

OSS_DECL std::string store::random_hex(std::size_t digits) {
  std::string out;
  while (out.size() < digits) {
    std::uint64_t v = rng_();
    out += oss::detail::hex_upper(&v, sizeof v);
  }
  out.resize(digits);
  return out;
}

OSS_DECL std::filesystem::path store::object_meta_path(const std::string& bucket, const std::string& key) const {
  auto digest = oss::detail::sha256(key);
  return root_ / bucket / "objects" / (oss::detail::hex_lower(digest.data(), digest.size()) + ".meta");
}

OSS_DECL std::error_code store::ensure_bucket(const std::string& bucket) {
  std::lock_guard lock(mutex_);
  if (buckets_.count(bucket)) return {};
  std::error_code ec;
  auto dir = bucket_dir(bucket);
  for (const char* sub : {"objects", "uploads", "tmp"}) {
    std::filesystem::create_directories(dir / sub, ec);
    if (ec) return ec;
  }
  // Bodies that were being received when a previous server stopped are incomplete.
  for (auto it = std::filesystem::directory_iterator(dir / "tmp", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
  auto& state = buckets_[bucket];
  load_uploads_locked(bucket, state);
  return {};
}

OSS_DECL store::bucket_state* store::bucket_locked(const std::string& bucket) {
  auto it = buckets_.find(bucket);
  return it == buckets_.end() ? nullptr : &it->second;
}

OSS_DECL void store::load_uploads_locked(const std::string& bucket, bucket_state& state) {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(root_ / bucket / "uploads", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    auto text = read_small_file(it->path() / "meta");
    if (!text) continue;  // an aborted or completed upload whose folder could not be removed
    auto rec = parse_record(store_impl::upload_magic, *text);
    auto info = rec ? upload_from_record(*rec) : std::nullopt;
    if (!info || info->upload_id != it->path().filename().string()) continue;
    upload_state upload{*info, {}};
    std::error_code ec2;
    for (auto pit = std::filesystem::directory_iterator(it->path(), ec2);
         !ec2 && pit != std::filesystem::directory_iterator(); pit.increment(ec2)) {
      auto name = pit->path().filename().string();
      if (!name.starts_with("part-") || !name.ends_with(".meta")) continue;
      auto ptext = read_small_file(pit->path());
      auto prec = ptext ? parse_record(store_impl::part_magic, *ptext) : std::nullopt;
      auto part = prec ? part_from_record(*prec) : std::nullopt;
      if (!part) continue;
      if (!part->data_file.empty() && !std::filesystem::exists(it->path() / part->data_file)) continue;
      upload.parts[part->number] = std::move(*part);
    }
    state.uploads.emplace(info->upload_id, std::move(upload));
  }
}

OSS_DECL std::unique_ptr<body_writer> store::new_writer(const std::string& bucket) {
  std::filesystem::path path;
  if (!discard_) {
    std::lock_guard lock(mutex_);
    path = root_ / bucket / "tmp" / (random_hex(16) + ".body");
  }
  return std::unique_ptr<body_writer>(new body_writer(std::move(path), discard_));
}

OSS_DECL std::optional<object_info> store::read_object_locked(const std::string& bucket, const std::string& key) {
  auto text = read_small_file(object_meta_path(bucket, key));
  if (!text) return std::nullopt;
  auto rec = parse_record(store_impl::object_magic, *text);
  auto info = rec ? object_from_record(*rec) : std::nullopt;
  if (!info || info->key != key) return std::nullopt;
  return info;
}

OSS_DECL std::optional<object_info> store::find_object(const std::string& bucket, const std::string& key) {
  std::lock_guard lock(mutex_);
  return read_object_locked(bucket, key);
}

OSS_DECL std::optional<object_reader> store::open_object(const std::string& bucket, const std::string& key,
                                                         std::error_code& ec) {
  std::lock_guard lock(mutex_);
  auto info = read_object_locked(bucket, key);
  if (!info) {
    ec = store_impl::errc(error_id::no_such_key);
    return std::nullopt;
  }
  object_reader reader;
  if (!info->data_file.empty()) {
    // Opened under the lock: an overwrite after this point unlinks the old file, and the open
    // handle keeps reading the old bytes, as a reader of a replaced OSS object would.
    reader.file = std::fopen((root_ / bucket / "objects" / info->data_file).c_str(), "rb");
    if (!reader.file) {
      ec = store_impl::io_error();
      return std::nullopt;
    }
  }
  reader.info = std::move(*info);
  return reader;
}

OSS_DECL std::error_code store::write_object_locked(const std::string& bucket, const object_info& info_in,
                                                    const std::filesystem::path* data_source) {
  object_info info = info_in;
  auto meta = object_meta_path(bucket, info.key);
  auto old = read_object_locked(bucket, info.key);
  info.data_file.clear();
  std::error_code ec;
  if (data_source) {
    info.data_file = meta.stem().string() + "." + random_hex(16) + ".data";
    std::filesystem::rename(*data_source, root_ / bucket / "objects" / info.data_file, ec);
    if (ec) return store_impl::io_error();
  }
  if (write_file_atomic(meta, serialize_record(store_impl::object_magic, to_record(info)))) {
    if (!info.data_file.empty()) std::filesystem::remove(root_ / bucket / "objects" / info.data_file, ec);
    return store_impl::io_error();
  }
  if (old && !old->data_file.empty()) std::filesystem::remove(root_ / bucket / "objects" / old->data_file, ec);
  return {};
}

OSS_DECL std::error_code store::put_object(const std::string& bucket, object_info info, body_writer& body,
                                           bool forbid_overwrite) {
  std::lock_guard lock(mutex_);
  if (forbid_overwrite && read_object_locked(bucket, info.key)) return store_impl::errc(error_id::file_already_exists);
  const std::filesystem::path* source = discard_ ? nullptr : &body.path_;
  auto ec = write_object_locked(bucket, info, source);
  if (!ec && source) body.path_.clear();  // the file now belongs to the object
  return ec;
}

OSS_DECL bool store::delete_object(const std::string& bucket, const std::string& key) {
  std::lock_guard lock(mutex_);
  auto old = read_object_locked(bucket, key);
  if (!old) return false;
  std::error_code ec;
  std::filesystem::remove(object_meta_path(bucket, key), ec);
  if (!old->data_file.empty()) std::filesystem::remove(root_ / bucket / "objects" / old->data_file, ec);
  return true;
}

OSS_DECL std::string store::create_upload(const std::string& bucket, upload_info info, std::error_code& ec) {
  std::lock_guard lock(mutex_);
  auto* state = bucket_locked(bucket);
  if (!state) {
    ec = store_impl::errc(error_id::no_such_bucket);
    return {};
  }
  std::string id;
  do {
    id = random_hex(32);
  } while (state->uploads.count(id));
  info.upload_id = id;
  auto dir = upload_dir(bucket, id);
  std::filesystem::create_directories(dir, ec);
  if (!ec) ec = write_file_atomic(dir / "meta", serialize_record(store_impl::upload_magic, to_record(info)));
  if (ec) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
    ec = store_impl::io_error();
    return {};
  }
  state->uploads.emplace(id, upload_state{std::move(info), {}});
  return id;
}

OSS_DECL std::optional<upload_info> store::find_upload(const std::string& bucket, const std::string& upload_id) {
  std::lock_guard lock(mutex_);
  auto* state = bucket_locked(bucket);
  if (!state) return std::nullopt;
  auto it = state->uploads.find(upload_id);
  if (it == state->uploads.end()) return std::nullopt;
  return it->second.info;
}

OSS_DECL std::error_code store::put_part(const std::string& bucket, const std::string& upload_id,
                                         const std::string& key, int number, body_writer& body) {
  std::lock_guard lock(mutex_);
  auto* state = bucket_locked(bucket);
  auto it = state ? state->uploads.find(upload_id) : decltype(state->uploads.end()){};
  // An upload id is only valid together with the key it was initiated for.
  if (!state || it == state->uploads.end() || it->second.info.key != key)
    return store_impl::errc(error_id::no_such_upload);
  auto dir = upload_dir(bucket, upload_id);
  part_info part;
  part.number = number;
  part.size = body.size();
  part.md5 = body.md5();
  part.crc64 = body.crc64();
  part.last_modified_ms = now_ms();
  std::error_code ec;
  if (!discard_) {
    part.data_file = "part-" + std::to_string(number) + "." + random_hex(16) + ".data";
    std::filesystem::rename(body.path_, dir / part.data_file, ec);
    if (ec) return store_impl::io_error();
    body.path_.clear();
  }
  auto meta = dir / ("part-" + std::to_string(number) + ".meta");
  if (write_file_atomic(meta, serialize_record(store_impl::part_magic, to_record(part)))) {
    if (!part.data_file.empty()) std::filesystem::remove(dir / part.data_file, ec);
    return store_impl::io_error();
  }
  auto& slot = it->second.parts[number];
  // The part being replaced may be read by a Complete right now; that Complete holds its own
  // hard link to the bytes, so removing this name is safe.
  if (!slot.data_file.empty() && slot.data_file != part.data_file) std::filesystem::remove(dir / slot.data_file, ec);
  slot = std::move(part);
  return {};
}

OSS_DECL std::optional<std::vector<part_info>> store::list_parts(const std::string& bucket,
                                                                 const std::string& upload_id,
                                                                 const std::string& key) {
  std::lock_guard lock(mutex_);
  auto* state = bucket_locked(bucket);
  if (!state) return std::nullopt;
  auto it = state->uploads.find(upload_id);
  if (it == state->uploads.end() || it->second.info.key != key) return std::nullopt;
  std::vector<part_info> parts;
  parts.reserve(it->second.parts.size());
  for (const auto& [n, p] : it->second.parts) parts.push_back(p);
  return parts;
}

OSS_DECL std::vector<upload_info> store::list_uploads(const std::string& bucket) {
  std::lock_guard lock(mutex_);
  std::vector<upload_info> out;
  auto* state = bucket_locked(bucket);
  if (!state) return out;
  for (const auto& [id, u] : state->uploads) out.push_back(u.info);
  std::sort(out.begin(), out.end(), [](const upload_info& a, const upload_info& b) {
    return a.key != b.key ? a.key < b.key : a.upload_id < b.upload_id;
  });
  return out;
}

OSS_DECL std::error_code store::abort_upload(const std::string& bucket, const std::string& upload_id,
                                             const std::string& key) {
  std::lock_guard lock(mutex_);
  auto* state = bucket_locked(bucket);
  if (!state) return store_impl::errc(error_id::no_such_upload);
  auto it = state->uploads.find(upload_id);
  if (it == state->uploads.end() || it->second.info.key != key) return store_impl::errc(error_id::no_such_upload);
  state->uploads.erase(it);
  std::error_code ignored;
  std::filesystem::remove_all(upload_dir(bucket, upload_id), ignored);
  return {};
}

OSS_DECL std::error_code store::complete_upload(const std::string& bucket, const std::string& upload_id,
                                                const std::string& key,
                                                const std::vector<part_selection>& selection, bool complete_all,
                                                bool forbid_overwrite, complete_outcome& out, std::string& message) {
  using store_impl::errc;
  std::vector<part_info> chosen;
  upload_info info;
  std::vector<std::filesystem::path> links;
  std::filesystem::path tmp_object;
  auto remove_links = [&] {
    std::error_code ignored;
    for (const auto& l : links) std::filesystem::remove(l, ignored);
  };

  {
    std::lock_guard lock(mutex_);
    auto* state = bucket_locked(bucket);
    auto it = state ? state->uploads.find(upload_id) : decltype(state->uploads.end()){};
    if (!state || it == state->uploads.end() || it->second.info.key != key)
      return errc(error_id::no_such_upload);
    info = it->second.info;
    const auto& parts = it->second.parts;

    if (complete_all) {
      for (const auto& [n, p] : parts) chosen.push_back(p);
      if (chosen.empty()) {
        message = "The upload has no parts to complete.";
        return errc(error_id::invalid_part);
      }
    } else {
      int previous = 0;
      for (const auto& sel : selection) {
        if (sel.number <= previous) {
          message = "The list of parts was not in ascending order. Parts list must be specified in order by part number.";
          return errc(error_id::invalid_part_order);
        }
        previous = sel.number;
        auto p = parts.find(sel.number);
        if (p == parts.end() || normalize_etag(sel.etag) != normalize_etag(p->second.etag())) {
          message = "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.";
          return errc(error_id::invalid_part);
        }
        chosen.push_back(p->second);
      }
    }
    for (std::size_t i = 0; i + 1 < chosen.size(); ++i) {
      if (chosen[i].size < rules_.min_part_size) {
        message = "Your proposed upload is smaller than the minimum allowed size: part " +
                  std::to_string(chosen[i].number) + " has " + std::to_string(chosen[i].size) +
                  " bytes, every part but the last must have at least " + std::to_string(rules_.min_part_size) + ".";
        out.small_part_number = chosen[i].number;
        out.small_part_size = chosen[i].size;
        out.small_part_etag = etag_of(chosen[i]);
        return errc(error_id::entity_too_small);
      }
    }
    if ((forbid_overwrite || info.forbid_overwrite) && read_object_locked(bucket, key)) {
      message = "The object you specified already exists and can not be overwritten.";
      return errc(error_id::file_already_exists);
    }
    if (!discard_) {
      // Hard links pin the chosen parts' bytes, so a part re-sent or an upload aborted while
      // the object is being assembled (outside the lock) cannot pull the bytes away.
      auto dir = upload_dir(bucket, upload_id);
      for (const auto& p : chosen) {
        if (p.data_file.empty()) {
          remove_links();
          message = "Part " + std::to_string(p.number) + " was uploaded to a server that discarded its bytes.";
          return errc(error_id::invalid_part);
        }
        auto link = root_ / bucket / "tmp" / (random_hex(16) + ".link");
        std::error_code ec;
        std::filesystem::create_hard_link(dir / p.data_file, link, ec);
        if (ec) std::filesystem::copy_file(dir / p.data_file, link, ec);
        if (ec) {
          remove_links();
          return store_impl::io_error();
        }
        links.push_back(link);
      }
      tmp_object = root_ / bucket / "tmp" / (random_hex(16) + ".object");
    }
  }

  // The multipart ETag: MD5 of the concatenated binary part MD5s, then "-<part count>".
  // The whole-object CRC-64 folds the part CRCs (oss-protocol.md section 6.3).
  oss::detail::md5_hasher etag_hasher;
  oss::detail::crc64_concat whole;
  for (const auto& p : chosen) {
    etag_hasher.update(p.md5.data(), p.md5.size());
    whole.append(p.crc64, p.size);
  }
  const std::uint64_t crc = whole.crc;
  const std::uint64_t size = whole.size;
  auto digest = etag_hasher.finish();
  object_info object;
  object.key = key;
  object.size = size;
  object.crc64 = crc;
  const std::string hex = rules_.lower_case_etags ? oss::detail::hex_lower(digest.data(), digest.size())
                                                  : oss::detail::hex_upper(digest.data(), digest.size());
  object.etag = "\"" + hex + "-" + std::to_string(chosen.size()) + "\"";
  object.object_type = "Multipart";
  object.last_modified_ms = now_ms();
  object.headers = info.headers;

  if (!discard_) {
    auto ec = store_impl::concatenate(links, tmp_object);
    remove_links();
    if (ec) return ec;
  }

  std::lock_guard lock(mutex_);
  auto drop_tmp = [&] {
    std::error_code ignored;
    if (!tmp_object.empty()) std::filesystem::remove(tmp_object, ignored);
  };
  auto* state = bucket_locked(bucket);
  auto it = state->uploads.find(upload_id);
  // Another Complete or an Abort finished first: this upload id is gone, as on OSS.
  if (it == state->uploads.end()) {
    drop_tmp();
    return errc(error_id::no_such_upload);
  }
  if ((forbid_overwrite || info.forbid_overwrite) && read_object_locked(bucket, key)) {
    drop_tmp();
    message = "The object you specified already exists and can not be overwritten.";
    return errc(error_id::file_already_exists);
  }
  auto ec = write_object_locked(bucket, object, discard_ ? nullptr : &tmp_object);
  if (ec) {
    drop_tmp();
    return ec;
  }
  state->uploads.erase(it);
  std::error_code ignored;
  std::filesystem::remove_all(upload_dir(bucket, upload_id), ignored);
  out.object = std::move(object);
  out.part_count = chosen.size();
  return {};
}

}  // namespace oss::testing::detail

#endif  // OSS_TESTING_SERVER_IMPL_STORE_IPP
