#include "common/safe_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace scorch::safe_file {

namespace {

constexpr long kConfigfsMagic = 0x62656570;  // not in linux/magic.h
constexpr long kMqueueMagic = 0x19800202;

// Pseudo file systems whose "regular" files are not data at rest: a read may block (/proc/kmsg,
// tracefs' trace_pipe), never end, or have side effects; FUSE files are whatever their server says.
const char* pseudo_fs_name(long type) {
  switch (type) {
    case PROC_SUPER_MAGIC:
      return "procfs";
    case SYSFS_MAGIC:
      return "sysfs";
    case DEBUGFS_MAGIC:
      return "debugfs";
    case TRACEFS_MAGIC:
      return "tracefs";
    case SECURITYFS_MAGIC:
      return "securityfs";
    case SELINUX_MAGIC:
      return "selinuxfs";
    case CGROUP_SUPER_MAGIC:
      return "cgroupfs";
    case CGROUP2_SUPER_MAGIC:
      return "cgroup2fs";
    case BPF_FS_MAGIC:
      return "bpffs";
    case FUSE_SUPER_MAGIC:
      return "FUSE";
    case DEVPTS_SUPER_MAGIC:
      return "devpts";
    case PSTOREFS_MAGIC:
      return "pstore";
    case EFIVARFS_MAGIC:
      return "efivarfs";
    case kConfigfsMagic:
      return "configfs";
    case kMqueueMagic:
      return "mqueue";
    default:
      return nullptr;
  }
}

const char* file_type_name(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFDIR:
      return "a directory";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "not a plain file";
  }
}

Error refusal(const std::string& name, std::string reason, int err) {
  return Error{"open " + name, std::move(reason), err, {}};
}

Error open_error(const std::string& name, int err) {
  if (err == ELOOP) return refusal(name, "a /proc magic link or a symlink loop on the way (not followed)", err);
  if (err == EXDEV) return refusal(name, "the path leaves the process's root", err);
  return make_errno_error("open " + name, err);
}

// The checks on an O_PATH descriptor, before anything is opened for reading.
Result<struct stat> check(int fd, const Rules& rules, const std::string& name) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return make_errno_error("open " + name, errno);
  if (!S_ISREG(st.st_mode))
    return refusal(name, std::string("not a regular file (") + file_type_name(st.st_mode) + ")", EINVAL);
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0) return make_errno_error("open " + name, errno);
  const long type = static_cast<long>(fs.f_type);
  if (const char* pseudo = pseudo_fs_name(type); pseudo && !(rules.procfs_ok && type == PROC_SUPER_MAGIC))
    return refusal(name, std::string("a file on ") + pseudo + " (a pseudo file system: reads may block or never end)",
                   EINVAL);
  if (static_cast<uint64_t>(st.st_size) > rules.max_size)
    return refusal(name,
                   "larger than the " + human_size(rules.max_size) + " cap (" +
                       human_size(static_cast<uint64_t>(st.st_size)) + ")",
                   EFBIG);
  if (const Credentials* r = rules.reader) {
    if (rules.owned_by_reader && st.st_uid != r->fsuid() && st.st_uid != r->uid[1])
      return refusal(name,
                     "owned by uid " + std::to_string(st.st_uid) + ", not by the process's user (uid " +
                         std::to_string(r->fsuid()) + ")",
                     EACCES);
    if (!r->may_read(st)) {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return refusal(name,
                     "not readable by the process's user (uid " + std::to_string(r->fsuid()) + "): mode " + mode +
                         ", owner uid " + std::to_string(st.st_uid),
                     EACCES);
    }
  }
  return st;
}

// Opens the checked file itself for reading: through /proc/self/fd, so it is the same inode, not
// whatever the path names by now.
Result<UniqueFd> reopen(int path_fd, const struct stat& checked, const std::string& name) {
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", path_fd);
  UniqueFd fd(::open(link, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return make_errno_error("open " + name, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_errno_error("open " + name, errno);
  if (st.st_ino != checked.st_ino || st.st_dev != checked.st_dev)
    return refusal(name, "the file changed while it was opened", EAGAIN);
  return fd;
}

Result<UniqueFd> checked_open(UniqueFd path_fd, const Rules& rules, const std::string& name) {
  auto st = check(path_fd.get(), rules, name);
  if (!st) return st.error();
  return reopen(path_fd.get(), *st, name);
}

}  // namespace

std::string human_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  int unit = 0;
  uint64_t scale = 1024;
  while (unit < 3 && bytes >= scale * 1024) {
    scale *= 1024;
    ++unit;
  }
  if (bytes % scale == 0) return std::to_string(bytes / scale) + " " + kUnits[unit];
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", static_cast<double>(bytes) / static_cast<double>(scale), kUnits[unit]);
  return buf;
}

bool Credentials::may_read(const struct stat& st) const {
  if (fsuid() == 0) return true;
  if (st.st_uid == fsuid()) return (st.st_mode & S_IRUSR) != 0;
  if (st.st_gid == fsgid() || std::find(groups.begin(), groups.end(), st.st_gid) != groups.end())
    return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

Result<Credentials> credentials_from_status(const ProcStatus& status) {
  if (!status.uid || !status.gid || !status.groups)
    return Error{"read the credentials of a process", "no Uid, Gid or Groups line in its status", EINVAL, {}};
  Credentials c;
  std::copy(status.uid->begin(), status.uid->end(), c.uid);
  std::copy(status.gid->begin(), status.gid->end(), c.gid);
  c.groups = *status.groups;
  return c;
}

Result<Credentials> read_credentials(uint32_t pid) {
  auto status = read_proc_status(pid);
  if (!status) return status.error();
  return credentials_from_status(*status);
}

Result<UniqueFd> open_in_root(int root_dir, const std::string& path, const Rules& rules, const std::string& name) {
  struct open_how how {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, root_dir, path.c_str(), &how, sizeof(how));
  if (fd < 0) return open_error(name, errno);
  return checked_open(UniqueFd(static_cast<int>(fd)), rules, name);
}

Result<UniqueFd> open_in_process_root(uint32_t pid, const std::string& path, const Rules& rules) {
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  // The one magic link followed on purpose: the process's own root directory.
  UniqueFd dir(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return make_errno_error("open " + root, errno);
  return open_in_root(dir.get(), path, rules, path);
}

Result<UniqueFd> open_trusted(const std::string& path, const Rules& rules) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd.valid()) return open_error(path, errno);
  return checked_open(std::move(fd), rules, path);
}

Result<std::string> read_capped(int fd, uint64_t max, const std::string& name) {
  std::string text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) text.reserve(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), max));
  char buffer[64 * 1024];
  while (true) {
    // One byte past the cap says whether there is more.
    const uint64_t room = max + 1 - text.size();
    ssize_t n = ::read(fd, buffer, std::min<uint64_t>(sizeof(buffer), room));
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_errno_error("read " + name, errno);
    }
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > max) return Error{"read " + name, "larger than the " + human_size(max) + " cap", EFBIG, {}};
  }
}

Result<std::string> read_proc_file(const std::string& path, uint64_t max) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) return make_errno_error("read " + path, errno);
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0) return make_errno_error("read " + path, errno);
  if (fs.f_type != PROC_SUPER_MAGIC) return Error{"read " + path, "not on procfs", EINVAL, {}};
  return read_capped(fd.get(), max, path);
}

}  // namespace scorch::safe_file
