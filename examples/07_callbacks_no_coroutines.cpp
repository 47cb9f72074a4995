// 07 - Without coroutines: completion callbacks, Ctrl-C, and a blocking call with a future.
//
//   ./07_callbacks_no_coroutines FILE   (bucket and credentials from the environment)
//
// `oss::async_multipart_upload` is an ordinary Asio asynchronous operation: its last argument
// is a completion token, so any Asio style works, not only `co_await`.
//
// * A callback `void(std::error_code, oss::upload_result)`. It runs on the callback's
//   associated executor (never inline inside the call that started the upload); here, on the
//   io_context's thread.
// * `asio::bind_cancellation_slot(signal.slot(), callback)` makes the upload cancellable: a
//   terminal `signal.emit(...)` stops it and keeps the checkpoint. Wired to an
//   `asio::signal_set`, that is Ctrl-C handling in five lines.
// * `asio::use_future` turns the operation into a `std::future` for code that just wants to
//   block: run the io_context on another thread and `get()` the result (a failure arrives as a
//   `std::system_error` from `get()`).
#include "example_env.hpp"

#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_future.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <future>
#include <string>
#include <thread>

namespace {

// Part 1: callbacks on one io_context thread.
bool upload_with_callbacks(const std::string& file) {
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  const std::string name = "examples/07/callbacks.bin";

  // Ctrl-C (SIGINT) or SIGTERM cancels the upload; its checkpoint would be kept for a resume.
  asio::cancellation_signal cancel;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&cancel](std::error_code ec, int) {
    if (!ec) cancel.emit(asio::cancellation_type::terminal);
  });

  oss::upload_options opts{
      .parallel = 3,
      .part_size = 512 << 10,
      .progress = [](const oss::progress_event& e) {
        if (e.stage == oss::progress_stage::completed) std::printf("progress: 100%%, %u parts\n", e.parts_done);
      },
  };
  oss::diagnostics diag;  // filled in on failure; must outlive the operation
  bool ok = false;

  // The callback that runs after the HEAD below.
  auto on_head = [&](std::exception_ptr e, oss::object_meta meta) {
    if (e) std::rethrow_exception(e);
    std::printf("HEAD: %llu bytes, ETag %s, type %s\n", static_cast<unsigned long long>(meta.size),
                meta.etag.c_str(), meta.content_type.c_str());
  };

  // The callback that runs when the upload ends.
  auto on_upload = [&](std::error_code ec, oss::upload_result r) {
    signals.cancel();  // nothing left to interrupt; lets io.run() return
    if (ec) {
      std::printf("upload failed: %s\n", oss::error(ec, diag).what());
      return;
    }
    std::printf("upload: %s, %llu bytes, CRC-64 %llu verified\n", r.name.c_str(),
                static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.crc64));
    ok = true;
    // The single operations return awaitables; co_spawn runs one with a callback too.
    asio::co_spawn(io, client.head(r.name), on_head);
  };

  oss::async_multipart_upload(client, name, file, opts, diag,
                              asio::bind_cancellation_slot(cancel.slot(), on_upload));
  io.run();
  return ok;
}

// Part 2: blocking, with a future. The io_context runs on its own thread meanwhile.
bool upload_with_future(const std::string& file) {
  asio::io_context io;
  oss::client client(io.get_executor(), example::client_options_from_env());
  auto work = asio::make_work_guard(io);  // keeps run() going while nothing is queued
  std::thread runner([&io] { io.run(); });

  bool ok = false;
  oss::diagnostics diag;
  std::future<oss::upload_result> f = oss::async_multipart_upload(
      client, "examples/07/future.bin", file, oss::upload_options{.parallel = 2}, diag, asio::use_future);
  try {
    oss::upload_result r = f.get();  // blocks this thread only
    std::printf("future: %s, %llu bytes in %u parts\n", r.name.c_str(), static_cast<unsigned long long>(r.size),
                r.parts);
    ok = true;
  } catch (const std::exception& e) {
    std::printf("future: failed: %s\n", e.what());
  }
  // Let the loop finish its last bits of cleanup and return; the client is destroyed after it,
  // on this thread, as in a single-threaded program.
  work.reset();
  runner.join();
  return ok;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 07_callbacks_no_coroutines FILE\n");
    return 2;
  }
  const bool callbacks_ok = upload_with_callbacks(argv[1]);
  const bool future_ok = upload_with_future(argv[1]);
  return callbacks_ok && future_ok ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "07_callbacks_no_coroutines: %s\n", e.what());
  return 1;
}
