// 02 - A progress bar: what the progress handler is told, and when.
//
//   ./02_progress_bar FILE        (bucket and credentials from the environment, see example_env.hpp)
//
// `upload_options::progress` is called after every durable step of the upload:
//
//   stage      when                                          fraction
//   started    after InitiateMultipartUpload (or, when       0, or the share already done
//              resuming, after the checkpoint was checked)   when resuming
//   part_done  after each part is uploaded AND recorded      bytes_done / bytes_total (< 1)
//              in the checkpoint
//   completed  after CompleteMultipartUpload, CRC-64 checked exactly 1.0, exactly once
//
// Counting is in bytes, never goes backwards, and a retried part is never counted twice, so the
// numbers can drive a bar directly. The handler runs on the upload's strand, one call at a time,
// and the upload waits for it: keep it quick. It may also be a coroutine
// (`-> asio::awaitable<void>`) that awaits something, e.g. a write to a socket; the upload then
// waits for that too, which is how a slow consumer applies back-pressure.
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace {

using steady = std::chrono::steady_clock;

// One line of text; on a terminal it is redrawn in place with '\r', elsewhere (a log file, a
// test runner) every call prints a line of its own.
class progress_bar {
 public:
  void operator()(const oss::progress_event& e) {
    const auto now = steady::now();
    if (e.stage == oss::progress_stage::started) {
      start_ = now;
      base_ = e.bytes_done;  // bytes done before a resume do not count towards the speed
    }
    // Redraw at most 10 times a second; the first and the last event are always shown.
    if (e.stage == oss::progress_stage::part_done && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;

    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double mib_per_s = seconds > 0 ? double(e.bytes_done - base_) / seconds / (1 << 20) : 0;
    const double eta = mib_per_s > 0 ? double(e.bytes_total - e.bytes_done) / (1 << 20) / mib_per_s : 0;

    constexpr int width = 30;
    const int filled = static_cast<int>(e.fraction * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');

    std::fprintf(stderr, "%s[%s] %5.1f%%  %u/%u parts  %.1f MiB/s  ETA %.0f s%s", tty_ ? "\r" : "", bar.c_str(),
                 100 * e.fraction, e.parts_done, e.parts_total, mib_per_s, eta,
                 tty_ && e.stage != oss::progress_stage::completed ? "" : "\n");
    std::fflush(stderr);
    ++draws_;
  }

  int draws() const { return draws_; }

 private:
  bool tty_ = ::isatty(STDERR_FILENO) != 0;
  steady::time_point start_ = steady::now();
  steady::time_point last_{};
  std::uint64_t base_ = 0;
  int draws_ = 0;
};

asio::awaitable<void> upload(oss::client& client, std::string file, progress_bar& bar) {
  oss::upload_options opts{
      .parallel = 4,
      .part_size = 256 << 10,  // small parts: more events, a smoother bar
      // The handler is copied into the options; it refers to `bar`, which outlives the upload.
      .progress = [&bar](const oss::progress_event& e) { bar(e); },
  };
  oss::upload_result r = co_await oss::multipart_upload(client, "examples/02/progress.bin", file, opts);
  std::printf("uploaded %s: %llu bytes in %u parts\n", r.name.c_str(),
              static_cast<unsigned long long>(r.size), r.parts);
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 02_progress_bar FILE\n");
    return 2;
  }
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  progress_bar bar;
  asio::co_spawn(io, upload(client, argv[1], bar), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  // At least the `started` and the `completed` event were drawn.
  return bar.draws() >= 2 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "02_progress_bar: %s\n", e.what());
  return 1;
}
