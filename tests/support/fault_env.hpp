// Test support for the fault tests (test_faults, test_fault_sweep, test_crash): a signed local
// server, client options with short timeouts and tiny back-off, a coroutine runner with a
// watchdog, and a child process handle for tools that keep running (oss-local-server,
// oss-upload) and that a test kills.
#ifndef OSS_TESTS_SUPPORT_FAULT_ENV_HPP
#define OSS_TESTS_SUPPORT_FAULT_ENV_HPP

#include <oss/client.hpp>
#include <oss/detail/crc64.hpp>
#include <oss/testing/local_server.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "process.hpp"
#include "run_coro.hpp"
#include "temp_dir.hpp"


namespace oss_test {

inline constexpr const char* fault_key_id = "LTAI-fault-test-id";
inline constexpr const char* fault_secret = "fault-secret-Wq83nVx";
inline constexpr const char* fault_bucket = "fault-bucket";

// run_coro under the name the fault tests use.
template <typename Fn>
void fault_run(asio::io_context& io, Fn fn, std::chrono::seconds limit = std::chrono::seconds(60)) {
  run_coro(io, std::move(fn), limit);
}

inline std::uint64_t fault_crc(std::string_view s) { return oss::detail::crc64(0, s.data(), s.size()); }

// A scratch folder removed with its contents, in RAM (/dev/shm) when that has room for
// `need_bytes`: the server's store and the upload's checkpoint are fsync'ed on every part, and
// hundreds of uploads on a disk would spend most of their time waiting for it.
class fault_scratch : public temp_dir {
 public:
  explicit fault_scratch(std::uint64_t need_bytes) : temp_dir(base_for(need_bytes)) {}

 private:
  static std::filesystem::path base_for(std::uint64_t need_bytes) {
    struct statvfs vfs {};
    if (::statvfs("/dev/shm", &vfs) == 0 && ::access("/dev/shm", W_OK) == 0 &&
        static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize > need_bytes + (need_bytes >> 1) + (64u << 20))
      return "/dev/shm";
    return std::filesystem::temp_directory_path();
  }
};

// A signed local server on 127.0.0.1 with its store and a scratch folder for files.
// `need_bytes`: about how much the test stores (source files plus server copies).
struct fault_env {
  fault_scratch scratch;
  std::filesystem::path store;
  std::filesystem::path files;
  oss::testing::local_server_thread server;

  // `dialect`: what the server speaks and options() asks the client to speak (test_s3_local).
  oss::api_dialect dialect = oss::api_dialect::oss;

  explicit fault_env(unsigned threads = 2, std::uint64_t need_bytes = 64u << 20,
                     oss::api_dialect server_dialect = oss::api_dialect::oss)
      : scratch(need_bytes),
        store(make_dir(scratch / "store")),
        files(make_dir(scratch / "files")),
        server(
            [&] {
              oss::testing::local_server_options o;
              o.root = store.string();
              o.access_key_id = fault_key_id;
              o.access_key_secret = fault_secret;
              o.dialect = server_dialect;
              return o;
            }(),
            threads),
        dialect(server_dialect) {}

  static std::filesystem::path make_dir(std::filesystem::path p) {
    std::filesystem::create_directories(p);
    return p;
  }

  // Short timeouts and a back-off of a few milliseconds: faults cost little wall time, and the
  // tests assert on counters only.
  oss::client_options options() const {
    oss::client_options o;
    o.endpoint = server.endpoint();
    o.region = "cn-local";
    o.bucket = fault_bucket;
    o.creds = {fault_key_id, fault_secret, ""};
    o.address_style = oss::addressing_style::path_style;
    o.connect_timeout = std::chrono::milliseconds(2000);
    o.stall_timeout = std::chrono::milliseconds(150);
    o.retry_base_delay = std::chrono::milliseconds(1);
    o.retry_max_delay = std::chrono::milliseconds(4);
    o.dialect = dialect;
    return o;
  }
};

// $OSS_BUILD_DIR/examples/NAME, else next to this test executable's build folder.
inline std::filesystem::path fault_tool_path(const char* name) {
  const char* build = std::getenv("OSS_BUILD_DIR");
  if (build && *build) return std::filesystem::path(build) / "examples" / name;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return self.parent_path().parent_path() / "examples" / name;
}

// A child process with stdout on a pipe and stdin on /dev/null; stderr is inherited so that a
// failing child explains itself in the test log. Descriptors above 2 are closed in the child.
class fault_child {
 public:
  fault_child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env_strings = tool_environment(extra_env);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = args;
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      pid_ = -1;
      throw std::runtime_error("cannot start " + args[0]);
    }
    out_ = out[0];
    fcntl(out_, F_SETFL, fcntl(out_, F_GETFL) | O_NONBLOCK);
  }
  fault_child(const fault_child&) = delete;
  fault_child& operator=(const fault_child&) = delete;
  ~fault_child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      wait();
    }
    if (out_ >= 0) close(out_);
  }

  pid_t pid() const noexcept { return pid_; }

  // Drains stdout without blocking longer than `wait_ms`. Returns false at end of file.
  bool pump(int wait_ms) {
    if (out_ < 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return true;
    char buf[65536];
    for (;;) {
      const ssize_t n = read(out_, buf, sizeof buf);
      if (n > 0) {
        out_text_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        close(out_);
        out_ = -1;
        return false;
      }
      return errno == EAGAIN || errno == EINTR;
    }
  }

  // The first stdout line, waiting at most `limit` for it.
  std::string first_line(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out_text_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      if (!pump(20)) break;
    }
    auto nl = out_text_.find('\n');
    return nl == std::string::npos ? out_text_ : out_text_.substr(0, nl);
  }

  // True once the child has exited (reaped); `exit_code()` is then valid.
  bool exited() {
    if (exited_) return true;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) record(status);
    return exited_;
  }

  void signal(int sig) {
    if (!exited_) kill(pid_, sig);
  }

  // Waits for the child to exit (after a signal, or bounded by the caller's own loop).
  int wait() {
    if (exited_) return exit_code_;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    record(status);
    return exit_code_;
  }

  int exit_code() const noexcept { return exit_code_; }
  bool killed_by_signal() const noexcept { return signalled_; }
  const std::string& out() const noexcept { return out_text_; }

 private:
  void record(int status) {
    exited_ = true;
    signalled_ = WIFSIGNALED(status);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string out_text_;
  bool exited_ = false;
  bool signalled_ = false;
  int exit_code_ = -1;
};

}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_FAULT_ENV_HPP
