// 08 - Resumable download: an object back into a file, in parallel ranges, surviving a crash.
//
//   ./08_resumable_download FILE   (bucket and credentials from the environment, see example_env.hpp)
//
// The file is first uploaded (so there is something to download), then downloaded with
// `oss::resumable_download`: ranged GETs, `parallel` at a time, written into `<target>.part`
// as they arrive; every range pinned to the object's ETag (If-Match), so no byte of a newer
// version can slip in; the file's CRC-64 compared with the object's; and only then renamed to
// the target. With `download_options::checkpoint` each finished range is recorded once it is
// durably on disk, so a crash loses at most the ranges in flight. As in 03, the first attempt
// kills itself with SIGKILL after three ranges; the second resumes from its checkpoint.
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>
#include <oss/resumable_download.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

const std::string object_name = "examples/08/object.bin";

template <typename Coroutine>
void run(Coroutine coro) {
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  asio::co_spawn(io, coro(client), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
}

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

[[noreturn]] void crashing_child(const std::string& target, const std::string& checkpoint) {
  run([&](oss::client& client) -> asio::awaitable<void> {
    oss::download_options opts{
        .parallel = 2,
        .part_size = 512 << 10,
        .checkpoint = checkpoint,
        .progress = [](const oss::progress_event& e) {
          // part_done: the range is durably in the file and the checkpoint.
          if (e.stage == oss::progress_stage::part_done && e.parts_done == 3) ::kill(::getpid(), SIGKILL);
        },
    };
    co_await oss::resumable_download(client, object_name, target, opts);
  });
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 08_resumable_download FILE\n");
    return 2;
  }
  const std::string file = argv[1];
  const std::string target = file + ".08.downloaded";
  const std::string checkpoint = target + ".checkpoint";
  std::filesystem::remove(checkpoint);

  run([&](oss::client& client) -> asio::awaitable<void> {
    co_await oss::multipart_upload(client, object_name, file);
  });

  // 1. The crash, in a child with its own event loop.
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) crashing_child(target, checkpoint);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFSIGNALED(status)) std::printf("first attempt: killed by signal %d, as planned\n", WTERMSIG(status));
  if (std::filesystem::exists(checkpoint)) {
    const oss::checkpoint cp = oss::load_checkpoint(checkpoint);
    std::printf("checkpoint: %s pinned at ETag %s, %zu ranges durable\n", cp.name.c_str(), cp.object_etag.c_str(),
                cp.done_parts.size());
  }

  // 2. The resume: the same call, the same checkpoint; only the missing ranges are fetched.
  oss::download_result result;
  run([&](oss::client& client) -> asio::awaitable<void> {
    oss::download_options opts{.parallel = 2, .part_size = 512 << 10, .checkpoint = checkpoint};
    result = co_await oss::resumable_download(client, object_name, target, opts);
  });
  std::printf("resumed: %s, fetched %llu of %llu bytes now, CRC-64 %llu %s\n", result.resumed ? "yes" : "no",
              static_cast<unsigned long long>(result.bytes_downloaded), static_cast<unsigned long long>(result.size),
              static_cast<unsigned long long>(result.crc64), result.verified ? "verified" : "not verified");

  const bool same = contents(target) == contents(file);
  std::printf("the download is %s the uploaded file\n", same ? "identical to" : "DIFFERENT from");
  std::filesystem::remove(target);
  const bool ok = same && result.verified && !std::filesystem::exists(checkpoint) &&
                  (!WIFSIGNALED(status) || (result.resumed && result.bytes_downloaded < result.size));
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "08_resumable_download: %s\n", e.what());
  return 1;
}
