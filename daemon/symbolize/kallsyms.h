#pragma once
/// Kernel text symbols from /proc/kallsyms, for turning kernel IPs into names.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace scorch {

/// One kernel text symbol, viewing names owned by its KernelSymbols; module is empty for the core kernel.
struct KernelSymbol {
  uint64_t address = 0;
  std::string_view name;
  std::string_view module;  // "ext4", "bpf", ... or empty
};

/// The text symbols (t, T, w, W) of the kernel and its modules, sorted by address, stored compactly.
class KernelSymbols {
 public:
  /// The symbols in address order, as KernelSymbol values valid while their KernelSymbols lives unchanged.
  class Range {
   public:
    /// Walks a Range; dereferencing yields a KernelSymbol by value.
    class Iterator {
     public:
      using iterator_category = std::input_iterator_tag;
      using value_type = KernelSymbol;
      using difference_type = std::ptrdiff_t;
      using pointer = void;
      using reference = KernelSymbol;

      Iterator() = default;
      KernelSymbol operator*() const { return owner_->symbol_at(index_); }
      Iterator& operator++() {
        ++index_;
        return *this;
      }
      Iterator operator++(int) {
        Iterator old = *this;
        ++index_;
        return old;
      }
      bool operator==(const Iterator& other) const = default;

     private:
      friend class Range;
      Iterator(const KernelSymbols* owner, size_t index) : owner_(owner), index_(index) {}
      const KernelSymbols* owner_ = nullptr;
      size_t index_ = 0;
    };

    Iterator begin() const { return Iterator(owner_, 0); }
    Iterator end() const { return Iterator(owner_, size()); }
    size_t size() const { return owner_->entries_.size(); }
    bool empty() const { return owner_->entries_.empty(); }
    KernelSymbol operator[](size_t index) const { return owner_->symbol_at(index); }
    KernelSymbol front() const { return owner_->symbol_at(0); }
    KernelSymbol back() const { return owner_->symbol_at(size() - 1); }

   private:
    friend class KernelSymbols;
    explicit Range(const KernelSymbols* owner) : owner_(owner) {}
    const KernelSymbols* owner_;
  };

  /// Parses kallsyms text; lines that are not text symbols or not well formed are skipped.
  static KernelSymbols parse(std::string_view text);
  /// Reads and parses path line by line; fails when the file hides addresses (all zeros, kernel.kptr_restrict).
  static Result<KernelSymbols> load(const std::string& path = "/proc/kallsyms");

  /// The symbol at or below address, or nothing (0, below the first symbol, past the end of kernel text).
  std::optional<KernelSymbol> lookup_symbol(uint64_t address) const;
  /// The name of lookup_symbol(address).
  std::optional<std::string> lookup(uint64_t address) const;

  Range symbols() const { return Range(this); }
  bool empty() const { return entries_.empty(); }
  /// True when the text listed text symbols but every address was zero.
  bool addresses_hidden() const { return addresses_hidden_; }
  /// Heap footprint plus the object itself, for cache accounting.
  size_t memory_bytes() const;

 private:
  class Builder;

  // 16 bytes per symbol; the name lives in names_, the module in modules_.
  struct Entry {
    uint64_t address = 0;
    uint32_t name_offset = 0;
    uint16_t name_length : 15 = 0;
    uint16_t global : 1 = 0;    // 'T' or 'W'; only ranks aliases while building
    uint16_t module_index = 0;  // 0: core kernel, else modules_[module_index - 1]
  };

  KernelSymbol symbol_at(size_t index) const;

  std::vector<Entry> entries_;        // sorted by address, one per address
  std::string names_;                 // all names back to back, in entries_ order
  std::vector<std::string> modules_;  // distinct module names
  bool addresses_hidden_ = false;
};

}  // namespace scorch
