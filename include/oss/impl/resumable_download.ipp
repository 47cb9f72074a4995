// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_IMPL_RESUMABLE_DOWNLOAD_IPP
#define OSS_IMPL_RESUMABLE_DOWNLOAD_IPP

#include <oss/resumable_download.hpp>

#include <oss/detail/download/download_run.hpp>
#include <oss/detail/download/impl/download_run.ipp>
#include <oss/detail/download/impl/finish.ipp>
#include <oss/detail/download/impl/ranges.ipp>
#include <oss/detail/download/impl/setup.ipp>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <exception>
#include <new>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss {
namespace detail {

OSS_DECL asio::awaitable<download_outcome> run_resumable_download(client& c, std::string name,
                                                                  std::filesystem::path path,
                                                                  download_options opts) {
  download_outcome out;
  {
    const asio::any_io_executor strand = co_await asio::this_coro::executor;
    download::download_run run(c, name, path, opts, out, strand);
    co_await run.run();
  }
  co_return out;
}

OSS_DECL download_outcome escaped_download_outcome(std::exception_ptr e) {
  const upload_outcome u = escaped_exception_outcome(e);
  download_outcome out;
  out.ec = u.ec;
  out.diag = u.diag;
  out.diag.operation = "resumable_download";
  return out;
}

}  // namespace detail

// Through the token form, so both forms share one outcome and one cancellation path.
OSS_DECL asio::awaitable<download_result> resumable_download(client& c, std::string name,
                                                             std::filesystem::path path, download_options opts) {
  diagnostics diag;
  auto token = asio::experimental::as_tuple(asio::use_awaitable);
  auto [ec, result] = co_await async_resumable_download(c, std::move(name), std::move(path), std::move(opts), diag,
                                                        token);
  if (diag.exception) std::rethrow_exception(diag.exception);
  if (ec) throw_error(ec, diag);
  co_return std::move(result);
}

OSS_DECL asio::awaitable<download_result> resumable_download(client& c, std::string name,
                                                             std::filesystem::path path) {
  download_options defaults;
  co_return co_await resumable_download(c, std::move(name), std::move(path), std::move(defaults));
}

}  // namespace oss

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_IMPL_RESUMABLE_DOWNLOAD_IPP
