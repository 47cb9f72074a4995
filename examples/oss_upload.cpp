// oss-upload: upload one file to OSS with a resumable, concurrent multipart upload.
//
//   oss-upload [OPTIONS] FILE NAME
//   oss-upload [OPTIONS] --abort --checkpoint PATH
//
// The command-line contract (design.md section 5), which scripts, benchmarks and tests rely on:
//  - stderr: a live progress bar when stderr is a terminal, plain progress lines otherwise,
//    nothing with --quiet; errors as one line each.
//  - stdout: exactly one line, a JSON object, after a verified upload:
//    {"name":…,"etag":…,"crc64":"…","size":…,"parts":…,"seconds":…,"mib_per_s":…,"verified":"…"}
//  - exit status: 0 uploaded and verified (--abort: aborted, or already gone); 2 usage or bad
//    input (also a checkpoint another run is using); 3 refused by the server, or a reply no OSS
//    server sends (an unusable UploadId included); 4 network or timeout (run again with the
//    same --checkpoint to resume); 5 integrity: a checksum of the bytes differed, or the server
//    never confirmed the object's CRC-64 (see --no-server-crc); 130 interrupted by SIGINT or
//    SIGTERM (checkpoint saved, in-flight parts cancelled).
//
// Everything the upload does is oss::multipart_upload; this file turns the command line into
// its options, draws progress, and maps the outcome to an exit status.
#include "tool_support.hpp"

#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/json_impl.hpp>  // the checkpoint file is JSON; this is its one translation unit
#include <oss/multipart_upload.hpp>

#include <boost/json.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <asio/posix/stream_descriptor.hpp>

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#ifndef OSS_TOOL_VERSION
#define OSS_TOOL_VERSION "unknown"
#endif

namespace {

using oss_tools::usage_error;
using clock_type = std::chrono::steady_clock;

// The JSON line's "verified": how the server confirmed the whole object.
const char* verified_word(oss::object_check check) {
  switch (check) {
    case oss::object_check::reply_crc64: return "crc64-reply";
    case oss::object_check::head_crc64: return "crc64-head";
    case oss::object_check::multipart_etag: return "multipart-etag";
    case oss::object_check::content_md5: return "content-md5";
    case oss::object_check::none: break;
  }
  return "none";
}

constexpr const char* usage_line =
    "usage: oss-upload [OPTIONS] FILE NAME\n"
    "       oss-upload [OPTIONS] --recursive DIR PREFIX\n"
    "       oss-upload [OPTIONS] --initiate NAME\n"
    "       oss-upload [OPTIONS] --upload-id ID --parts A-B FILE NAME\n"
    "       oss-upload [OPTIONS] --complete --upload-id ID --parts 1-N NAME\n"
    "       oss-upload [OPTIONS] --abort --checkpoint PATH\n";

void print_help() {
  std::printf(
      "%s\n"
      "Uploads FILE (\"-\": standard input; a pipe is read as a stream whose parts grow so that\n"
      "5 TiB fit in 10000 parts) as object NAME with a resumable, concurrent multipart upload,\n"
      "verifies the object's CRC-64 (S3: each part's Content-MD5), and prints one JSON line on\n"
      "stdout:\n"
      "  {\"name\":…,\"etag\":…,\"crc64\":\"…\",\"size\":…,\"parts\":…,\"seconds\":…,\"mib_per_s\":…,\"verified\":\"…\"}\n"
      "(verified: how the server confirmed the object: crc64-reply, crc64-head, multipart-etag,\n"
      "content-md5, or none, which only --no-server-crc lets through)\n"
      "\n"
      "where the bucket is:\n%s"
      "\n"
      "the upload:\n"
      "  --parallel N            parts in flight at once (default 5)\n"
      "  --part-size SIZE        bytes per part: 1048576, 512K, 8M, 1G, 8MiB ... (K, M, G are\n"
      "                          KiB, MiB, GiB; default 1MiB, 8MiB with --dialect s3, and\n"
      "                          the checkpoint's when resuming; 100KiB..5GiB, S3 5MiB..5GiB;\n"
      "                          raised so that no more than 10000 parts are needed)\n"
      "  --checkpoint PATH       record progress in PATH; if PATH exists, resume from it\n"
      "  --abort                 with --checkpoint PATH and no FILE NAME: abort the upload\n"
      "                          PATH records on the server, then delete PATH (an upload the\n"
      "                          server no longer has counts as aborted)\n"
      "  --no-server-crc         succeed even when no reply confirms the object's CRC-64 (a\n"
      "                          store that computes none, a proxy that strips the header);\n"
      "                          this gives up the proof that the stored object is FILE, so a\n"
      "                          difference could go unnoticed\n"
      "  --meta KEY=VALUE        user metadata, stored as x-oss-meta-KEY (S3: x-amz-meta-KEY)\n"
      "                          (repeatable)\n"
      "  --mime TYPE             Content-Type (default: guessed from NAME's extension)\n"
      "  --header 'Name: value'  Cache-Control, Content-Disposition, Content-Encoding,\n"
      "                          Expires, x-oss-* (S3: x-amz-*) (repeatable)\n"
      "  --spool-dir DIR         FILE -: where parts of standard input larger than 64MiB (or\n"
      "                          than half of --max-memory) are kept while they are sent, as\n"
      "                          unnamed temporary files (default: $TMPDIR, else /tmp)\n"
      "  --quiet, -q             no progress output\n"
      "\n"
      "folders:\n"
      "  --recursive             upload every regular file under DIR as PREFIX/RELATIVE/PATH\n"
      "                          (symbolic links and other non-regular files are left out):\n"
      "                          one progress bar for all, one JSON line per file on stdout as\n"
      "                          it is verified, then {\"summary\":{...}}; a file that fails does\n"
      "                          not stop the others\n"
      "  --jobs N                files uploaded at once (default 4), each with --parallel parts,\n"
      "                          all under one --max-memory and --limit-rate\n"
      "  --checkpoint-dir DIR    a checkpoint per file in DIR (created if missing); a rerun skips\n"
      "                          the files verified before (same size and modification time)\n"
      "                          and resumes the others\n"
      "\n"
      "one object from several processes or machines (the object store coordinates):\n"
      "  --initiate              start an upload of NAME (with --meta, --mime, --header) and\n"
      "                          print {\"name\":...,\"upload_id\":...}\n"
      "  --upload-id ID          with FILE NAME: upload FILE as parts A, A+1, ... of upload ID\n"
      "  --parts A-B             ...within A..B (FILE: this share's bytes of the object, whole\n"
      "                          --part-size parts but for the object's last); no Complete;\n"
      "                          prints {\"name\",\"upload_id\",\"first_part\",\"last_part\",\n"
      "                          \"size\",\"crc64\",\"seconds\",\"mib_per_s\"}. --checkpoint resumes it\n"
      "  --complete              with --upload-id ID --parts 1-N and NAME: check that parts\n"
      "                          1..N are all on the server (exit 2 names the missing ones),\n"
      "                          complete the object from them and verify its CRC-64\n"
      "  --help, -h              show this text\n"
      "  --version               show the version\n"
      "\n"
      "%s"
      "\n"
      "exit status: 0 uploaded and verified (--abort: aborted); 2 usage or bad input (file,\n"
      "checkpoint, names, a checkpoint another run is using); 3 refused by the server, or a\n"
      "reply no OSS server sends; 4 network failure or timeout (run again with the same\n"
      "--checkpoint to resume); 5 integrity: a checksum of the bytes differed, or the server\n"
      "never confirmed the object's CRC-64 (see --no-server-crc); 130 interrupted by SIGINT or\n"
      "SIGTERM (the checkpoint is saved).\n"
      "Without --checkpoint an upload that fails or is interrupted is aborted on the server,\n"
      "since nothing could resume it.\n",
      usage_line, oss_tools::connection_flags_help, oss_tools::credentials_help);
}

// part_size: the default is the dialect's, see main.
struct command_line : oss_tools::transfer_flags {
  oss_tools::connection_flags connection;
  std::string file;
  std::string name;
  std::vector<std::pair<std::string, std::string>> meta;
  std::string mime;
  std::vector<std::pair<std::string, std::string>> headers;
  bool recursive = false;
  bool initiate = false;
  bool complete = false;
  std::string upload_id;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> parts;  // --parts A-B
  std::size_t jobs = 4;
  bool jobs_given = false;
  std::string checkpoint_dir;
  std::string spool_dir;
  bool abort = false;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "A-B" (or "A") within 1..10000, A <= B.
std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_part_range(std::string_view text) {
  const auto dash = text.find('-');
  const auto first = oss_tools::parse_count(std::string(text.substr(0, dash)), 10000);
  const auto last = dash == std::string_view::npos ? first : oss_tools::parse_count(std::string(text.substr(dash + 1)), 10000);
  if (!first || !last || *first > *last) return std::nullopt;
  return std::pair<std::uint32_t, std::uint32_t>{static_cast<std::uint32_t>(*first), static_cast<std::uint32_t>(*last)};
}

// Takes the options only oss-upload has.
bool parse_upload_flag(oss_tools::option_at& option, command_line& cl) {
  const std::string_view arg = option.name();
  if (arg == "--abort" || arg == "--recursive" || arg == "--initiate" || arg == "--complete") option.no_value();
  if (arg == "--abort") {
    cl.abort = true;
  } else if (arg == "--recursive") {
    cl.recursive = true;
  } else if (arg == "--initiate") {
    cl.initiate = true;
  } else if (arg == "--complete") {
    cl.complete = true;
  } else if (arg == "--upload-id") {
    cl.upload_id = option.value();
    if (cl.upload_id.empty()) throw usage_error{"--upload-id needs the id --initiate printed"};
  } else if (arg == "--parts") {
    cl.parts = parse_part_range(option.value());
    if (!cl.parts) throw usage_error{"--parts takes part numbers A-B within 1-10000, such as 1-2500"};
  } else if (arg == "--jobs") {
    auto n = oss_tools::parse_count(option.value(), 256);
    if (!n) throw usage_error{"--jobs takes a number from 1 to 256"};
    cl.jobs = static_cast<std::size_t>(*n);
    cl.jobs_given = true;
  } else if (arg == "--spool-dir") {
    cl.spool_dir = option.value();
    if (cl.spool_dir.empty()) throw usage_error{"--spool-dir needs a folder"};
  } else if (arg == "--checkpoint-dir") {
    cl.checkpoint_dir = option.value();
    if (cl.checkpoint_dir.empty()) throw usage_error{"--checkpoint-dir needs a folder"};
  } else if (arg == "--meta") {
    const std::string kv = option.value();
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw usage_error{"--meta takes KEY=VALUE"};
    cl.meta.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  } else if (arg == "--mime") {
    cl.mime = option.value();
  } else if (arg == "--header") {
    const std::string h = option.value();
    const auto colon = h.find(':');
    if (colon == std::string::npos || trim(std::string_view(h).substr(0, colon)).empty())
      throw usage_error{"--header takes 'Name: value'"};
    cl.headers.emplace_back(std::string(trim(std::string_view(h).substr(0, colon))),
                            std::string(trim(std::string_view(h).substr(colon + 1))));
  } else {
    return false;
  }
  return true;
}

command_line parse(int argc, char** argv) {
  command_line cl;
  const auto positional = oss_tools::parse_arguments(argc, argv, [&cl](oss_tools::option_at& option) {
    return oss_tools::parse_connection_flag(option, cl.connection) || oss_tools::parse_transfer_flag(option, cl) ||
           parse_upload_flag(option, cl);
  });
  if (cl.help || cl.version) return cl;
  if (cl.abort) {
    if (cl.checkpoint.empty()) throw usage_error{"--abort needs --checkpoint PATH: the checkpoint names the upload"};
    if (!positional.empty()) throw usage_error{"--abort takes no FILE or NAME: the checkpoint names the upload"};
    return cl;
  }
  if ((cl.initiate || cl.complete || !cl.upload_id.empty()) && cl.recursive)
    throw usage_error{"--recursive uploads whole files; --initiate, --upload-id and --complete are for one object"};
  if (cl.initiate || cl.complete) {
    if (cl.initiate && cl.complete) throw usage_error{"--initiate and --complete exclude each other"};
    if (!cl.checkpoint.empty()) throw usage_error{"--initiate and --complete take no --checkpoint"};
    if (positional.size() != 1)
      throw usage_error{std::string(cl.initiate ? "--initiate" : "--complete") + " takes NAME alone"};
    if (cl.initiate && (!cl.upload_id.empty() || cl.parts))
      throw usage_error{"--initiate starts a new upload: no --upload-id or --parts"};
    if (cl.complete && (cl.upload_id.empty() || !cl.parts || cl.parts->first != 1))
      throw usage_error{"--complete needs --upload-id ID and --parts 1-N, N being the object's number of parts"};
    cl.name = positional[0];
    return cl;
  }
  if (!cl.upload_id.empty() && !cl.parts) throw usage_error{"--upload-id needs --parts A-B: the part numbers of this share"};
  if (cl.parts && cl.upload_id.empty()) throw usage_error{"--parts needs --upload-id ID: the upload the parts belong to"};
  if (cl.recursive) {
    if (!cl.checkpoint.empty()) throw usage_error{"--recursive keeps a checkpoint per file: use --checkpoint-dir DIR"};
    if (positional.size() != 2)
      throw usage_error{positional.size() < 2 ? "--recursive needs DIR and PREFIX" : "too many arguments"};
    if (positional[0] == "-") throw usage_error{"--recursive reads a folder, not standard input"};
  } else {
    if (!cl.checkpoint_dir.empty()) throw usage_error{"--checkpoint-dir applies to --recursive; one file takes --checkpoint PATH"};
    if (cl.jobs_given) throw usage_error{"--jobs applies to --recursive"};
  }
  if (positional.size() != 2)
    throw usage_error{positional.size() < 2 ? "FILE and NAME are required" : "too many arguments"};
  cl.file = positional[0];
  cl.name = positional[1];
  if (cl.parts && cl.file == "-") throw usage_error{"a share (--upload-id) reads a file, not standard input"};
  return cl;
}

// ---------------------------------------------------------------------------------------------
// Cleanup of an upload nothing could resume

// Aborts the server-side upload `upload_id`, giving up after a few seconds: the user is
// waiting for the prompt, and a dead server will not answer anyway.
asio::awaitable<bool> abort_briefly(oss::client& client, std::string name, std::string upload_id) {
  using namespace asio::experimental::awaitable_operators;
  oss::diagnostics diag;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(3));
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto result = co_await (client.async_abort_multipart_upload(std::move(name), std::move(upload_id), diag, token) ||
                          timer.async_wait(asio::use_awaitable));
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

// ---------------------------------------------------------------------------------------------
// The client, the checkpoint, --abort

// The client for `opts`, or nullptr after printing why it cannot be made (`status` says the exit
// status then).
std::unique_ptr<oss::client> make_client(asio::io_context& io, const oss::client_options& opts,
                                         const command_line& cl, int& status) {
  try {
    return std::make_unique<oss::client>(io.get_executor(), opts);
  } catch (const oss::error& e) {
    // Bad endpoint, region or bucket name: nothing was sent yet.
    std::fprintf(stderr, "oss-upload: %s\n",
                 oss_tools::describe_failure(e.code(), e.get_diagnostics(), {{}, cl.checkpoint}).c_str());
    status = oss_tools::exit_status_for(e.code(), false, e.get_diagnostics());
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "oss-upload: cannot use --ca-file %s: %s\n", cl.connection.ca_file.c_str(),
                 e.code().message().c_str());
    status = oss_tools::exit_usage;
  }
  return nullptr;
}

// The checkpoint at `path`, read with the library's loader; `ec` and `problem` (which field, why)
// on failure, `std::errc::no_such_file_or_directory` when there is none.
oss::checkpoint read_checkpoint(const std::string& path, std::error_code& ec, std::string& problem) {
  return oss::detail::load_checkpoint(path, ec, problem);
}

// Prints why the checkpoint at `path` cannot be read (`ec`, `problem` from read_checkpoint).
void print_checkpoint_problem(const std::string& path, std::error_code ec, const std::string& problem) {
  oss::diagnostics diag;
  diag.client_message = problem.empty() ? path : problem + " (" + path + ")";
  if (ec.category() == oss::client_category()) {
    std::fprintf(stderr, "oss-upload: %s\n", oss_tools::describe_failure(ec, diag, {{}, path}).c_str());
  } else {
    std::fprintf(stderr, "oss-upload: cannot read the checkpoint %s: %s\n", path.c_str(), ec.message().c_str());
  }
}

// oss-upload --abort --checkpoint PATH: aborts the upload PATH records, then deletes PATH.
int abort_from_checkpoint(const command_line& cl, const oss::client_options& client_opts) {
  using oss::detail::sanitize_text;
  std::error_code ec;
  std::string problem;
  const oss::checkpoint cp = read_checkpoint(cl.checkpoint, ec, problem);
  if (ec == std::errc::no_such_file_or_directory) {
    // Not success: a mistyped path must not read as an aborted upload while the real one stays.
    std::fprintf(stderr, "oss-upload: no checkpoint at %s, so no upload to abort; check the path\n",
                 cl.checkpoint.c_str());
    return oss_tools::exit_usage;
  }
  if (ec) {
    print_checkpoint_problem(cl.checkpoint, ec, problem);
    return oss_tools::exit_usage;
  }

  asio::io_context io;
  int status = oss_tools::exit_ok;
  std::unique_ptr<oss::client> client = make_client(io, client_opts, cl, status);
  if (!client) return status;

  oss::diagnostics diag;
  // The path form takes the checkpoint's lock (checkpoint_locked while an upload uses it, which
  // would write the file again) and deletes the file once the upload is gone.
  oss::async_abort_upload(*client, cl.checkpoint, diag, [&ec](std::error_code e) { ec = e; });
  io.run();

  const std::string name = sanitize_text(cp.name, 300);
  if (ec == oss::client_errc::checkpoint_mismatch) {
    // The checkpoint's upload lives at another endpoint or bucket: say which flags reach it.
    const std::string endpoint = sanitize_text(cp.endpoint, 300);
    const std::string bucket = sanitize_text(cp.bucket, 100);
    std::fprintf(stderr,
                 "oss-upload: the checkpoint %s is for bucket %s at %s (%s dialect), this command uses "
                 "bucket %s at %s (%s); pass --endpoint %s --bucket %s%s to abort it\n",
                 cl.checkpoint.c_str(), bucket.c_str(), endpoint.c_str(), sanitize_text(cp.dialect, 10).c_str(),
                 client_opts.bucket.c_str(), client->endpoint_url().c_str(),
                 client_opts.dialect == oss::api_dialect::s3 ? "s3" : "oss", endpoint.c_str(), bucket.c_str(),
                 cp.dialect == "s3" ? " --dialect s3" : "");
    return oss_tools::exit_usage;
  }
  if (ec) {
    std::fprintf(stderr, "oss-upload: %s\n",
                 oss_tools::describe_failure(ec, diag, {client->endpoint_url(), cl.checkpoint}).c_str());
    return oss_tools::exit_status_for(ec, false, diag);
  }
  std::error_code rm_ec;
  std::filesystem::remove(cl.checkpoint, rm_ec);  // abort_upload removed it; this says why not
  if (rm_ec || std::filesystem::exists(cl.checkpoint, rm_ec)) {
    std::fprintf(stderr, "oss-upload: aborted the upload of %s, but cannot delete the checkpoint %s: %s\n",
                 name.c_str(), cl.checkpoint.c_str(), rm_ec ? rm_ec.message().c_str() : "it is still there");
    return oss_tools::exit_usage;
  }
  std::fprintf(stderr, "oss-upload: aborted the upload of %s and deleted the checkpoint %s\n", name.c_str(),
               cl.checkpoint.c_str());
  return oss_tools::exit_ok;
}

// The line that tells how to go on from a failed or interrupted run whose checkpoint records its
// upload, and true; nothing and false otherwise (then nothing was recorded, and saying "saved"
// would be false).
bool print_how_to_resume(const std::string& checkpoint, const char* what) {
  if (checkpoint.empty()) return false;
  std::error_code ec;
  std::string problem;
  const oss::checkpoint cp = read_checkpoint(checkpoint, ec, problem);
  if (ec || cp.upload_id.empty()) return false;
  if (cp.share_first_part) {
    // A share's upload is everyone's: aborting it is not this share's call to suggest.
    std::fprintf(stderr, "oss-upload: %scheckpoint saved in %s: run the same command again to resume\n", what,
                 checkpoint.c_str());
    return true;
  }
  std::fprintf(stderr,
               "oss-upload: %scheckpoint saved in %s: run the same command again to resume, or "
               "oss-upload --abort --checkpoint %s to abort the upload\n",
               what, checkpoint.c_str(), checkpoint.c_str());
  return true;
}

// FILE, or standard input for "-": a pipe or terminal is read as a stream of unknown length
// (its parts grow, see stream_source), a file redirected to it is uploaded as that file.
oss::upload_source source_of(const std::string& file, asio::io_context& io) {
  if (file != "-") return oss::upload_source(file);
  struct stat st {};
  if (::fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) return oss::upload_source("/proc/self/fd/0");
  auto in = std::make_shared<asio::posix::stream_descriptor>(io, ::dup(STDIN_FILENO));
  return oss::stream_source([in](asio::mutable_buffer b) -> asio::awaitable<std::size_t> {
    auto [ec, n] = co_await in->async_read_some(b, asio::experimental::as_tuple(asio::use_awaitable));
    if (ec == asio::error::eof) co_return n;
    if (ec) throw std::system_error(ec);
    co_return n;
  });
}

// ---------------------------------------------------------------------------------------------
// --recursive DIR PREFIX: every regular file of a folder, --jobs at a time, under one budget

struct folder_file {
  std::filesystem::path path;
  std::string name;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

std::int64_t mtime_ns_of(const struct stat& st) {
  return std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// The regular files under `dir`, sorted, named PREFIX/relative/path; `left_out` counts what is
// not a regular file (symbolic links, sockets...). Throws std::filesystem::filesystem_error.
std::vector<folder_file> list_folder(const std::filesystem::path& dir, const std::string& prefix,
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
std::filesystem::path record_path(const std::string& dir, const std::string& name, const char* extension) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, h);
  return std::filesystem::path(dir) / (std::string(hex) + extension);
}

// Whether `f` was verified by an earlier run and has not changed since (same size and
// modification time); that run's JSON line then goes to `line`, marked as skipped.
bool done_before(const std::string& dir, const folder_file& f, std::string& line) {
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
bool record_done(const std::string& dir, const folder_file& f, const std::string& line) {
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

// --no-server-crc let an upload through that nothing confirmed: the CRC-64 on stdout is the
// file's, and nothing proved the object holds the same.
void warn_if_unconfirmed(const oss::upload_result& r, bool quiet) {
  if (r.checks.object == oss::object_check::none && !quiet)
    std::fprintf(stderr, "oss-upload: the server never confirmed the object's CRC-64 (--no-server-crc): the "
                         "stored bytes are not verified\n");
}

std::string upload_line(const oss::upload_result& r, double seconds) {
  const double mib_per_s = seconds > 0 ? double(r.bytes_uploaded) / (1024.0 * 1024) / seconds : 0.0;
  char tail[256];
  std::snprintf(tail, sizeof tail, ",\"size\":%" PRIu64 ",\"parts\":%" PRIu32 ",\"seconds\":%.3f,\"mib_per_s\":%.1f,\"verified\":\"%s\"}",
                r.size, r.parts, seconds, mib_per_s, verified_word(r.checks.object));
  return "{\"name\":" + oss_tools::json_string(r.name) + ",\"etag\":" + oss_tools::json_string(r.etag) +
         ",\"crc64\":\"" + std::to_string(r.crc64) + "\"" + tail;
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

// ---------------------------------------------------------------------------------------------
// One object from several processes: --initiate, a share (--upload-id --parts), --complete

// Runs `start(client, diag, handler)` to its end on a client of its own; the exit status.
// `on_success` prints the result.
template <typename Start>
int run_single(const command_line& cl, const oss::client_options& client_opts, Start start) {
  asio::io_context io;
  int status = oss_tools::exit_ok;
  std::unique_ptr<oss::client> client = make_client(io, client_opts, cl, status);
  if (!client) return status;
  std::error_code ec;
  oss::diagnostics diag;
  const auto began = clock_type::now();
  start(*client, diag, ec, began);
  io.run();
  if (!ec) {
    std::fflush(stdout);
    return std::ferror(stdout) ? oss_tools::exit_failed : oss_tools::exit_ok;
  }
  std::fprintf(stderr, "oss-upload: %s\n",
               oss_tools::describe_failure(ec, diag, {client->endpoint_url(), std::string()}).c_str());
  return oss_tools::exit_status_for(ec, false, diag);
}

// oss-upload --initiate NAME: the upload every share joins, with the object's metadata.
int initiate_shared(const command_line& cl, const oss::client_options& client_opts) {
  return run_single(cl, client_opts, [&](oss::client& c, oss::diagnostics& diag, std::error_code& ec, clock_type::time_point) {
    oss::object_options o;
    o.meta = cl.meta;
    o.mime = cl.mime;
    o.headers = cl.headers;
    c.async_initiate_multipart_upload(cl.name, std::move(o), diag, [&ec, &cl](std::error_code e, std::string id) {
      ec = e;
      if (!e)
        std::printf("{\"name\":%s,\"upload_id\":%s}\n", oss_tools::json_string(cl.name).c_str(),
                    oss_tools::json_string(id).c_str());
    });
  });
}

// oss-upload --complete --upload-id ID --parts 1-N NAME.
int complete_shared(const command_line& cl, const oss::client_options& client_opts) {
  return run_single(cl, client_opts, [&](oss::client& c, oss::diagnostics& diag, std::error_code& ec, clock_type::time_point began) {
    oss::async_complete_shared_upload(
        c, cl.name, cl.upload_id, cl.parts->second, !cl.no_server_crc, diag,
        [&ec, &cl, began](std::error_code e, oss::upload_result r) {
          ec = e;
          if (e) return;
          warn_if_unconfirmed(r, cl.quiet);
          std::printf("%s\n", upload_line(r, std::chrono::duration<double>(clock_type::now() - began).count()).c_str());
        });
  });
}

int upload_folder(const command_line& cl, oss::client_options client_opts, std::uint64_t part_size) {
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

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  oss::client_options client_opts;
  try {
    cl = parse(argc, argv);
    if (cl.help) {
      print_help();
      return oss_tools::exit_ok;
    }
    if (cl.version) {
      std::printf("oss-upload %s (asio-oss)\n", OSS_TOOL_VERSION);
      return oss_tools::exit_ok;
    }
    client_opts = oss_tools::make_client_options(cl.connection);
    // Checked now rather than after InitiateMultipartUpload, which would leave an upload on the
    // server that no checkpoint names.
    if (!cl.checkpoint.empty() && !cl.abort) {
      const auto folder = std::filesystem::absolute(cl.checkpoint).parent_path();
      std::error_code ec;
      if (!std::filesystem::is_directory(folder, ec))
        throw usage_error{"the folder of --checkpoint does not exist: " + folder.string()};
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-upload: %s\n%s(oss-upload --help shows every option)\n", e.message.c_str(), usage_line);
    return oss_tools::exit_usage;
  }
  client_opts.max_connections = std::max<std::size_t>(client_opts.max_connections, cl.parallel);
  if (cl.abort) return abort_from_checkpoint(cl, client_opts);
  if (cl.initiate) return initiate_shared(cl, client_opts);
  if (cl.complete) return complete_shared(cl, client_opts);

  oss::upload_options opts;
  opts.parallel = cl.parallel;
  opts.spool_directory = cl.spool_dir;
  // S3 refuses parts under 5 MiB (but the last), so its default is 8 MiB, as the AWS CLI's.
  opts.part_size = cl.part_size ? *cl.part_size
                   : client_opts.dialect == oss::api_dialect::s3 ? std::uint64_t(8) << 20
                                                                  : std::uint64_t(1) << 20;
  if (!cl.part_size && !cl.checkpoint.empty()) {
    // A resume must cut the file as the first run did. A checkpoint that cannot be read keeps the
    // default: the upload then reports what is wrong with it.
    std::error_code ec;
    std::string problem;
    const oss::checkpoint cp = read_checkpoint(cl.checkpoint, ec, problem);
    if (!ec && cp.part_size > 0) opts.part_size = cp.part_size;
  }
  if (cl.recursive) return upload_folder(cl, client_opts, opts.part_size);
  if (cl.parts)  // a share: parts A.. of an upload others carry too; it never aborts that upload
    opts.share = oss::upload_share{cl.upload_id, cl.parts->first, cl.parts->second};
  opts.checkpoint = cl.checkpoint;
  opts.meta = cl.meta;
  opts.mime = cl.mime;
  opts.headers = cl.headers;
  opts.require_server_crc = !cl.no_server_crc;
  // Without a checkpoint file a failed upload cannot be resumed, so do not leave its parts
  // behind on the server (they would be billed until a lifecycle rule removes them).
  opts.abort_on_failure = cl.checkpoint.empty() && !cl.parts;

  asio::io_context io;
  int client_status = oss_tools::exit_ok;
  std::unique_ptr<oss::client> client = make_client(io, client_opts, cl, client_status);
  if (!client) return client_status;

  const auto start = clock_type::now();
  const auto mode = cl.quiet                    ? oss_tools::progress_printer::mode::quiet
                    : ::isatty(STDERR_FILENO)   ? oss_tools::progress_printer::mode::bar
                                                : oss_tools::progress_printer::mode::lines;
  oss_tools::progress_printer printer(mode, start, {"oss-upload", "uploading", "already on the server"});
  opts.progress = [&printer](const oss::progress_event& e) {
    printer.remember_upload_id(e);
    printer(e);
  };

  // Ctrl-C or SIGTERM: a terminal cancellation of the upload, which cancels the parts in
  // flight, saves the checkpoint and completes with operation_aborted. A second signal means
  // "now": exit at once.
  asio::cancellation_signal cancel;
  oss_tools::interrupt_handler signals(io, "oss-upload", printer,
                                       [&cancel] { cancel.emit(asio::cancellation_type::terminal); });

  std::error_code upload_ec;
  oss::diagnostics diag;
  oss::upload_result result;
  clock_type::time_point end{};
  auto on_done = [&](std::error_code ec, oss::upload_result r) {
    end = clock_type::now();
    upload_ec = ec;
    result = std::move(r);
    signals.done();
  };
  oss::async_multipart_upload(*client, cl.name, source_of(cl.file, io), std::move(opts), diag,
                              asio::bind_cancellation_slot(cancel.slot(), std::move(on_done)));
  io.run();
  printer.finish_line();

  if (!upload_ec) {
    const double seconds = std::chrono::duration<double>(end - start).count();
    const double mib_per_s = seconds > 0 ? double(result.bytes_uploaded) / (1024.0 * 1024) / seconds : 0.0;
    if (!result.completed) {
      // A share: its parts are on the server; the object comes with --complete.
      std::printf("{\"name\":%s,\"upload_id\":%s,\"first_part\":%u,\"last_part\":%u,\"size\":%" PRIu64
                  ",\"crc64\":\"%" PRIu64 "\",\"seconds\":%.3f,\"mib_per_s\":%.1f}\n",
                  oss_tools::json_string(result.name).c_str(), oss_tools::json_string(result.upload_id).c_str(),
                  cl.parts->first, cl.parts->first + result.parts - 1, result.size, result.crc64, seconds, mib_per_s);
      std::fflush(stdout);
      return std::ferror(stdout) ? oss_tools::exit_failed : oss_tools::exit_ok;
    }
    warn_if_unconfirmed(result, cl.quiet);
    std::printf("%s\n", upload_line(result, seconds).c_str());
    std::fflush(stdout);
    return std::ferror(stdout) ? oss_tools::exit_failed : oss_tools::exit_ok;
  }

  const int status = oss_tools::exit_status_for(upload_ec, signals.interrupted(), diag);
  if (status == oss_tools::exit_interrupted) {
    if (print_how_to_resume(cl.checkpoint, "interrupted; ")) {
      // The checkpoint resumes it.
    } else if (cl.checkpoint.empty() && !printer.upload_id().empty() && !cl.parts) {
      // Cancellation keeps the server-side upload; with no checkpoint nothing could resume it.
      bool aborted = false;
      io.restart();
      asio::co_spawn(io, abort_briefly(*client, cl.name, printer.upload_id()),
                     [&aborted](std::exception_ptr e, bool ok) { aborted = !e && ok; });
      io.run();
      std::fprintf(stderr, "oss-upload: interrupted; %s\n",
                   aborted ? "the unfinished upload was aborted on the server"
                           : "the unfinished upload could not be aborted on the server");
    } else {
      std::fprintf(stderr, "oss-upload: interrupted before the upload started\n");
    }
    return status;
  }

  // One line: what happened and what to do, in the words of this command line. Built from the
  // error code and the server's Code, Message and RequestId; never a secret, a header or a
  // signature.
  std::fprintf(stderr, "oss-upload: %s\n",
               oss_tools::describe_failure(upload_ec, diag, {client->endpoint_url(), cl.checkpoint}).c_str());
  // Input errors are about the command line or the checkpoint itself: resuming is not the cure.
  if (status != oss_tools::exit_usage) print_how_to_resume(cl.checkpoint, "");
  return status;
}
