// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_EXAMPLES_OSS_UPLOAD_COMMON_HPP
#define OSS_EXAMPLES_OSS_UPLOAD_COMMON_HPP

// What every mode of oss-upload uses (oss_upload.cpp): its command line, the client, the
// checkpoint reader, the JSON line of a verified upload, and the abort of an upload nothing
// could resume.
#include "tool_support.hpp"

#include <oss/client.hpp>
#include <oss/diagnostics.hpp>
#include <oss/multipart_upload.hpp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace oss_upload {

using oss_tools::usage_error;
using clock_type = std::chrono::steady_clock;

// The JSON line's "verified": how the server confirmed the whole object.
inline const char* verified_word(oss::object_check check) {
  switch (check) {
    case oss::object_check::reply_crc64: return "crc64-reply";
    case oss::object_check::head_crc64: return "crc64-head";
    case oss::object_check::multipart_etag: return "multipart-etag";
    case oss::object_check::content_md5: return "content-md5";
    case oss::object_check::none: break;
  }
  return "none";
}

// part_size: the default is the dialect's, see main.
struct command_line : oss_tools::transfer_flags {
  oss_tools::connection_flags connection;
  std::string file;
  std::string name;
  std::vector<std::pair<std::string, std::string>> meta;
  std::string mime;
  std::vector<std::pair<std::string, std::string>> headers;
  bool recursive = false;
  bool initiate = false;
  bool complete = false;
  std::string upload_id;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> parts;  // --parts A-B
  std::size_t jobs = 4;
  bool jobs_given = false;
  std::string checkpoint_dir;
  std::string spool_dir;
  bool abort = false;
};

// ---------------------------------------------------------------------------------------------
// Cleanup of an upload nothing could resume

// Aborts the server-side upload `upload_id`, giving up after a few seconds: the user is
// waiting for the prompt, and a dead server will not answer anyway.
inline asio::awaitable<bool> abort_briefly(oss::client& client, std::string name, std::string upload_id) {
  using namespace asio::experimental::awaitable_operators;
  oss::diagnostics diag;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::seconds(3));
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto result = co_await (client.async_abort_multipart_upload(std::move(name), std::move(upload_id), diag, token) ||
                          timer.async_wait(asio::use_awaitable));
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

// ---------------------------------------------------------------------------------------------
// The client and the checkpoint

// The client for `opts`, or nullptr after printing why it cannot be made (`status` says the exit
// status then).
inline std::unique_ptr<oss::client> make_client(asio::io_context& io, const oss::client_options& opts,
                                                const command_line& cl, int& status) {
  try {
    return std::make_unique<oss::client>(io.get_executor(), opts);
  } catch (const oss::error& e) {
    // Bad endpoint, region or bucket name: nothing was sent yet.
    std::fprintf(stderr, "oss-upload: %s\n",
                 oss_tools::describe_failure(e.code(), e.get_diagnostics(), {{}, cl.checkpoint}).c_str());
    status = oss_tools::exit_status_for(e.code(), false, e.get_diagnostics());
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "oss-upload: cannot use --ca-file %s: %s\n", cl.connection.ca_file.c_str(),
                 e.code().message().c_str());
    status = oss_tools::exit_usage;
  }
  return nullptr;
}

// The checkpoint at `path`, read with the library's loader; `ec` and `problem` (which field, why)
// on failure, `std::errc::no_such_file_or_directory` when there is none.
inline oss::checkpoint read_checkpoint(const std::string& path, std::error_code& ec, std::string& problem) {
  return oss::detail::load_checkpoint(path, ec, problem);
}

// --no-server-crc let an upload through that nothing confirmed: the CRC-64 on stdout is the
// file's, and nothing proved the object holds the same.
inline void warn_if_unconfirmed(const oss::upload_result& r, bool quiet) {
  if (r.checks.object == oss::object_check::none && !quiet)
    std::fprintf(stderr, "oss-upload: the server never confirmed the object's CRC-64 (--no-server-crc): the "
                         "stored bytes are not verified\n");
}

inline std::string upload_line(const oss::upload_result& r, double seconds) {
  const double mib_per_s = seconds > 0 ? double(r.bytes_uploaded) / (1024.0 * 1024) / seconds : 0.0;
  char tail[256];
  std::snprintf(tail, sizeof tail, ",\"size\":%" PRIu64 ",\"parts\":%" PRIu32 ",\"seconds\":%.3f,\"mib_per_s\":%.1f,\"verified\":\"%s\"}",
                r.size, r.parts, seconds, mib_per_s, verified_word(r.checks.object));
  return "{\"name\":" + oss_tools::json_string(r.name) + ",\"etag\":" + oss_tools::json_string(r.etag) +
         ",\"crc64\":\"" + std::to_string(r.crc64) + "\"" + tail;
}

}  // namespace oss_upload

#endif  // OSS_EXAMPLES_OSS_UPLOAD_COMMON_HPP
