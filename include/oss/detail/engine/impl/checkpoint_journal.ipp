// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_ENGINE_IMPL_CHECKPOINT_JOURNAL_IPP
#define OSS_DETAIL_ENGINE_IMPL_CHECKPOINT_JOURNAL_IPP

#include <oss/detail/engine/checkpoint_journal.hpp>

#include <oss/detail/ascii.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace oss::detail {

namespace journal_impl {

inline constexpr std::string_view magic = "oss-checkpoint-journal 1 ";

// A checksum against torn and zero-filled tails, not against tampering.
inline std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

inline std::string hex16(std::uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) out[static_cast<std::size_t>(i)] = digits[v & 15];
  return out;
}

inline std::optional<std::uint64_t> u64_of(const boost::json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  return std::nullopt;
}

// One record line without its newline, or nothing when it is not a whole, intact record.
inline std::optional<part_record> parse_record(std::string_view line) {
  const std::size_t space = line.rfind(' ');
  if (space == std::string_view::npos || line.size() - space - 1 != 16) return std::nullopt;
  const std::string_view body = line.substr(0, space);
  if (hex16(fnv1a64(body)) != line.substr(space + 1)) return std::nullopt;
  std::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const boost::json::object& o = v.get_object();
  const auto number = u64_of(o.if_contains("number"));
  const auto size = u64_of(o.if_contains("size"));
  const boost::json::value* etag = o.if_contains("etag");
  const boost::json::value* crc = o.if_contains("crc64");
  if (!number || *number < 1 || *number > 10000 || !size || !etag || !etag->is_string() || !crc ||
      !crc->is_string())
    return std::nullopt;
  const std::optional<std::uint64_t> crc64 = parse_decimal(std::string_view(crc->get_string()));
  if (!crc64) return std::nullopt;
  return part_record{static_cast<int>(*number), std::string(etag->get_string()), *size, *crc64};
}

inline std::error_code errno_code() { return {errno, std::system_category()}; }

inline bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace journal_impl

OSS_DECL std::filesystem::path journal_path_of(const std::filesystem::path& checkpoint_path) {
  std::filesystem::path p = checkpoint_path;
  p += ".journal";
  return p;
}

OSS_DECL std::string journal_header(std::string_view upload_id) {
  std::string line(journal_impl::magic);
  line += upload_id;
  line += '\n';
  return line;
}

OSS_DECL std::string journal_record(const part_record& part) {
  boost::json::object o;
  o["number"] = part.number;
  o["etag"] = part.etag;
  o["size"] = part.size;
  o["crc64"] = std::to_string(part.crc64);
  std::string line = boost::json::serialize(o);
  const std::uint64_t sum = journal_impl::fnv1a64(line);
  line += ' ';
  line += journal_impl::hex16(sum);
  line += '\n';
  return line;
}

OSS_DECL std::string journal_id(const checkpoint& cp) {
  return cp.kind == download_checkpoint_kind ? cp.object_etag : cp.upload_id;
}

OSS_DECL std::size_t replay_journal(std::string_view text, checkpoint& cp) {
  const std::string id = journal_id(cp);
  if (cp.version < 1 || cp.state != checkpoint_state::uploading || id.empty()) return 0;
  const std::string header = journal_header(id);
  if (!text.starts_with(header)) return 0;
  text.remove_prefix(header.size());
  std::size_t applied = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) break;  // torn: the crash came mid-append
    const std::optional<part_record> rec = journal_impl::parse_record(text.substr(0, end));
    if (!rec) break;
    text.remove_prefix(end + 1);
    auto same = [&](const part_record& p) { return p.number == rec->number; };
    auto it = std::find_if(cp.done_parts.begin(), cp.done_parts.end(), same);
    if (it != cp.done_parts.end())
      *it = *rec;
    else
      cp.done_parts.push_back(*rec);
    ++applied;
  }
  return applied;
}

OSS_DECL void replay_journal_file(const std::filesystem::path& checkpoint_path, checkpoint& cp,
                                  std::error_code& ec, std::string& problem) {
  ec.clear();
  const std::filesystem::path journal = journal_path_of(checkpoint_path);
  const int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      ec = journal_impl::errno_code();
      problem = "cannot open the checkpoint's journal " + journal.string();
    }
    return;
  }
  std::string text;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      ec = journal_impl::errno_code();
      problem = "cannot read the checkpoint's journal " + journal.string();
      ::close(fd);
      return;
    }
    if (n == 0) break;
    text.append(chunk, static_cast<std::size_t>(n));
    // 10 000 records take about 1.5 MB; past the checkpoint limit it is no journal of ours.
    if (text.size() > max_checkpoint_bytes) break;
  }
  ::close(fd);
  replay_journal(text, cp);
}

OSS_DECL void remove_checkpoint_files(const std::filesystem::path& checkpoint_path, std::error_code& ec) {
  ec.clear();
  std::error_code journal_ec;
  // The journal first: without its JSON a journal is never read, the other way round it would be.
  std::filesystem::remove(journal_path_of(checkpoint_path), journal_ec);
  std::filesystem::remove(checkpoint_path, ec);
  if (!ec) ec = journal_ec;
}

OSS_DECL void checkpoint_journal::close_journal() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  upload_id_.clear();
  header_bytes_ = 0;
}

OSS_DECL void checkpoint_journal::compact(std::string_view json, std::string_view upload_id,
                                          std::error_code& ec) {
  using journal_impl::errno_code;
  write_file_atomically(path_, json, ec);
  if (ec) return;
  records_ = 0;
  if (upload_id.empty()) {
    // An intent has no parts to journal; a journal left from before names another upload.
    close_journal();
    ::unlink(journal_.c_str());
    return;
  }
  if (fd_ >= 0 && upload_id_ == upload_id) {
    // Everything the journal held is in the JSON now.
    if (::ftruncate(fd_, static_cast<off_t>(header_bytes_)) != 0 || ::fdatasync(fd_) != 0) ec = errno_code();
    return;
  }
  close_journal();
  const int fd = ::open(journal_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    ec = errno_code();
    return;
  }
  const std::string header = journal_header(upload_id);
  if (::ftruncate(fd, 0) != 0 || !journal_impl::write_all(fd, header) || ::fsync(fd) != 0) {
    ec = errno_code();
    ::close(fd);
    return;
  }
  // The journal's folder entry must be durable too, or its records could vanish with it.
  std::filesystem::path dir = journal_.parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int r = ::fsync(dfd);
    if (r != 0 && errno != EINVAL && errno != EROFS) ec = errno_code();
    ::close(dfd);
  }
  if (ec) {
    ::close(fd);
    return;
  }
  fd_ = fd;
  upload_id_ = std::string(upload_id);
  header_bytes_ = header.size();
}

OSS_DECL void checkpoint_journal::append(std::string_view records, std::size_t count, std::error_code& ec) {
  ec.clear();
  if (fd_ < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return;
  }
  if (!journal_impl::write_all(fd_, records) || ::fdatasync(fd_) != 0) {
    ec = journal_impl::errno_code();
    return;
  }
  // Appends to a journal that was deleted (its folder removed) succeed and reach nothing a
  // later run could read: that is a failed save, as a rewrite of the JSON would have found.
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ec = journal_impl::errno_code();
    return;
  }
  if (st.st_nlink == 0) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return;
  }
  records_ += count;
}

}  // namespace oss::detail

#endif  // OSS_DETAIL_ENGINE_IMPL_CHECKPOINT_JOURNAL_IPP
