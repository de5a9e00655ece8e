#include "symbolize/demangle.h"

#include <cstdlib>
#include <memory>

// libiberty's header declares C functions; it is C-compatible but not C++-wrapped.
extern "C" {
#include <libiberty/demangle.h>
}

namespace scorch {

std::string demangle(std::string_view raw) {
  // Only names that look mangled go to the demangler: most symbols of C programs are plain.
  bool itanium = raw.size() > 2 && raw[0] == '_' && raw[1] == 'Z';
  bool rust_v0 = raw.size() > 2 && raw[0] == '_' && raw[1] == 'R';
  if (!itanium && !rust_v0) return std::string(raw);
  std::string input(raw);  // NUL-terminated copy
  // DMGL_AUTO tries Rust first (legacy Rust names are valid Itanium names too), then C++.
  std::unique_ptr<char, decltype(&std::free)> out(cplus_demangle(input.c_str(), DMGL_AUTO | DMGL_ANSI), &std::free);
  if (!out) return input;
  return std::string(out.get());
}

}  // namespace scorch
