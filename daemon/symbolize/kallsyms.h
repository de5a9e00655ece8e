#pragma once
/// Kernel text symbols from /proc/kallsyms, for turning kernel IPs into names.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scorch {

/// One kernel text symbol; module is empty for the core kernel ("ext4", "bpf", ... otherwise).
struct KernelSymbol {
  uint64_t address = 0;
  std::string name;
  std::string module;
};

/// The text symbols (t, T, w, W) of the kernel and its modules, sorted by address.
class KernelSymbols {
 public:
  /// Parses kallsyms text; lines that are not text symbols or not well formed are skipped.
  static KernelSymbols parse(std::string_view text);
  /// Reads and parses path; fails when the file hides addresses (all zeros, kernel.kptr_restrict).
  static Result<KernelSymbols> load(const std::string& path = "/proc/kallsyms");

  /// The symbol at or below address, or nullptr (0, below the first symbol, past the end of kernel text).
  const KernelSymbol* lookup_symbol(uint64_t address) const;
  /// The name of lookup_symbol(address).
  std::optional<std::string> lookup(uint64_t address) const;

  const std::vector<KernelSymbol>& symbols() const { return symbols_; }
  bool empty() const { return symbols_.empty(); }
  /// True when the text listed text symbols but every address was zero.
  bool addresses_hidden() const { return addresses_hidden_; }
  /// Rough heap footprint, for cache accounting.
  size_t memory_bytes() const;

 private:
  std::vector<KernelSymbol> symbols_;
  bool addresses_hidden_ = false;
};

}  // namespace scorch
