// 03 - Resume after a crash: the checkpoint file makes an upload survive `kill -9`.
//
//   ./03_resume_after_crash FILE   (bucket and credentials from the environment, see example_env.hpp)
//
// With `upload_options::checkpoint` set to a path, the upload writes a small JSON file after
// InitiateMultipartUpload and after every part (atomically: a temporary file, fsync, rename), so
// at any moment the file names the server-side upload and the parts that are safely there. When
// the program dies - power cut, OOM killer, Ctrl-C - calling `multipart_upload` again with the
// same checkpoint checks that it belongs to the same file (path, size, mtime) and object,
// asks the server which parts it really has (ListParts), and uploads only the others.
//
// To show a real crash, this example forks: the child starts the upload and kills itself with
// SIGKILL from the progress handler after three parts, which gives it no chance to clean up or
// flush anything. The parent then resumes from the checkpoint the child left behind.
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

namespace {

const std::string object_name = "examples/03/resumed.bin";

// Runs `coro` to completion on a fresh io_context; exceptions come out of run().
template <typename Coroutine>
void run(Coroutine coro) {
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  asio::co_spawn(io, coro(client), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
}

// The first attempt: dies after three parts, as a crash would.
[[noreturn]] void crashing_child(const std::string& file, const std::string& checkpoint) {
  run([&](oss::client& client) -> asio::awaitable<void> {
    oss::upload_options opts{
        .parallel = 2,
        .part_size = 512 << 10,
        .checkpoint = checkpoint,
        .progress = [](const oss::progress_event& e) {
          // By the time the handler runs, the part is durably in the checkpoint.
          if (e.parts_done == 3) ::kill(::getpid(), SIGKILL);
        },
    };
    co_await oss::multipart_upload(client, object_name, file, opts);
  });
  // Only reached if the file was too small to have three parts.
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 03_resume_after_crash FILE\n");
    return 2;
  }
  const std::string file = argv[1];
  const std::string checkpoint = file + ".03.checkpoint";
  std::filesystem::remove(checkpoint);  // start this demonstration from scratch

  // 1. The crash. Fork before any Asio object exists, so the child owns its own event loop.
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) crashing_child(file, checkpoint);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFSIGNALED(status))
    std::printf("first attempt: killed by signal %d, as planned\n", WTERMSIG(status));
  else
    std::printf("first attempt: finished before the planned crash (the file has fewer than 3 parts)\n");

  // 2. What the crash left behind: a checkpoint naming the upload and its finished parts. It is
  // plain data, and never holds a secret.
  if (std::filesystem::exists(checkpoint)) {
    oss::checkpoint cp = oss::load_checkpoint(checkpoint);
    std::printf("checkpoint: upload %s of %s, %zu of %llu parts done\n", cp.upload_id.c_str(), cp.name.c_str(),
                cp.done_parts.size(),
                static_cast<unsigned long long>((cp.file_size + cp.part_size - 1) / cp.part_size));
  }

  // 3. The resume: the same call with the same checkpoint. Only the missing parts are sent.
  oss::upload_result result;
  run([&](oss::client& client) -> asio::awaitable<void> {
    oss::upload_options opts{.parallel = 2, .part_size = 512 << 10, .checkpoint = checkpoint};
    result = co_await oss::multipart_upload(client, object_name, file, opts);
  });
  std::printf("resumed: %s, sent %llu of %llu bytes now (%u of %u parts), CRC-64 %llu verified\n",
              result.resumed ? "yes" : "no", static_cast<unsigned long long>(result.bytes_uploaded),
              static_cast<unsigned long long>(result.size), result.parts_uploaded, result.parts,
              static_cast<unsigned long long>(result.crc64));

  // After success the checkpoint file is gone: there is nothing left to resume.
  const bool ok = !std::filesystem::exists(checkpoint) &&
                  (!WIFSIGNALED(status) || (result.resumed && result.bytes_uploaded < result.size));
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "03_resume_after_crash: %s\n", e.what());
  return 1;
}
