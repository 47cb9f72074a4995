// Test support: child processes. run_process feeds a program its standard input and captures its
// output; run_tool runs one of our command-line tools to completion, stdout and stderr apart (stderr
// optionally on a pseudo-terminal); child_process is a tool that keeps running until a test stops it.
#ifndef OSS_TESTS_SUPPORT_PROCESS_HPP
#define OSS_TESTS_SUPPORT_PROCESS_HPP

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace oss_test {

struct process_result {
  int exit_code = -1;      // -1: killed by a signal (also after a timeout)
  bool timed_out = false;  // the child outlived `limit` and was killed
  std::string out;
};

// A copy of our environment without the variables that point the command-line tools at a store
// (OSS_ENDPOINT, OSS_REGION, OSS_BUCKET, OSS_DIALECT, OSS_ACCESS_KEY_*, OSS_SESSION_TOKEN), then
// `extra` ("NAME=value"): a developer's shell settings must not leak into a tool under test.
inline std::vector<std::string> tool_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string_view v = *e;
    const bool connection = v.starts_with("OSS_ENDPOINT=") || v.starts_with("OSS_REGION=") ||
                            v.starts_with("OSS_BUCKET=") || v.starts_with("OSS_DIALECT=") ||
                            v.starts_with("OSS_ACCESS_KEY") || v.starts_with("OSS_SESSION_TOKEN=");
    if (!connection) out.emplace_back(v);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

// Runs argv[0] (looked up in PATH) with `input` on its stdin; stderr is inherited so a failing
// child explains itself in the test log. One poll() loop feeds stdin and drains stdout through
// non-blocking pipes, so large inputs and outputs cannot deadlock, and the loop ends at `limit`:
// the child is then killed and `timed_out` set. Throws std::runtime_error (with the reason) when
// the child cannot be started at all.
inline process_result run_process(const std::vector<std::string>& args, std::string_view input,
                                  std::chrono::milliseconds limit = std::chrono::seconds(300)) {
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close(in_pipe[0]);
    close(in_pipe[1]);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(err));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);  // dup2 clears O_CLOEXEC
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);

  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  }

  // A child that exits before reading all its input must not kill us with SIGPIPE.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);

  process_result result;
  int to_child = in_pipe[1];
  const int from_child = out_pipe[0];
  fcntl(to_child, F_SETFL, fcntl(to_child, F_GETFL) | O_NONBLOCK);
  fcntl(from_child, F_SETFL, fcntl(from_child, F_GETFL) | O_NONBLOCK);
  std::size_t written = 0;
  if (input.empty()) {
    close(to_child);  // EOF at once
    to_child = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool reading = true;
  while (reading) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2];
    nfds_t n = 0;
    fds[n++] = pollfd{from_child, POLLIN, 0};
    if (to_child >= 0) fds[n++] = pollfd{to_child, POLLOUT, 0};
    if (poll(fds, n, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 1000))) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 2 && fds[1].revents != 0) {
      const std::size_t chunk = std::min<std::size_t>(input.size() - written, 65536);
      const ssize_t w = write(to_child, input.data() + written, chunk);
      if (w > 0) written += static_cast<std::size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
        close(to_child);  // EOF tells the child its input is complete
        to_child = -1;
      }
    }
    if (fds[0].revents != 0) {
      char buffer[65536];
      const ssize_t r = read(from_child, buffer, sizeof buffer);
      if (r > 0)
        result.out.append(buffer, static_cast<std::size_t>(r));
      else if (r == 0 || (errno != EAGAIN && errno != EINTR))
        reading = false;
    }
  }
  if (to_child >= 0) close(to_child);
  close(from_child);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  sigaction(SIGPIPE, &previous, nullptr);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// The last non-empty line of a child's output: where our node runners print their JSON result.
inline std::string last_line(const std::string& out) {
  auto end = out.find_last_not_of("\r\n");
  if (end == std::string::npos) return {};
  auto begin = out.rfind('\n', end);
  return out.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
}

// $OSS_BUILD_DIR/examples/NAME under meson; run by hand, the build folder is the one this test
// executable lives in (BUILD/tests/integration).
inline std::filesystem::path tool_path(const char* name) {
  const char* build = std::getenv("OSS_BUILD_DIR");
  if (build && *build) return std::filesystem::path(build) / "examples" / name;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return self.parent_path().parent_path() / "examples" / name;
}

struct tool_result {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs a tool with `args` and the environment `env` (the caller's OSS_* connection variables
// removed, so a developer's shell cannot leak into the test), capturing stdout and stderr.
// `tick` is called about every 10 ms while the child runs, with its pid: tests use it to send
// a signal or stop the server at a chosen moment. The run is bounded by `limit`.
// With `stderr_tty` the child's stderr is a pseudo-terminal, as when a person runs it, of
// `tty_columns` columns (0: the pty's default).
inline tool_result run_tool(const std::filesystem::path& exe, const std::vector<std::string>& args,
                    const std::vector<std::string>& env, const std::function<void(pid_t)>& tick = {},
                    std::chrono::seconds limit = std::chrono::seconds(120), bool stderr_tty = false, int tty_columns = 0) {
  std::vector<std::string> env_strings = tool_environment(env);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  std::vector<std::string> argv_strings{exe.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::string tty_name;
  if (stderr_tty) {
    err_pipe[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (err_pipe[0] < 0 || grantpt(err_pipe[0]) != 0 || unlockpt(err_pipe[0]) != 0)
      throw std::runtime_error(std::string("pseudo-terminal: ") + std::strerror(errno));
    if (tty_columns > 0) {
      winsize ws{};
      ws.ws_row = 24;
      ws.ws_col = static_cast<unsigned short>(tty_columns);
      if (ioctl(err_pipe[0], TIOCSWINSZ, &ws) != 0) throw std::runtime_error("cannot size the pseudo-terminal");
    }
    tty_name = ptsname(err_pipe[0]);
    err_pipe[1] = -1;
  } else {
    if (pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
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
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    throw std::runtime_error("cannot start " + exe.string() + ": " + std::strerror(rc));
  }

  tool_result r;
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

// A child process with stdout on a pipe and stdin on /dev/null; stderr is inherited so that a
// failing child explains itself in the test log. Descriptors above 2 are closed in the child.
class child_process {
 public:
  child_process(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    std::vector<std::string> env_strings = tool_environment(extra_env);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = args;
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
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
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
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

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace oss_test

#endif
