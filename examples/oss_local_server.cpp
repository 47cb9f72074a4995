// oss-local-server: an OSS-compatible (or, with --dialect s3, S3-compatible) server on your
// machine, for tests, demos and benchmarks.
//
//   oss-local-server --root DIR [--create-root] [--dialect oss|s3] [--host 127.0.0.1] [--port 0] [--region cn-local]
//                    [--access-key-id ID --access-key-secret SECRET] [--security-token TOKEN]
//                    [--bucket NAME]... [--discard] [--tls-cert FILE --tls-key FILE]
//                    [--threads N] [--fault-plan FILE.json]
//
// The first line on stdout is "listening on http://HOST:PORT" (https with TLS), flushed at
// once, so a script can start the server on port 0 and read the port back. The server runs
// until SIGINT or SIGTERM, then exits 0 after printing its counters on stderr. Bad usage exits
// 2 with one line on stderr (a --root folder that does not exist is bad usage, unless
// --create-root asks for it); a server that cannot start (address in use, unreadable
// certificate) exits 1.
//
// --fault-plan FILE.json installs a fault plan (oss::testing::fault_rule, see local_server.hpp
// for the exact semantics of each field) so that child-process tests and users can make chosen
// requests fail. The file holds a JSON array of rules (or an object {"rules": [...]}); every
// field is optional except "action":
//
//   [ {"operation": "UploadPart",        // OSS operation name; "any" (default) for all
//      "part_number": 3,                 // 0 (default): any part
//      "nth": 2,                         // fire from the 2nd matching request on (default 1)
//      "attempt": 0,                     // UploadPart attempt of that part number (0: any)
//      "times": 1,                       // how many times it fires; 0 = always (default 1)
//      "action": "error_reply",          // error_reply | delay | stall | close_before_reply |
//                                        // reset_during_body | truncated_reply | missing_etag |
//                                        // wrong_crc64 | error_in_200 | garbage_body
//      "status": 503, "code": "SlowDown", "message": "slow down",   // error_reply, error_in_200
//      "duration_ms": 500,               // delay, stall
//      "after_bytes": 65536,             // stall, reset_during_body, truncated_reply
//      "apply_then_fail": false } ]      // run the operation before failing
//
// A malformed plan (bad JSON, unknown field, action or operation, wrong type) exits 2.
#include <oss/testing/local_server.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* usage_text =
    "usage: oss-local-server --root DIR [options]\n"
    "\n"
    "An OSS-compatible server (PutObject, GetObject, HeadObject, DeleteObject and multipart\n"
    "upload) that stores objects under DIR, so they survive a restart. With --dialect s3 it\n"
    "speaks the same operations as an S3-compatible server.\n"
    "\n"
    "options:\n"
    "  --root DIR                  where buckets are stored (required; must exist)\n"
    "  --create-root               create --root DIR when it does not exist\n"
    "  --dialect oss|s3            the API to speak (default oss); s3: AWS Signature V4,\n"
    "                              x-amz-* headers, S3 XML and errors, 5 MiB minimum part\n"
    "  --host ADDR                 address to listen on (default 127.0.0.1)\n"
    "  --port N                    port; 0 picks a free one (default 0)\n"
    "  --region ID                 region of V4 signature scopes (default cn-local)\n"
    "  --access-key-id ID          require requests signed with this key (OSS: V1 or V4;\n"
    "                              S3: AWS4-HMAC-SHA256)...\n"
    "  --access-key-secret SECRET  ...and this secret; without both, access is anonymous\n"
    "  --security-token TOKEN      also require this x-oss-security-token (S3:\n"
    "                              x-amz-security-token)\n"
    "  --bucket NAME               a bucket that exists (repeatable); default: any valid name\n"
    "  --discard                   keep only sizes and checksums, not the bytes (benchmarks)\n"
    "  --tls-cert FILE             PEM certificate chain: serve HTTPS (needs --tls-key)\n"
    "  --tls-key FILE              PEM private key of --tls-cert\n"
    "  --threads N                 threads serving connections (default 1)\n"
    "  --fault-plan FILE           inject faults: a JSON array of rules, e.g.\n"
    "                              [{\"operation\": \"UploadPart\", \"nth\": 3, \"action\": \"error_reply\",\n"
    "                                \"status\": 503, \"code\": \"SlowDown\"}]\n"
    "                              fields: operation, part_number, nth, attempt, times, action,\n"
    "                              status, code, message, duration_ms, after_bytes,\n"
    "                              apply_then_fail; actions: error_reply, delay, stall,\n"
    "                              close_before_reply, reset_during_body, truncated_reply,\n"
    "                              missing_etag, wrong_crc64, error_in_200, garbage_body\n"
    "  --help                      show this text\n"
    "\n"
    "The first stdout line is \"listening on http://HOST:PORT\". Stop with SIGINT or SIGTERM.\n";

struct usage_error {
  std::string message;
};

bool parse_number(std::string_view text, unsigned long max, unsigned long& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size() && out <= max;
}

struct command_line {
  oss::testing::local_server_options options;
  unsigned threads = 1;
  bool help = false;
  bool create_root = false;
  std::string fault_plan_file;
};

using oss::testing::fault_action;
using oss::testing::fault_rule;

std::uint64_t json_unsigned(const boost::json::value& v, const std::string& what) {
  if (const auto* u = v.if_uint64()) return *u;
  if (const auto* i = v.if_int64(); i && *i >= 0) return static_cast<std::uint64_t>(*i);
  throw usage_error{"--fault-plan: " + what + " must be a non-negative integer"};
}

const std::string& json_string(const boost::json::value& v, const std::string& what, std::string& out) {
  const auto* s = v.if_string();
  if (!s) throw usage_error{"--fault-plan: " + what + " must be a string"};
  out.assign(s->data(), s->size());
  return out;
}

fault_action parse_action(const std::string& name) {
  static const std::pair<const char*, fault_action> actions[] = {
      {"error_reply", fault_action::error_reply},
      {"delay", fault_action::delay},
      {"stall", fault_action::stall},
      {"close_before_reply", fault_action::close_before_reply},
      {"reset_during_body", fault_action::reset_during_body},
      {"truncated_reply", fault_action::truncated_reply},
      {"missing_etag", fault_action::missing_etag},
      {"wrong_crc64", fault_action::wrong_crc64},
      {"error_in_200", fault_action::error_in_200},
      {"garbage_body", fault_action::garbage_body},
  };
  for (const auto& [n, a] : actions)
    if (name == n) return a;
  throw usage_error{"--fault-plan: unknown action \"" + name + "\""};
}

std::vector<fault_rule> load_fault_plan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error{"--fault-plan: cannot read " + path};
  std::stringstream text;
  text << in.rdbuf();
  boost::json::error_code ec;
  boost::json::value doc = boost::json::parse(text.str(), ec);
  if (ec) throw usage_error{"--fault-plan: " + path + " is not valid JSON: " + ec.message()};
  if (auto* o = doc.if_object(); o && o->contains("rules")) doc = (*o)["rules"];
  const auto* list = doc.if_array();
  if (!list) throw usage_error{"--fault-plan: expected a JSON array of rules"};
  std::vector<fault_rule> plan;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string where = "rule " + std::to_string(i + 1);
    const auto* o = (*list)[i].if_object();
    if (!o) throw usage_error{"--fault-plan: " + where + " is not an object"};
    fault_rule r;
    bool has_action = false;
    std::string text_value;
    for (const auto& [key, v] : *o) {
      const std::string field(key.data(), key.size());
      const std::string what = where + " field \"" + field + "\"";
      if (field == "operation") {
        r.operation = json_string(v, what, text_value);
      } else if (field == "part_number") {
        auto n = json_unsigned(v, what);
        if (n > 10000) throw usage_error{"--fault-plan: " + what + " must be at most 10000"};
        r.part_number = static_cast<int>(n);
      } else if (field == "nth") {
        r.nth = json_unsigned(v, what);
      } else if (field == "attempt") {
        r.attempt = json_unsigned(v, what);
      } else if (field == "times") {
        r.times = json_unsigned(v, what);
      } else if (field == "action") {
        r.action = parse_action(json_string(v, what, text_value));
        has_action = true;
      } else if (field == "status") {
        auto n = json_unsigned(v, what);
        if (n < 100 || n > 599) throw usage_error{"--fault-plan: " + what + " must be an HTTP status"};
        r.status = static_cast<int>(n);
      } else if (field == "code") {
        r.code = json_string(v, what, text_value);
      } else if (field == "message") {
        r.message = json_string(v, what, text_value);
      } else if (field == "duration_ms") {
        r.duration = std::chrono::milliseconds(json_unsigned(v, what));
      } else if (field == "after_bytes") {
        r.after_bytes = json_unsigned(v, what);
      } else if (field == "apply_then_fail") {
        if (!v.is_bool()) throw usage_error{"--fault-plan: " + what + " must be true or false"};
        r.apply_then_fail = v.get_bool();
      } else {
        throw usage_error{"--fault-plan: " + where + " has an unknown field \"" + field + "\""};
      }
    }
    if (!has_action) throw usage_error{"--fault-plan: " + where + " needs an \"action\""};
    plan.push_back(std::move(r));
  }
  return plan;
}

command_line parse(int argc, char** argv) {
  command_line cl;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view value;
    bool inline_value = false;
    // Accept both "--name value" and "--name=value".
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      inline_value = true;
    }
    auto take = [&]() -> std::string {
      if (inline_value) return std::string(value);
      if (i + 1 >= args.size()) throw usage_error{std::string(arg) + " needs a value"};
      return std::string(args[++i]);
    };
    auto& o = cl.options;
    if (arg == "--help" || arg == "-h") {
      cl.help = true;
    } else if (arg == "--root") {
      o.root = take();
    } else if (arg == "--create-root") {
      if (inline_value) throw usage_error{"--create-root takes no value"};
      cl.create_root = true;
    } else if (arg == "--host") {
      o.host = take();
    } else if (arg == "--port") {
      unsigned long port = 0;
      if (!parse_number(take(), 65535, port)) throw usage_error{"--port needs a number from 0 to 65535"};
      o.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--region") {
      o.region = take();
    } else if (arg == "--dialect") {
      const std::string d = take();
      if (d == "oss")
        o.dialect = oss::api_dialect::oss;
      else if (d == "s3")
        o.dialect = oss::api_dialect::s3;
      else
        throw usage_error{"--dialect must be oss or s3"};
    } else if (arg == "--access-key-id") {
      o.access_key_id = take();
    } else if (arg == "--access-key-secret") {
      o.access_key_secret = take();
    } else if (arg == "--security-token") {
      o.security_token = take();
    } else if (arg == "--bucket") {
      o.buckets.push_back(take());
    } else if (arg == "--discard") {
      if (inline_value) throw usage_error{"--discard takes no value"};
      o.discard = true;
    } else if (arg == "--tls-cert") {
      o.tls_cert_file = take();
    } else if (arg == "--tls-key") {
      o.tls_key_file = take();
    } else if (arg == "--fault-plan") {
      cl.fault_plan_file = take();
    } else if (arg == "--threads") {
      unsigned long n = 0;
      if (!parse_number(take(), 256, n) || n == 0) throw usage_error{"--threads needs a number from 1 to 256"};
      cl.threads = static_cast<unsigned>(n);
    } else if (arg.starts_with("--")) {
      // The option's name only (the value after '=' could be a mistyped secret).
      throw usage_error{"unknown option " + std::string(arg)};
    } else {
      // Never echo the argument itself: it could be a secret given without its option.
      throw usage_error{"unexpected argument #" + std::to_string(i + 1)};
    }
  }
  if (cl.help) return cl;
  if (cl.options.root.empty()) throw usage_error{"--root DIR is required"};
  if (cl.options.access_key_id.empty() != cl.options.access_key_secret.empty())
    throw usage_error{"--access-key-id and --access-key-secret go together"};
  if (cl.options.tls_cert_file.empty() != cl.options.tls_key_file.empty())
    throw usage_error{"--tls-cert and --tls-key go together"};
  if (!cl.options.security_token.empty() && cl.options.access_key_id.empty())
    throw usage_error{"--security-token needs --access-key-id and --access-key-secret"};
  // A mistyped --root would otherwise become a new, empty store that hides the real one.
  std::error_code ec;
  const auto status = std::filesystem::status(cl.options.root, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    if (!cl.create_root)
      throw usage_error{"--root " + cl.options.root + " does not exist (create it, or add --create-root)"};
  } else if (ec) {
    throw usage_error{"--root " + cl.options.root + ": " + ec.message()};
  } else if (status.type() != std::filesystem::file_type::directory) {
    throw usage_error{"--root " + cl.options.root + " is not a folder"};
  }
  return cl;
}

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  try {
    cl = parse(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-local-server: %s (see --help)\n", e.message.c_str());
    return 2;
  }
  if (cl.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  std::vector<fault_rule> fault_plan;
  if (!cl.fault_plan_file.empty()) {
    try {
      fault_plan = load_fault_plan(cl.fault_plan_file);
    } catch (const usage_error& e) {
      std::fprintf(stderr, "oss-local-server: %s\n", e.message.c_str());
      return 2;
    }
  }

  try {
    asio::io_context io;
    oss::testing::local_server server(io.get_executor(), cl.options);
    if (!fault_plan.empty()) {
      try {
        server.set_fault_plan(std::move(fault_plan));
      } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "oss-local-server: --fault-plan: %s\n", e.what());
        return 2;
      }
    }
    server.start();

    // Stopping closes the acceptor and every connection; run() then returns by itself.
    asio::signal_set signals(io, SIGINT, SIGTERM);
    auto on_signal = [&server](const std::error_code& ec, int) {
      if (!ec) server.stop();
    };
    signals.async_wait(on_signal);

    std::printf("listening on %s\n", server.endpoint().c_str());
    std::fflush(stdout);

    std::vector<std::thread> extra;
    for (unsigned i = 1; i < cl.threads; ++i) extra.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : extra) t.join();

    auto s = server.stats();
    std::fprintf(stderr,
                 "oss-local-server: stopped after %llu requests on %llu connections (%llu errors), "
                 "%llu bytes received, %llu parts, peak %llu in flight, %llu faults injected\n",
                 static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.connections),
                 static_cast<unsigned long long>(s.errors), static_cast<unsigned long long>(s.bytes_received),
                 static_cast<unsigned long long>(s.parts_uploaded), static_cast<unsigned long long>(s.peak_in_flight),
                 static_cast<unsigned long long>(s.faults_injected));
    return 0;
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::address_in_use) {
      const std::string& host = cl.options.host;
      const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                                  std::to_string(cl.options.port);
      std::fprintf(stderr, "oss-local-server: %s is in use (choose another --port, or 0 for a free one)\n",
                   address.c_str());
    } else {
      std::fprintf(stderr, "oss-local-server: cannot start: %s\n", e.what());
    }
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oss-local-server: cannot start: %s\n", e.what());
    return 1;
  }
}
