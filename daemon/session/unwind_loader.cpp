#include "session/unwind_loader.h"

#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "common/safe_file.h"
#include "common/unique_fd.h"
#include <linux/types.h>

#include "unwind.h"
#include "unwind/row_index.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/proc_maps.h"
#include "unwind/table_builder.h"

namespace scorch {
namespace {

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A file's key without a build id: the device and inode it is mapped from.
std::string inode_key(const MapEntry& m) {
  return std::to_string(m.dev_major) + ":" + std::to_string(m.dev_minor) + ":" + std::to_string(m.inode);
}

constexpr const char* kVdso = "[vdso]";

/// A copy of the daemon's own vdso in a memfd, for libelf to read.
struct VdsoImage {
  UniqueFd fd;
  uint64_t bytes = 0;
};

Result<VdsoImage> own_vdso_image() {
  const uint64_t start = ::getauxval(AT_SYSINFO_EHDR);
  if (start == 0) return Error{"copy the vdso", "the kernel maps none into this process", ENOENT, {}};
  auto maps = read_proc_maps(static_cast<uint32_t>(::getpid()));
  if (!maps) return maps.error();
  auto it = std::find_if(maps->begin(), maps->end(), [&](const MapEntry& m) { return m.start == start; });
  if (it == maps->end()) return Error{"copy the vdso", "its mapping is not in /proc/self/maps", ENOENT, {}};
  VdsoImage image{UniqueFd(::memfd_create("scorch-vdso", MFD_CLOEXEC)), it->end - it->start};
  if (!image.fd.valid()) return make_errno_error("copy the vdso", errno);
  const auto* bytes = reinterpret_cast<const char*>(start);
  for (uint64_t done = 0; done < image.bytes;) {
    ssize_t n = ::write(image.fd.get(), bytes + done, image.bytes - done);
    if (n <= 0) return make_errno_error("copy the vdso", n < 0 ? errno : EIO);
    done += static_cast<uint64_t>(n);
  }
  return image;
}

}  // namespace
Result<UnwindLoader::Loaded> UnwindLoader::load_file(int fd, const std::string& path) {
  auto table = build_unwind_table_fd(fd, path);
  if (!table) return table.error();
  Loaded loaded;
  if (table->rows.empty()) return loaded;
  RowIndex index = build_row_index(table->rows);
  auto nrows = static_cast<uint32_t>(table->rows.size());
  auto nbuckets = static_cast<uint32_t>(index.buckets.size());
  if (nrows > maps_.rows_free() || nbuckets > maps_.buckets_free())
    return Error{"load the unwind table of " + path,
                 "the unwind maps are full (" + std::to_string(maps_.bytes_used() >> 20) + " MiB in use)", ENOSPC,
                 "end other profiles that use tables, or profile fewer processes at once"};
  auto first_row = maps_.add_rows(table->rows.data(), nrows);
  if (!first_row) return first_row.error();
  auto first_bucket = maps_.add_buckets(index.buckets.data(), nbuckets);
  if (!first_bucket) return first_bucket.error();
  loaded = Loaded{*first_row, nrows, table->base_pc, *first_bucket, nbuckets, index.shift, table->segments, true};
  return loaded;
}

const UnwindLoader::Loaded* UnwindLoader::vdso_table(const MapEntry& m) {
  auto [it, inserted] = files_.try_emplace(kVdso);  // tried once, whatever comes of it
  Loaded& loaded = it->second;
  if (inserted) {
    auto image = own_vdso_image();
    auto table = image ? load_file(image->fd.get(), kVdso) : Result<Loaded>(image.error());
    if (table) {
      loaded = *table;
      loaded.image_bytes = image->bytes;
    } else {
      log::debug("no unwind table for the vdso: " + table.error().message());
    }
  }
  // A process of another ABI (x32, ia32) maps another image: its size tells.
  return loaded.ok && m.end - m.start == loaded.image_bytes ? &loaded : nullptr;
}

Result<UnwindLoader::Attached> UnwindLoader::attach(uint32_t pid) {
  if (refs_[pid]++ > 0) return attached_[pid];
  auto installed = install(pid);
  if (!installed) refs_.erase(pid);
  return installed;
}

Result<UnwindLoader::Attached> UnwindLoader::reload_if_exec(uint32_t pid) {
  auto it = attached_.find(pid);
  if (it == attached_.end())
    return Error{"reload the unwind tables of PID " + std::to_string(pid), "not attached", ENOENT, {}};
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &st) != 0 ||
      (st.st_dev == it->second.exe_dev && st.st_ino == it->second.exe_ino))
    return it->second;  // gone (nothing to do) or the same program
  return install(pid);
}

Result<UnwindLoader::Attached> UnwindLoader::install(uint32_t pid) {
  Attached result;
  struct stat exe {};
  if (::stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &exe) == 0) {
    result.exe_dev = exe.st_dev;
    result.exe_ino = exe.st_ino;
  }
  auto maps = read_proc_maps(pid);
  if (!maps) return maps.error();
  auto creds = safe_file::read_credentials(pid);
  scorch_unwind_proc proc{};
  size_t& with_tables = result.with_tables;
  const auto page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  // A file left to frame pointers is still listed, without rows, so its frames count under its id.
  auto no_table = [&](const MapEntry& m, uint32_t id) {
    if (std::find(result.without_tables.begin(), result.without_tables.end(), m.path) == result.without_tables.end())
      result.without_tables.push_back(m.path);
    if (id == 0) return;
    scorch_unwind_mapping& out = proc.maps[proc.count++];
    out.start = m.start;
    out.end = m.end;
    out.file_id = id;
    result.file_ids.push_back(id);
  };
  // Lists m with the rows of its file's table; false when no load segment holds the mapping.
  auto with_table = [&](const MapEntry& m, const std::string& key, const Loaded& loaded) {
    // Through the program headers: LLD's executable segment has p_vaddr != p_offset.
    auto vaddr = mapping_start_vaddr(loaded.segments, m.offset, m.end - m.start, true, page_size);
    if (!vaddr) {
      log::debug("no load segment of " + m.path + " holds the mapping at file offset 0x" + hex(m.offset));
      return false;
    }
    scorch_unwind_mapping& out = proc.maps[proc.count++];
    out.start = m.start;
    out.end = m.end;
    out.bias = m.start - *vaddr;
    out.base_pc = loaded.base_pc;
    out.first_row = loaded.first_row;
    out.nrows = loaded.nrows;
    out.first_bucket = loaded.first_bucket;
    out.nbuckets = loaded.nbuckets;
    out.shift = loaded.shift;
    out.file_id = file_id(key, m.path, true);
    result.file_ids.push_back(out.file_id);
    ++with_tables;
    return true;
  };
  for (const auto& m : *maps) {
    if (!m.executable() || (!m.file_backed() && m.path != kVdso)) continue;
    if (proc.count >= SCORCH_UNWIND_MAX_MAPPINGS) {
      log::warning("PID " + std::to_string(pid) + " maps more than " + std::to_string(SCORCH_UNWIND_MAX_MAPPINGS) +
                   " executable regions; the rest unwind by frame pointers");
      break;
    }
    if (m.path == kVdso) {
      // clock_gettime and friends: without its table a sample there lost the rest of the stack
      // whenever the caller kept no frame pointer.
      const Loaded* vdso = vdso_table(m);
      if (!vdso || !with_table(m, kVdso, *vdso)) no_table(m, file_id(kVdso, m.path, false));
      continue;
    }
    // map_files reaches deleted files and other mount namespaces; the path is the fallback. Read
    // only as far as the process's own credentials could read it (safe_file.h).
    auto file = creds ? open_mapped_file(pid, m, &*creds) : Result<MappedFile>(creds.error());
    if (!file) {
      log::debug("no unwind table for " + m.path + ": " + file.error().message());
      no_table(m, file_id(inode_key(m), m.path, false));
      continue;
    }
    const std::string& path = file->name;
    auto build_id = read_build_id_fd(file->fd.get(), path);
    if (!build_id) {
      no_table(m, file_id(inode_key(m), m.path, false));
      continue;
    }
    const std::string key = build_id->empty() ? inode_key(m) : *build_id;
    auto [it, inserted] = files_.try_emplace(key);
    if (inserted) {
      auto loaded = load_file(file->fd.get(), path);
      if (!loaded) {
        if (loaded.error().err == ENOSPC) {
          log::warning(loaded.error().message());
          files_.erase(it);  // not this file's fault: try again once there is room
          no_table(m, file_id(key, m.path, false));
          continue;
        }
        log::debug("no unwind table for " + m.path + ": " + loaded.error().message());
      } else {
        it->second = *loaded;
      }
    }
    if (!it->second.ok || !with_table(m, key, it->second)) no_table(m, file_id(key, m.path, false));
  }
  if (with_tables == 0) {
    return Error{"unwind the stacks of PID " + std::to_string(pid), "none of its files has unwind tables", ENOENT, {}};
  }
  proc.gen = ++generation_;  // rows the BPF side cached for this pid's older mappings are void
  if (auto r = maps_.set_process(pid, proc); !r) return r.error();
  attached_[pid] = result;
  return result;
}

void UnwindLoader::detach(uint32_t pid) {
  auto it = refs_.find(pid);
  if (it == refs_.end() || --it->second > 0) return;
  refs_.erase(it);
  attached_.erase(pid);
  maps_.remove_process(pid);
  // Tables stay cached while any process uses the maps; once none does, a half-full array is
  // emptied, so a long-running daemon never runs out of rows.
  if (refs_.empty() && maps_.rows_free() < SCORCH_UNWIND_MAX_ROWS / 2) {
    files_.clear();
    maps_.reset();
    // File ids are given anew too, their counts started again (status then shows them from 0).
    for (uint32_t id = 0; id < file_names_.size(); ++id) maps_.clear_file_frames(id);
    file_ids_.clear();
    file_names_.assign(1, kNoFile);
  }
}

uint32_t UnwindLoader::file_id(const std::string& key, const std::string& path, bool has_table) {
  auto [it, inserted] = file_ids_.try_emplace(key, 0);
  if (inserted) {
    if (file_names_.size() >= SCORCH_UNWIND_MAX_FILES) return 0;  // counted with pcs in no file
    it->second = static_cast<uint32_t>(file_names_.size());
    file_names_.push_back(FileName{path, has_table});
  }
  file_names_[it->second].has_table |= has_table;
  return it->second;
}

std::vector<UnwindLoader::FileFrames> UnwindLoader::file_frames_since(const std::vector<UnwindMaps::FileFrames>& before,
                                                                      const std::vector<uint32_t>& ids) const {
  std::vector<UnwindMaps::FileFrames> now = file_frames_now();
  std::vector<FileFrames> out;
  std::vector<uint32_t> sorted(ids);
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (uint32_t id : sorted) {
    if (id >= now.size()) continue;
    UnwindMaps::FileFrames d = now[id];
    if (id < before.size()) {
      d.by_table -= std::min(d.by_table, before[id].by_table);
      d.by_frame_pointer -= std::min(d.by_frame_pointer, before[id].by_frame_pointer);
      d.lost -= std::min(d.lost, before[id].lost);
    }
    if (d.total() == 0) continue;
    out.push_back(FileFrames{id, file_names_[id].path, file_names_[id].has_table, d});
  }
  return out;
}

std::vector<std::string> UnwindLoader::file_notes(const std::vector<UnwindMaps::FileFrames>& now,
                                                  size_t max_files) const {
  std::vector<FileFrames> files;
  for (uint32_t id = 0; id < now.size(); ++id)
    if (now[id].total() > 0) files.push_back(FileFrames{id, file_names_[id].path, file_names_[id].has_table, now[id]});
  std::stable_sort(files.begin(), files.end(),
                   [](const FileFrames& a, const FileFrames& b) { return a.frames.total() > b.frames.total(); });
  std::vector<std::string> notes;
  for (size_t i = 0; i < files.size() && i < max_files; ++i) notes.push_back("user frames in " + describe(files[i]));
  if (files.size() > max_files)
    notes.push_back("user frames in " + std::to_string(files.size() - max_files) + " more files not shown");
  return notes;
}

std::string UnwindLoader::describe(const FileFrames& f) {
  const UnwindMaps::FileFrames& c = f.frames;
  return f.file + ": " + std::to_string(c.by_table) + " from " + (f.has_table ? "its" : "no") + " unwind table, " +
         std::to_string(c.by_frame_pointer) + " by frame pointer, " + std::to_string(c.lost) +
         " lost (the walk stopped there)";
}

}  // namespace scorch
