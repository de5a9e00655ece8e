#include "session/unwind_loader.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include <linux/types.h>

#include "oncpu.h"
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

}  // namespace

Result<UnwindLoader::Attached> UnwindLoader::attach(uint32_t pid) {
  Attached result;
  if (refs_[pid]++ > 0) return result;
  auto maps = read_proc_maps(pid);
  if (!maps) {
    refs_.erase(pid);
    return maps.error();
  }
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
    // map_files reaches deleted files and other mount namespaces; the path is the fallback.
    std::string path = "/proc/" + std::to_string(pid) + "/map_files/" + hex(m.start) + "-" + hex(m.end);
    auto elf = ElfSymbols::load(path);
    if (!elf) {
      path = "/proc/" + std::to_string(pid) + "/root" + m.path;
      elf = ElfSymbols::load(path);
    }
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
      auto table = build_unwind_table(path);
      if (!table) {
        log::debug("no unwind table for " + m.path + ": " + table.error().message());
      } else if (!table->rows.empty()) {
        auto first = probe_.add_unwind_rows(table->rows.data(), static_cast<uint32_t>(table->rows.size()));
        if (!first) {
          log::warning(first.error().message());
          files_.erase(it);
          continue;
        }
        it->second = Loaded{*first, static_cast<uint32_t>(table->rows.size()), table->base_pc, true};
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
    ++with_tables;
  }
  if (with_tables == 0) {
    refs_.erase(pid);
    return Error{"unwind the stacks of PID " + std::to_string(pid), "none of its files has unwind tables", ENOENT, {}};
  }
  if (auto r = probe_.set_unwind_process(pid, &proc); !r) {
    refs_.erase(pid);
    return r.error();
  }
  return result;
}

void UnwindLoader::detach(uint32_t pid) {
  auto it = refs_.find(pid);
  if (it == refs_.end() || --it->second > 0) return;
  refs_.erase(it);
  probe_.remove_unwind_process(pid);
}

uint64_t UnwindLoader::table_bytes() const {
  return static_cast<uint64_t>(probe_.unwind_rows_used()) * sizeof(scorch_unwind_row);
}

}  // namespace scorch
