// asio-oss: resumable multipart upload to Alibaba Cloud OSS for Asio programs.
// Distributed under the MIT licence (see LICENSE).
#ifndef OSS_DETAIL_MULTIPART_CHECKPOINT_LOCK_HPP
#define OSS_DETAIL_MULTIPART_CHECKPOINT_LOCK_HPP

#include <oss/detail/config.hpp>

#include <oss/error.hpp>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace oss::detail::multipart {

// The lock file of a checkpoint: `<checkpoint>.lock` beside it. Not the checkpoint itself,
// because every save replaces the checkpoint by a rename: a lock on the old inode would not
// stop a run that opens the new one.
inline std::filesystem::path lock_path_of(const std::filesystem::path& checkpoint) {
  std::filesystem::path p = checkpoint;
  p += ".lock";
  return p;
}

// An exclusive flock(2) on a checkpoint's lock file, held while one run (or abort_upload) uses
// the checkpoint, so that two runs never upload into one checkpoint. flock belongs to the open
// file, so it excludes a second upload in the same process as well as one in another process,
// and the kernel drops it when the holder dies: a crashed run leaves at most an unlocked file,
// which the next run takes over.
//
// The holder removes the lock file before it lets go. A run that opened the file just before
// (and so may lock an inode that is no longer linked) notices that the path names another inode
// or none and starts over, so at most one run ever holds a lock on the path's current file.
class checkpoint_lock {
 public:
  checkpoint_lock() = default;
  checkpoint_lock(const checkpoint_lock&) = delete;
  checkpoint_lock& operator=(const checkpoint_lock&) = delete;
  ~checkpoint_lock() { release(); }

  // Takes the lock without waiting. On failure `ec` is client_errc::checkpoint_locked when
  // another run holds it, else the OS error of creating the lock file (an unwritable folder).
  bool acquire(const std::filesystem::path& checkpoint, std::error_code& ec) {
    release();
    ec.clear();
    const std::filesystem::path path = lock_path_of(checkpoint);
    // Bounded: each round means another run removed the file between our open and our lock.
    for (int round = 0; round < 100; ++round) {
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0) {
        ec = std::error_code(errno, std::system_category());
        return false;
      }
      if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EWOULDBLOCK) {
          ec = make_error_code(client_errc::checkpoint_locked);
        } else {
          ec = std::error_code(err, std::system_category());
        }
        return false;
      }
      struct stat held {}, named {};
      if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 &&
          held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
        fd_ = fd;
        path_ = path;
        return true;
      }
      ::close(fd);
    }
    ec = make_error_code(client_errc::checkpoint_locked);
    return false;
  }

  bool held() const noexcept { return fd_ >= 0; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Removes the lock file, then unlocks (closing the file does).
  void release() noexcept {
    if (fd_ < 0) return;
    ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace oss::detail::multipart

#endif  // OSS_DETAIL_MULTIPART_CHECKPOINT_LOCK_HPP
