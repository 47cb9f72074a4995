// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_DOWNLOAD_IMPL_FINISH_IPP
#define OSS_DETAIL_DOWNLOAD_IMPL_FINISH_IPP

// Step 6 of a download: the whole file checked against the object and put in place.
#include <oss/detail/download/impl/range_file.hpp>

// See impl/client.ipp: GCC 12 pairs Asio's coroutine frame allocator with the wrong delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace oss::detail::download {

// ---- 6. finish -------------------------------------------------------------------------------

inline asio::awaitable<void> download_run::finish() {
  std::vector<part_record> parts = cp_.done_parts;
  multipart::sort_parts(parts);
  const std::uint64_t crc = multipart::combine_part_crcs(parts);
  out_.result.crc64 = crc;
  if (server_crc_ && *server_crc_ != crc) {
    fail(client_errc::crc64_mismatch, "the downloaded bytes have CRC-64 " + std::to_string(crc) +
                                          ", the server announced " + std::to_string(*server_crc_) + " for " + name_);
    co_return;
  }
  struct finished {
    std::error_code ec;
    std::string what;
  };
  const int fd = fd_;
  fd_ = -1;
  const std::filesystem::path part = part_path(), target = target_;
  auto job = [fd, part, target] {
    finished f;
    if (::fsync(fd) != 0) {
      f.ec = download_impl::errno_code();
      f.what = "cannot sync " + part.string();
    }
    ::close(fd);
    if (!f.ec && ::rename(part.c_str(), target.c_str()) != 0) {
      f.ec = download_impl::errno_code();
      f.what = "cannot rename " + part.string() + " to " + target.string();
    }
    if (!f.ec) {
      const int dfd = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
      }
    }
    return f;
  };
  const finished f = co_await work_.run(std::move(job));
  if (f.ec) {
    fail(f.ec, f.what + " (" + f.ec.message() + ")");
    co_return;
  }
  if (cp_path_) {
    const std::filesystem::path path = *cp_path_;
    auto rm = [path] {
      std::error_code ec;
      remove_checkpoint_files(path, ec);
      return ec;
    };
    co_await work_.run(std::move(rm));
  }
  bytes_done_ = size_;
  parts_done_ = parts_total_;
  sched_.succeed();
  out_.result.name = name_;
  out_.result.path = target_;
  out_.result.etag = etag_;
  out_.result.size = size_;
  out_.result.verified = server_crc_.has_value();
  out_.result.parts = parts_total_;
  out_.result.resumed = resuming_;
  out_.result.bytes_downloaded = bytes_downloaded_;
  out_.result.whole_object_get = whole_get_;
  const std::optional<part_record> none;
  // The handler's exception on `completed` no longer changes the outcome: the file is there.
  if (opts_.progress) {
    progress_event e{1.0, size_, size_, 0, parts_done_, parts_total_, none, cp_, std::string_view(),
                     progress_stage::completed};
    try {
      if (!opts_.progress.call_sync(e)) co_await opts_.progress(e);
    } catch (...) {
      out_.diag.exception = std::current_exception();
    }
  }
}

}  // namespace oss::detail::download

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // OSS_DETAIL_DOWNLOAD_IMPL_FINISH_IPP
