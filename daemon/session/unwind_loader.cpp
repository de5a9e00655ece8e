#include "session/unwind_loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "common/safe_file.h"
#include <linux/types.h>

#include "unwind.h"
#include "unwind/row_index.h"
#include "symbolize/elf_symbols.h"
#include "symbolize/proc_maps.h"
#include "unwind/table_builder.h"

namespace scorch {
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
  loaded = Loaded{*first_row, nrows, table->base_pc, *first_bucket, nbuckets, index.shift, true};
  return loaded;
}

Result<UnwindLoader::Attached> UnwindLoader::attach(uint32_t pid) {
  if (refs_[pid]++ > 0) return attached_[pid];
  auto installed = install(pid);
  if (!installed) refs_.erase(pid);
  return installed;
}

Result<UnwindLoader::Attached> UnwindLoader::reload_if_exec(uint32_t pid) {
  auto it = attached_.find(pid);
  if (it == attached_.end()) return Error{"reload the unwind tables of PID " + std::to_string(pid), "not attached", ENOENT, {}};
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
  auto no_table = [&](const std::string& file) {
    if (std::find(result.without_tables.begin(), result.without_tables.end(), file) == result.without_tables.end())
      result.without_tables.push_back(file);
  };
  for (const auto& m : *maps) {
    if (!m.executable() || !m.file_backed()) continue;
    if (proc.count >= SCORCH_UNWIND_MAX_MAPPINGS) {
      log::warning("PID " + std::to_string(pid) + " maps more than " + std::to_string(SCORCH_UNWIND_MAX_MAPPINGS) +
                   " executable regions; the rest unwind by frame pointers");
      break;
    }
    // map_files reaches deleted files and other mount namespaces; the path is the fallback. Read
    // only as far as the process's own credentials could read it (safe_file.h).
    auto file = creds ? open_mapped_file(pid, m, &*creds) : Result<MappedFile>(creds.error());
    if (!file) {
      log::debug("no unwind table for " + m.path + ": " + file.error().message());
      no_table(m.path);
      continue;
    }
    const std::string& path = file->name;
    auto elf = ElfSymbols::load_fd(file->fd.get(), path);
    if (!elf) {
      no_table(m.path);
      continue;
    }
    auto vaddr = (*elf)->file_offset_to_vaddr(m.offset);
    if (!vaddr) {
      no_table(m.path);
      continue;
    }
    std::string key = (*elf)->build_id().empty()
                          ? std::to_string(m.dev_major) + ":" + std::to_string(m.dev_minor) + ":" + std::to_string(m.inode)
                          : (*elf)->build_id();
    auto [it, inserted] = files_.try_emplace(key);
    if (inserted) {
      auto loaded = load_file(file->fd.get(), path);
      if (!loaded) {
        if (loaded.error().err == ENOSPC) {
          log::warning(loaded.error().message());
          files_.erase(it);  // not this file's fault: try again once there is room
          no_table(m.path);
          continue;
        }
        log::debug("no unwind table for " + m.path + ": " + loaded.error().message());
      } else {
        it->second = *loaded;
      }
    }
    if (!it->second.ok) {
      no_table(m.path);
      continue;
    }
    scorch_unwind_mapping& out = proc.maps[proc.count++];
    out.start = m.start;
    out.end = m.end;
    out.bias = m.start - *vaddr;
    out.base_pc = it->second.base_pc;
    out.first_row = it->second.first_row;
    out.nrows = it->second.nrows;
    out.first_bucket = it->second.first_bucket;
    out.nbuckets = it->second.nbuckets;
    out.shift = it->second.shift;
    ++with_tables;
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
  }
}

}  // namespace scorch
