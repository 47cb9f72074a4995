// What the command-line tools (oss-upload, oss-head) share: the connection flags and their
// environment variables, size and duration parsing, the exit-status contract, error messages in
// the words of the command line, the progress line and JSON strings.
//
// The contract these implement is design.md section 5. Everything here is plain functions over
// strings, so tests/integration/test_cli.cpp checks them directly as well as through the tools.
#ifndef OSS_EXAMPLES_TOOL_SUPPORT_HPP
#define OSS_EXAMPLES_TOOL_SUPPORT_HPP

#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/error.hpp>
#include <oss/progress.hpp>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/ssl/error.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace oss_tools {

/// Exit statuses of the tools (design.md section 5).
enum exit_status : int {
  exit_ok = 0,
  exit_failed = 1,       ///< oss-head: the object differs from what was expected
  exit_usage = 2,        ///< bad command line or bad input (file, checkpoint, names, options)
  exit_refused = 3,      ///< the server said no (an OSS error code or an HTTP error status)
  exit_network = 4,      ///< connection failure or timeout: running again may succeed
  exit_integrity = 5,    ///< the bytes the server holds may not be ours: a checksum differed, or
                         ///< the server never confirmed them
  exit_interrupted = 130 ///< SIGINT or SIGTERM (128 + 2, as shells report Ctrl-C)
};

/// A bad command line; `message` never quotes an argument that might be a secret.
struct usage_error {
  std::string message;
};

/// The usage error for an option no tool knows. The option is named only when it looks like one
/// (`--` and up to 40 lower-case letters, digits and '-', cut at any '='): anything else may be
/// a secret pasted in the wrong place, so only its position is given.
inline usage_error unknown_option(std::string_view arg, int index) {
  std::string_view name = arg.substr(0, arg.find('='));
  bool looks_like_option = name.starts_with("--") && name.size() > 2 && name.size() <= 42;
  for (char c : name.substr(std::min<std::size_t>(2, name.size())))
    looks_like_option = looks_like_option && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (looks_like_option) return usage_error{"unknown option " + std::string(name) + " (see --help)"};
  return usage_error{"unknown option #" + std::to_string(index) + " (see --help)"};
}

/// One option of a command line, written "--name value" or "--name=value".
struct option_argument {
  std::string_view name;          // "--part-size"
  std::string_view inline_value;  // what followed '=', if there was one
  bool has_inline_value = false;

  explicit option_argument(std::string_view arg) : name(arg) {
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
      has_inline_value = true;
    }
  }

  /// The option's value: the part after '=', else the next argument (`i` then moves past it).
  std::string value(int& i, int argc, char** argv) const {
    if (has_inline_value) return std::string(inline_value);
    if (i + 1 >= argc) throw usage_error{std::string(name) + " needs a value"};
    return argv[++i];
  }
};

/// One option as parse_arguments hands it to a tool's parser: its name, and its value on demand.
class option_at {
 public:
  option_at(int& index, int argc, char** argv) : arg_(argv[index]), index_(index), argc_(argc), argv_(argv) {}

  std::string_view name() const { return arg_.name; }

  /// The option's value: the part after '=', else the next argument (which is then consumed).
  std::string value() { return arg_.value(index_, argc_, argv_); }

  /// For a flag that takes none: "--quiet=yes" is a usage error, not a silent yes.
  void no_value() const {
    if (arg_.has_inline_value) throw usage_error{std::string(arg_.name) + " takes no value"};
  }

  usage_error unknown() const { return unknown_option(arg_.name, index_); }

 private:
  option_argument arg_;
  int& index_;
  int argc_;
  char** argv_;
};

/// Walks a command line: each option goes to `on_option(option_at&)`, which returns whether it
/// took it (an option nobody takes is a usage error); the operands ("-", anything that does not
/// start with '-', and everything after "--") are returned in order.
template <typename OnOption>
std::vector<std::string_view> parse_arguments(int argc, char** argv, OnOption&& on_option) {
  std::vector<std::string_view> operands;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (options_done || arg == "-" || !arg.starts_with("-")) {
      operands.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    option_at option(i, argc, argv);
    if (!on_option(option)) throw option.unknown();
  }
  return operands;
}

inline std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

/// SIZE: plain bytes, or a number with K/M/G or KiB/MiB/GiB (both binary: 1K = 1024), any
/// letter case, optionally with a fraction ("1.5M"). nullopt for anything else, zero included.
inline std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc{} || end != text.data() + digits || !(number > 0)) return std::nullopt;

  std::string unit;
  for (char c : text.substr(digits)) unit += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kib")
    scale = 1024.0;
  else if (unit == "m" || unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else
    return std::nullopt;

  const double bytes = number * scale;
  if (bytes < 1 || bytes > 1e15 || bytes != std::floor(bytes)) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

/// SECONDS: a positive decimal number ("30", "0.5"), at most a day; nullopt otherwise.
inline std::optional<std::chrono::milliseconds> parse_seconds(std::string_view text) {
  double s = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
  if (ec != std::errc{} || end != text.data() + text.size() || !(s > 0) || s > 86400)
    return std::nullopt;
  const auto ms = static_cast<std::int64_t>(std::llround(s * 1000));
  return std::chrono::milliseconds(ms < 1 ? 1 : ms);
}

/// A positive integer up to `max`; nullopt otherwise.
inline std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t max) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n == 0 || n > max) return std::nullopt;
  return n;
}

/// The flags that say where the bucket is and how to talk to it, shared by every tool.
/// Defaults come from OSS_ENDPOINT, OSS_REGION and OSS_BUCKET; flags override them.
struct connection_flags {
  /// "oss" or "s3"; checked by make_client_options (the variable) or parse_connection_flag.
  std::string dialect = env_or_empty("OSS_DIALECT");
  std::string endpoint = env_or_empty("OSS_ENDPOINT");
  std::string region = env_or_empty("OSS_REGION");
  std::string bucket = env_or_empty("OSS_BUCKET");
  oss::signature_version signature = oss::signature_version::v4;
  bool signature_given = false;
  bool path_style = false;
  bool cname = false;
  std::string ca_file;
  std::optional<std::chrono::milliseconds> connect_timeout;
  std::optional<std::chrono::milliseconds> stall_timeout;
  std::optional<int> max_attempts;
  std::optional<std::chrono::milliseconds> retry_time;
  std::optional<std::uint64_t> limit_rate;  // bytes per second, each direction
  std::optional<std::uint64_t> max_memory;  // bytes of part buffers at once
};

inline constexpr const char* connection_flags_help =
    "  --dialect oss|s3        the API the endpoint speaks: Alibaba Cloud OSS (default) or\n"
    "                          Amazon S3 / S3-compatible stores, AWS Signature V4 (env\n"
    "                          OSS_DIALECT)\n"
    "  --endpoint URL          endpoint, e.g. https://oss-cn-hangzhou.aliyuncs.com,\n"
    "                          s3.oss-cn-hangzhou.aliyuncs.com (S3) or http://127.0.0.1:9000\n"
    "                          (env OSS_ENDPOINT)\n"
    "  --region ID             region, e.g. cn-hangzhou or us-east-1; alone it picks the public\n"
    "                          endpoint (S3: https://s3.ID.amazonaws.com), and it is the V4\n"
    "                          signing region, required for S3 (env OSS_REGION)\n"
    "  --bucket NAME           the bucket (env OSS_BUCKET)\n"
    "  --signature v1|v4       OSS signature version (default v4; not with --dialect s3)\n"
    "  --path-style            address the bucket in the path (local servers; automatic for IP\n"
    "                          endpoints, and in S3 for localhost and, over https, for\n"
    "                          bucket names with dots)\n"
    "  --cname                 the endpoint is a custom domain bound to the bucket\n"
    "  --ca-file FILE          also trust the CA certificates in FILE (PEM), e.g. a local\n"
    "                          server's self-signed certificate\n"
    "  --connect-timeout S     seconds to connect and finish TLS (default 10)\n"
    "  --stall-timeout S       a request fails when no byte moves for S seconds (default 30)\n"
    "  --max-attempts N        times a request is sent before its failure counts (default 3;\n"
    "                          network errors, timeouts, 5xx, damaged bytes)\n"
    "  --retry-time S          seconds a throttled request (429, 503, SlowDown) keeps being\n"
    "                          retried, whatever --max-attempts says (default 120)\n"
    "  --limit-rate RATE       at most RATE bytes per second, each way (50MiB, 512K, 1G: binary\n"
    "                          units); the transfer slows down, it never fails for it\n"
    "  --max-memory SIZE       at most SIZE bytes of part buffers at once (a file part streamed\n"
    "                          from the page cache or a range holds 1 MiB, a part read whole\n"
    "                          its size); parts wait for memory, they never fail for it\n";

inline constexpr const char* credentials_help =
    "Credentials come only from the environment, never from the command line:\n"
    "  OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and, for STS tokens, OSS_SESSION_TOKEN.\n"
    "Without OSS_ACCESS_KEY_ID requests are sent unsigned (anonymous).\n";

/// Consumes `arg` if it is a connection flag; `take()` returns the flag's value.
template <typename Take>
bool parse_connection_flag(std::string_view arg, Take&& take, connection_flags& f) {
  if (arg == "--dialect") {
    f.dialect = take();
    if (f.dialect != "oss" && f.dialect != "s3") throw usage_error{"--dialect takes oss or s3"};
  } else if (arg == "--endpoint") {
    f.endpoint = take();
  } else if (arg == "--region") {
    f.region = take();
  } else if (arg == "--bucket") {
    f.bucket = take();
  } else if (arg == "--signature") {
    const std::string v = take();
    if (v == "v1" || v == "V1")
      f.signature = oss::signature_version::v1;
    else if (v == "v4" || v == "V4")
      f.signature = oss::signature_version::v4;
    else
      throw usage_error{"--signature takes v1 or v4"};
    f.signature_given = true;
  } else if (arg == "--path-style") {
    f.path_style = true;
  } else if (arg == "--cname") {
    f.cname = true;
  } else if (arg == "--ca-file") {
    f.ca_file = take();
  } else if (arg == "--connect-timeout") {
    f.connect_timeout = parse_seconds(take());
    if (!f.connect_timeout) throw usage_error{"--connect-timeout takes a positive number of seconds"};
  } else if (arg == "--stall-timeout") {
    f.stall_timeout = parse_seconds(take());
    if (!f.stall_timeout) throw usage_error{"--stall-timeout takes a positive number of seconds"};
  } else if (arg == "--max-attempts") {
    const auto n = parse_count(take(), 100);
    if (!n) throw usage_error{"--max-attempts takes a number from 1 to 100"};
    f.max_attempts = static_cast<int>(*n);
  } else if (arg == "--limit-rate") {
    f.limit_rate = parse_size(take());
    if (!f.limit_rate || *f.limit_rate < 1024)
      throw usage_error{"--limit-rate takes bytes per second, at least 1K, such as 512K, 50MiB or 1G"};
  } else if (arg == "--max-memory") {
    f.max_memory = parse_size(take());
    if (!f.max_memory || *f.max_memory < (1u << 20))
      throw usage_error{"--max-memory takes a size of at least 1MiB, such as 64MiB or 1G"};
  } else if (arg == "--retry-time") {
    f.retry_time = parse_seconds(take());
    if (!f.retry_time) throw usage_error{"--retry-time takes a positive number of seconds"};
  } else {
    return false;
  }
  return true;
}

/// Takes `option` if it is a connection flag.
inline bool parse_connection_flag(option_at& option, connection_flags& f) {
  if (option.name() == "--path-style" || option.name() == "--cname") option.no_value();
  return parse_connection_flag(option.name(), [&] { return option.value(); }, f);
}

/// The flags every transfer tool has (oss-upload, oss-download), in the same words.
struct transfer_flags {
  std::size_t parallel = 5;
  std::optional<std::uint64_t> part_size;  // each tool has its default
  std::string checkpoint;
  bool no_server_crc = false;
  bool quiet = false;
  bool help = false;
  bool version = false;
};

/// Takes `option` if it is one of transfer_flags'.
inline bool parse_transfer_flag(option_at& option, transfer_flags& f) {
  const std::string_view arg = option.name();
  if (arg == "--help" || arg == "-h") {
    f.help = true;
  } else if (arg == "--version") {
    f.version = true;
  } else if (arg == "--quiet" || arg == "-q") {
    option.no_value();
    f.quiet = true;
  } else if (arg == "--no-server-crc") {
    option.no_value();
    f.no_server_crc = true;
  } else if (arg == "--parallel") {
    auto n = parse_count(option.value(), 1000);
    if (!n) throw usage_error{"--parallel takes a number from 1 to 1000"};
    f.parallel = static_cast<std::size_t>(*n);
  } else if (arg == "--part-size") {
    auto n = parse_size(option.value());
    if (!n) throw usage_error{"--part-size takes a size such as 1048576, 512K, 8M, 8MiB or 1G"};
    f.part_size = *n;
  } else if (arg == "--checkpoint") {
    f.checkpoint = option.value();
    if (f.checkpoint.empty()) throw usage_error{"--checkpoint needs a path"};
  } else {
    return false;
  }
  return true;
}

/// Client options from the flags and the credential variables; throws usage_error when the
/// combination cannot work (the client constructor checks the rest).
inline oss::client_options make_client_options(const connection_flags& f) {
  if (f.endpoint.empty() && f.region.empty())
    throw usage_error{"no endpoint: pass --endpoint URL or --region ID (or set OSS_ENDPOINT or OSS_REGION)"};
  if (f.bucket.empty()) throw usage_error{"no bucket: pass --bucket NAME (or set OSS_BUCKET)"};
  if (f.path_style && f.cname) throw usage_error{"--path-style and --cname exclude each other"};

  oss::client_options o;
  if (f.dialect.empty() || f.dialect == "oss")
    o.dialect = oss::api_dialect::oss;
  else if (f.dialect == "s3")
    o.dialect = oss::api_dialect::s3;
  else
    throw usage_error{"OSS_DIALECT (or --dialect) takes oss or s3"};
  if (o.dialect == oss::api_dialect::s3 && f.signature_given)
    throw usage_error{"--signature applies to the oss dialect only (S3 is always signed with AWS V4)"};
  o.endpoint = f.endpoint;
  o.region = f.region;
  o.bucket = f.bucket;
  o.signature = f.signature;
  o.address_style = f.path_style ? oss::addressing_style::path_style
                    : f.cname    ? oss::addressing_style::cname
                                 : oss::addressing_style::virtual_hosted;
  o.ca_file = f.ca_file;
  if (f.connect_timeout) o.connect_timeout = *f.connect_timeout;
  if (f.stall_timeout) o.stall_timeout = *f.stall_timeout;
  if (f.max_attempts) o.max_attempts = *f.max_attempts;
  if (f.retry_time) o.retry_time = *f.retry_time;
  if (f.limit_rate || f.max_memory) {
    const std::uint64_t rate = f.limit_rate.value_or(0);
    o.budget = std::make_shared<oss::transfer_budget>(oss::transfer_budget::limits{
        .upload_bytes_per_second = rate, .download_bytes_per_second = rate, .memory_bytes = f.max_memory.value_or(0)});
  }

  o.creds.access_key_id = env_or_empty("OSS_ACCESS_KEY_ID");
  o.creds.access_key_secret = env_or_empty("OSS_ACCESS_KEY_SECRET");
  o.creds.security_token = env_or_empty("OSS_SESSION_TOKEN");
  if (o.creds.access_key_id.empty() != o.creds.access_key_secret.empty())
    throw usage_error{"OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET must be set together"};
  if (!o.creds.security_token.empty() && o.creds.access_key_id.empty())
    throw usage_error{"OSS_SESSION_TOKEN needs OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"};
  return o;
}

/// Whether `ec` is OpenSSL failing on a reply that is not TLS at all: what a plain-HTTP server
/// answers to a ClientHello ("wrong version number", "packet length too long").
inline bool is_plain_http_reply_to_tls(std::error_code ec, const oss::diagnostics& diag) {
  if (ec.category() == asio::error::get_ssl_category()) {
    const unsigned long packed = static_cast<unsigned int>(ec.value());
    const int reason = ERR_GET_REASON(packed);
    if (!ERR_SYSTEM_ERROR(packed) && (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG))
      return true;
  }
  const std::string& note = diag.client_message;
  return ec == oss::client_errc::tls_handshake_failed &&
         (note.find("wrong version number") != std::string::npos ||
          note.find("packet length too long") != std::string::npos);
}

/// The exit status for a failure `ec` (design.md section 5). `interrupted` says whether our own
/// signal handler cancelled the operation, which is the only way it ends as operation_aborted.
/// `diag` adds what the code alone does not tell: the server's Code where `server_errc` has no
/// name for it, and OpenSSL's reason.
inline int exit_status_for(std::error_code ec, bool interrupted, const oss::diagnostics& diag = oss::diagnostics{}) {
  if (!ec) return exit_ok;
  if (ec == asio::error::operation_aborted) return interrupted ? exit_interrupted : exit_network;
  // S3's name for a body that does not match its Content-MD5.
  if (diag.code == "BadDigest") return exit_integrity;
  // An https:// endpoint where the server speaks plain HTTP: the command line is wrong, and
  // running it again cannot help.
  if (is_plain_http_reply_to_tls(ec, diag)) return exit_usage;

  if (ec.category() == oss::client_category()) {
    switch (static_cast<oss::client_errc>(ec.value())) {
      // The bytes that reached the server, or the object it holds, may not be the file's: a
      // checksum differed, nothing confirmed them, or someone overwrote the object.
      case oss::client_errc::crc64_mismatch:
      case oss::client_errc::unverified:
      case oss::client_errc::object_changed:
        return exit_integrity;
      // The link failed after every retry: a later run may well succeed.
      case oss::client_errc::connection_timeout:
      case oss::client_errc::tls_handshake_failed:
      // The credentials source (an STS endpoint, a file) failed: worth another run later.
      case oss::client_errc::credentials_unavailable:
        return exit_network;
      // A reply that is not what OSS sends: the server (or something posing as it) refused.
      // An unusable UploadId belongs here even when a checkpoint holds it: a server sent it.
      case oss::client_errc::malformed_response:
      case oss::client_errc::response_too_large:
      case oss::client_errc::malformed_xml:
      case oss::client_errc::missing_etag:
      case oss::client_errc::missing_upload_id:
      case oss::client_errc::invalid_upload_id:
      case oss::client_errc::unexpected_status:
        return exit_refused;
      // Another run holds the checkpoint: a conflict on this machine that running again (what
      // 4 invites) would only repeat or race, so it is bad input.
      case oss::client_errc::checkpoint_locked:
        return exit_usage;
      // Names, sizes, headers, metadata, the file, the checkpoint, credentials: the input.
      default:
        return exit_usage;
    }
  }
  if (ec.category() == oss::server_category()) {
    // The server timed out waiting for our bytes: a network problem seen from the other end.
    if (ec == oss::server_errc::request_timeout) return exit_network;
    // The body the server received does not match its Content-MD5.
    if (ec == oss::server_errc::invalid_digest) return exit_integrity;
    return exit_refused;
  }
  if (ec.category() == oss::http_status_category()) return ec.value() == 408 ? exit_network : exit_refused;

  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
    // Local file trouble (a checkpoint folder that is missing or read-only, a full disk) is
    // bad input; every other OS error on this path comes from sockets.
    switch (ec.value()) {
      case ENOENT: case EACCES: case EPERM: case EROFS: case ENOTDIR: case EISDIR:
      case ENAMETOOLONG: case ELOOP: case EINVAL: case ENOSPC: case EDQUOT: case EFBIG:
        return exit_usage;
      default:
        return exit_network;
    }
  }
  // Name resolution, TLS and Asio's own codes (eof, ...) are all network trouble.
  return exit_network;
}

// ---------------------------------------------------------------------------------------------
// Error messages in the words of the command line

/// What a tool knows about a failure beyond its code, for the words of its message.
struct failure_context {
  /// The endpoint requests went to (`client::endpoint_url()`); empty before a client existed.
  std::string endpoint_url;
  /// --checkpoint PATH, or empty.
  std::string checkpoint;
};

/// The library's messages name C++ options (`client_options::region`); a user of the tools
/// knows flags and environment variables. Each pair is (library words, command-line words),
/// tried in order, so whole phrases come before the names they contain.
inline constexpr std::pair<std::string_view, std::string_view> cli_word_table[] = {
    // Advice the tools replace with their own (see cli_advice).
    {" (it was left untouched; use another checkpoint path, or delete it)", " (it was left untouched)"},
    {"; set restart_if_vanished to start a new upload, or delete the checkpoint", ""},
    {"; compare it with the source, or set upload_options::require_server_crc = false for a store that "
     "computes no CRC-64",
     ""},
    {"wait for it to end, or use another checkpoint path",
     "wait for the other oss-upload to finish, or use another --checkpoint path"},
    {"cancel it first, or wait for it to end", "stop that oss-upload first, or wait for it to finish"},
    {" (pass .part_size = ", " (pass --part-size "},
    {"so set upload_options::part_size to 5 MiB or more", "so pass --part-size 5MiB or more"},
    {"client_options::creds or client_options::creds_provider", "credentials"},
    {"client_options::creds: the AccessKey ID", "OSS_ACCESS_KEY_ID"},
    {"client_options::creds: the security token", "OSS_SESSION_TOKEN"},
    {"client_options::creds: the credentials", "OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and OSS_SESSION_TOKEN"},
    {"client_options::creds: ", "OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN: "},
    {"set client_options::region", "pass --region ID (or set OSS_REGION)"},
    {"set client_options::bucket", "pass --bucket NAME (or set OSS_BUCKET)"},
    {"set upload_options::require_server_crc = false", "pass --no-server-crc"},
    {"upload_options::require_server_crc = false", "--no-server-crc"},
    {"lower parallel", "lower --parallel"},
    {"parallel must be at least 1", "--parallel must be at least 1"},
    {"part_size is ", "--part-size is "},
    // Names on their own.
    {"client_options::region", "--region (OSS_REGION)"},
    {"client_options::bucket", "--bucket (OSS_BUCKET)"},
    {"client_options::endpoint", "--endpoint (OSS_ENDPOINT)"},
    {"client_options::dialect", "--dialect (OSS_DIALECT)"},
    {"client_options::signature", "--signature"},
    {"client_options::ca_file", "--ca-file FILE"},
    {"client_options::connect_timeout", "--connect-timeout"},
    {"client_options::stall_timeout", "--stall-timeout"},
    {"client_options::max_attempts", "--max-attempts"},
    {"client_options::retry_time", "--retry-time"},
    {"client_options::max_retry_after", "the longest Retry-After wait (30 s)"},
    {"client_options::max_connections", "--parallel"},
    {"client_options::creds_provider", "a credentials provider"},
    {"client_options::creds", "OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"},
    {"client_options::user_agent", "the User-Agent"},
    {"upload_options::part_size", "--part-size"},
    {"upload_options::parallel", "--parallel"},
    {"upload_options::checkpoint", "--checkpoint"},
    {"upload_options::require_server_crc", "--no-server-crc"},
    {"upload_options::meta", "--meta"},
    {"upload_options::headers", "--header"},
    {"upload_options::mime", "--mime"},
    {"max_attempts", "--max-attempts"},
    {"retry_time", "--retry-time"},
    // The library's advice names its own calls; a command line reruns or --aborts instead.
    {" stays open on the server. Once the file can be written, call again with the same checkpoint to "
     "resume it, or abort it (abort_upload with the checkpoint, or AbortMultipartUpload with that upload id)",
     " stays open on the server. Once the file can be written, run the same command again to resume it, or "
     "abort it with oss-upload --abort and the same --checkpoint"},
    {"failed; call again to retry, or delete the checkpoint to start over (that upload may then stay open)",
     "failed; run the same command again to retry, or end it with oss-upload --abort and the same --checkpoint"},
    {"call again to resume", "run the same command again to resume"},
    {"(list_multipart_uploads shows it)", "(the bucket's ListMultipartUploads shows it)"},
};

/// `text` with the library's C++ names replaced by flags and environment variables.
inline std::string cli_words(std::string text) {
  for (const auto& [from, to] : cli_word_table) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  }
  return text;
}

/// `message` split at its first "; ": what happened, and what to do (the library's messages are
/// written that way).
inline std::pair<std::string, std::string> split_fact_and_advice(const std::string& message) {
  const auto at = message.find("; ");
  if (at == std::string::npos) return {message, {}};
  return {message.substr(0, at), message.substr(at + 2)};
}

/// What to do about `ec`, in the words of oss-upload: nullopt where the library's advice holds,
/// empty where the specific message in `diag` already says it.
inline std::optional<std::string> cli_advice(std::error_code ec, const oss::diagnostics& diag,
                                             const failure_context& ctx) {
  const std::string abort_command = "oss-upload --abort --checkpoint " + ctx.checkpoint;
  if (ec.category() != oss::client_category()) return std::nullopt;
  switch (static_cast<oss::client_errc>(ec.value())) {
    case oss::client_errc::connection_timeout:
      return "on a slow link, raise --connect-timeout or --stall-timeout";
    case oss::client_errc::invalid_endpoint:
      // "V4 signing needs a region: ..." says what to pass; the examples would only distract.
      if (diag.client_message.find("needs a region") != std::string::npos) return std::string();
      return "--endpoint takes a URL such as https://oss-cn-hangzhou.aliyuncs.com or "
             "http://127.0.0.1:9000, --region an id such as cn-hangzhou";
    case oss::client_errc::checkpoint_corrupt:
      return "if it is an old checkpoint, delete it (no upload id can be read from it to abort), or "
             "use another --checkpoint path";
    case oss::client_errc::checkpoint_mismatch:
      return "use another --checkpoint path, or end that upload with " + abort_command;
    case oss::client_errc::upload_vanished:
      return abort_command + " deletes the checkpoint; then upload again";
    case oss::client_errc::file_changed:
      if (ctx.checkpoint.empty()) return "upload it again once it stops changing";
      return "the checkpoint cannot resume it: end that upload with " + abort_command +
             ", then upload again";
    case oss::client_errc::checkpoint_locked:
      // The specific message says what to do for an upload and for --abort alike.
      if (diag.client_message.find("; ") != std::string::npos) return std::string();
      return "wait for the other oss-upload to finish, or use another --checkpoint path";
    case oss::client_errc::tls_handshake_failed:
      return "check the host name in --endpoint, and pass --ca-file FILE for a private CA";
    case oss::client_errc::invalid_part_size:
      if (!diag.client_message.empty()) return std::string();  // it gives the range
      return "pass --part-size between 100KiB and 5GiB (S3: 5MiB and 5GiB)";
    case oss::client_errc::too_many_parts:
      return "raise --part-size";
    case oss::client_errc::invalid_metadata:
    case oss::client_errc::metadata_too_large:
      return "fix --meta";
    case oss::client_errc::invalid_header_value: {
      // The same code covers the credentials from the environment and each kind of header.
      const std::string& m = diag.client_message;
      if (m.find("client_options::creds") != std::string::npos) return std::string();
      if (m.find("MIME") != std::string::npos) return "fix --mime";
      if (m.find("metadata") != std::string::npos) return "fix --meta";
      if (m.find("header") != std::string::npos) return "fix --header";
      return "fix --header, --mime or --meta";
    }
    case oss::client_errc::unverified:
      return "check the object with oss-head --verify FILE; pass --no-server-crc only for a store "
             "known to compute no CRC-64";
    default:
      return std::nullopt;
  }
}

/// Codes whose diagnostics::client_message is the specific form of the category's first clause
/// ("the reply has no ETag" for "the reply carried no ETag"): the specific one replaces it.
inline bool message_restates_fact(std::error_code ec) {
  using oss::client_errc;
  using oss::server_errc;
  return ec == client_errc::missing_etag || ec == client_errc::invalid_parallel ||
         ec == client_errc::invalid_object_name || ec == client_errc::invalid_metadata ||
         ec == client_errc::metadata_too_large || ec == client_errc::invalid_header_value ||
         ec == client_errc::checkpoint_mismatch || ec == client_errc::upload_vanished ||
         ec == client_errc::invalid_bucket_name || ec == client_errc::invalid_part_size ||
         ec == client_errc::too_many_parts || ec == client_errc::crc64_mismatch ||
         ec == client_errc::file_changed || ec == client_errc::unverified ||
         ec == client_errc::checkpoint_locked ||
         ec == server_errc::no_such_key || ec == server_errc::callback_failed;
}

/// `text` without a clause ("; " or ": " apart, outside parentheses) that an earlier clause
/// already says, so one line never says a thing twice.
inline std::string without_repeats(const std::string& text) {
  auto normal = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c == '(' || c == ')' || c == '.') continue;
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    while (!out.empty() && out.front() == ' ') out.erase(0, 1);
    return out;
  };
  std::string out;
  std::vector<std::string> said;
  std::size_t begin = 0;
  std::string_view separator;  // the one in front of the clause at `begin`
  int depth = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const bool end = i == text.size();
    if (!end && text[i] == '(') ++depth;
    if (!end && text[i] == ')' && depth > 0) --depth;
    const bool boundary = !end && depth == 0 && i + 1 < text.size() && text[i + 1] == ' ' &&
                          (text[i] == ';' || text[i] == ':');
    if (!boundary && !end) continue;
    const std::string clause = text.substr(begin, i - begin);
    const std::string n = normal(clause);
    // A short clause ("OSS") may well appear inside another without repeating it.
    const bool repeated = n.empty() || std::any_of(said.begin(), said.end(), [&](const std::string& s) {
                            return s == n || (n.size() >= 12 && s.find(n) != std::string::npos);
                          });
    if (!repeated) {
      out += separator;
      out += clause;
      said.push_back(n);
    }
    if (!end) {
      separator = text[i] == ';' ? "; " : ": ";
      if (out.empty()) separator = {};
      begin = i + 2;
      ++i;
    }
  }
  return out;
}

/// "http://HOST:PORT" for an "https://HOST[:PORT]" endpoint, keeping the port that answered.
inline std::string plain_http_url(std::string_view https_url) {
  std::string_view rest = https_url.substr(std::min<std::size_t>(https_url.find("://") + 3, https_url.size()));
  const std::size_t host_end = std::min(rest.find('/'), rest.size());
  std::string host(rest.substr(0, host_end));
  const std::size_t bracket = host.rfind(']');
  if (host.find(':', bracket == std::string::npos ? 0 : bracket) == std::string::npos) host += ":443";
  return "http://" + host;
}

/// The one line a tool prints for a failure (without the "oss-upload: " in front): what
/// happened and what to do, in the words of the command line, with the request's details.
/// Never a secret: the library keeps none in `diag`, and server text is sanitised.
inline std::string describe_failure(std::error_code ec, const oss::diagnostics& diag, const failure_context& ctx) {
  using oss::detail::sanitize_text;
  if (is_plain_http_reply_to_tls(ec, diag) && ctx.endpoint_url.starts_with("https://")) {
    return "the server at " + sanitize_text(ctx.endpoint_url, 300) + " answered in plain HTTP; use " +
           sanitize_text(plain_http_url(ctx.endpoint_url), 300);
  }
  std::string text;
  const std::string code = sanitize_text(diag.code, oss::detail::max_code_bytes);
  // A code of ours (upload_vanished) may rest on a server reply (NoSuchUpload): ours says what
  // it means for this upload, the server's Code goes with the details.
  const bool ours = ec.category() == oss::client_category();
  if (!code.empty() && !ours) {
    // The server's own words.
    text = code;
    if (const std::string message = sanitize_text(diag.message, oss::detail::max_message_bytes); !message.empty())
      text += ": " + message;
  } else {
    auto [fact, advice] = split_fact_and_advice(ec.message());
    const std::string specific = sanitize_text(diag.client_message, oss::detail::max_client_message_bytes);
    // A specific message that quotes the system error in parentheses already says it.
    const bool quotes_error = !ours && specific.find("(" + ec.message() + ")") != std::string::npos;
    if (!specific.empty()) fact = message_restates_fact(ec) || quotes_error ? specific : fact + ": " + specific;
    if (std::optional<std::string> ours = cli_advice(ec, diag, ctx)) advice = std::move(*ours);
    text = cli_words(fact);
    if (!advice.empty()) text += "; " + cli_words(advice);
    text = without_repeats(text);
  }

  std::string details;
  const auto add = [&details](std::string_view label, std::string_view value) {
    if (value.empty()) return;
    details += details.empty() ? " (" : ", ";
    details += label;
    details += ' ';
    details += value;
  };
  if (ours) add("code", code);
  add("RequestId", sanitize_text(diag.request_id, oss::detail::max_id_bytes));
  // OSS operations are named as OSS does (UploadPart); the library's own steps (client,
  // load_checkpoint, multipart_upload) are C++ names a user of the tool does not need.
  const std::string operation = sanitize_text(diag.operation, oss::detail::max_id_bytes);
  if (!operation.empty() && operation.front() >= 'A' && operation.front() <= 'Z') add("operation", operation);
  if (diag.part_number > 0) add("part", std::to_string(diag.part_number));
  if (diag.attempts > 0) add("attempts", std::to_string(diag.attempts));
  if (!details.empty()) details += ')';
  return text + details;
}

// ---------------------------------------------------------------------------------------------
// The progress line

/// What one report of oss-upload's progress shows.
struct progress_figures {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::uint32_t parts_done = 0;
  std::uint32_t parts_total = 0;
  double bytes_per_second = 0;  ///< this run's rate
  std::string when;             ///< "ETA 0:02", or "in 3.1 s" once done
  bool done = false;
  const char* counted = "parts";  ///< what parts_done counts ("files" for a folder)
};

/// One unit for both numbers of "done/total", picked from the total.
inline std::pair<double, const char*> unit_for(std::uint64_t total) {
  if (total >= (1ull << 30)) return {1024.0 * 1024 * 1024, "GiB"};
  if (total >= (1ull << 20)) return {1024.0 * 1024, "MiB"};
  if (total >= (1ull << 10)) return {1024.0, "KiB"};
  return {1.0, "B"};
}

/// The pieces of the progress text, most wanted first: percent, bytes, rate, time, parts.
inline std::vector<std::string> progress_pieces(const progress_figures& f) {
  const double total = double(f.bytes_total);
  const double pct = f.done ? 100.0 : total > 0 ? std::min(99.9, 100.0 * double(f.bytes_done) / total) : 0.0;
  const bool unknown = total == 0 && !f.done;  // a stream whose end is not read yet
  const auto [unit, unit_name] = unit_for(unknown ? f.bytes_done : f.bytes_total);
  char percent[16], bytes[64], rate[32], parts[48];
  std::snprintf(percent, sizeof percent, unknown ? "    ?%%" : "%5.1f%%", pct);
  if (unknown)
    std::snprintf(bytes, sizeof bytes, "%.1f %s", double(f.bytes_done) / unit, unit_name);
  else
    std::snprintf(bytes, sizeof bytes, "%.1f/%.1f %s", double(f.bytes_done) / unit, total / unit, unit_name);
  std::snprintf(rate, sizeof rate, "%.1f MiB/s", f.bytes_per_second / (1024.0 * 1024));
  std::snprintf(parts, sizeof parts, "(%u/%u %s)", f.parts_done, f.parts_total, f.counted);
  return {percent, bytes, rate, f.when, parts};
}

/// "42.0%  107.5/256.0 MiB  812.3 MiB/s  ETA 0:02  (12/32 parts)": every piece.
inline std::string progress_text(const progress_figures& f) {
  std::string text;
  for (const auto& piece : progress_pieces(f)) text += (text.empty() ? "" : "  ") + piece;
  return text;
}

/// The progress bar's line for a terminal `columns` wide: at most `columns - 1` characters (a
/// line that reaches the last column wraps on many terminals, and every redraw would then start
/// a new line). The text keeps what fits, dropping the parts, then the rate, then the bytes;
/// the bar takes what the text leaves, up to 40, and goes away below 10.
inline std::string progress_line(const progress_figures& f, int columns) {
  const int limit = columns - 1;
  if (limit <= 0) return {};
  const std::vector<std::string> pieces = progress_pieces(f);
  // Indexes into `pieces` (percent, bytes, rate, when, parts), richest first.
  static constexpr int variants[][5] = {{0, 1, 2, 3, 4}, {0, 1, 2, 3, -1}, {0, 1, 3, -1, -1}, {0, 3, -1, -1, -1}};
  for (const auto& variant : variants) {
    std::string text;
    for (int index : variant)
      if (index >= 0) text += (text.empty() ? "" : "  ") + pieces[static_cast<std::size_t>(index)];
    const int room = limit - static_cast<int>(text.size());
    if (room < 0) continue;
    const int bar = std::min(40, room - 3);  // "[", the bar, "] "
    if (bar < 10) return text;
    const double fraction = f.bytes_total ? double(f.bytes_done) / double(f.bytes_total) : 0.0;
    const int filled = f.done ? bar : std::min(bar - 1, static_cast<int>(fraction * bar));
    std::string line = "[";
    line.append(static_cast<std::size_t>(filled), '#');
    if (filled < bar) {
      line += '>';
      line.append(static_cast<std::size_t>(bar - filled - 1), ' ');
    }
    return line + "] " + text;
  }
  const std::string percent = pieces[0].substr(pieces[0].find_first_not_of(' '));
  return percent.substr(0, static_cast<std::size_t>(limit));
}

/// `text` as a JSON string literal: quotes, backslashes and control characters escaped, bytes
/// that are not valid UTF-8 replaced by U+FFFD, so the result always parses.
inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  auto hex = [](unsigned v) { return "0123456789abcdef"[v & 15]; };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      switch (c) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
          out += "\\u00";
          out += hex(c >> 4);
          out += hex(c);
      }
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else {
      // Length of a well-formed UTF-8 sequence starting with c (RFC 3629), or 0.
      std::size_t len = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
      bool ok = len != 0 && i + len <= text.size();
      for (std::size_t k = 1; ok && k < len; ++k)
        ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
      if (ok && len >= 3) {
        const auto c1 = static_cast<unsigned char>(text[i + 1]);
        // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
        if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) || (c == 0xf0 && c1 < 0x90) ||
            (c == 0xf4 && c1 >= 0x90))
          ok = false;
      }
      if (ok) {
        out.append(text.substr(i, len));
        i += len;
      } else {
        out += "\xef\xbf\xbd";
        ++i;
      }
    }
  }
  out += '"';
  return out;
}

// ---------------------------------------------------------------------------------------------
// Progress output

std::string human_bytes(double bytes, double unit, const char* unit_name) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f %s", bytes / unit, unit_name);
  return buf;
}

std::string clock_text(double seconds) {
  if (!(seconds >= 0) || seconds > 99 * 3600) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// How a tool names itself and its transfer in progress lines.
struct progress_words {
  const char* tool;      // the program's name
  const char* doing;     // "uploading"
  const char* had_done;  // "already on the server"
  const char* unit = "part";    // what the counts count, singular
  const char* units = "parts";  // and plural
};

// Draws progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise.
// Runs on the transfer's strand (the only thread of the tool's io_context), one call at a
// time, so it needs no locking.
class progress_printer {
 public:
  using clock_type = std::chrono::steady_clock;
  enum class mode { quiet, bar, lines };

  progress_printer(mode m, clock_type::time_point start, progress_words words)
      : mode_(m), start_(start), words_(words) {}

  void operator()(const oss::progress_event& e) {
    if (mode_ == mode::quiet) return;
    const auto now = clock_type::now();
    if (e.stage == oss::progress_stage::started) {
      base_bytes_ = e.bytes_done;
      announce(e);
      if (mode_ == mode::lines) {
        // The announcement says where we start; the next line is due a step later.
        last_draw_ = now;
        last_step_ = static_cast<int>(e.fraction * 20);
        return;
      }
    }
    last_ = Snapshot{e.bytes_done, e.bytes_total, e.parts_done, e.parts_total};
    const bool done = e.stage == oss::progress_stage::completed;
    if (mode_ == mode::bar) {
      // At most ~10 redraws a second: a terminal repainting faster only costs CPU.
      if (done || e.stage == oss::progress_stage::started || now - last_draw_ >= std::chrono::milliseconds(100)) {
        draw_bar(now, done);
        last_draw_ = now;
      }
      if (done) finish_line();
    } else {
      // A line per 5% step, but at most one a second (and at least one per 30 s), so a log
      // stays readable for fast and slow uploads alike.
      const int step = static_cast<int>(e.fraction * 20);
      const auto since = now - last_draw_;
      if (done || (step > last_step_ && since >= std::chrono::seconds(1)) || since >= std::chrono::seconds(30)) {
        std::fprintf(stderr, "%s: %s\n", words_.tool, status_text(now, done).c_str());
        last_draw_ = now;
        last_step_ = step;
      }
    }
  }

  // Ends a bar that is still on screen, so the next message starts on its own line.
  void finish_line() {
    if (on_screen_) std::fputc('\n', stderr);
    on_screen_ = false;
    std::fflush(stderr);
  }

  const std::string& upload_id() const { return upload_id_; }
  void remember_upload_id(const oss::progress_event& e) { upload_id_ = e.checkpoint.upload_id; }

 private:
  struct Snapshot {
    std::uint64_t bytes_done = 0, bytes_total = 0;
    std::uint32_t parts_done = 0, parts_total = 0;
  };

  void announce(const oss::progress_event& e) {
    const auto [unit, unit_name] = unit_for(e.bytes_total);
    if (e.parts_done > 0 && e.stage == oss::progress_stage::started)
      std::fprintf(stderr, "%s: resuming: %u of %u %s (%s) are %s\n", words_.tool, e.parts_done, e.parts_total,
                   words_.units, human_bytes(double(e.bytes_done), unit, unit_name).c_str(), words_.had_done);
    else if (mode_ == mode::lines && e.bytes_total == 0)
      std::fprintf(stderr, "%s: %s a stream of unknown length\n", words_.tool, words_.doing);
    else if (mode_ == mode::lines)
      std::fprintf(stderr, "%s: %s %s in %u %s\n", words_.tool, words_.doing,
                   human_bytes(double(e.bytes_total), unit, unit_name).c_str(), e.parts_total,
                   e.parts_total == 1 ? words_.unit : words_.units);
  }

  // What the bar or the line shows now; `when` is "ETA 0:02", or "in 0:03" when done.
  progress_figures figures(clock_type::time_point now, bool done) const {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double sent = double(last_.bytes_done - std::min(last_.bytes_done, base_bytes_));
    const double rate = elapsed > 0 ? sent / elapsed : 0;  // bytes per second, this run
    std::string when;
    if (done && elapsed < 60) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "in %.1f s", elapsed);
      when = secs;
    } else if (done) {
      when = "in " + clock_text(elapsed);
    } else {
      const double left = double(last_.bytes_total) - double(last_.bytes_done);
      when = "ETA " + (rate > 0 && sent > 0 ? clock_text(left / rate) : std::string("--:--"));
    }
    return {last_.bytes_done, last_.bytes_total, last_.parts_done, last_.parts_total, rate, when, done, words_.units};
  }

  std::string status_text(clock_type::time_point now, bool done) const {
    return progress_text(figures(now, done));
  }

  void draw_bar(clock_type::time_point now, bool done) {
    // Read per redraw, so a resized terminal (SIGWINCH) gets a fitting line at the next one.
    int columns = 80;
    winsize ws{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) columns = ws.ws_col;
    std::string line = "\r" + progress_line(figures(now, done), columns);
    // Overwrite what is left of a longer previous line, without reaching the last column.
    const std::size_t visible = line.size() - 1;
    const std::size_t limit = static_cast<std::size_t>(columns - 1);
    const std::size_t cover = std::min(drawn_, limit);
    if (visible < cover) line.append(cover - visible, ' ');
    drawn_ = visible;
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    on_screen_ = true;
  }

  mode mode_;
  clock_type::time_point start_;
  progress_words words_;
  clock_type::time_point last_draw_{};
  std::uint64_t base_bytes_ = 0;
  Snapshot last_{};
  int last_step_ = 0;
  std::size_t drawn_ = 0;
  bool on_screen_ = false;
  std::string upload_id_;
};

/// SIGINT and SIGTERM while a transfer runs. The first ends the progress line, says
/// "TOOL: interrupted, stopping" and calls `stop` (a terminal cancellation of what is in flight,
/// which saves the checkpoint); a second means "now" and exits with exit_interrupted at once.
/// `done()` stops listening, so that io_context::run can return.
class interrupt_handler {
 public:
  interrupt_handler(asio::io_context& io, const char* tool, progress_printer& printer, std::function<void()> stop)
      : signals_(io, SIGINT, SIGTERM), tool_(tool), printer_(printer), stop_(std::move(stop)) {
    wait();
  }
  bool interrupted() const noexcept { return interrupted_; }
  void done() { signals_.cancel(); }

 private:
  void wait() {
    signals_.async_wait([this](const std::error_code& ec, int) {
      if (ec) return;
      if (interrupted_) std::_Exit(exit_interrupted);
      interrupted_ = true;
      printer_.finish_line();
      std::fprintf(stderr, "%s: interrupted, stopping\n", tool_);
      stop_();
      wait();
    });
  }

  asio::signal_set signals_;
  const char* tool_;
  progress_printer& printer_;
  std::function<void()> stop_;
  bool interrupted_ = false;
};

}  // namespace oss_tools

#endif  // OSS_EXAMPLES_TOOL_SUPPORT_HPP
