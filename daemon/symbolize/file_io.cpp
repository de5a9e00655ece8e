#include "symbolize/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace scorch::symbolize_io {

Result<UniqueFd> open_read_only(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_errno_error("open " + path, errno);
  }
  return UniqueFd(fd);
}

Result<std::string> read_whole_file(const std::string& path) {
  auto fd = open_read_only(path);
  if (!fd) {
    return fd.error();
  }
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd->get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_errno_error("read " + path, errno);
    }
    if (n == 0) {
      break;
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace scorch::symbolize_io
