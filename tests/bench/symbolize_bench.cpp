// Symbolization cost for a live process mapping many libraries: cold (a new Symbolizer: maps,
// every ELF symbol table, demangling) and warm (cached) lookups per second, over the addresses of
// up to 200 functions of every executable file it maps. Writes "FILE VADDR" lines (for addr2line)
// to OUT_DIR/addrs.txt and "PID IP" lines to OUT_DIR/ips.txt, and our names to OUT_DIR/ours.txt.
//   [SCORCH_BENCH_DROP_CACHES=1] scorch_bench_symbolize PID OUT_DIR
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "symbolize/elf_symbols.h"
#include "symbolize/proc_maps.h"
#include "symbolize/symbolizer.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PID OUT_DIR\n", argv[0]);
    return 2;
  }
  auto pid = static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10));
  std::string out_dir = argv[2];
  auto maps = scorch::read_proc_maps(pid);
  if (!maps) {
    std::fprintf(stderr, "scorch: %s\n", maps.error().message().c_str());
    return 1;
  }
  // Addresses: up to 200 function starts (+1, inside the function) spread over each file.
  std::vector<uint64_t> ips;
  std::ofstream addrs(out_dir + "/addrs.txt"), ipf(out_dir + "/ips.txt");
  std::set<std::string> files;
  for (const auto& m : *maps) {
    if (!m.executable() || !m.file_backed()) continue;
    auto elf = scorch::ElfSymbols::load("/proc/" + std::to_string(pid) + "/root" + m.path);
    if (!elf) continue;
    const auto& syms = (*elf)->symbols();
    if (syms.empty()) continue;
    files.insert(m.path);
    size_t step = syms.size() > 200 ? syms.size() / 200 : 1;
    for (size_t i = 0; i < syms.size(); i += step) {
      uint64_t vaddr = syms[i].address + 1;
      for (const auto& seg : (*elf)->segments()) {
        if (!(seg.flags & 1) || vaddr < seg.vaddr || vaddr >= seg.vaddr + seg.filesz) continue;
        uint64_t off = vaddr - seg.vaddr + seg.offset;
        if (off < m.offset || off >= m.offset + (m.end - m.start)) continue;
        uint64_t ip = m.start + (off - m.offset);
        ips.push_back(ip);
        addrs << m.path << " " << std::hex << vaddr << std::dec << "\n";
        ipf << std::hex << ip << std::dec << "\n";
      }
    }
  }
  addrs.close();
  ipf.close();

  // With SCORCH_BENCH_DROP_CACHES=1 the page cache is dropped first: cold means cold disk too.
  if (const char* drop = std::getenv("SCORCH_BENCH_DROP_CACHES"); drop && std::string(drop) == "1") {
    std::ofstream("/proc/sys/vm/drop_caches") << "3\n";
    std::printf("page cache dropped before the cold run\n");
  }
  auto t0 = std::chrono::steady_clock::now();
  scorch::Symbolizer cold;
  std::vector<std::string> names = cold.symbolize_user(pid, ips);
  double cold_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t unknown = 0;
  std::ofstream ours(out_dir + "/ours.txt");
  for (const auto& n : names) {
    ours << n << "\n";
    if (n == "[unknown]" || n.find("+0x") != std::string::npos) ++unknown;
  }

  const int rounds = 20;
  t0 = std::chrono::steady_clock::now();
  size_t total = 0;
  for (int r = 0; r < rounds; ++r) total += cold.symbolize_user(pid, ips).size();
  double warm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf("files with symbols: %zu; addresses: %zu (%zu without a symbol name)\n", files.size(), ips.size(),
              unknown);
  std::printf("cold first symbolization (new Symbolizer: maps, %zu ELF files, demangling): %.1f ms\n",
              cold.cached_elf_files(), cold_ms);
  std::printf("warm: %zu lookups in %.3f s = %.2f M lookups/s\n", total, warm_s,
              static_cast<double>(total) / warm_s / 1e6);
  std::printf("symbolizer caches: %.1f MiB\n", static_cast<double>(cold.cache_bytes()) / (1 << 20));
  return 0;
}
