// 05 - Timeouts and cancellation: per-request timeouts, an overall deadline, and resuming.
//
//   ./05_timeout_and_cancel FILE   (bucket and credentials from the environment)
//
// Two different things:
//
// * Per-request timeouts live in `client_options`: `connect_timeout` (resolve, connect, TLS)
//   and `stall_timeout` (no byte moved in either direction for that long). A stall timeout
//   does not punish a big part on a slow link, as a fixed total deadline would. Both surface
//   as `oss::client_errc::connection_timeout` after the client's retries (`max_attempts`).
//
// * An overall deadline is yours to set, with Asio's cancellation: race the upload against a
//   timer with `||` (asio::experimental::awaitable_operators). When the timer wins, the upload
//   gets a terminal cancellation: it stops scheduling parts, cancels those in flight, saves the
//   checkpoint and ends with `asio::error::operation_aborted`. The server-side upload is kept,
//   so calling again with the same checkpoint continues where it stopped. The same happens for
//   any other cancellation: `asio::bind_cancellation_slot`, a Ctrl-C handler (07), ...
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

// Part 1: a server that accepts connections and then never answers. Its listening socket is
// enough: the kernel completes the TCP handshake, our request is sent, and nothing comes back.
asio::awaitable<bool> stall_timeout_demo() {
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::acceptor silent(ex, {asio::ip::make_address("127.0.0.1"), 0});

  oss::client_options options = example::client_options_from_env();
  options.endpoint = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  if (options.region.empty()) options.region = "cn-local";  // V4 needs a region for an IP endpoint
  options.connect_timeout = 2s;
  options.stall_timeout = 300ms;  // a real deployment would use tens of seconds
  options.max_attempts = 2;       // one retry on a fresh connection, then give up
  oss::client client(ex, options);

  oss::diagnostics diag;
  const auto start = std::chrono::steady_clock::now();
  auto [ec, meta] = co_await client.async_head("examples/05/anything", diag,
                                               asio::experimental::as_tuple(asio::use_awaitable));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("silent server: gave up after %.1f s and %d attempts: %s\n", seconds, diag.attempts,
              ec.message().c_str());
  co_return ec == oss::client_errc::connection_timeout;
}

// Part 2: an overall deadline, then a resume.
asio::awaitable<bool> deadline_demo(oss::client& client, std::string file) {
  const std::string name = "examples/05/deadline.bin";
  const std::string checkpoint = file + ".05.checkpoint";
  std::filesystem::remove(checkpoint);
  oss::upload_options opts{.parallel = 2, .part_size = 256 << 10, .checkpoint = checkpoint};

  // A deadline far too short for the whole file, so it ends the first attempt.
  asio::steady_timer deadline(co_await asio::this_coro::executor, 1ms);
  auto first = co_await (oss::multipart_upload(client, name, file, opts) || deadline.async_wait(asio::use_awaitable));
  if (first.index() == 1) {
    std::printf("deadline: the upload was cancelled; checkpoint %s\n",
                std::filesystem::exists(checkpoint) ? "kept for the resume" : "not written yet (cancelled before Initiate)");
  } else {
    std::printf("deadline: the upload finished first\n");
  }

  // The resume: same name, same file, same checkpoint, no deadline this time.
  oss::upload_result r = co_await oss::multipart_upload(client, name, file, opts);
  std::printf("second attempt: done, %s, %llu of %llu bytes sent now, CRC-64 %llu verified\n",
              r.resumed ? "resumed" : "started afresh", static_cast<unsigned long long>(r.bytes_uploaded),
              static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.crc64));
  co_return !std::filesystem::exists(checkpoint);
}

asio::awaitable<bool> run(oss::client& client, std::string file) {
  const bool stalled = co_await stall_timeout_demo();
  const bool resumed = co_await deadline_demo(client, file);
  co_return stalled && resumed;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 05_timeout_and_cancel FILE\n");
    return 2;
  }
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  bool ok = false;
  asio::co_spawn(io, run(client, argv[1]), [&ok](std::exception_ptr e, bool result) {
    if (e) std::rethrow_exception(e);
    ok = result;
  });
  io.run();
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "05_timeout_and_cancel: %s\n", e.what());
  return 1;
}
