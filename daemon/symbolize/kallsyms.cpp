#include "symbolize/kallsyms.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "symbolize/file_io.h"

namespace scorch {

namespace {

// Core-kernel symbols that mark the end of a text range: an address at or past them (and below the
// next symbol) is not in any function.
bool is_end_marker(const KernelSymbol& sym) {
  return sym.module.empty() && (sym.name == "_etext" || sym.name == "_einittext");
}

bool is_text_type(char type) { return type == 't' || type == 'T' || type == 'w' || type == 'W'; }

// Among symbols at one address, prefer global ('T', 'W') ones, then fewer leading underscores, then shorter.
struct RankedSymbol {
  KernelSymbol symbol;
  bool global = false;
};

bool ranked_less(const RankedSymbol& a, const RankedSymbol& b) {
  auto underscores = [](const std::string& s) { return s.find_first_not_of('_'); };
  auto key = [&](const RankedSymbol& r) {
    return std::make_tuple(r.symbol.address, !r.global, underscores(r.symbol.name), r.symbol.name.size());
  };
  auto ka = key(a);
  auto kb = key(b);
  if (ka != kb) {
    return ka < kb;
  }
  return a.symbol.name < b.symbol.name;
}

// Parses "ffffffff81000000 T _text" or "ffffffffc0a01000 t foo\t[ext4]".
bool parse_line(std::string_view line, RankedSymbol& out, char& type) {
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
  type = line[space + 1];
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
  out.symbol = KernelSymbol{value, std::string(rest), std::string(module)};
  out.global = type == 'T' || type == 'W';
  return true;
}

}  // namespace

KernelSymbols KernelSymbols::parse(std::string_view text) {
  std::vector<RankedSymbol> ranked;
  bool saw_text_symbol = false;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    RankedSymbol entry;
    char type = 0;
    if (!parse_line(line, entry, type) || !is_text_type(type)) {
      continue;
    }
    saw_text_symbol = true;
    if (entry.symbol.address == 0) {
      continue;
    }
    ranked.push_back(std::move(entry));
  }

  KernelSymbols result;
  result.addresses_hidden_ = saw_text_symbol && ranked.empty();
  std::sort(ranked.begin(), ranked.end(), ranked_less);
  for (RankedSymbol& r : ranked) {
    if (!result.symbols_.empty() && result.symbols_.back().address == r.symbol.address) {
      continue;  // an alias of the preferred name already kept
    }
    result.symbols_.push_back(std::move(r.symbol));
  }
  result.symbols_.shrink_to_fit();
  return result;
}

Result<KernelSymbols> KernelSymbols::load(const std::string& path) {
  auto text = symbolize_io::read_whole_file(path);
  if (!text) {
    return Error{"read kernel symbols from " + path, text.error().reason, text.error().err, {}};
  }
  KernelSymbols symbols = parse(*text);
  if (symbols.addresses_hidden()) {
    return Error{"read kernel symbols from " + path, "all addresses are zero (hidden by kernel.kptr_restrict)", 0,
                 "run the daemon as root, or set sysctl kernel.kptr_restrict=0"};
  }
  return symbols;
}

const KernelSymbol* KernelSymbols::lookup_symbol(uint64_t address) const {
  if (address == 0) {
    return nullptr;
  }
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const KernelSymbol& s) { return a < s.address; });
  if (it == symbols_.begin()) {
    return nullptr;
  }
  --it;
  if (is_end_marker(*it)) {
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> KernelSymbols::lookup(uint64_t address) const {
  const KernelSymbol* sym = lookup_symbol(address);
  if (sym == nullptr) {
    return std::nullopt;
  }
  return sym->name;
}

size_t KernelSymbols::memory_bytes() const {
  size_t bytes = sizeof(*this) + symbols_.capacity() * sizeof(KernelSymbol);
  for (const KernelSymbol& sym : symbols_) {
    if (sym.name.size() >= sizeof(std::string)) {
      bytes += sym.name.capacity() + 1;
    }
    if (sym.module.size() >= sizeof(std::string)) {
      bytes += sym.module.capacity() + 1;
    }
  }
  return bytes;
}

}  // namespace scorch
