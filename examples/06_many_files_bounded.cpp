// 06 - Many files, bounded: upload a whole folder with at most K files in flight.
//
//   ./06_many_files_bounded DIR   (bucket and credentials from the environment)
//
// Each `multipart_upload` is bounded by its own `parallel`; a program that uploads many files
// bounds the number of uploads too, so the total stays at most K x parallel requests (and about
// K x parallel x part_size bytes of buffers). The pattern is a fixed pool of K worker
// coroutines that take the next file from a shared list until it is empty: no queue, no
// semaphore, no lock, because all workers run on the one thread of this io_context and only
// touch the list between `co_await`s.
//
// One client serves every upload: its connection pool is shared, and `max_connections` caps
// the sockets whatever K and parallel say. Files smaller than one part go up with a single
// PutObject, with the same result and progress events.
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace {

constexpr std::size_t files_at_once = 3;  // K
constexpr std::size_t parts_at_once = 2;  // parallel, per file

// State shared by the workers; only touched on the io_context's one thread.
struct batch {
  std::vector<std::filesystem::path> files;
  std::size_t next = 0;         // the next file to take
  std::size_t in_flight = 0;    // uploads running now
  std::size_t peak = 0;         // the most that ever ran at once
  std::size_t done = 0;
  std::size_t failed = 0;
  std::uint64_t bytes = 0;
};

asio::awaitable<void> worker(oss::client& client, batch& b) {
  while (b.next < b.files.size()) {
    const std::filesystem::path file = b.files[b.next++];
    const std::string name = "examples/06/" + file.filename().string();
    ++b.in_flight;
    b.peak = std::max(b.peak, b.in_flight);

    oss::upload_options opts{.parallel = parts_at_once, .part_size = 256 << 10};
    try {
      oss::upload_result r = co_await oss::multipart_upload(client, name, file, opts);
      std::printf("  %-28s %9llu bytes  %3u part%s  %s\n", name.c_str(), static_cast<unsigned long long>(r.size),
                  r.parts, r.parts == 1 ? " " : "s", r.multipart ? "multipart" : "PutObject");
      ++b.done;
      b.bytes += r.size;
    } catch (const oss::error& e) {
      // One failed file does not stop the others.
      std::printf("  %-28s FAILED: %s\n", name.c_str(), e.what());
      ++b.failed;
    }
    --b.in_flight;
  }
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 06_many_files_bounded DIR\n");
    return 2;
  }
  batch b;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1]))
    if (entry.is_regular_file()) b.files.push_back(entry.path());
  std::sort(b.files.begin(), b.files.end());
  std::printf("%zu files, at most %zu at a time, %zu parts each\n", b.files.size(), files_at_once, parts_at_once);

  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  for (std::size_t i = 0; i < files_at_once; ++i)
    asio::co_spawn(io, worker(client, b), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  io.run();  // returns when every worker has run out of files

  std::printf("%zu uploaded (%llu bytes), %zu failed, at most %zu uploads at once\n", b.done,
              static_cast<unsigned long long>(b.bytes), b.failed, b.peak);
  return b.failed == 0 && b.done == b.files.size() && b.peak <= files_at_once ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "06_many_files_bounded: %s\n", e.what());
  return 1;
}
