// A program built the way users build against asio-oss (pkg-config, meson, subproject, CMake):
// it includes only the public umbrella header, uploads a small object to the server named by
// the OSS_* environment variables (tests/examples/run_example.sh starts oss-local-server and
// sets them), reads it back and checks every value it can know in advance.
//
//   consumer header-only|separate
//
// The argument is the build mode the build system was supposed to select: a .pc file or
// dependency that loses OSS_SEPARATE_COMPILATION (or adds it) fails here, not silently.
#include <oss/oss.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace {

#ifdef OSS_SEPARATE_COMPILATION
constexpr std::string_view built_mode = "separate";
#else
constexpr std::string_view built_mode = "header-only";
#endif

// CRC-64/XZ (the OSS x-oss-hash-crc64ecma) of "123456789": the algorithm's published check value.
constexpr std::uint64_t check_crc64 = 0x995DC9BBDF1939FAULL;
constexpr std::string_view check_body = "123456789";

int failures = 0;

void expect(bool ok, std::string_view what) {
  if (!ok) {
    std::cerr << "consumer: FAILED: " << what << '\n';
    ++failures;
  }
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

asio::awaitable<void> round_trip(oss::client& client) {
  const std::string name = "consumer/check.txt";
  oss::put_result put = co_await client.put_object(name, asio::buffer(check_body));
  expect(put.crc64 == check_crc64, "PutObject CRC-64 is the CRC-64/XZ check value");
  expect(put.etag.size() > 2 && put.etag.front() == '"', "PutObject returned a quoted ETag");

  oss::object_meta meta = co_await client.head(name);
  expect(meta.size == check_body.size(), "HEAD size is 9");
  expect(meta.etag == put.etag, "HEAD ETag equals the PutObject ETag");
  expect(meta.crc64 && *meta.crc64 == check_crc64, "HEAD CRC-64 is the check value");

  std::string back = co_await client.get_object(name);
  expect(back == check_body, "GetObject returns the bytes put");

  std::cout << "consumer (" << built_mode << "): put, head and get of " << back.size()
            << " bytes, ETag " << meta.etag << ", CRC-64 " << std::hex << put.crc64 << std::dec
            << '\n';
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2 || (std::string_view(argv[1]) != "header-only" && std::string_view(argv[1]) != "separate")) {
    std::cerr << "usage: consumer header-only|separate\n";
    return 2;
  }
  expect(argv[1] == built_mode, "the build system selected the expected mode");

  asio::io_context io;
  oss::client_options options;
  options.endpoint = env("OSS_ENDPOINT");
  options.region = env("OSS_REGION");
  options.bucket = env("OSS_BUCKET");
  options.creds = {env("OSS_ACCESS_KEY_ID"), env("OSS_ACCESS_KEY_SECRET"), env("OSS_SESSION_TOKEN")};
  oss::client client(io.get_executor(), options);
  std::exception_ptr failure;
  asio::co_spawn(io, round_trip(client), [&failure](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "consumer: " << e.what() << '\n';
  return 1;
}
