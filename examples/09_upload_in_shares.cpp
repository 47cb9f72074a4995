// 09 - One object from several machines: each uploads its own share, one completes.
//
//   ./09_upload_in_shares FILE   (bucket and credentials from the environment, see example_env.hpp)
//
// A dataset too big for one host's disk or link can still become one object: the store is the
// coordinator, no daemon is needed.
//   1. One party initiates the upload and hands its id to the others.
//   2. Each worker uploads its own bytes of the object as its own range of part numbers
//      (`upload_options::share`), with its own checkpoint, so a worker that dies resumes alone.
//      A share never completes or aborts the upload: it is everyone's.
//   3. One party completes it with `complete_shared_upload`, which first checks that every
//      part is on the server, then verifies the object's CRC-64.
//
// Here the "machines" are four processes forked from this one, and each gets its slice of FILE
// as a file of its own, as it would hold it. The command-line tool does the same with
// `oss-upload --initiate`, `--upload-id ID --parts A-B` and `--complete`.
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

const std::string object_name = "examples/09/shared.bin";
constexpr std::uint64_t part_size = 256 << 10;
constexpr int workers = 4;

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

// Bytes [begin, end) of `from` written to `to`: the share a worker's machine would hold.
void write_slice(const std::string& from, const std::string& to, std::uint64_t begin, std::uint64_t end) {
  std::ifstream in(from, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(begin));
  std::vector<char> bytes(end - begin);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::ofstream(to, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One worker: its slice as parts first..last of the upload. Exit status 0 once they are all on
// the server.
[[noreturn]] void worker(const std::string& slice, const std::string& upload_id, std::uint32_t first,
                         std::uint32_t last) {
  int status = 1;
  try {
    run([&](oss::client& client) -> asio::awaitable<void> {
      oss::upload_options opts{.parallel = 2, .part_size = part_size, .checkpoint = slice + ".checkpoint"};
      opts.share = oss::upload_share{upload_id, first, last};
      const oss::upload_result r = co_await oss::multipart_upload(client, object_name, slice, opts);
      std::printf("worker %u-%u: %u parts, %llu bytes, CRC-64 %llu\n", first, last, r.parts,
                  static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.crc64));
    });
    status = 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker %u-%u: %s\n", first, last, e.what());
  }
  std::fflush(stdout);
  std::_Exit(status);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 09_upload_in_shares FILE\n");
    return 2;
  }
  const std::string file = argv[1];
  const std::uint64_t size = std::filesystem::file_size(file);
  const std::uint64_t parts = std::max<std::uint64_t>(1, (size + part_size - 1) / part_size);
  const std::uint64_t per_worker = (parts + workers - 1) / workers;

  // 1. Initiate once, with the object's metadata (a share sends none).
  std::string upload_id;
  run([&](oss::client& client) -> asio::awaitable<void> {
    oss::object_options object;
    object.meta = {{"assembled-from", std::to_string(workers) + " shares"}};
    upload_id = co_await client.initiate_multipart_upload(object_name, object);
  });
  std::printf("initiated upload %s of %s\n", upload_id.c_str(), object_name.c_str());
  std::fflush(stdout);  // else each forked child would print the buffered line again

  // 2. The workers, side by side. Fork with no Asio object alive, so each owns its event loop.
  std::vector<pid_t> children;
  for (std::uint64_t w = 0; w < workers && w * per_worker < parts; ++w) {
    const auto first = static_cast<std::uint32_t>(w * per_worker + 1);
    const auto last = static_cast<std::uint32_t>(std::min(parts, (w + 1) * per_worker));
    const std::string slice = file + ".09.share" + std::to_string(w);
    write_slice(file, slice, (first - 1) * part_size, std::min(size, last * part_size));
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) worker(slice, upload_id, first, last);
    children.push_back(child);
  }
  bool all_done = true;
  for (const pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    all_done = all_done && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  for (std::size_t w = 0; w < children.size(); ++w) std::filesystem::remove(file + ".09.share" + std::to_string(w));
  if (!all_done) {
    // The parts that went up stay; a worker run again with its checkpoint finishes its share.
    std::fprintf(stderr, "09_upload_in_shares: a worker failed; upload %s stays open\n", upload_id.c_str());
    return 1;
  }

  // 3. Complete: every part 1..parts must be on the server; the object's CRC-64 is verified.
  oss::upload_result result;
  run([&](oss::client& client) -> asio::awaitable<void> {
    result = co_await oss::complete_shared_upload(client, object_name, upload_id, static_cast<std::uint32_t>(parts));
  });
  std::printf("completed %s: %llu bytes in %u parts, CRC-64 %llu confirmed by the server\n", result.name.c_str(),
              static_cast<unsigned long long>(result.size), result.parts,
              static_cast<unsigned long long>(result.crc64));
  return result.size == size ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "09_upload_in_shares: %s\n", e.what());
  return 1;
}
