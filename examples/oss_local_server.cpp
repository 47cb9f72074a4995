// oss-local-server: an OSS-compatible server on your machine, for tests, demos and benchmarks.
//
//   oss-local-server --root DIR [--host 127.0.0.1] [--port 0] [--region cn-local]
//                    [--access-key-id ID --access-key-secret SECRET] [--security-token TOKEN]
//                    [--bucket NAME]... [--discard] [--tls-cert FILE --tls-key FILE]
//                    [--threads N]
//
// The first line on stdout is "listening on http://HOST:PORT" (https with TLS), flushed at
// once, so a script can start the server on port 0 and read the port back. The server runs
// until SIGINT or SIGTERM, then exits 0 after printing its counters on stderr. Bad usage exits
// 2; a server that cannot start (address in use, unreadable certificate) exits 1.
//
// Everything the server does is oss::testing::local_server (include/oss/testing/
// local_server.hpp); this file only turns the command line into its options.
#include <oss/testing/local_server.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <charconv>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

constexpr const char* usage_text =
    "usage: oss-local-server --root DIR [options]\n"
    "\n"
    "An OSS-compatible server (PutObject, GetObject, HeadObject, DeleteObject and multipart\n"
    "upload) that stores objects under DIR, so they survive a restart.\n"
    "\n"
    "options:\n"
    "  --root DIR                  where buckets are stored (required)\n"
    "  --host ADDR                 address to listen on (default 127.0.0.1)\n"
    "  --port N                    port; 0 picks a free one (default 0)\n"
    "  --region ID                 region for V4 signatures (default cn-local)\n"
    "  --access-key-id ID          require requests signed with this key (V1 or V4)...\n"
    "  --access-key-secret SECRET  ...and this secret; without both, access is anonymous\n"
    "  --security-token TOKEN      also require this x-oss-security-token\n"
    "  --bucket NAME               a bucket that exists (repeatable); default: any valid name\n"
    "  --discard                   keep only sizes and checksums, not the bytes (benchmarks)\n"
    "  --tls-cert FILE             PEM certificate chain: serve HTTPS (needs --tls-key)\n"
    "  --tls-key FILE              PEM private key of --tls-cert\n"
    "  --threads N                 threads serving connections (default 1)\n"
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
};

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
    } else if (arg == "--host") {
      o.host = take();
    } else if (arg == "--port") {
      unsigned long port = 0;
      if (!parse_number(take(), 65535, port)) throw usage_error{"--port needs a number from 0 to 65535"};
      o.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--region") {
      o.region = take();
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
    } else if (arg == "--threads") {
      unsigned long n = 0;
      if (!parse_number(take(), 256, n) || n == 0) throw usage_error{"--threads needs a number from 1 to 256"};
      cl.threads = static_cast<unsigned>(n);
    } else {
      // Never echo the argument itself: it could be a mistyped secret.
      throw usage_error{"unknown argument #" + std::to_string(i + 1)};
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
  return cl;
}

}  // namespace

int main(int argc, char** argv) {
  command_line cl;
  try {
    cl = parse(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "oss-local-server: %s\n\n%s", e.message.c_str(), usage_text);
    return 2;
  }
  if (cl.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }

  try {
    asio::io_context io;
    oss::testing::local_server server(io.get_executor(), cl.options);
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
                 "%llu bytes received, %llu parts, peak %llu in flight\n",
                 static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.connections),
                 static_cast<unsigned long long>(s.errors), static_cast<unsigned long long>(s.bytes_received),
                 static_cast<unsigned long long>(s.parts_uploaded), static_cast<unsigned long long>(s.peak_in_flight));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oss-local-server: cannot start: %s\n", e.what());
    return 1;
  }
}
