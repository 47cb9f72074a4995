// oss-upload and oss-head (issue 3): the command-line contract of design.md section 5, checked by
// running the built executables against oss::testing::local_server: exit statuses (0, 2, 3, 4,
// 130), the JSON last line, progress output, interrupt-and-resume, a server that dies mid-way,
// and that the secret never reaches the output. Also the tools' parsing helpers directly.
#include <oss/detail/crc64.hpp>
#include <oss/error.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../../examples/tool_support.hpp"
#include "../support/process.hpp"
#include "../support/temp_dir.hpp"
#include "../support/skip.hpp"


using namespace std::chrono_literals;

namespace {

constexpr const char* cli_key_id = "LTAI-cli-test-id";
constexpr const char* cli_secret = "cli-secret-Qx7tR2vW9zP4";
constexpr const char* cli_bucket = "cli-bucket";

struct cli_result {
  int exit_code = -1;   // -1 when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// $OSS_BUILD_DIR/examples/NAME under meson; run by hand, the build folder is the one this test
// executable lives in (BUILD/tests/integration).
std::filesystem::path tool_path(const char* name) {
  const char* build = std::getenv("OSS_BUILD_DIR");
  if (build && *build) return std::filesystem::path(build) / "examples" / name;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return self.parent_path().parent_path() / "examples" / name;
}

// Runs a tool with `args` and the environment `env` (the caller's OSS_* connection variables
// removed, so a developer's shell cannot leak into the test), capturing stdout and stderr.
// `tick` is called about every 10 ms while the child runs, with its pid: tests use it to send
// a signal or stop the server at a chosen moment. The run is bounded by `limit`.
// With `stderr_tty` the child's stderr is a pseudo-terminal, as when a person runs it.
cli_result run_tool(const std::filesystem::path& exe, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, const std::function<void(pid_t)>& tick = {},
                    std::chrono::seconds limit = 120s, bool stderr_tty = false) {
  std::vector<std::string> env_strings = oss_test::tool_environment(env);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{exe.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  REQUIRE(pipe2(out_pipe, O_CLOEXEC) == 0);
  std::string tty_name;
  if (stderr_tty) {
    err_pipe[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(err_pipe[0] >= 0);
    REQUIRE(grantpt(err_pipe[0]) == 0);
    REQUIRE(unlockpt(err_pipe[0]) == 0);
    tty_name = ptsname(err_pipe[0]);
    err_pipe[1] = -1;
  } else {
    REQUIRE(pipe2(err_pipe, O_CLOEXEC) == 0);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  if (stderr_tty)
    posix_spawn_file_actions_addopen(&actions, 2, tty_name.c_str(), O_RDWR | O_NOCTTY, 0);
  else
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // Asio's sockets are not close-on-exec: without this the child would inherit the in-process
  // server's listening socket and keep it accepting after the server closed it.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (err_pipe[1] >= 0) close(err_pipe[1]);
  REQUIRE_MESSAGE(rc == 0, "cannot start " << exe.string());

  cli_result r;
  int fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* sinks[2] = {&r.out, &r.err};
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[65536];
  while (fds[0] >= 0 || fds[1] >= 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      r.timed_out = true;
      break;
    }
    pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    const int n = poll(p, 2, 10);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = read(fds[i], buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {  // a pty master reads EIO once the child is gone
        close(fds[i]);
        fds[i] = -1;
      }
    }
    if (tick) tick(pid);
  }
  for (int fd : fds)
    if (fd >= 0) close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string last_line(const std::string& out) {
  auto end = out.find_last_not_of('\n');
  if (end == std::string::npos) return {};
  auto begin = out.rfind('\n', end);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return out.substr(begin, end - begin + 1);
}

std::uint64_t crc_of(const std::string& s) { return oss::detail::crc64(0, s.data(), s.size()); }

// A local server with credentials, a scratch folder, and the environment that points the tools
// at the server.
struct cli_env {
  oss_test::temp_dir store;
  oss_test::temp_dir files;
  std::optional<oss::testing::local_server_thread> server;
  std::uint16_t port = 0;

  cli_env() { start(0); }

  void start(std::uint16_t wanted_port) {
    oss::testing::local_server_options o;
    o.root = store.path().string();
    o.port = wanted_port;
    o.access_key_id = cli_key_id;
    o.access_key_secret = cli_secret;
    server.emplace(o, 2);
    port = server->port();
  }

  std::vector<std::string> env(std::string secret = cli_secret) const {
    return {"OSS_ENDPOINT=http://127.0.0.1:" + std::to_string(port), "OSS_REGION=cn-local",
            std::string("OSS_BUCKET=") + cli_bucket, std::string("OSS_ACCESS_KEY_ID=") + cli_key_id,
            "OSS_ACCESS_KEY_SECRET=" + secret};
  }

  std::string make_file(const std::string& name, std::size_t size, std::uint64_t seed, std::string* data = nullptr) {
    std::string bytes = oss_test::random_bytes(size, seed);
    oss_test::write_file(files / name, bytes);
    if (data) *data = std::move(bytes);
    return (files / name).string();
  }
};

// The contract's JSON line, parsed and checked for shape.
boost::json::object parse_result_line(const cli_result& r) {
  const std::string line = last_line(r.out);
  std::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  REQUIRE_MESSAGE(!ec, "not JSON: " << line);
  REQUIRE(v.is_object());
  boost::json::object obj = v.as_object();
  const char* keys[] = {"name", "etag", "crc64", "size", "parts", "seconds", "mib_per_s"};
  CHECK(obj.size() == 7);
  std::size_t i = 0;
  for (const auto& kv : obj) {
    REQUIRE(i < 7);
    CHECK(kv.key() == keys[i++]);
  }
  CHECK(obj.at("name").is_string());
  CHECK(obj.at("etag").is_string());
  CHECK(obj.at("crc64").is_string());
  CHECK((obj.at("size").is_int64() || obj.at("size").is_uint64()));
  CHECK(obj.at("parts").is_int64());
  CHECK(obj.at("seconds").is_double());
  CHECK(obj.at("mib_per_s").is_double());
  return obj;
}

bool tools_built() {
  const bool ok = std::filesystem::exists(tool_path("oss-upload")) && std::filesystem::exists(tool_path("oss-head"));
  // The caller returns: the marker makes the case count as skipped (support/skip.hpp).
  if (!ok) oss_test::report_skip("oss-upload/oss-head are not built (examples disabled?)");
  return ok;
}

}  // namespace

TEST_CASE("oss-upload: usage errors exit 2 and --help/--version exit 0") {
  if (!tools_built()) return;
  cli_env t;
  const auto exe = tool_path("oss-upload");
  const std::string file = t.make_file("a.bin", 1000, 1);

  // Run / Check
  auto help = run_tool(exe, {"--help"}, t.env());
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("usage: oss-upload [OPTIONS] FILE NAME") != std::string::npos);
  CHECK(help.out.find("--part-size") != std::string::npos);
  auto version = run_tool(exe, {"--version"}, t.env());
  CHECK(version.exit_code == 0);
  CHECK(version.out.starts_with("oss-upload "));

  const std::vector<std::vector<std::string>> bad = {
      {},                                          // no FILE NAME
      {file},                                      // no NAME
      {file, "x", "extra"},                        // too many
      {"--parallel", "0", file, "x"},              // parallel must be >= 1
      {"--part-size", "12X", file, "x"},           // unknown unit
      {"--part-size", "50K", file, "x"},           // below OSS's minimum: the library refuses
      {"--meta", "novalue", file, "x"},            // KEY=VALUE
      {"--header", "NoColon", file, "x"},          // 'Name: value'
      {"--header", "Authorization: x", file, "x"}, // a header the client owns
      {"--signature", "v3", file, "x"},
      {"--path-style", "--cname", file, "x"},
      {"--stall-timeout", "-1", file, "x"},
      {"--no-such-option", file, "x"},
      {"--bucket", "Bad_Bucket", file, "x"},       // invalid bucket name
      {file, "/leading-slash"},                    // invalid object name
  };
  for (const auto& args : bad) {
    auto r = run_tool(exe, args, t.env());
    INFO("args: " << (args.empty() ? std::string("(none)") : args.front()) << " ... stderr: " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());                       // no JSON line on failure
    CHECK(r.err.starts_with("oss-upload: "));   // one clear line first
  }
  // No endpoint at all.
  auto no_endpoint = run_tool(exe, {file, "x"}, {std::string("OSS_BUCKET=") + cli_bucket});
  CHECK(no_endpoint.exit_code == 2);
  CHECK(no_endpoint.err.find("no endpoint") != std::string::npos);
  // Half of the credentials.
  auto half = run_tool(exe, {file, "x"}, {"OSS_ENDPOINT=http://127.0.0.1:" + std::to_string(t.port),
                                          "OSS_REGION=cn-local", std::string("OSS_BUCKET=") + cli_bucket,
                                          std::string("OSS_ACCESS_KEY_ID=") + cli_key_id});
  CHECK(half.exit_code == 2);
  // Nothing was sent for any of these.
  CHECK(t.server->stats().initiate_multipart_upload == 0);
  CHECK(t.server->stats().put_object == 0);
}

TEST_CASE("oss-upload: bad input exits 2 (missing file, directory, corrupt checkpoint)") {
  if (!tools_built()) return;
  cli_env t;
  const auto exe = tool_path("oss-upload");
  const std::string file = t.make_file("b.bin", 300000, 2);

  auto missing = run_tool(exe, {(t.files / "nope.bin").string(), "x"}, t.env());
  CHECK(missing.exit_code == 2);
  CHECK(missing.err.find("does not exist") != std::string::npos);

  auto directory = run_tool(exe, {t.files.path().string(), "x"}, t.env());
  CHECK(directory.exit_code == 2);

  const std::string ckpt = (t.files / "bad.ckpt").string();
  oss_test::write_file(ckpt, "{ not json");
  auto corrupt = run_tool(exe, {"--checkpoint", ckpt, file, "x"}, t.env());
  CHECK(corrupt.exit_code == 2);
  CHECK(oss_test::read_file(ckpt) == "{ not json");  // left untouched

  // A checkpoint in a folder that does not exist cannot be written.
  auto no_dir = run_tool(exe, {"--checkpoint", (t.files / "no" / "such" / "dir.ckpt").string(), file, "x"}, t.env());
  CHECK(no_dir.exit_code == 2);
}

TEST_CASE("oss-upload: a wrong secret exits 3 and the secret never appears in the output") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("c.bin", 500000, 3);
  const std::string wrong = "wrong-secret-Zq8Lm3Np";

  auto r = run_tool(tool_path("oss-upload"), {"--parallel", "2", file, "c.bin"}, t.env(wrong));
  CHECK(r.exit_code == 3);
  CHECK(r.out.empty());
  CHECK(r.err.find("SignatureDoesNotMatch") != std::string::npos);
  CHECK(r.err.find(wrong) == std::string::npos);
  CHECK(r.err.find(cli_secret) == std::string::npos);
  CHECK(r.err.find("Authorization") == std::string::npos);

  // V1 signing is refused the same way.
  auto v1 = run_tool(tool_path("oss-upload"), {"--signature", "v1", file, "c.bin"}, t.env(wrong));
  CHECK(v1.exit_code == 3);
  CHECK(v1.err.find(wrong) == std::string::npos);
}

TEST_CASE("oss-upload: an unreachable endpoint exits 4") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("d.bin", 200000, 4);
  // A port that was free a moment ago: nothing listens there.
  std::uint16_t dead_port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    dead_port = a.local_endpoint().port();
  }
  auto r = run_tool(tool_path("oss-upload"),
                    {"--endpoint", "http://127.0.0.1:" + std::to_string(dead_port), "--connect-timeout", "2", file, "d"},
                    t.env());
  CHECK(r.exit_code == 4);
  CHECK(r.out.empty());
  CHECK(!r.err.empty());
}

TEST_CASE("oss-upload: success prints the JSON line; oss-head shows and verifies the object") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("e.bin", 3 * 1024 * 1024 + 4321, 5, &data);
  const std::string name = "dir/e \"quoted\" \xc3\xa9.bin";  // needs JSON escaping

  // Run
  auto r = run_tool(tool_path("oss-upload"),
                    {"--parallel", "3", "--part-size", "512KiB", "--meta", "origin=cli-test", "--mime", "application/x-test",
                     "--header", "Cache-Control: no-cache", file, name},
                    t.env());

  // Check
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);  // stdout is exactly the JSON line
  auto obj = parse_result_line(r);
  CHECK(obj.at("name").as_string() == name);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("size").to_number<std::uint64_t>() == data.size());
  CHECK(obj.at("parts").to_number<int>() == 7);  // 6 x 512 KiB + the rest
  CHECK(std::string(obj.at("etag").as_string()).ends_with("-7\""));
  CHECK(obj.at("seconds").as_double() > 0);
  CHECK(obj.at("mib_per_s").as_double() > 0);
  // stderr is not a terminal here: plain progress lines, ending at 100%.
  CHECK(r.err.find("oss-upload: uploading 3.0 MiB in 7 parts") != std::string::npos);
  CHECK(r.err.find("100.0%") != std::string::npos);
  CHECK(r.err.find('\r') == std::string::npos);

  auto head = run_tool(tool_path("oss-head"), {name, "--verify", file, "--expect-crc64", std::string(obj.at("crc64").as_string())},
                       t.env());
  INFO("oss-head: " << head.out << head.err);
  CHECK(head.exit_code == 0);
  CHECK(head.out.find("meta:           origin=cli-test") != std::string::npos);
  CHECK(head.out.find("application/x-test") != std::string::npos);
  CHECK(head.out.find("cache-control:  no-cache") != std::string::npos);
  CHECK(head.out.find("(multipart, 7 parts)") != std::string::npos);
  CHECK(head.out.find("DIFFERS") == std::string::npos);

  // oss-head notices a different file, and a missing object is a refusal (404).
  const std::string other = t.make_file("other.bin", data.size(), 99);
  CHECK(run_tool(tool_path("oss-head"), {name, "--verify", other}, t.env()).exit_code == 1);
  CHECK(run_tool(tool_path("oss-head"), {"no/such/object"}, t.env()).exit_code == 3);

  // --quiet: nothing on stderr, the JSON line still on stdout. A small file: one PutObject.
  const std::string small = t.make_file("small.bin", 1000, 6);
  auto quiet = run_tool(tool_path("oss-upload"), {"--quiet", small, "small.bin"}, t.env());
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
  CHECK(parse_result_line(quiet).at("parts").to_number<int>() == 1);
}

TEST_CASE("oss-upload: on a terminal, stderr shows a progress bar redrawn in place") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("bar.bin", 8 * 1024 * 1024, 11);

  // Run
  auto r = run_tool(tool_path("oss-upload"), {"--part-size", "256K", file, "bar.bin"}, t.env(), {}, 120s, true);

  // Check
  INFO("terminal: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(parse_result_line(r).at("parts").to_number<int>() == 32);
  CHECK(r.err.find("\r[") != std::string::npos);  // redrawn from the start of the line
  CHECK(r.err.find("#] 100.0%") != std::string::npos);  // a full bar (its width follows the terminal)
  CHECK(r.err.find("8.0/8.0 MiB") != std::string::npos);
  CHECK(r.err.find("MiB/s") != std::string::npos);
  CHECK(r.err.find("(32/32 parts)") != std::string::npos);
  CHECK(r.err.find("oss-upload: uploading") == std::string::npos);  // no plain lines
  // At most ~10 redraws a second, plus the first and the last.
  const auto redraws = std::count(r.err.begin(), r.err.end(), '[');
  const double seconds = parse_result_line(r).at("seconds").as_double();
  CHECK(redraws <= 2 + static_cast<long>(seconds * 10) + 1);

  // --quiet on a terminal: nothing.
  auto quiet = run_tool(tool_path("oss-upload"), {"--quiet", file, "bar2.bin"}, t.env(), {}, 120s, true);
  CHECK(quiet.exit_code == 0);
  CHECK(quiet.err.empty());
}

TEST_CASE("oss-upload: SIGINT exits 130 with the checkpoint saved, and the same command resumes") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("f.bin", 24 * 1024 * 1024 + 17, 7, &data);
  const std::string ckpt = (t.files / "f.ckpt").string();
  const std::vector<std::string> args = {"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt, file, "f.bin"};
  const std::uint64_t total_parts = (data.size() + 102399) / 102400;

  // Run: interrupt once the server has stored a few parts.
  bool sent = false;
  auto first = run_tool(tool_path("oss-upload"), args, t.env(), [&](pid_t pid) {
    if (!sent && t.server->stats().parts_uploaded >= 10) {
      kill(pid, SIGINT);
      sent = true;
    }
  });

  // Check
  INFO("stderr: " << first.err);
  REQUIRE(sent);
  CHECK(first.exit_code == 130);
  CHECK(first.out.empty());
  CHECK(first.err.find("checkpoint saved") != std::string::npos);
  REQUIRE(std::filesystem::exists(ckpt));
  const auto stored_before = t.server->stats().parts_uploaded;
  CHECK(stored_before < total_parts);

  // Resume
  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.err.find("resuming:") != std::string::npos);
  auto obj = parse_result_line(second);
  CHECK(obj.at("crc64").as_string() == std::to_string(crc_of(data)));
  CHECK(obj.at("parts").to_number<std::uint64_t>() == total_parts);
  CHECK(!std::filesystem::exists(ckpt));  // deleted after success
  // Only the missing parts went up the second time (a few interrupted ones may repeat).
  CHECK(t.server->stats().parts_uploaded < total_parts + 10);
}

TEST_CASE("oss-upload: SIGTERM without a checkpoint exits 130 and aborts the server-side upload") {
  if (!tools_built()) return;
  cli_env t;
  const std::string file = t.make_file("g.bin", 16 * 1024 * 1024, 8);
  bool sent = false;
  auto r = run_tool(tool_path("oss-upload"), {"--parallel", "2", "--part-size", "100K", file, "g.bin"}, t.env(),
                    [&](pid_t pid) {
                      if (!sent && t.server->stats().parts_uploaded >= 5) {
                        kill(pid, SIGTERM);
                        sent = true;
                      }
                    });
  INFO("stderr: " << r.err);
  REQUIRE(sent);
  CHECK(r.exit_code == 130);
  CHECK(r.err.find("aborted on the server") != std::string::npos);
  CHECK(t.server->stats().abort_multipart_upload == 1);
}

TEST_CASE("oss-upload: a server that dies mid-way exits 4; after a restart the same command completes") {
  if (!tools_built()) return;
  cli_env t;
  std::string data;
  const std::string file = t.make_file("h.bin", 16 * 1024 * 1024 + 5, 9, &data);
  const std::string ckpt = (t.files / "h.ckpt").string();
  const std::vector<std::string> args = {"--parallel", "2", "--part-size", "100K", "--checkpoint", ckpt,
                                         "--connect-timeout", "2", file, "h.bin"};

  // Run: stop the server (closing every connection) after a few parts.
  bool stopped = false;
  auto first = run_tool(tool_path("oss-upload"), args, t.env(), [&](pid_t) {
    if (!stopped && t.server->stats().parts_uploaded >= 10) {
      t.server->stop();
      stopped = true;
    }
  });
  INFO("first stderr: " << first.err);
  REQUIRE(stopped);
  CHECK(first.exit_code == 4);
  CHECK(first.err.find("run the same command again to resume") != std::string::npos);
  REQUIRE(std::filesystem::exists(ckpt));

  // The server comes back on the same port and store; the checkpoint names that endpoint.
  const auto port = t.port;
  t.server.reset();
  t.start(port);
  auto second = run_tool(tool_path("oss-upload"), args, t.env());
  INFO("second stderr: " << second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(parse_result_line(second).at("crc64").as_string() == std::to_string(crc_of(data)));
}

TEST_CASE("oss-upload: the parsing and exit-status helpers") {
  using oss_tools::parse_size;
  CHECK(parse_size("1048576") == 1048576u);
  CHECK(parse_size("512K") == 512u * 1024);
  CHECK(parse_size("512k") == 512u * 1024);
  CHECK(parse_size("8M") == 8u << 20);
  CHECK(parse_size("8MiB") == 8u << 20);
  CHECK(parse_size("8mib") == 8u << 20);
  CHECK(parse_size("1G") == 1u << 30);
  CHECK(parse_size("5GiB") == 5ull << 30);
  CHECK(parse_size("1.5M") == 3u << 19);
  CHECK(parse_size("100KiB") == 102400u);
  CHECK(!parse_size(""));
  CHECK(!parse_size("0"));
  CHECK(!parse_size("M"));
  CHECK(!parse_size("12X"));
  CHECK(!parse_size("8MB"));    // decimal units would be ambiguous: refused
  CHECK(!parse_size("-1"));
  CHECK(!parse_size("0.3K"));   // not a whole number of bytes

  CHECK(oss_tools::parse_seconds("30") == std::chrono::milliseconds(30000));
  CHECK(oss_tools::parse_seconds("0.25") == std::chrono::milliseconds(250));
  CHECK(!oss_tools::parse_seconds("0"));
  CHECK(!oss_tools::parse_seconds("abc"));

  using oss_tools::json_string;
  CHECK(json_string("plain") == "\"plain\"");
  CHECK(json_string("\"q\"\\") == "\"\\\"q\\\"\\\\\"");
  CHECK(json_string("a\nb\x01") == "\"a\\nb\\u0001\"");
  CHECK(json_string("\xc3\xa9") == "\"\xc3\xa9\"");           // UTF-8 kept
  CHECK(json_string("\xff") == "\"\xef\xbf\xbd\"");            // invalid byte replaced
  CHECK(json_string("\xed\xa0\x80") == "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
  std::error_code ec;
  boost::json::parse(json_string(std::string("x\0y\x7f\xc0\xaf", 6)), ec);
  CHECK(!ec);

  using oss_tools::exit_status_for;
  CHECK(exit_status_for({}, false) == 0);
  CHECK(exit_status_for(oss::client_errc::file_not_found, false) == 2);
  CHECK(exit_status_for(oss::client_errc::checkpoint_corrupt, false) == 2);
  CHECK(exit_status_for(oss::client_errc::invalid_part_size, false) == 2);
  CHECK(exit_status_for(oss::server_errc::access_denied, false) == 3);
  CHECK(exit_status_for(oss::make_http_status_error(404), false) == 3);
  CHECK(exit_status_for(oss::client_errc::malformed_xml, false) == 3);
  CHECK(exit_status_for(oss::client_errc::connection_timeout, false) == 4);
  CHECK(exit_status_for(oss::server_errc::request_timeout, false) == 4);
  CHECK(exit_status_for(asio::error::connection_refused, false) == 4);
  CHECK(exit_status_for(asio::error::host_not_found, false) == 4);
  CHECK(exit_status_for(asio::error::operation_aborted, true) == 130);
  CHECK(exit_status_for(std::make_error_code(std::errc::permission_denied), false) == 2);
}
