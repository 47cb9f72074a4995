// What the command-line tools (oss-upload, oss-head) share: the connection flags and their
// environment variables, size and duration parsing, the exit-status contract and JSON strings.
//
// The contract these implement is design.md section 5. Everything here is plain functions over
// strings, so tests/integration/test_cli.cpp checks them directly as well as through the tools.
#ifndef OSS_EXAMPLES_TOOL_SUPPORT_HPP
#define OSS_EXAMPLES_TOOL_SUPPORT_HPP

#include <oss/client.hpp>
#include <oss/error.hpp>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace oss_tools {

/// Exit statuses of the tools (design.md section 5).
enum exit_status : int {
  exit_ok = 0,
  exit_failed = 1,       ///< oss-head: the object differs from what was expected
  exit_usage = 2,        ///< bad command line or bad input (file, checkpoint, names, options)
  exit_refused = 3,      ///< the server said no (an OSS error code or an HTTP error status)
  exit_network = 4,      ///< connection failure or timeout: running again may succeed
  exit_interrupted = 130 ///< SIGINT or SIGTERM (128 + 2, as shells report Ctrl-C)
};

/// A bad command line; `message` never quotes an argument that might be a secret.
struct usage_error {
  std::string message;
};

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
    "  --stall-timeout S       a request fails when no byte moves for S seconds (default 30)\n";

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

  o.creds.access_key_id = env_or_empty("OSS_ACCESS_KEY_ID");
  o.creds.access_key_secret = env_or_empty("OSS_ACCESS_KEY_SECRET");
  o.creds.security_token = env_or_empty("OSS_SESSION_TOKEN");
  if (o.creds.access_key_id.empty() != o.creds.access_key_secret.empty())
    throw usage_error{"OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET must be set together"};
  if (!o.creds.security_token.empty() && o.creds.access_key_id.empty())
    throw usage_error{"OSS_SESSION_TOKEN needs OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"};
  return o;
}

/// The exit status for a failure `ec` (design.md section 5). `interrupted` says whether our own
/// signal handler cancelled the operation, which is the only way it ends as operation_aborted.
inline int exit_status_for(std::error_code ec, bool interrupted) {
  if (!ec) return exit_ok;
  if (ec == asio::error::operation_aborted) return interrupted ? exit_interrupted : exit_network;

  if (ec.category() == oss::client_category()) {
    switch (static_cast<oss::client_errc>(ec.value())) {
      // The link failed or damaged bytes after every retry: a later run may well succeed.
      case oss::client_errc::connection_timeout:
      case oss::client_errc::tls_handshake_failed:
      case oss::client_errc::crc64_mismatch:
      // The credentials source (an STS endpoint, a file) failed: worth another run later.
      case oss::client_errc::credentials_unavailable:
        return exit_network;
      // A reply that is not what OSS sends: the server (or something posing as it) refused.
      case oss::client_errc::malformed_response:
      case oss::client_errc::response_too_large:
      case oss::client_errc::malformed_xml:
      case oss::client_errc::missing_etag:
      case oss::client_errc::missing_upload_id:
      case oss::client_errc::unexpected_status:
        return exit_refused;
      // Names, sizes, headers, metadata, the file, the checkpoint, credentials: the input.
      default:
        return exit_usage;
    }
  }
  if (ec.category() == oss::server_category()) {
    // The server timed out waiting for our bytes: a network problem seen from the other end.
    if (ec == oss::server_errc::request_timeout) return exit_network;
    return exit_refused;
  }
  if (ec.category() == oss::http_status_category()) return ec.value() == 408 ? exit_network : exit_refused;

  if (ec.category() == std::generic_category() || ec.category() == std::system_category()) {
    // Local file trouble (a checkpoint folder that is missing or read-only) is bad input;
    // every other OS error on this path comes from sockets.
    switch (ec.value()) {
      case ENOENT: case EACCES: case EPERM: case EROFS: case ENOTDIR: case EISDIR:
      case ENAMETOOLONG: case ELOOP:
        return exit_usage;
      default:
        return exit_network;
    }
  }
  // Name resolution, TLS and Asio's own codes (eof, ...) are all network trouble.
  return exit_network;
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

}  // namespace oss_tools

#endif  // OSS_EXAMPLES_TOOL_SUPPORT_HPP
