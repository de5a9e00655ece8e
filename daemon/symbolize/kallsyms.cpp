#include "symbolize/kallsyms.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <limits>

#include "common/safe_file.h"

namespace scorch {

namespace {

// Names longer than this are skipped; the kernel caps them at KSYM_NAME_LEN (512).
constexpr size_t kMaxNameLength = (1u << 15) - 1;
// Module indexes are 16 bits and 0 means the core kernel.
constexpr size_t kMaxModules = std::numeric_limits<uint16_t>::max();

// Core-kernel symbols that mark the end of a text range: an address at or past them (and below the
// next symbol) is not in any function.
bool is_end_marker(const KernelSymbol& sym) {
  return sym.module.empty() && (sym.name == "_etext" || sym.name == "_einittext");
}

bool is_text_type(char type) { return type == 't' || type == 'T' || type == 'w' || type == 'W'; }

struct ParsedLine {
  uint64_t address = 0;
  char type = 0;
  std::string_view name;
  std::string_view module;
};

// Parses "ffffffff81000000 T _text" or "ffffffffc0a01000 t foo\t[ext4]".
bool parse_line(std::string_view line, ParsedLine& out) {
  size_t space = line.find(' ');
  if (space == std::string_view::npos || space + 3 > line.size() || line[space + 2] != ' ') {
    return false;
  }
  std::string_view address = line.substr(0, space);
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(address.data(), address.data() + address.size(), value, 16);
  if (ec != std::errc() || ptr != address.data() + address.size()) {
    return false;
  }
  std::string_view rest = line.substr(space + 3);
  std::string_view module;
  size_t tab = rest.find('\t');
  if (tab != std::string_view::npos) {
    module = rest.substr(tab + 1);
    rest = rest.substr(0, tab);
    if (module.size() >= 2 && module.front() == '[' && module.back() == ']') {
      module = module.substr(1, module.size() - 2);
    }
  }
  if (rest.empty()) {
    return false;
  }
  out = ParsedLine{value, line[space + 1], rest, module};
  return true;
}

}  // namespace

// Collects text symbols from kallsyms text fed in pieces of any size, then sorts and ranks them.
class KernelSymbols::Builder {
  static_assert(sizeof(Entry) == 16);

 public:
  // Takes the next piece of the text; a line may be split across pieces.
  void add_text(std::string_view text) {
    while (!text.empty()) {
      size_t newline = text.find('\n');
      if (newline == std::string_view::npos) {
        pending_.append(text);
        return;
      }
      if (pending_.empty()) {
        add_line(text.substr(0, newline));
      } else {
        pending_.append(text.substr(0, newline));
        add_line(pending_);
        pending_.clear();
      }
      text.remove_prefix(newline + 1);
    }
  }

  KernelSymbols finish() {
    if (!pending_.empty()) {
      add_line(pending_);  // the last line had no newline
      pending_ = std::string();
    }
    symbols_.addresses_hidden_ = saw_text_symbol_ && symbols_.entries_.empty();
    sort_and_rank();
    compact_names();
    symbols_.modules_.shrink_to_fit();
    return std::move(symbols_);
  }

 private:
  std::string_view name(const Entry& entry) const {
    return std::string_view(symbols_.names_.data() + entry.name_offset, entry.name_length);
  }

  void add_line(std::string_view line) {
    ParsedLine parsed;
    if (!parse_line(line, parsed) || !is_text_type(parsed.type)) {
      return;
    }
    saw_text_symbol_ = true;
    if (parsed.address == 0) {
      return;
    }
    std::string& names = symbols_.names_;
    if (parsed.name.size() > kMaxNameLength ||
        names.size() > std::numeric_limits<uint32_t>::max() - parsed.name.size()) {
      return;
    }
    std::optional<uint16_t> module = module_index(parsed.module);
    if (!module) {
      return;
    }
    Entry entry;
    entry.address = parsed.address;
    entry.name_offset = static_cast<uint32_t>(names.size());
    entry.name_length = static_cast<uint16_t>(parsed.name.size());
    entry.global = parsed.type == 'T' || parsed.type == 'W';
    entry.module_index = *module;
    names.append(parsed.name);
    symbols_.entries_.push_back(entry);
  }

  // Lines come grouped by module, so the last one found is checked first.
  std::optional<uint16_t> module_index(std::string_view module) {
    if (module.empty()) {
      return 0;
    }
    std::vector<std::string>& modules = symbols_.modules_;
    if (last_module_ != 0 && modules[last_module_ - 1] == module) {
      return last_module_;
    }
    auto it = std::find(modules.begin(), modules.end(), module);
    if (it == modules.end()) {
      if (modules.size() >= kMaxModules) {
        return std::nullopt;
      }
      modules.emplace_back(module);
      it = modules.end() - 1;
    }
    last_module_ = static_cast<uint16_t>(it - modules.begin() + 1);
    return last_module_;
  }

  // Sorts by address and keeps one symbol per address: global ('T', 'W') before local, then fewer
  // leading underscores, then shorter, then by name, then the one listed first.
  void sort_and_rank() {
    std::vector<Entry>& entries = symbols_.entries_;
    auto ranked_less = [this](const Entry& a, const Entry& b) {
      if (a.address != b.address) {
        return a.address < b.address;
      }
      if (a.global != b.global) {
        return a.global > b.global;
      }
      std::string_view a_name = name(a);
      std::string_view b_name = name(b);
      size_t a_underscores = a_name.find_first_not_of('_');
      size_t b_underscores = b_name.find_first_not_of('_');
      if (a_underscores != b_underscores) {
        return a_underscores < b_underscores;
      }
      if (a_name.size() != b_name.size()) {
        return a_name.size() < b_name.size();
      }
      if (a_name != b_name) {
        return a_name < b_name;
      }
      return a.name_offset < b.name_offset;
    };
    if (!std::is_sorted(entries.begin(), entries.end(), ranked_less)) {
      std::sort(entries.begin(), entries.end(), ranked_less);
    }
    auto same_address = [](const Entry& a, const Entry& b) { return a.address == b.address; };
    entries.erase(std::unique(entries.begin(), entries.end(), same_address), entries.end());
    entries.shrink_to_fit();
  }

  // Rewrites names_ to exactly the kept names, in address order (drops the aliases' names and slack).
  void compact_names() {
    size_t total = 0;
    for (const Entry& entry : symbols_.entries_) {
      total += entry.name_length;
    }
    std::string names;
    names.reserve(total);
    for (Entry& entry : symbols_.entries_) {
      std::string_view old_name = name(entry);
      entry.name_offset = static_cast<uint32_t>(names.size());
      names.append(old_name);
    }
    symbols_.names_.swap(names);
  }

  KernelSymbols symbols_;
  std::string pending_;  // the start of a line whose end has not arrived yet
  bool saw_text_symbol_ = false;
  uint16_t last_module_ = 0;
};

KernelSymbols KernelSymbols::parse(std::string_view text) {
  Builder builder;
  builder.add_text(text);
  return builder.finish();
}

Result<KernelSymbols> KernelSymbols::load(const std::string& path) {
  const std::string what = "read kernel symbols from " + path;
  safe_file::Rules rules;
  rules.max_size = safe_file::kKallsymsCap;
  rules.procfs_ok = true;
  auto fd = safe_file::open_trusted(path, rules);
  if (!fd) {
    return Error{what, fd.error().reason, fd.error().err, {}};
  }
  Builder builder;
  std::vector<char> buffer(64 * 1024);
  uint64_t total = 0;
  while (true) {
    if (total > safe_file::kKallsymsCap)
      return Error{what, "larger than the " + safe_file::human_size(safe_file::kKallsymsCap) + " cap", EFBIG, {}};
    ssize_t n = ::read(fd->get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return make_errno_error(what, errno);
    }
    if (n == 0) {
      break;
    }
    total += static_cast<uint64_t>(n);
    builder.add_text(std::string_view(buffer.data(), static_cast<size_t>(n)));
  }
  buffer = std::vector<char>();
  KernelSymbols symbols = builder.finish();
  if (symbols.addresses_hidden()) {
    return Error{what, "all addresses are zero (hidden by kernel.kptr_restrict)", 0,
                 "run the daemon as root, or set sysctl kernel.kptr_restrict=0"};
  }
  return symbols;
}

KernelSymbol KernelSymbols::symbol_at(size_t index) const {
  const Entry& entry = entries_[index];
  KernelSymbol sym;
  sym.address = entry.address;
  sym.name = std::string_view(names_.data() + entry.name_offset, entry.name_length);
  if (entry.module_index != 0) {
    sym.module = modules_[entry.module_index - 1];
  }
  return sym;
}

std::optional<KernelSymbol> KernelSymbols::lookup_symbol(uint64_t address) const {
  if (address == 0) {
    return std::nullopt;
  }
  auto it = std::upper_bound(entries_.begin(), entries_.end(), address,
                             [](uint64_t a, const Entry& e) { return a < e.address; });
  if (it == entries_.begin()) {
    return std::nullopt;
  }
  KernelSymbol sym = symbol_at(static_cast<size_t>(it - entries_.begin()) - 1);
  if (is_end_marker(sym)) {
    return std::nullopt;
  }
  return sym;
}

std::optional<std::string> KernelSymbols::lookup(uint64_t address) const {
  std::optional<KernelSymbol> sym = lookup_symbol(address);
  if (!sym) {
    return std::nullopt;
  }
  return std::string(sym->name);
}

size_t KernelSymbols::memory_bytes() const {
  // Short strings live inside the std::string object; longer ones own capacity() + 1 heap bytes.
  auto heap_bytes = [](const std::string& s) { return s.capacity() > std::string().capacity() ? s.capacity() + 1 : 0; };
  size_t bytes = sizeof(*this) + entries_.capacity() * sizeof(Entry) + heap_bytes(names_) +
                 modules_.capacity() * sizeof(std::string);
  for (const std::string& module : modules_) {
    bytes += heap_bytes(module);
  }
  return bytes;
}

}  // namespace scorch
