// oss-head: show an object's size, ETag, CRC-64 and metadata (HeadObject), and optionally check
// it against a local file.
//
//   oss-head [OPTIONS] NAME [--verify FILE] [--expect-crc64 N]
//
// With --verify the file's CRC-64 is computed here, from its bytes, and must equal the CRC-64
// the server stored (x-oss-hash-crc64ecma), as must the sizes. With --expect-crc64 the server's
// value must equal N (e.g. the "crc64" that oss-upload printed). scripts/demo uses both, so the
// three values (the file, the uploader's, the server's) are compared independently.
//
// Exit status: 0 found (and matching), 1 found but different, 2 usage or bad input, 3 refused by
// the server (404 NoSuchKey included), 4 network or timeout.
#include "tool_support.hpp"

#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>  // the library's CRC-64/ECMA (ISA-L when available)

#include <asio/io_context.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#ifndef OSS_TOOL_VERSION
#define OSS_TOOL_VERSION "unknown"
#endif

namespace {

using oss_tools::usage_error;

constexpr const char* usage_line = "usage: oss-head [OPTIONS] NAME [--verify FILE] [--expect-crc64 N]\n";

struct command_line {
  oss_tools::connection_flags connection;
  std::string name;
  std::string verify_file;
  std::optional<std::uint64_t> expect_crc64;
  bool help = false;
  bool version = false;
};

command_line parse(int argc, char** argv) {
  command_line cl;
  const auto positional = oss_tools::parse_arguments(argc, argv, [&cl](oss_tools::option_at& option) {
    if (oss_tools::parse_connection_flag(option, cl.connection)) return true;
    const std::string_view arg = option.name();
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
    } else if (arg == "--version") {
      cl.version = true;
    } else if (arg == "--verify") {
      cl.verify_file = option.value();
    } else if (arg == "--expect-crc64") {
      const std::string v = option.value();
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc{} || end != v.data() + v.size()) throw usage_error{"--expect-crc64 takes a decimal CRC-64"};
      cl.expect_crc64 = n;
    } else {
      return false;
    }
    return true;
  });
  if (cl.help || cl.version) return cl;
  if (positional.size() != 1) throw usage_error{positional.empty() ? "NAME is required" : "too many arguments"};
  cl.name = positional[0];
  return cl;
}

// CRC-64/ECMA and size of a whole file, read in 4 MiB blocks; nullopt (and errno) on failure.
std::optional<std::pair<std::uint64_t, std::uint64_t>> file_crc64(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::vector<unsigned char> buf(4 << 20);
  std::uint64_t crc = 0, size = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      return std::nullopt;
    }
    if (n == 0) break;
    crc = oss::detail::crc64(crc, buf.data(), static_cast<std::size_t>(n));
    size += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  return std::pair{crc, size};
}

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  oss::client_options client_opts;
  try {
    cl = parse(argc, argv);
    if (cl.help) {
      std::printf("%s\nShows an object's size, ETag, CRC-64 and metadata.\n\n%s"
                  "  --verify FILE           the object must have FILE's size and CRC-64 (S3 stores\n"
                  "                          without a CRC-64: the size only)\n"
                  "  --expect-crc64 N        the object's CRC-64 must be N (decimal)\n\n%s"
                  "\nexit status: 0 ok, 1 different, 2 usage, 3 refused (e.g. no such object), 4 network\n",
                  usage_line, oss_tools::connection_flags_help, oss_tools::credentials_help);
      return 0;
    }
    if (cl.version) {
      std::printf("oss-head %s (asio-oss)\n", OSS_TOOL_VERSION);
      return 0;
    }
    client_opts = oss_tools::make_client_options(cl.connection);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-head: %s\n%s", e.message.c_str(), usage_line);
    return oss_tools::exit_usage;
  }

  asio::io_context io;
  std::unique_ptr<oss::client> client;
  try {
    client = std::make_unique<oss::client>(io.get_executor(), client_opts);
  } catch (const oss::error& e) {
    std::fprintf(stderr, "oss-head: %s\n", oss_tools::describe_failure(e.code(), e.get_diagnostics(), {}).c_str());
    return oss_tools::exit_status_for(e.code(), false, e.get_diagnostics());
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "oss-head: cannot use --ca-file %s: %s\n", cl.connection.ca_file.c_str(),
                 e.code().message().c_str());
    return oss_tools::exit_usage;
  }

  std::error_code ec;
  oss::diagnostics diag;
  oss::object_meta meta;
  client->async_head(cl.name, diag, [&](std::error_code e, oss::object_meta m) {
    ec = e;
    meta = std::move(m);
  });
  io.run();
  if (ec) {
    std::fprintf(stderr, "oss-head: %s\n", oss_tools::describe_failure(ec, diag, {client->endpoint_url(), {}}).c_str());
    return oss_tools::exit_status_for(ec, false, diag);
  }

  std::printf("name:           %s\n", cl.name.c_str());
  std::printf("size:           %" PRIu64 " bytes (%.1f MiB)\n", meta.size, double(meta.size) / (1 << 20));
  if (meta.part_count() > 0)
    std::printf("etag:           %s (multipart, %d parts)\n", meta.etag.c_str(), meta.part_count());
  else
    std::printf("etag:           %s\n", meta.etag.c_str());
  std::printf("type:           %s%s%s\n", meta.content_type.c_str(), meta.object_type.empty() ? "" : ", ",
              meta.object_type.c_str());
  if (!meta.last_modified.empty()) std::printf("last-modified:  %s\n", meta.last_modified.c_str());
  for (const auto& [k, v] : meta.meta) std::printf("meta:           %s=%s\n", k.c_str(), v.c_str());
  if (!meta.cache_control.empty()) std::printf("cache-control:  %s\n", meta.cache_control.c_str());
  if (!meta.content_disposition.empty())
    std::printf("disposition:    %s\n", meta.content_disposition.c_str());
  if (meta.crc64)
    std::printf("crc64:          %" PRIu64 " (x-oss-hash-crc64ecma)\n", *meta.crc64);
  else
    std::printf("crc64:          (the server sent none)\n");

  bool ok = true;
  if (cl.expect_crc64) {
    const bool same = meta.crc64 && *meta.crc64 == *cl.expect_crc64;
    std::printf("expected crc64: %" PRIu64 ": %s\n", *cl.expect_crc64, same ? "matches" : "DIFFERS");
    ok = ok && same;
  }
  if (!cl.verify_file.empty()) {
    auto local = file_crc64(cl.verify_file);
    if (!local) {
      std::fprintf(stderr, "oss-head: cannot read %s: %s\n", cl.verify_file.c_str(), std::strerror(errno));
      return oss_tools::exit_usage;
    }
    // S3 stores keep no CRC-64 (their uploads were checked part by part with Content-MD5), so
    // there only the size can be compared.
    const bool size_only = !meta.crc64 && client_opts.dialect == oss::api_dialect::s3;
    const bool same_crc = meta.crc64 ? *meta.crc64 == local->first : size_only;
    const bool same_size = meta.size == local->second;
    std::printf("local file:     %" PRIu64 " bytes, crc64 %" PRIu64 " (computed here): %s\n", local->second,
                local->first,
                !(same_crc && same_size) ? "DIFFERS"
                : size_only              ? "size matches (the S3 server keeps no CRC-64 to compare)"
                                         : "matches");
    ok = ok && same_crc && same_size;
  }
  std::fflush(stdout);
  return ok ? oss_tools::exit_ok : oss_tools::exit_failed;
}
