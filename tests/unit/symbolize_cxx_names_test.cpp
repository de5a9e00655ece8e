// Every function of a C++ fixture is named as binutils' nm -C names it (the oracle), less the
// parameter list that scorch leaves out.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "fixture_util.h"
#include "symbolize/demangle.h"
#include "symbolize/elf_symbols.h"

namespace scorch {
namespace {

/// nm -C's "int ns::f<int>(int) const [clone .constprop.0]" -> "ns::f<int>", the form scorch
/// shows: without GCC's clone suffixes, " const", the parameter list and a template's return type.
std::string without_parameters(std::string name) {
  while (name.ends_with("]")) {
    size_t clone = name.rfind(" [clone ");
    if (clone == std::string::npos) break;
    name.resize(clone);
  }
  if (name.ends_with(" const")) name.resize(name.size() - 6);
  if (!name.empty() && name.back() == ')') {
    int depth = 0;
    for (size_t i = name.size(); i-- > 0;) {
      if (name[i] == ')') ++depth;
      if (name[i] == '(' && --depth == 0) {
        name.resize(i);
        break;
      }
    }
  }
  // A space outside (), <> and {} separates a return type from the name.
  int depth = 0;
  size_t cut = std::string::npos;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '(' || c == '<' || c == '{') ++depth;
    if (c == ')' || c == '>' || c == '}') --depth;
    if (c == ' ' && depth == 0) cut = i;
  }
  return cut == std::string::npos ? name : name.substr(cut + 1);
}

TEST(SymbolizeCxxNames, EveryFunctionMatchesNmDemangled) {
  const std::string file = fixture::path("fixture_cxx");
  auto elf = ElfSymbols::load(file);
  ASSERT_TRUE(elf) << elf.error().message();
  // nm -C: "ADDRESS [SIZE] TYPE NAME WITH SPACES"; names by address (aliases share one).
  std::map<uint64_t, std::set<std::string>> oracle;
  std::istringstream lines(fixture::run_command("nm --defined-only -C '" + file + "'"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string addr, type;
    if (!(fields >> addr >> type) || type.size() != 1 || std::string("TtWw").find(type[0]) == std::string::npos)
      continue;
    std::string name;
    std::getline(fields, name);
    oracle[std::stoull(addr, nullptr, 16)].insert(without_parameters(name.substr(1)));
  }
  size_t checked = 0, ours = 0;
  std::set<std::string> wanted = {"outer::inner::Widget<int>::grow",      "outer::inner::Widget<double>::grow",
                                  "outer::inner::Widget<int>::operator+", "outer::inner::Widget<int>::Widget",
                                  "(anonymous namespace)::hidden_helper", "twice<int>",
                                  "main::{lambda(int)#1}::operator()"};
  std::set<std::string> seen;
  auto in_code = [&](uint64_t a) {
    for (const auto& seg : (*elf)->segments())
      if ((seg.flags & 1) && a >= seg.vaddr && a < seg.vaddr + seg.memsz) return true;  // PF_X
    return false;
  };
  for (const auto& [address, names] : oracle) {
    if (!in_code(address)) continue;  // weak data symbols (data_start) are not functions
    const Symbol* sym = (*elf)->lookup(address);
    ASSERT_NE(sym, nullptr) << "no symbol at 0x" << std::hex << address << " (" << *names.begin() << ")";
    std::string shown = demangle(sym->name);
    EXPECT_TRUE(names.count(shown)) << "0x" << std::hex << address << ": scorch says '" << shown << "', nm -C '"
                                    << *names.begin() << "'";
    ++checked;
    if (shown.find("outer::") != std::string::npos || shown.find("anonymous") != std::string::npos ||
        shown.find("twice") != std::string::npos || shown.find("lambda") != std::string::npos)
      ++ours;
    seen.insert(shown);
  }
  EXPECT_GT(checked, 10u);
  EXPECT_GE(ours, 6u);
  for (const auto& w : wanted) EXPECT_TRUE(seen.count(w)) << w << " is not among the names";
}

}  // namespace
}  // namespace scorch
