// Test support for the fault tests (test_faults, test_fault_sweep, test_crash): a signed local
// server, client options with short timeouts and tiny back-off, a coroutine runner with a
// watchdog. Child processes (tools a test kills) are in process.hpp.
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


}  // namespace oss_test

#endif  // OSS_TESTS_SUPPORT_FAULT_ENV_HPP
