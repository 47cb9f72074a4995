// bench_upload: the in-process benchmark client. One process, one io_context, one oss::client;
// uploads FILE (or FILE --copies N times at once, as N objects) with oss::multipart_upload and
// prints one JSON line with what it cost this process:
//
//   {"client":"asio-oss","bytes":…,"objects":…,"parts":…,"seconds":…,"mb_per_s":…,
//    "user_s":…,"sys_s":…,"max_rss_kib":…}
//
// Unlike `oss-upload` (a separate tool measured from outside with /usr/bin/time), the figures
// here are the process's own getrusage(RUSAGE_SELF) after the uploads, and the clock starts
// after start-up (argument parsing, TLS context, CA file), so the two together show what the
// tool adds around the library.
//
//   bench_upload --endpoint URL --bucket NAME [--region ID] [--ca-file PEM] [--parallel N]
//                [--part-size BYTES] [--copies N] [--name PREFIX] [--virtual-hosted]
//                [--dialect oss|s3] [--no-server-crc] [--checkpoint-dir DIR] FILE...
//
// --checkpoint-dir DIR: every upload keeps a checkpoint file in DIR (DIR/<index>.json), as
// `oss-upload --checkpoint` does; the `checkpoint` workload of scripts/bench compares the cost.
// --no-server-crc: succeed although no reply carries the object's CRC-64 (the nginx sink
// computes none); without it such an upload fails as unverified, as it must in real use.
//
// Credentials come from OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET (benchmark sinks ignore
// them; any non-empty value works). Exit status: 0 all uploads verified, 1 an upload failed,
// 2 usage.
#include <oss/client.hpp>
#include <oss/error.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct settings {
  oss::client_options client;
  std::size_t parallel = 5;
  std::uint64_t part_size = 1 << 20;
  std::size_t copies = 1;
  std::string name_prefix = "bench/";
  bool require_server_crc = true;
  std::string checkpoint_dir;
  std::vector<std::string> files;
};

std::uint64_t parse_size(std::string_view s) {
  std::size_t used = 0;
  const std::string text(s);
  const unsigned long long n = std::stoull(text, &used);
  std::string_view unit = s.substr(used);
  if (unit.ends_with("iB")) unit.remove_suffix(2);
  std::uint64_t mul = 1;
  if (unit == "K" || unit == "k") mul = 1ull << 10;
  else if (unit == "M" || unit == "m") mul = 1ull << 20;
  else if (unit == "G" || unit == "g") mul = 1ull << 30;
  else if (!unit.empty()) throw std::invalid_argument("bad size: " + text);
  return n * mul;
}

settings parse(int argc, char** argv) {
  settings s;
  s.client.address_style = oss::addressing_style::path_style;  // 127.0.0.1 has no bucket subdomains
  auto env = [](const char* n) { const char* v = std::getenv(n); return std::string(v ? v : ""); };
  s.client.creds = {env("OSS_ACCESS_KEY_ID"), env("OSS_ACCESS_KEY_SECRET"), env("OSS_SESSION_TOKEN")};
  s.client.region = "cn-local";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
      return argv[++i];
    };
    if (arg == "--endpoint") s.client.endpoint = value();
    else if (arg == "--bucket") s.client.bucket = value();
    else if (arg == "--region") s.client.region = value();
    else if (arg == "--ca-file") s.client.ca_file = value();
    else if (arg == "--parallel") s.parallel = static_cast<std::size_t>(parse_size(value()));
    else if (arg == "--part-size") s.part_size = parse_size(value());
    else if (arg == "--copies") s.copies = static_cast<std::size_t>(parse_size(value()));
    else if (arg == "--name") s.name_prefix = value();
    else if (arg == "--virtual-hosted") s.client.address_style = oss::addressing_style::virtual_hosted;
    else if (arg == "--no-server-crc") s.require_server_crc = false;
    else if (arg == "--checkpoint-dir") s.checkpoint_dir = value();
    else if (arg == "--dialect") {
      const std::string d = value();
      if (d == "oss") s.client.dialect = oss::api_dialect::oss;
      else if (d == "s3") s.client.dialect = oss::api_dialect::s3;
      else throw std::invalid_argument("--dialect takes oss or s3, not " + d);
    }
    else if (arg.starts_with("--")) throw std::invalid_argument("unknown option " + std::string(arg));
    else s.files.emplace_back(arg);
  }
  if (s.client.endpoint.empty() || s.client.bucket.empty() || s.files.empty() || s.copies == 0 ||
      s.parallel == 0)
    throw std::invalid_argument("need --endpoint, --bucket and at least one FILE");
  return s;
}

struct totals {
  std::uint64_t bytes = 0;
  std::uint64_t parts = 0;
  std::size_t objects = 0;
  std::size_t failed = 0;
};

asio::awaitable<void> upload_one(oss::client& c, std::string name, std::string file, std::size_t index,
                                 const settings& s, totals& t) {
  oss::upload_options opts;
  if (!s.checkpoint_dir.empty())
    opts.checkpoint = std::filesystem::path(s.checkpoint_dir) / (std::to_string(index) + ".json");
  opts.parallel = s.parallel;
  opts.part_size = s.part_size;
  opts.require_server_crc = s.require_server_crc;
  try {
    const oss::upload_result r = co_await oss::multipart_upload(c, std::move(name), std::move(file), opts);
    t.bytes += r.size;
    t.parts += r.parts;
    ++t.objects;
  } catch (const oss::error& e) {
    std::fprintf(stderr, "bench_upload: %s\n", e.what());
    ++t.failed;
  }
}

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  settings s;
  try {
    s = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "bench_upload: %s\nusage: bench_upload --endpoint URL --bucket NAME [--region ID] "
                 "[--ca-file PEM] [--parallel N] [--part-size BYTES] [--copies N] [--name PREFIX] "
                 "[--virtual-hosted] [--dialect oss|s3] [--no-server-crc] [--checkpoint-dir DIR] FILE...\n",
                 e.what());
    return 2;
  }
  try {
    asio::io_context io(1);
    oss::client client(io.get_executor(), s.client);
    totals t;
    const auto start = std::chrono::steady_clock::now();
    std::size_t index = 0;
    // Every object starts at once: `--copies 64` with one 16 MiB file is "64 files at once".
    for (const auto& file : s.files)
      for (std::size_t k = 0; k < s.copies; ++k, ++index)
        asio::co_spawn(io, upload_one(client, s.name_prefix + std::to_string(index), file, index, s, t),
                       [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
    io.run();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    std::printf(
        "{\"client\":\"asio-oss\",\"bytes\":%llu,\"objects\":%zu,\"parts\":%llu,\"seconds\":%.6f,"
        "\"mb_per_s\":%.2f,\"user_s\":%.4f,\"sys_s\":%.4f,\"max_rss_kib\":%ld}\n",
        static_cast<unsigned long long>(t.bytes), t.objects, static_cast<unsigned long long>(t.parts), seconds,
        seconds > 0 ? static_cast<double>(t.bytes) / seconds / 1e6 : 0.0, seconds_of(ru.ru_utime),
        seconds_of(ru.ru_stime), ru.ru_maxrss);
    return t.failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_upload: %s\n", e.what());
    return 1;
  }
}
