#pragma once
/// Small file helpers private to the symbolize library: an owning fd and whole-file reads.

#include <string>

#include "common/result.h"

namespace scorch::symbolize_io {

/// Owns one file descriptor and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

 private:
  int fd_ = -1;
};

/// Opens path read-only (O_CLOEXEC); the error names the path.
Result<UniqueFd> open_read_only(const std::string& path);

/// Reads a whole file (also /proc files, whose size stat reports as 0).
Result<std::string> read_whole_file(const std::string& path);

}  // namespace scorch::symbolize_io
