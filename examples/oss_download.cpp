// oss-download: download one object to a file with parallel ranged GETs, resumable.
//
//   oss-download [OPTIONS] NAME FILE
//
// The command-line contract, as oss-upload's:
//  - stderr: a live progress bar when stderr is a terminal, plain progress lines otherwise,
//    nothing with --quiet; errors as one line each.
//  - stdout: exactly one line, a JSON object, after a verified download:
//    {"name":…,"file":…,"etag":…,"crc64":"…","size":…,"parts":…,"seconds":…,"mib_per_s":…,"verified":"…"}
//  - exit status: 0 downloaded and verified; 2 usage or bad input (the target's folder, the
//    checkpoint); 3 refused by the server, or a reply no OSS server sends; 4 network or timeout
//    (run again with the same --checkpoint to resume); 5 integrity: the CRC-64 differed, the
//    server announced none (see --no-server-crc), or the object was overwritten meanwhile;
//    130 interrupted by SIGINT or SIGTERM (checkpoint saved, in-flight ranges cancelled).
//
// Everything the download does is oss::resumable_download; this file turns the command line
// into its options, draws progress, and maps the outcome to an exit status.
#include "tool_support.hpp"

#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/json_impl.hpp>  // the checkpoint file is JSON; this is its one translation unit
#include <oss/resumable_download.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#ifndef OSS_TOOL_VERSION
#define OSS_TOOL_VERSION "unknown"
#endif

namespace {

using oss_tools::usage_error;
using clock_type = std::chrono::steady_clock;

constexpr const char* usage_line = "usage: oss-download [OPTIONS] NAME FILE\n";

void print_help() {
  std::printf(
      "%s\n"
      "Downloads object NAME into FILE with parallel ranged GETs, verifies the file's CRC-64\n"
      "against the object's, and prints one JSON line on stdout:\n"
      "  {\"name\":…,\"file\":…,\"etag\":…,\"crc64\":\"…\",\"size\":…,\"parts\":…,\"seconds\":…,\"mib_per_s\":…,\"verified\":\"…\"}\n"
      "(verified: crc64, or none, which only --no-server-crc lets through). The bytes go to\n"
      "FILE.part, which is renamed to FILE once complete and verified; FILE is never touched\n"
      "before.\n"
      "\n"
      "where the bucket is:\n%s"
      "\n"
      "the download:\n"
      "  --parallel N            ranges in flight at once (default 5)\n"
      "  --part-size SIZE        bytes per range: 1048576, 512K, 8M, 1G, 8MiB ... (K, M, G are\n"
      "                          KiB, MiB, GiB; default 8MiB, and the checkpoint's when\n"
      "                          resuming; 100KiB..5GiB)\n"
      "  --checkpoint PATH       record the ranges done in PATH; if PATH exists, resume from it\n"
      "  --no-server-crc         download an object the server announces no CRC-64 for (it is\n"
      "                          then not verified)\n"
      "  --keep-partial          keep FILE.part after a CRC-64 mismatch, for inspection\n"
      "  --quiet, -q             no progress output\n"
      "  --help, -h              show this text\n"
      "  --version               show the version\n"
      "\n"
      "%s"
      "\n"
      "exit status: 0 downloaded and verified; 2 usage or bad input (the target's folder, the\n"
      "checkpoint, names); 3 refused by the server (no such object, access denied), or a reply\n"
      "no OSS server sends; 4 network failure or timeout (run again with the same --checkpoint to\n"
      "resume); 5 integrity: the CRC-64 differed, the server announced none (see\n"
      "--no-server-crc), or the object was overwritten during the download (run again to get\n"
      "the new one); 130 interrupted by SIGINT or SIGTERM (the checkpoint is saved).\n",
      usage_line, oss_tools::connection_flags_help, oss_tools::credentials_help);
}

struct command_line : oss_tools::transfer_flags {
  oss_tools::connection_flags connection;
  std::string name;
  std::string file;
  bool keep_partial = false;
};

command_line parse(int argc, char** argv) {
  command_line cl;
  const auto positional = oss_tools::parse_arguments(argc, argv, [&cl](oss_tools::option_at& option) {
    if (oss_tools::parse_connection_flag(option, cl.connection) || oss_tools::parse_transfer_flag(option, cl)) return true;
    if (option.name() != "--keep-partial") return false;
    option.no_value();
    cl.keep_partial = true;
    return true;
  });
  if (cl.help || cl.version) return cl;
  if (positional.size() != 2)
    throw usage_error{positional.size() < 2 ? "NAME and FILE are required" : "too many arguments"};
  cl.name = positional[0];
  cl.file = positional[1];
  return cl;
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
      std::printf("oss-download %s (asio-oss)\n", OSS_TOOL_VERSION);
      return oss_tools::exit_ok;
    }
    client_opts = oss_tools::make_client_options(cl.connection);
    if (!cl.checkpoint.empty()) {
      const auto folder = std::filesystem::absolute(cl.checkpoint).parent_path();
      std::error_code ec;
      if (!std::filesystem::is_directory(folder, ec))
        throw usage_error{"the folder of --checkpoint does not exist: " + folder.string()};
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-download: %s\n%s(oss-download --help shows every option)\n", e.message.c_str(),
                 usage_line);
    return oss_tools::exit_usage;
  }
  client_opts.max_connections = std::max<std::size_t>(client_opts.max_connections, cl.parallel);

  oss::download_options opts;
  opts.parallel = cl.parallel;
  opts.part_size = cl.part_size.value_or(std::uint64_t(8) << 20);
  if (!cl.part_size && !cl.checkpoint.empty()) {
    // A resume must cut the object as the first run did.
    std::error_code ec;
    std::string problem;
    const oss::checkpoint cp = oss::detail::load_checkpoint(cl.checkpoint, ec, problem);
    if (!ec && cp.part_size > 0 && cp.kind == oss::download_checkpoint_kind) opts.part_size = cp.part_size;
  }
  opts.checkpoint = cl.checkpoint;
  opts.require_server_crc = !cl.no_server_crc;
  opts.keep_part_file_on_mismatch = cl.keep_partial;

  asio::io_context io;
  std::unique_ptr<oss::client> client;
  try {
    client = std::make_unique<oss::client>(io.get_executor(), client_opts);
  } catch (const oss::error& e) {
    std::fprintf(stderr, "oss-download: %s\n",
                 oss_tools::describe_failure(e.code(), e.get_diagnostics(), {{}, cl.checkpoint}).c_str());
    return oss_tools::exit_status_for(e.code(), false, e.get_diagnostics());
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "oss-download: cannot use --ca-file %s: %s\n", cl.connection.ca_file.c_str(),
                 e.code().message().c_str());
    return oss_tools::exit_usage;
  }

  const auto start = clock_type::now();
  const auto mode = cl.quiet                  ? oss_tools::progress_printer::mode::quiet
                    : ::isatty(STDERR_FILENO) ? oss_tools::progress_printer::mode::bar
                                              : oss_tools::progress_printer::mode::lines;
  oss_tools::progress_printer printer(mode, start, {"oss-download", "downloading", "already downloaded"});
  opts.progress = [&printer](const oss::progress_event& e) { printer(e); };

  // Ctrl-C or SIGTERM: a terminal cancellation, which cancels the ranges in flight and saves the
  // checkpoint. A second signal means "now".
  asio::cancellation_signal cancel;
  oss_tools::interrupt_handler signals(io, "oss-download", printer,
                                       [&cancel] { cancel.emit(asio::cancellation_type::terminal); });

  std::error_code download_ec;
  oss::diagnostics diag;
  oss::download_result result;
  clock_type::time_point end{};
  auto on_done = [&](std::error_code ec, oss::download_result r) {
    end = clock_type::now();
    download_ec = ec;
    result = std::move(r);
    signals.done();
  };
  oss::async_resumable_download(*client, cl.name, cl.file, std::move(opts), diag,
                                asio::bind_cancellation_slot(cancel.slot(), std::move(on_done)));
  io.run();
  printer.finish_line();

  if (!download_ec) {
    const double seconds = std::chrono::duration<double>(end - start).count();
    const double mib_per_s = seconds > 0 ? double(result.bytes_downloaded) / (1024.0 * 1024) / seconds : 0.0;
    if (!result.verified && !cl.quiet)
      std::fprintf(stderr, "oss-download: the server announced no CRC-64 (--no-server-crc): the file is not verified\n");
    std::printf("{\"name\":%s,\"file\":%s,\"etag\":%s,\"crc64\":\"%" PRIu64 "\",\"size\":%" PRIu64 ",\"parts\":%" PRIu32
                ",\"seconds\":%.3f,\"mib_per_s\":%.1f,\"verified\":\"%s\"}\n",
                oss_tools::json_string(result.name).c_str(), oss_tools::json_string(result.path.string()).c_str(),
                oss_tools::json_string(result.etag).c_str(), result.crc64, result.size, result.parts, seconds,
                mib_per_s, result.verified ? "crc64" : "none");
    std::fflush(stdout);
    return std::ferror(stdout) ? oss_tools::exit_failed : oss_tools::exit_ok;
  }

  const int status = oss_tools::exit_status_for(download_ec, signals.interrupted(), diag);
  if (status == oss_tools::exit_interrupted) {
    if (!cl.checkpoint.empty() && std::filesystem::exists(cl.checkpoint))
      std::fprintf(stderr, "oss-download: interrupted; checkpoint saved in %s: run the same command again to resume\n",
                   cl.checkpoint.c_str());
    else
      std::fprintf(stderr, "oss-download: interrupted\n");
    return status;
  }
  std::fprintf(stderr, "oss-download: %s\n",
               oss_tools::describe_failure(download_ec, diag, {client->endpoint_url(), cl.checkpoint}).c_str());
  if (status != oss_tools::exit_usage && !cl.checkpoint.empty() && std::filesystem::exists(cl.checkpoint))
    std::fprintf(stderr, "oss-download: checkpoint saved in %s: run the same command again to resume\n",
                 cl.checkpoint.c_str());
  return status;
}
