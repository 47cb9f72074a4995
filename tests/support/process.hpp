// Test support: run a child program with a given standard input and capture its standard output.
#ifndef OSS_TESTS_SUPPORT_PROCESS_HPP
#define OSS_TESTS_SUPPORT_PROCESS_HPP

#include <fcntl.h>
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

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace oss_test

#endif
