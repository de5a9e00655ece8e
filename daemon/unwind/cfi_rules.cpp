#include "unwind/cfi_rules.h"

#include <dwarf.h>

namespace scorch::unwind {

namespace {

// Offsets travel in Dwarf_Word; the CFI's signed values wrap around into them.
int64_t as_signed(Dwarf_Word word) { return static_cast<int64_t>(word); }

bool is_literal(const Dwarf_Op& op) { return op.atom >= DW_OP_lit0 && op.atom <= DW_OP_lit31; }

// The expression ld writes for .plt and .plt.sec entries, whose pushes depend on the pc's offset in
// the 16-byte entry: rsp + 8 + ((rip & 15) >= N ? 8 : 0). Returns N, or -1 for any other expression.
int plt_threshold(const Dwarf_Op* ops, size_t nops) {
  if (nops != 9) {
    return -1;
  }
  bool matches = ops[0].atom == DW_OP_breg7 && as_signed(ops[0].number) == 8 &&   // rsp + 8
                 ops[1].atom == DW_OP_breg16 && as_signed(ops[1].number) == 0 &&  // rip
                 ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&        // rip & 15
                 is_literal(ops[4]) && ops[5].atom == DW_OP_ge &&                 // >= N
                 ops[6].atom == DW_OP_lit3 && ops[7].atom == DW_OP_shl &&         // (0 or 1) << 3
                 ops[8].atom == DW_OP_plus;
  return matches ? ops[4].atom - DW_OP_lit0 : -1;
}

// N of a register saved at rsp + N: {DW_OP_breg7 N} as DW_CFA_expression writes it, after the CFA
// libdw pushes before it ({DW_OP_call_frame_cfa, DW_OP_breg7 N}); nullopt for anything else.
std::optional<int64_t> rsp_slot(const Dwarf_Op* ops, size_t nops) {
  if (ops != nullptr && nops == 2 && ops[0].atom == DW_OP_call_frame_cfa) {
    ++ops;
    --nops;
  }
  if (ops == nullptr || nops != 1 || ops[0].atom != DW_OP_breg7) return std::nullopt;
  return as_signed(ops[0].number);
}

}  // namespace

std::optional<std::pair<CfaValue, SavedRegister>> signal_frame_from_ops(const Dwarf_Op* cfa_ops, size_t cfa_nops,
                                                                        const Dwarf_Op* ra_ops, size_t ra_nops,
                                                                        const Dwarf_Op* rbp_ops, size_t rbp_nops) {
  // CFA = *(rsp + N): DW_CFA_def_cfa_expression {DW_OP_breg7 N; DW_OP_deref}.
  if (cfa_ops == nullptr || cfa_nops != 2 || cfa_ops[0].atom != DW_OP_breg7 || cfa_ops[1].atom != DW_OP_deref)
    return std::nullopt;
  const int64_t rsp_at = as_signed(cfa_ops[0].number);
  const std::optional<int64_t> rip_at = rsp_slot(ra_ops, ra_nops);
  if (!rip_at || *rip_at != rsp_at + 8) return std::nullopt;  // the walk reads rip just above rsp
  SavedRegister rbp{RbpRule::kSame, 0};
  if (rbp_ops != nullptr) {
    const std::optional<int64_t> rbp_at = rsp_slot(rbp_ops, rbp_nops);
    rbp = rbp_at ? SavedRegister{RbpRule::kOffset, *rbp_at} : SavedRegister{};
  }
  return std::make_pair(CfaValue{CfaRule::kSignal, rsp_at}, rbp);
}

CfaValue cfa_from_ops(const Dwarf_Op* ops, size_t nops) {
  if (ops == nullptr || nops == 0) {
    return {};
  }
  // libdw reports a register + offset rule (DW_CFA_def_cfa and friends) as one DW_OP_bregx.
  if (nops == 1 && ops[0].atom == DW_OP_bregx) {
    if (ops[0].number == kDwarfRsp) {
      return {CfaRule::kRsp, as_signed(ops[0].number2)};
    }
    if (ops[0].number == kDwarfRbp) {
      return {CfaRule::kRbp, as_signed(ops[0].number2)};
    }
    return {};
  }
  int threshold = plt_threshold(ops, nops);
  if (threshold >= 0) {
    return {CfaRule::kPlt, threshold};
  }
  return {};
}

SavedRegister register_from_ops(const Dwarf_Op* ops, size_t nops) {
  if (ops == nullptr) {
    return {RbpRule::kSame, 0};
  }
  if (nops == 0) {
    return {RbpRule::kUndefined, 0};
  }
  if (ops[0].atom != DW_OP_call_frame_cfa) {
    return {};
  }
  if (nops == 1) {
    return {RbpRule::kOffset, 0};
  }
  if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) {
    return {RbpRule::kOffset, as_signed(ops[1].number)};
  }
  return {};  // val_offset ends in DW_OP_stack_value: a value, not a save slot
}

CfaValue apply_return_address(CfaValue cfa, SavedRegister return_address) {
  if (return_address.rule == RbpRule::kUndefined) {
    return {CfaRule::kUndefined, 0};
  }
  if (return_address.rule != RbpRule::kOffset || return_address.offset != -8) {
    return {};
  }
  return cfa;
}

}  // namespace scorch::unwind
