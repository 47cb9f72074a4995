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
// its options, draws progress, and maps the outcome to an exit status. What every mode uses is in
// oss_upload_common.hpp; --recursive is oss_upload_folder.hpp, --initiate and --complete
// oss_upload_shares.hpp.
#include "oss_upload_common.hpp"
#include "oss_upload_folder.hpp"
#include "oss_upload_shares.hpp"
#include "tool_support.hpp"

#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/json_impl.hpp>  // the checkpoint file is JSON; this is its one translation unit
#include <oss/multipart_upload.hpp>

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

using namespace oss_upload;

namespace {

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
