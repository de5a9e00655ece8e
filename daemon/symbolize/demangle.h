#pragma once
/// Demangling of symbol names with libiberty (the GNU binutils demangler): C++ (Itanium ABI) and
/// Rust, both the legacy scheme (`_ZN...17h<hash>E`, hash dropped) and v0 (`_R...`).

#include <string>
#include <string_view>

namespace scorch {

/// The readable name of a raw symbol: "ns::Class<int>::method", "crate::module::function"; C++
/// parameter lists are left out (frames of overloads merge, as in most flamegraphs). Names that
/// are not mangled, or that libiberty cannot read, come back as they are.
std::string demangle(std::string_view raw);

}  // namespace scorch
