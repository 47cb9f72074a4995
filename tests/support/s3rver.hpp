// Test support: the real s3rver (npm, an S3 emulator) in a child process, for tests that check
// the S3 dialect against a server we did not write. tests/node/s3rver_run.js does the work;
// this class starts it, waits (bounded) for its port, and stops it when destroyed.
//
//   oss_test::s3rver server({"bucket"});
//   if (!server.available()) { MESSAGE("skipped: " << server.skip_reason()); return; }
//   REQUIRE_MESSAGE(server.running(), server.failure());
//   server.endpoint();  // "http://127.0.0.1:<port>", path-style, region us-east-1
//
// Credentials: S3RVER / S3RVER. s3rver checks the access key id, the Authorization layout,
// x-amz-content-sha256 and the clock skew, but does not recompute SigV4 signatures (see
// s3rver_run.js). s3_get() reads an object back with @aws-sdk/client-s3 (tests/node/s3_get.js).
#ifndef OSS_TESTS_SUPPORT_S3RVER_HPP
#define OSS_TESTS_SUPPORT_S3RVER_HPP

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "temp_dir.hpp"

extern char** environ;

namespace oss_test {

// The tests/node folder when node and the s3rver and @aws-sdk/client-s3 modules are there;
// otherwise nullopt and `reason` says what is missing.
inline std::optional<std::filesystem::path> s3rver_node_dir(std::string& reason) {
  const std::filesystem::path dir = env_or("OSS_TEST_NODE_DIR", "tests/node");
  for (const char* module : {"s3rver", "@aws-sdk/client-s3"}) {
    if (!std::filesystem::exists(dir / "node_modules" / module / "package.json")) {
      reason = std::string("npm module ") + module + " not installed under " + dir.string();
      return std::nullopt;
    }
  }
  try {
    if (run_process({"node", "--version"}, "", std::chrono::seconds(30)).exit_code != 0) {
      reason = "node --version failed";
      return std::nullopt;
    }
  } catch (const std::runtime_error&) {
    reason = "node is not installed";
    return std::nullopt;
  }
  return dir;
}

// What s3_get.js reports about an object read with the AWS SDK.
struct s3_object_info {
  bool ok = false;
  std::string error;         // SDK error name and message when !ok
  int status = 0;            // HTTP status of a failure, when known
  std::uint64_t size = 0;
  std::string sha256;        // lower hex
  std::string content_type;
  std::string etag;
  std::string content_disposition;
  std::string content_encoding;
  std::string cache_control;
  std::vector<std::pair<std::string, std::string>> metadata;  // x-amz-meta-* without the prefix

  const std::string* meta(std::string_view name) const {
    for (const auto& [n, v] : metadata)
      if (n == name) return &v;
    return nullptr;
  }
};

class s3rver {
 public:
  static constexpr const char* access_key_id = "S3RVER";
  static constexpr const char* access_key_secret = "S3RVER";
  static constexpr const char* region = "us-east-1";

  explicit s3rver(const std::vector<std::string>& buckets,
                  std::chrono::milliseconds start_limit = std::chrono::seconds(60)) {
    const auto dir = s3rver_node_dir(skip_reason_);
    if (!dir) return;
    node_dir_ = *dir;
    start(buckets, start_limit);
  }
  s3rver(const s3rver&) = delete;
  s3rver& operator=(const s3rver&) = delete;
  ~s3rver() { stop(); }

  // False: node or a module is missing; the caller skips (skip_reason() says why).
  bool available() const { return skip_reason_.empty(); }
  const std::string& skip_reason() const { return skip_reason_; }
  // True once the server printed its port; failure() says why not.
  bool running() const { return port_ != 0; }
  const std::string& failure() const { return failure_; }
  unsigned port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& node_dir() const { return node_dir_; }

  // Reads bucket/key with @aws-sdk/client-s3; writes the bytes to `outfile` when non-empty.
  s3_object_info s3_get(const std::string& bucket, const std::string& key, const std::string& outfile = {},
                        const std::string& access_key = access_key_id) const {
    std::vector<std::string> args = {"env", "S3_ACCESS_KEY_ID=" + access_key, "node", "--no-warnings",
                                     (node_dir_ / "s3_get.js").string(), endpoint(), bucket, key};
    if (!outfile.empty()) args.push_back(outfile);
    const process_result run = run_process(args, "", std::chrono::seconds(120));
    s3_object_info info;
    if (run.timed_out) {
      info.error = "s3_get.js did not finish within 120 s";
      return info;
    }
    boost::json::error_code ec;
    const boost::json::value v = boost::json::parse(last_line(run.out), ec);
    if (ec || !v.is_object()) {
      info.error = "s3_get.js exited with status " + std::to_string(run.exit_code) + " without a JSON result";
      return info;
    }
    const auto& o = v.as_object();
    auto str = [&](const char* name) {
      const auto* f = o.if_contains(name);
      return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    info.ok = o.at("ok").as_bool();
    if (!info.ok) {
      info.error = str("name") + ": " + str("message");
      if (const auto* s = o.if_contains("status"); s != nullptr && s->is_number()) info.status = s->to_number<int>();
      return info;
    }
    info.size = o.at("size").to_number<std::uint64_t>();
    info.sha256 = str("sha256");
    info.content_type = str("content_type");
    info.etag = str("etag");
    info.content_disposition = str("content_disposition");
    info.content_encoding = str("content_encoding");
    info.cache_control = str("cache_control");
    for (const auto& [name, value] : o.at("metadata").as_object())
      info.metadata.emplace_back(std::string(name), value.is_string() ? std::string(value.as_string()) : "");
    return info;
  }

  // Closes the child's stdin (s3rver_run.js then exits), waits up to 5 s, then SIGTERM, 5 s
  // more, then SIGKILL. Idempotent.
  void stop() {
    if (to_child_ >= 0) {
      close(to_child_);
      to_child_ = -1;
    }
    if (from_child_ >= 0) {
      close(from_child_);
      from_child_ = -1;
    }
    if (pid_ <= 0) return;
    if (!wait_for_exit(std::chrono::seconds(5))) {
      kill(pid_, SIGTERM);
      if (!wait_for_exit(std::chrono::seconds(5))) {
        kill(pid_, SIGKILL);
        wait_for_exit(std::chrono::seconds(30));
      }
    }
    pid_ = -1;
    port_ = 0;
  }

 private:
  void start(const std::vector<std::string>& buckets, std::chrono::milliseconds limit) {
    int in_pipe[2];
    int out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) {
      failure_ = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      failure_ = std::string("pipe: ") + std::strerror(errno);
      close(in_pipe[0]);
      close(in_pipe[1]);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    // Asio sockets are not close-on-exec: the server must not inherit a listening socket of the
    // test process and keep it alive.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    std::vector<std::string> args = {"node", (node_dir_ / "s3rver_run.js").string(), (dir_.path() / "data").string()};
    args.insert(args.end(), buckets.begin(), buckets.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in_pipe[0]);
    close(out_pipe[1]);
    to_child_ = in_pipe[1];
    from_child_ = out_pipe[0];
    if (rc != 0) {
      pid_ = -1;
      failure_ = std::string("cannot start node: ") + std::strerror(rc);
      return;
    }

    // The first line is the port; anything else (or nothing before the limit) is a failure.
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (line.find('\n') == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        failure_ = "s3rver_run.js printed no port within " + std::to_string(limit.count()) + " ms";
        stop();
        return;
      }
      pollfd fd{from_child_, POLLIN, 0};
      const int n = poll(&fd, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 500)));
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      char buffer[256];
      const ssize_t r = read(from_child_, buffer, sizeof buffer);
      if (r <= 0) {
        failure_ = "s3rver_run.js exited before printing its port (see its stderr above)";
        stop();
        return;
      }
      line.append(buffer, static_cast<std::size_t>(r));
    }
    line.resize(line.find('\n'));
    unsigned port = 0;
    for (char c : line) {
      if (c < '0' || c > '9' || port > 65535) {
        port = 0;
        break;
      }
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port == 0 || port > 65535) {
      failure_ = "s3rver_run.js printed '" + line + "' instead of a port";
      stop();
      return;
    }
    port_ = port;
  }

  bool wait_for_exit(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  temp_dir dir_;
  std::filesystem::path node_dir_;
  std::string skip_reason_;
  std::string failure_;
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  unsigned port_ = 0;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_S3RVER_HPP
