// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_EXAMPLES_OSS_UPLOAD_SHARES_HPP
#define OSS_EXAMPLES_OSS_UPLOAD_SHARES_HPP

// oss-upload --initiate and --complete (oss_upload.cpp): the two ends of one object uploaded in
// shares by several processes; a share itself is an ordinary run with --upload-id and --parts.
#include "oss_upload_common.hpp"

#include <string>

namespace oss_upload {

// ---------------------------------------------------------------------------------------------
// One object from several processes: --initiate, a share (--upload-id --parts), --complete

// Runs `start(client, diag, ec, began)` to its end on a client of its own; the exit status.
template <typename Start>
int run_single(const command_line& cl, const oss::client_options& client_opts, Start start) {
  asio::io_context io;
  int status = oss_tools::exit_ok;
  std::unique_ptr<oss::client> client = make_client(io, client_opts, cl, status);
  if (!client) return status;
  std::error_code ec;
  oss::diagnostics diag;
  const auto began = clock_type::now();
  start(*client, diag, ec, began);
  io.run();
  if (!ec) {
    std::fflush(stdout);
    return std::ferror(stdout) ? oss_tools::exit_failed : oss_tools::exit_ok;
  }
  std::fprintf(stderr, "oss-upload: %s\n",
               oss_tools::describe_failure(ec, diag, {client->endpoint_url(), std::string()}).c_str());
  return oss_tools::exit_status_for(ec, false, diag);
}

// oss-upload --initiate NAME: the upload every share joins, with the object's metadata.
inline int initiate_shared(const command_line& cl, const oss::client_options& client_opts) {
  return run_single(cl, client_opts, [&](oss::client& c, oss::diagnostics& diag, std::error_code& ec, clock_type::time_point) {
    oss::object_options o;
    o.meta = cl.meta;
    o.mime = cl.mime;
    o.headers = cl.headers;
    c.async_initiate_multipart_upload(cl.name, std::move(o), diag, [&ec, &cl](std::error_code e, std::string id) {
      ec = e;
      if (!e)
        std::printf("{\"name\":%s,\"upload_id\":%s}\n", oss_tools::json_string(cl.name).c_str(),
                    oss_tools::json_string(id).c_str());
    });
  });
}

// oss-upload --complete --upload-id ID --parts 1-N NAME.
inline int complete_shared(const command_line& cl, const oss::client_options& client_opts) {
  return run_single(cl, client_opts, [&](oss::client& c, oss::diagnostics& diag, std::error_code& ec, clock_type::time_point began) {
    oss::async_complete_shared_upload(
        c, cl.name, cl.upload_id, cl.parts->second, !cl.no_server_crc, diag,
        [&ec, &cl, began](std::error_code e, oss::upload_result r) {
          ec = e;
          if (e) return;
          warn_if_unconfirmed(r, cl.quiet);
          std::printf("%s\n", upload_line(r, std::chrono::duration<double>(clock_type::now() - began).count()).c_str());
        });
  });
}

}  // namespace oss_upload

#endif  // OSS_EXAMPLES_OSS_UPLOAD_SHARES_HPP
