// 04 - Error codes instead of exceptions, and what an error tells you.
//
//   ./04_error_codes_not_exceptions FILE   (bucket and credentials from the environment)
//
// Every operation is an Asio asynchronous operation that takes a completion token and never
// throws for failures: the upload is `oss::async_multipart_upload(client, name, file, opts,
// diag, token)`, completing with `(std::error_code, oss::upload_result)`, and the single
// operations are `client.async_head(name, diag, token)`, `client.async_put_object(...)`, ...,
// completing with `(std::error_code, result)`. With
// `asio::experimental::as_tuple(asio::use_awaitable)` a coroutine gets both as a tuple:
//   auto [ec, meta] = co_await client.async_head(name, diag, asio::experimental::as_tuple(asio::use_awaitable));
//
// The error code says what kind of failure it was, in one of three categories:
//   oss::client_errc   what the library detected: bad input, local file, checkpoint, bad reply
//   oss::server_errc   the OSS error `Code` (NoSuchKey, SignatureDoesNotMatch, ...)
//   oss::http_status_category()  a failed reply without an error body (value = HTTP status)
// plus Asio/OS codes for the network (connection refused, host not found, ...). The
// diagnostics say the rest: HTTP status, the server's Code, Message, RequestId (quote it to OSS
// support), the operation, the part and how many attempts were made. Neither ever contains a
// secret, a signature or a header.
//
// This example provokes four failures on purpose, checks that each gives the expected code,
// then does one upload that works.
#include "example_env.hpp"

#include <oss/error.hpp>
#include <oss/json_impl.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace {

constexpr auto with_error_code = asio::experimental::as_tuple(asio::use_awaitable);

int failures = 0;

void expect(const char* what, std::error_code got, std::error_code want, const oss::diagnostics& diag) {
  const bool ok = got == want;
  if (!ok) ++failures;
  std::printf("%-34s %s  [%s:%d] %s\n", what, ok ? "ok  " : "FAIL", got.category().name(), got.value(),
              got.message().c_str());
  // The fields worth logging. `client_message` is our explanation; `message` is the server's.
  if (!diag.code.empty())
    std::printf("%34s HTTP %d, Code %s, RequestId %s, operation %s, attempts %d\n", "", diag.http_status,
                diag.code.c_str(), diag.request_id.c_str(), diag.operation.c_str(), diag.attempts);
  else if (!diag.client_message.empty())
    std::printf("%34s %s\n", "", diag.client_message.c_str());
  // Whether trying again could help: the retry loop inside the client uses the same rule.
  const char* classes[] = {"transient", "throttled", "server", "fatal"};
  if (got) std::printf("%34s retry class: %s\n", "", classes[static_cast<int>(oss::classify(got, diag.http_status))]);
}

asio::awaitable<void> run(oss::client& client, oss::client& wrong_secret_client, std::string file) {
  oss::diagnostics diag;

  // 1. A file that does not exist: detected before any request is sent.
  {
    oss::upload_options opts;
    auto [ec, r] = co_await oss::async_multipart_upload(client, "examples/04/missing.bin", file + ".missing",
                                                        opts, diag, with_error_code);
    expect("missing file", ec, oss::client_errc::file_not_found, diag);
  }

  // 2. A part size below OSS's 100 KiB minimum: also refused up front.
  {
    oss::upload_options opts{.part_size = 50 << 10};
    auto [ec, r] = co_await oss::async_multipart_upload(client, "examples/04/tiny-parts.bin", file, opts, diag,
                                                        with_error_code);
    expect("part size 50 KiB", ec, oss::client_errc::invalid_part_size, diag);
  }

  // 3. HEAD of an object that does not exist: the server says 404. HEAD replies have no body,
  // so the code comes from the x-oss-err header, or from the status alone.
  {
    auto [ec, meta] = co_await client.async_head("examples/04/no-such-object", diag,
                                                 asio::experimental::as_tuple(asio::use_awaitable));
    const bool from_header = ec == oss::server_errc::no_such_key;
    expect("HEAD of a missing object", ec,
           from_header ? std::error_code(oss::server_errc::no_such_key) : oss::make_http_status_error(404), diag);
  }

  // 4. A wrong secret: the server rejects the signature. (Skipped for anonymous access, where
  // there is no signature to get wrong.)
  if (!client.options().creds.empty()) {
    oss::upload_options opts;
    auto [ec, r] = co_await oss::async_multipart_upload(wrong_secret_client, "examples/04/denied.bin", file,
                                                        opts, diag, with_error_code);
    expect("wrong secret", ec, oss::server_errc::signature_does_not_match, diag);
  }

  // 5. And one that works: `ec` is clear and the result is filled in.
  {
    oss::upload_options opts{.parallel = 3};
    auto [ec, r] = co_await oss::async_multipart_upload(client, "examples/04/fine.bin", file, opts, diag,
                                                        with_error_code);
    expect("a good upload", ec, std::error_code(), diag);
    if (!ec) std::printf("%34s %llu bytes, ETag %s\n", "", static_cast<unsigned long long>(r.size), r.etag.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: 04_error_codes_not_exceptions FILE\n");
    return 2;
  }
  asio::io_context io;
  oss::client_options options = example::client_options_from_env();
  oss::client client(io.get_executor(), options);
  options.creds.access_key_secret += "-wrong";
  options.max_attempts = 1;  // a bad signature stays bad; no point in retrying
  oss::client wrong_secret_client(io.get_executor(), options);

  asio::co_spawn(io, run(client, wrong_secret_client, argv[1]), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  io.run();
  std::printf("%d unexpected result%s\n", failures, failures == 1 ? "" : "s");
  return failures == 0 ? 0 : 1;
} catch (const std::exception& e) {
  // Only a bug gets here: every failure above is an error code.
  std::fprintf(stderr, "04_error_codes_not_exceptions: %s\n", e.what());
  return 1;
}
