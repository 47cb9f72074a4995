// Test support: run a child program with a given standard input and capture its standard output.
#ifndef OSS_TESTS_SUPPORT_PROCESS_HPP
#define OSS_TESTS_SUPPORT_PROCESS_HPP

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace oss_test {

struct process_result {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
};

// Runs argv[0] (looked up in PATH) with `input` on its stdin; stderr is inherited so a failing
// child explains itself in the test log. Both pipes are serviced with poll(), so large inputs and
// outputs cannot deadlock.
inline process_result run_process(const std::vector<std::string>& args, const std::string& input) {
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);

  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]);
    close(out_pipe[0]);
    throw std::runtime_error("cannot start " + args[0]);
  }

  process_result result;
  std::size_t written = 0;
  int to_child = in_pipe[1];
  if (input.empty()) {
    close(to_child);
    to_child = -1;
  }
  int from_child = out_pipe[0];
  char buffer[65536];
  while (from_child >= 0) {
    pollfd fds[2] = {{from_child, POLLIN, 0}, {to_child, POLLOUT, 0}};
    int n = poll(fds, to_child >= 0 ? 2 : 1, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (to_child >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(to_child, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 || written == input.size()) {
        close(to_child);
        to_child = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(from_child, buffer, sizeof buffer);
      if (r > 0) {
        result.out.append(buffer, static_cast<std::size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        close(from_child);
        from_child = -1;
      }
    }
  }
  if (to_child >= 0) close(to_child);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
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
