#pragma once
/// Turns the DWARF expressions libdw gives for one CFI row into the x86-64 rules of an UnwindRow.

#include <elfutils/libdw.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "unwind/unwind_table.h"

namespace scorch::unwind {

/// DWARF register numbers on x86-64.
inline constexpr int kDwarfRbp = 6;
inline constexpr int kDwarfRsp = 7;
inline constexpr int kDwarfReturnAddress = 16;  // rip

/// A CFA rule with a full-width offset, before it is packed into an UnwindRow.
struct CfaValue {
  CfaRule rule = CfaRule::kUnsupported;
  int64_t offset = 0;
};

/// A saved register's rule with a full-width offset; RbpRule's four cases cover rbp and the return address.
struct SavedRegister {
  RbpRule rule = RbpRule::kUnsupported;
  int64_t offset = 0;  // kOffset: saved at CFA + offset
};

/// The CFA rule from dwarf_frame_cfa's expression: rsp/rbp + offset, the PLT expression, else kUnsupported.
CfaValue cfa_from_ops(const Dwarf_Op* ops, size_t nops);

/// A register's rule from dwarf_frame_register: ops == nullptr is "same value", nops == 0 otherwise
/// "undefined", {call_frame_cfa[, plus_uconst N]} "saved at CFA + N"; anything else kUnsupported.
SavedRegister register_from_ops(const Dwarf_Op* ops, size_t nops);

/// The rules of a signal frame row (CfaRule::kSignal), from the CFA's, the return address's and
/// rbp's expressions, or nullopt when the row is not one. The kernel's rt_sigframe holds the
/// interrupted registers at fixed offsets from rsp, and glibc's __restore_rt describes them so:
/// CFA = *(rsp + N) (the saved rsp), rip saved at rsp + N + 8, rbp at rsp + M.
std::optional<std::pair<CfaValue, SavedRegister>> signal_frame_from_ops(const Dwarf_Op* cfa_ops, size_t cfa_nops,
                                                                        const Dwarf_Op* ra_ops, size_t ra_nops,
                                                                        const Dwarf_Op* rbp_ops, size_t rbp_nops);

/// The row's CFA rule given where the return address is: kUndefined when it is undefined (outermost
/// frame), kUnsupported unless it is saved at CFA-8 (a call's return address), else cfa unchanged.
CfaValue apply_return_address(CfaValue cfa, SavedRegister return_address);

}  // namespace scorch::unwind
