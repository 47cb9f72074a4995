// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
// Outside the guard, as upload_run.hpp: the header-only build includes this from the public
// header's implementation.
#include <oss/resumable_download.hpp>

#ifndef OSS_DETAIL_DOWNLOAD_DOWNLOAD_RUN_HPP
#define OSS_DETAIL_DOWNLOAD_DOWNLOAD_RUN_HPP

#include <oss/detail/crc64.hpp>
#include <oss/detail/engine/blocking_work.hpp>
#include <oss/detail/engine/checkpoint_writes.hpp>
#include <oss/detail/engine/part_scheduler.hpp>
#include <oss/detail/engine/shared_allowance.hpp>
#include <oss/detail/http/message.hpp>
#include <oss/detail/multipart/checkpoint_lock.hpp>
#include <oss/detail/multipart/plan.hpp>
#include <oss/detail/ops/requests.hpp>

#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/steady_timer.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace oss::detail::download {

// Bytes of a range staged in memory before they are written: one buffer per worker, so memory
// does not grow with the part size.
inline constexpr std::size_t write_piece = 1 << 20;

class download_run;

// One attempt at one range, as the transport's hooks see it (op_request::receiver): checks the
// reply's head, stages the body, writes it at the range's offset and hashes it, piece by piece.
// Reset by every attempt's head.
struct range_writer {
  download_run* run = nullptr;
  int number = 0;
  std::uint64_t first = 0;
  std::uint64_t length = 0;
  std::string* staging = nullptr;  // the worker's buffer
  std::uint64_t received = 0;      // body bytes of this attempt
  std::uint64_t written = 0;       // of them, written to the file
  std::uint64_t crc = 0;           // CRC-64 of the bytes written
  bool overflow = false;           // more body than the range holds
  std::string problem;             // why on_head refused the reply
};

// One download (resumable_download): validate, take the checkpoint, pin the object (HEAD),
// fetch the ranges `parallel` at a time into `<path>.part`, verify the CRC-64, rename. Lives in
// the frame of run_resumable_download; every member is touched only on the download's strand.
// The engine's parts are the upload's: part_scheduler (which range next, how it ends),
// checkpoint_writes (group commit), blocking_work (pwrite, CRC-64, fsync off the event loop).
class download_run {
 public:
  download_run(client& c, std::string& name, std::filesystem::path& path, download_options& opts,
               download_outcome& out, asio::any_io_executor strand)
      : client_(c), name_(name), target_(path), opts_(opts), out_(out), strand_(strand),
        wake_(strand, asio::steady_timer::time_point::max()),
        work_(strand, opts.file_executor, std::min<std::size_t>(opts.parallel, 2)) {}
  ~download_run();

  download_run(const download_run&) = delete;
  download_run& operator=(const download_run&) = delete;

  asio::awaitable<void> run();

  // The transport's hooks, through range_writer.
  bool on_head(range_writer& w, int status, const http::fields& headers, std::error_code& ec);
  void on_body(range_writer& w, std::string_view bytes);
  asio::awaitable<std::error_code> on_drain(range_writer& w, bool last);

 private:
  bool validate();
  asio::awaitable<bool> take_checkpoint();
  asio::awaitable<bool> pin_object();
  asio::awaitable<bool> open_part_file();
  asio::awaitable<void> verify_resumed_ranges();
  asio::awaitable<void> fetch_ranges();
  asio::awaitable<void> worker(std::size_t index);
  asio::awaitable<void> fetch_range(int number, std::size_t index);
  asio::awaitable<void> persist();
  void changed();
  asio::awaitable<void> save_now(bool compact);
  asio::awaitable<void> report(progress_stage stage, const std::optional<part_record>& part);
  asio::awaitable<void> finish();
  asio::awaitable<void> end_short();
  void restart_whole();
  void set_outcome();

  bool running() const { return sched_.running(); }
  bool caller_cancelled() const {
    return outer_cancel_ && outer_cancel_->cancelled() != asio::cancellation_type::none;
  }
  bool proceed();
  void stop_all();
  void fail(std::error_code ec, diagnostics diag);
  void fail(std::error_code ec, std::string message);
  void count_received(int number, std::uint64_t written);
  asio::awaitable<void> wait() {
    co_await wake_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  }
  void notify() { wake_.cancel(); }
  std::filesystem::path part_path() const {
    std::filesystem::path p = target_;
    p += ".part";
    return p;
  }
  // Whether anything could resume from the .part file after a stop.
  bool resumable() const { return cp_path_ || opts_.checkpoint.memory() || opts_.progress; }

  multipart::checkpoint_lock lock_;  // released last

  client& client_;
  std::string& name_;
  std::filesystem::path& target_;
  download_options& opts_;
  download_outcome& out_;
  asio::any_io_executor strand_;
  std::optional<asio::cancellation_state> outer_cancel_;

  part_scheduler sched_;
  std::uint64_t part_size_ = 0;
  std::uint32_t parts_total_ = 0;
  std::uint64_t size_ = 0;
  std::string etag_;
  std::optional<std::uint64_t> server_crc_;
  bool whole_get_ = false;  // the server ignores Range: one GET of everything

  std::optional<std::filesystem::path> cp_path_;
  bool resuming_ = false;
  checkpoint cp_;
  // The checkpoint file's group commit (JSON plus journal), when there is a file.
  std::optional<checkpoint_writes> writes_;

  int fd_ = -1;  // <path>.part
  bool part_created_ = false;

  std::vector<std::string> staging_;  // one per worker
  std::unique_ptr<asio::cancellation_signal[]> signals_;
  std::vector<bool> worker_running_;
  std::size_t running_ = 0;

  bool progress_busy_ = false;
  std::map<int, std::uint64_t> high_;  // per range: bytes written by this run, the most ever
  std::uint64_t bytes_done_ = 0;
  std::uint32_t parts_done_ = 0;
  std::uint64_t bytes_downloaded_ = 0;

  asio::steady_timer wake_;
  blocking_work work_;  // last: joins its threads first
};

}  // namespace oss::detail::download

#endif  // OSS_DETAIL_DOWNLOAD_DOWNLOAD_RUN_HPP
