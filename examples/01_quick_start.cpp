// 01 - Quick start: upload one file with a resumable, concurrent multipart upload.
//
//   export OSS_ENDPOINT=... OSS_REGION=... OSS_BUCKET=... OSS_ACCESS_KEY_ID=... OSS_ACCESS_KEY_SECRET=...
//   ./01_quick_start FILE
//
// The code between the markers is the README's quick start, word for word (scripts/check-readme
// fails the build when they drift apart).
//
// What happens: `oss::client` holds the connection settings and a connection pool inside your
// `io_context`. `oss::multipart_upload` splits the file into parts (1 MiB here), uploads
// `parallel` of them at a time, records every finished part in the checkpoint file, and
// completes the upload. The server's CRC-64 of the whole object is compared with the one
// computed from the file, so a successful return means the bytes arrived intact. If the program
// dies half-way, running it again with the same checkpoint sends only the missing parts.
//
// Errors are exceptions here (`oss::error`, a std::system_error with the server's Code,
// Message and RequestId); 04_error_codes_not_exceptions.cpp shows the error-code form.

// [readme-quick-start-begin]
#include <oss/oss.hpp>
#include <oss/json_impl.hpp>  // Boost.JSON's implementation (checkpoints): in one .cpp only

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <cstdlib>
#include <iostream>

asio::awaitable<void> upload(oss::client& client, std::string file) {
  oss::upload_options opts{
      .parallel = 4,                       // parts in flight at once
      .part_size = 1 << 20,                // 1 MiB per part
      .checkpoint = file + ".checkpoint",  // after a crash, run again: only missing parts go
      .progress = [](const oss::progress_event& e) { std::cout << int(100 * e.fraction) << "%\n"; },
      .meta = {{"origin", "quick-start"}},  // stored as x-oss-meta-origin
  };
  oss::upload_result r = co_await oss::multipart_upload(client, "examples/quick-start.bin", file, opts);
  std::cout << "uploaded " << r.size << " bytes, ETag " << r.etag << ", CRC-64 " << r.crc64 << " verified\n";
}

int main(int argc, char** argv) try {
  auto env = [](const char* name) { const char* v = std::getenv(name); return std::string(v ? v : ""); };
  asio::io_context io;
  oss::client_options options;
  options.endpoint = env("OSS_ENDPOINT");  // or only a region: options.region = "cn-hangzhou"
  options.region = env("OSS_REGION");
  options.bucket = env("OSS_BUCKET");
  options.creds = {env("OSS_ACCESS_KEY_ID"), env("OSS_ACCESS_KEY_SECRET"), env("OSS_SESSION_TOKEN")};
  oss::client client(io.get_executor(), options);
  asio::co_spawn(io, upload(client, argc > 1 ? argv[1] : "data.bin"),
                 [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  io.run();
} catch (const oss::error& e) {  // "Code: Message (RequestId ..., operation ..., part N)"
  std::cerr << e.what() << '\n';
  return 1;
}
// [readme-quick-start-end]
