// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_EXAMPLES_OSS_UPLOAD_FOLDER_HPP
#define OSS_EXAMPLES_OSS_UPLOAD_FOLDER_HPP

// oss-upload --recursive DIR PREFIX (oss_upload.cpp): every regular file of a folder, --jobs at
// a time, under one budget, with a checkpoint and a "done" record per file in --checkpoint-dir.
#include "oss_upload_common.hpp"

#include <boost/json.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace oss_upload {

// ---------------------------------------------------------------------------------------------
// --recursive DIR PREFIX: every regular file of a folder, --jobs at a time, under one budget

struct folder_file {
  std::filesystem::path path;
  std::string name;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

inline std::int64_t mtime_ns_of(const struct stat& st) {
  return std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The regular files under `dir`, sorted, named PREFIX/relative/path; `left_out` counts what is
// not a regular file (symbolic links, sockets...). Throws std::filesystem::filesystem_error.
inline std::vector<folder_file> list_folder(const std::filesystem::path& dir, const std::string& prefix,
                                            std::size_t& left_out) {
  namespace fs = std::filesystem;
  std::vector<folder_file> files;
  const std::string lead = prefix.empty() || prefix.ends_with('/') ? prefix : prefix + "/";
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    const fs::file_status st = it->symlink_status();
    if (fs::is_directory(st)) continue;
    struct stat info {};
    if (!fs::is_regular_file(st) || ::stat(it->path().c_str(), &info) != 0) {
      ++left_out;
      continue;
    }
    files.push_back({it->path(), lead + it->path().lexically_relative(dir).generic_string(),
                     static_cast<std::uint64_t>(info.st_size), mtime_ns_of(info)});
  }
  std::sort(files.begin(), files.end(), [](const folder_file& a, const folder_file& b) { return a.name < b.name; });
  return files;
}

// Where a file's checkpoint and "done" record live in --checkpoint-dir: named by a hash of the
// object name (FNV-1a), since names may hold slashes and run long. Each record holds the name, so
// a collision is seen, not trusted.
inline std::filesystem::path record_path(const std::string& dir, const std::string& name, const char* extension) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, h);
  return std::filesystem::path(dir) / (std::string(hex) + extension);
}

// Whether `f` was verified by an earlier run and has not changed since (same size and
// modification time); that run's JSON line then goes to `line`, marked as skipped.
inline bool done_before(const std::string& dir, const folder_file& f, std::string& line) {
  std::FILE* in = std::fopen(record_path(dir, f.name, ".done").c_str(), "rb");
  if (!in) return false;
  char buf[16384];
  const std::size_t n = std::fread(buf, 1, sizeof buf, in);
  std::fclose(in);
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(std::string_view(buf, n), ec);
  if (ec || !v.is_object()) return false;
  const boost::json::object& o = v.get_object();
  const auto* name = o.if_contains("name");
  const auto* size = o.if_contains("size");
  const auto* mtime = o.if_contains("mtime_ns");
  const auto* shown = o.if_contains("line");
  if (!name || !name->is_string() || name->get_string() != f.name) return false;
  if (!size || !size->is_int64() || static_cast<std::uint64_t>(size->get_int64()) != f.size) return false;
  if (!mtime || !mtime->is_int64() || mtime->get_int64() != f.mtime_ns) return false;
  if (!shown || !shown->is_string() || !shown->get_string().ends_with("}")) return false;
  const std::string_view text = shown->get_string();
  line = std::string(text.substr(0, text.size() - 1)) + ",\"skipped\":true}";
  return true;
}

// Records a verified upload: its JSON line, and the size and modification time it had (written
// aside and renamed, so a crash leaves no half record).
inline bool record_done(const std::string& dir, const folder_file& f, const std::string& line) {
  const std::filesystem::path path = record_path(dir, f.name, ".done");
  const std::string text = "{\"name\":" + oss_tools::json_string(f.name) + ",\"size\":" + std::to_string(f.size) +
                           ",\"mtime_ns\":" + std::to_string(f.mtime_ns) + ",\"line\":" + oss_tools::json_string(line) +
                           "}\n";
  const std::string aside = path.string() + ".tmp";
  std::FILE* out = std::fopen(aside.c_str(), "wb");
  if (!out) return false;
  const bool written = std::fwrite(text.data(), 1, text.size(), out) == text.size();
  if (std::fclose(out) != 0 || !written) return false;
  return std::rename(aside.c_str(), path.c_str()) == 0;
}

// The upload of one folder: the files, what each has done, and how the run ends.
class folder_upload {
 public:
  // `part_size`: of the files without a checkpoint; `left_out`: entries that are not regular files.
  folder_upload(const command_line& cl, oss::client& client, asio::io_context& io, std::vector<folder_file> files,
                oss_tools::progress_printer& printer, std::uint64_t part_size, std::size_t left_out)
      : cl_(cl), client_(client), io_(io), files_(std::move(files)), printer_(printer), part_size_(part_size),
        left_out_(left_out), done_(files_.size(), 0), skip_(files_.size(), false), upload_ids_(files_.size()),
        cancels_(std::min(cl.jobs, std::max<std::size_t>(files_.size(), 1))) {
    for (const auto& f : files_) total_ += f.size;
  }

  // Runs every file; the exit status.
  int run(oss_tools::interrupt_handler& signals) {
    const auto start = clock_type::now();
    for (std::size_t i = 0; i < files_.size(); ++i) {
      std::string line;
      if (!cl_.checkpoint_dir.empty() && done_before(cl_.checkpoint_dir, files_[i], line)) {
        std::printf("%s\n", line.c_str());
        done_[i] = files_[i].size;
        skip_[i] = true;
        ++skipped_;
      }
    }
    std::fflush(stdout);
    report(oss::progress_stage::started);
    for (std::size_t slot = 0; slot < cancels_.size(); ++slot)
      asio::co_spawn(io_, job(), asio::bind_cancellation_slot(cancels_[slot].slot(), [this, &signals](std::exception_ptr e) {
                       if (e) std::rethrow_exception(e);
                       if (++jobs_ended_ == cancels_.size()) signals.done();
                     }));
    io_.run();
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (failed_ == 0 && !interrupted_) report(oss::progress_stage::completed);
    printer_.finish_line();
    if (interrupted_) return stop_after_interrupt();
    std::printf("{\"summary\":{\"files\":%zu,\"uploaded\":%zu,\"skipped\":%zu,\"failed\":%zu,\"left_out\":%zu,"
                "\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"mib_per_s\":%.1f}}\n",
                files_.size(), uploaded_, skipped_, failed_, left_out_, bytes_uploaded_, seconds,
                seconds > 0 ? double(bytes_uploaded_) / (1024.0 * 1024) / seconds : 0.0);
    std::fflush(stdout);
    if (std::ferror(stdout)) return oss_tools::exit_failed;
    return failed_ ? first_failure_status_ : oss_tools::exit_ok;
  }

  // SIGINT or SIGTERM: every upload in flight is cancelled (its checkpoint is saved).
  void interrupt() {
    interrupted_ = true;
    for (auto& c : cancels_) c.emit(asio::cancellation_type::terminal);
  }

 private:
  asio::awaitable<void> job() {
    co_await asio::this_coro::throw_if_cancelled(false);
    while (!interrupted_ && next_ < files_.size()) {
      const std::size_t i = next_++;
      if (!skip_[i]) co_await upload(i);
    }
  }

  asio::awaitable<void> upload(std::size_t i) {
    const folder_file& f = files_[i];
    oss::upload_options opts;
    opts.parallel = cl_.parallel;
    opts.part_size = part_size_;
    if (!cl_.checkpoint_dir.empty()) {
      const std::string checkpoint = record_path(cl_.checkpoint_dir, f.name, ".json").string();
      opts.checkpoint = checkpoint;
      std::error_code ec;
      std::string problem;
      const oss::checkpoint cp = read_checkpoint(checkpoint, ec, problem);
      if (!ec && cp.part_size > 0 && !cl_.part_size) opts.part_size = cp.part_size;
    }
    opts.meta = cl_.meta;
    opts.mime = cl_.mime;
    opts.headers = cl_.headers;
    opts.require_server_crc = !cl_.no_server_crc;
    opts.abort_on_failure = cl_.checkpoint_dir.empty();
    opts.progress = [this, i](const oss::progress_event& e) {
      upload_ids_[i] = e.checkpoint.upload_id;
      done_[i] = e.bytes_done;
      report(oss::progress_stage::part_done);
    };
    oss::diagnostics diag;
    oss::upload_source source(f.path.string());  // named: GCC 12 mishandles temporaries in a co_await
    const auto start = clock_type::now();
    auto [ec, r] = co_await oss::async_multipart_upload(client_, f.name, std::move(source), std::move(opts), diag,
                                                        asio::experimental::as_tuple(asio::use_awaitable));
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    if (!ec) {
      upload_ids_[i].clear();
      done_[i] = f.size;
      ++uploaded_;
      bytes_uploaded_ += r.bytes_uploaded;
      const std::string line = upload_line(r, seconds);
      printer_.finish_line();
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      if (!cl_.checkpoint_dir.empty() && !record_done(cl_.checkpoint_dir, f, line))
        std::fprintf(stderr, "oss-upload: %s was uploaded, but its record in %s cannot be written: a rerun "
                             "uploads it again\n", f.path.c_str(), cl_.checkpoint_dir.c_str());
      report(oss::progress_stage::part_done);
      co_return;
    }
    if (interrupted_ && oss_tools::exit_status_for(ec, true, diag) == oss_tools::exit_interrupted) co_return;
    ++failed_;
    const int status = oss_tools::exit_status_for(ec, false, diag);
    if (first_failure_status_ == oss_tools::exit_ok) first_failure_status_ = status;
    printer_.finish_line();
    const std::string checkpoint = cl_.checkpoint_dir.empty() ? std::string() : record_path(cl_.checkpoint_dir, f.name, ".json").string();
    std::fprintf(stderr, "oss-upload: %s: %s\n", f.path.c_str(),
                 oss_tools::describe_failure(ec, diag, {client_.endpoint_url(), checkpoint}).c_str());
  }

  // One event for all files: bytes of every file, files done of all.
  void report(oss::progress_stage stage) {
    std::uint64_t bytes = 0;
    for (auto b : done_) bytes += b;
    static const oss::checkpoint none;
    const std::uint32_t files_done = static_cast<std::uint32_t>(uploaded_ + skipped_);
    const oss::progress_event e{
        total_ ? double(bytes) / double(total_) : 0.0,
        bytes, total_, 0, files_done, static_cast<std::uint32_t>(files_.size()), std::nullopt, none, {}, stage};
    printer_(e);
  }

  // After an interrupt: the checkpoints are saved; without --checkpoint-dir nothing could
  // resume the unfinished uploads, so they are aborted.
  int stop_after_interrupt() {
    if (!cl_.checkpoint_dir.empty()) {
      std::fprintf(stderr, "oss-upload: interrupted; checkpoints saved in %s: run the same command again to "
                           "resume\n", cl_.checkpoint_dir.c_str());
      return oss_tools::exit_interrupted;
    }
    std::size_t open = 0, aborted = 0;
    io_.restart();
    for (std::size_t i = 0; i < files_.size(); ++i) {
      if (upload_ids_[i].empty()) continue;
      ++open;
      asio::co_spawn(io_, abort_briefly(client_, files_[i].name, upload_ids_[i]),
                     [&aborted](std::exception_ptr e, bool ok) { aborted += !e && ok; });
    }
    io_.run();
    std::fprintf(stderr, "oss-upload: interrupted; %zu of %zu unfinished uploads aborted on the server\n", aborted, open);
    return oss_tools::exit_interrupted;
  }

  const command_line& cl_;
  oss::client& client_;
  asio::io_context& io_;
  std::vector<folder_file> files_;
  oss_tools::progress_printer& printer_;
  const std::uint64_t part_size_;
  const std::size_t left_out_;
  std::vector<std::uint64_t> done_;  // bytes of each file the server holds, as last reported
  std::vector<bool> skip_;           // verified by an earlier run
  std::vector<std::string> upload_ids_;  // of the uploads in flight
  std::vector<asio::cancellation_signal> cancels_;  // one per job
  std::uint64_t total_ = 0;
  std::size_t next_ = 0;
  std::size_t jobs_ended_ = 0;
  std::size_t uploaded_ = 0, skipped_ = 0, failed_ = 0;
  std::uint64_t bytes_uploaded_ = 0;
  int first_failure_status_ = oss_tools::exit_ok;
  bool interrupted_ = false;
};

inline int upload_folder(const command_line& cl, oss::client_options client_opts, std::uint64_t part_size) {
  std::size_t left_out = 0;
  std::vector<folder_file> files;
  try {
    if (!std::filesystem::is_directory(cl.file))
      throw usage_error{"--recursive needs a folder, and " + cl.file + " is not one"};
    files = list_folder(cl.file, cl.name, left_out);
    if (!cl.checkpoint_dir.empty()) std::filesystem::create_directories(cl.checkpoint_dir);
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "oss-upload: cannot read the folder %s: %s\n", e.path1().c_str(), e.code().message().c_str());
    return oss_tools::exit_usage;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-upload: %s\n", e.message.c_str());
    return oss_tools::exit_usage;
  }
  client_opts.max_connections = std::max<std::size_t>(client_opts.max_connections, cl.jobs * cl.parallel);
  asio::io_context io;
  int status = oss_tools::exit_ok;
  std::unique_ptr<oss::client> client = make_client(io, client_opts, cl, status);
  if (!client) return status;

  const auto mode = cl.quiet                  ? oss_tools::progress_printer::mode::quiet
                    : ::isatty(STDERR_FILENO) ? oss_tools::progress_printer::mode::bar
                                              : oss_tools::progress_printer::mode::lines;
  oss_tools::progress_printer printer(mode, clock_type::now(),
                                      {"oss-upload", "uploading", "already on the server", "file", "files"});
  folder_upload run(cl, *client, io, std::move(files), printer, part_size, left_out);
  if (left_out && !cl.quiet)
    std::fprintf(stderr, "oss-upload: %zu entr%s under %s %s not a regular file (a symbolic link, a socket...) and "
                         "%s left out\n", left_out, left_out == 1 ? "y" : "ies", cl.file.c_str(),
                 left_out == 1 ? "is" : "are", left_out == 1 ? "is" : "are");
  oss_tools::interrupt_handler signals(io, "oss-upload", printer, [&run] { run.interrupt(); });
  return run.run(signals);
}

}  // namespace oss_upload

#endif  // OSS_EXAMPLES_OSS_UPLOAD_FOLDER_HPP
