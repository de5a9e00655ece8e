#include <dwarf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "unwind/cfi_rules.h"
#include "unwind/unwind_table.h"

namespace scorch {
namespace {

using unwind::apply_return_address;
using unwind::cfa_from_ops;
using unwind::CfaValue;
using unwind::register_from_ops;
using unwind::SavedRegister;
using unwind::signal_frame_from_ops;

Dwarf_Op op(uint8_t atom, int64_t number = 0, int64_t number2 = 0) {
  Dwarf_Op result{};
  result.atom = atom;
  result.number = static_cast<Dwarf_Word>(number);
  result.number2 = static_cast<Dwarf_Word>(number2);
  return result;
}

// What libdw gives for ld's .plt/.plt.sec CFA expression with threshold n.
std::vector<Dwarf_Op> plt_expression(int n) {
  return {
      op(DW_OP_breg7, 8), op(DW_OP_breg16, 0), op(DW_OP_lit15), op(DW_OP_and), op(static_cast<uint8_t>(DW_OP_lit0 + n)),
      op(DW_OP_ge),       op(DW_OP_lit3),      op(DW_OP_shl),   op(DW_OP_plus)};
}

CfaValue cfa_of(const std::vector<Dwarf_Op>& ops) { return cfa_from_ops(ops.data(), ops.size()); }

TEST(UnwindRules, CfaRegisterPlusOffset) {
  CfaValue rsp = cfa_of({op(DW_OP_bregx, 7, 40016)});
  EXPECT_EQ(rsp.rule, CfaRule::kRsp);
  EXPECT_EQ(rsp.offset, 40016);
  CfaValue rbp = cfa_of({op(DW_OP_bregx, 6, 16)});
  EXPECT_EQ(rbp.rule, CfaRule::kRbp);
  EXPECT_EQ(rbp.offset, 16);
  CfaValue negative = cfa_of({op(DW_OP_bregx, 7, -8)});
  EXPECT_EQ(negative.rule, CfaRule::kRsp);
  EXPECT_EQ(negative.offset, -8);
  EXPECT_EQ(cfa_of({op(DW_OP_bregx, 10, 0)}).rule, CfaRule::kUnsupported);  // stack realignment (DRAP)
  EXPECT_EQ(cfa_from_ops(nullptr, 0).rule, CfaRule::kUnsupported);          // no CFA rule yet
}

TEST(UnwindRules, PltExpression) {
  for (int n : {10, 11}) {
    CfaValue plt = cfa_of(plt_expression(n));
    EXPECT_EQ(plt.rule, CfaRule::kPlt);
    EXPECT_EQ(plt.offset, n);
  }
}

TEST(UnwindRules, OtherExpressionsAreUnsupported) {
  std::vector<Dwarf_Op> ops = plt_expression(11);
  ops[0] = op(DW_OP_breg7, 16);  // another base offset
  EXPECT_EQ(cfa_of(ops).rule, CfaRule::kUnsupported);
  ops = plt_expression(11);
  ops[2] = op(DW_OP_lit7);  // another mask
  EXPECT_EQ(cfa_of(ops).rule, CfaRule::kUnsupported);
  ops = plt_expression(11);
  ops[8] = op(DW_OP_minus);
  EXPECT_EQ(cfa_of(ops).rule, CfaRule::kUnsupported);
  ops = plt_expression(11);
  ops.pop_back();
  EXPECT_EQ(cfa_of(ops).rule, CfaRule::kUnsupported);
  EXPECT_EQ(cfa_of({op(DW_OP_breg6, -8), op(DW_OP_deref)}).rule, CfaRule::kUnsupported);  // realigned frame
}

TEST(UnwindRules, SavedRegisters) {
  Dwarf_Op ops_mem[3];
  EXPECT_EQ(register_from_ops(nullptr, 0).rule, RbpRule::kSame);
  EXPECT_EQ(register_from_ops(ops_mem, 0).rule, RbpRule::kUndefined);

  std::vector<Dwarf_Op> at_cfa_minus_16 = {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, -16)};
  SavedRegister saved = register_from_ops(at_cfa_minus_16.data(), at_cfa_minus_16.size());
  EXPECT_EQ(saved.rule, RbpRule::kOffset);
  EXPECT_EQ(saved.offset, -16);

  std::vector<Dwarf_Op> at_cfa = {op(DW_OP_call_frame_cfa)};
  saved = register_from_ops(at_cfa.data(), at_cfa.size());
  EXPECT_EQ(saved.rule, RbpRule::kOffset);
  EXPECT_EQ(saved.offset, 0);

  std::vector<Dwarf_Op> value = {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, 16), op(DW_OP_stack_value)};
  EXPECT_EQ(register_from_ops(value.data(), value.size()).rule, RbpRule::kUnsupported);
  std::vector<Dwarf_Op> in_register = {op(DW_OP_regx, 3)};
  EXPECT_EQ(register_from_ops(in_register.data(), in_register.size()).rule, RbpRule::kUnsupported);
  std::vector<Dwarf_Op> expression = {op(DW_OP_breg6, 0)};
  EXPECT_EQ(register_from_ops(expression.data(), expression.size()).rule, RbpRule::kUnsupported);
}

TEST(UnwindRules, ReturnAddressMustBeAtCfaMinus8) {
  CfaValue rsp{CfaRule::kRsp, 24};
  CfaValue kept = apply_return_address(rsp, SavedRegister{RbpRule::kOffset, -8});
  EXPECT_EQ(kept.rule, CfaRule::kRsp);
  EXPECT_EQ(kept.offset, 24);
  EXPECT_EQ(apply_return_address(rsp, SavedRegister{RbpRule::kUndefined, 0}).rule, CfaRule::kUndefined);
  EXPECT_EQ(apply_return_address(rsp, SavedRegister{RbpRule::kOffset, -16}).rule, CfaRule::kUnsupported);
  EXPECT_EQ(apply_return_address(rsp, SavedRegister{RbpRule::kSame, 0}).rule, CfaRule::kUnsupported);
  EXPECT_EQ(apply_return_address(rsp, SavedRegister{RbpRule::kUnsupported, 0}).rule, CfaRule::kUnsupported);
}

// What libdw gives for glibc's __restore_rt (DW_CFA_def_cfa_expression and DW_CFA_expression, the
// latter after the CFA it pushes): CFA = *(rsp + 160), rip at rsp + 168, rbp at rsp + 120.
struct SignalOps {
  std::vector<Dwarf_Op> cfa = {op(DW_OP_breg7, 160), op(DW_OP_deref)};
  std::vector<Dwarf_Op> ra = {op(DW_OP_call_frame_cfa), op(DW_OP_breg7, 168)};
  std::vector<Dwarf_Op> rbp = {op(DW_OP_call_frame_cfa), op(DW_OP_breg7, 120)};
  std::optional<std::pair<CfaValue, SavedRegister>> rules() const {
    return signal_frame_from_ops(cfa.data(), cfa.size(), ra.data(), ra.size(), rbp.data(), rbp.size());
  }
};

TEST(UnwindRules, SignalFrame) {
  auto rules = SignalOps{}.rules();
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->first.rule, CfaRule::kSignal);
  EXPECT_EQ(rules->first.offset, 160);
  EXPECT_EQ(rules->second.rule, RbpRule::kOffset);
  EXPECT_EQ(rules->second.offset, 120);

  SignalOps without_cfa_push;  // the bare DW_CFA_expression
  without_cfa_push.ra = {op(DW_OP_breg7, 168)};
  ASSERT_TRUE(without_cfa_push.rules());
  EXPECT_EQ(without_cfa_push.rules()->first.offset, 160);

  SignalOps rbp_same;
  auto same = signal_frame_from_ops(rbp_same.cfa.data(), 2, rbp_same.ra.data(), 2, nullptr, 0);
  ASSERT_TRUE(same);
  EXPECT_EQ(same->second.rule, RbpRule::kSame);

  SignalOps rbp_elsewhere;
  rbp_elsewhere.rbp = {op(DW_OP_call_frame_cfa), op(DW_OP_breg6, 8)};
  ASSERT_TRUE(rbp_elsewhere.rules());
  EXPECT_EQ(rbp_elsewhere.rules()->second.rule, RbpRule::kUnsupported);
}

TEST(UnwindRules, OtherDereferencedCfasAreNoSignalFrame) {
  SignalOps rip_apart;  // the walk reads rip just above rsp; any other layout is not the kernel's
  rip_apart.ra = {op(DW_OP_call_frame_cfa), op(DW_OP_breg7, 176)};
  EXPECT_FALSE(rip_apart.rules());
  SignalOps rbp_based;  // a realigned frame's CFA = *(rbp - 8)
  rbp_based.cfa = {op(DW_OP_breg6, -8), op(DW_OP_deref)};
  EXPECT_FALSE(rbp_based.rules());
  SignalOps no_deref;
  no_deref.cfa = {op(DW_OP_breg7, 160)};
  EXPECT_FALSE(no_deref.rules());
  SignalOps ra_at_cfa;  // an ordinary frame's return address
  ra_at_cfa.ra = {op(DW_OP_call_frame_cfa), op(DW_OP_plus_uconst, 8)};
  EXPECT_FALSE(ra_at_cfa.rules());
  SignalOps ra_same;
  EXPECT_FALSE(signal_frame_from_ops(ra_same.cfa.data(), 2, nullptr, 0, ra_same.rbp.data(), 2));
}

// ---- UnwindTable::lookup on a hand-made table ----

UnwindRow row(uint32_t pc_offset, CfaRule cfa, int32_t cfa_offset = 0) {
  UnwindRow result;
  result.pc_offset = pc_offset;
  result.cfa = cfa;
  result.cfa_offset = cfa_offset;
  return result;
}

UnwindTable small_table() {
  UnwindTable table;
  table.base_pc = 0x1000;
  table.rows = {row(0x0, CfaRule::kRsp, 8), row(0x4, CfaRule::kRsp, 16), row(0x10, CfaRule::kNoInfo),
                row(0x20, CfaRule::kRbp, 16), row(0x30, CfaRule::kNoInfo)};
  return table;
}

TEST(UnwindTableLookup, FindsTheRowThatStartsAtOrBeforePc) {
  UnwindTable table = small_table();
  ASSERT_NE(table.lookup(0x1000), nullptr);
  EXPECT_EQ(table.lookup(0x1000)->cfa_offset, 8);
  EXPECT_EQ(table.lookup(0x1003)->cfa_offset, 8);
  EXPECT_EQ(table.lookup(0x1004)->cfa_offset, 16);
  EXPECT_EQ(table.lookup(0x100f)->cfa_offset, 16);
  EXPECT_EQ(table.lookup(0x1020)->cfa, CfaRule::kRbp);
  EXPECT_EQ(table.lookup(0x102f)->cfa, CfaRule::kRbp);
  EXPECT_EQ(table.pc(table.rows[3]), 0x1020u);
}

TEST(UnwindTableLookup, NoInfoOutsideFdes) {
  UnwindTable table = small_table();
  EXPECT_EQ(table.lookup(0), nullptr);
  EXPECT_EQ(table.lookup(0xfff), nullptr);
  EXPECT_EQ(table.lookup(0x1010), nullptr);  // the gap
  EXPECT_EQ(table.lookup(0x101f), nullptr);
  EXPECT_EQ(table.lookup(0x1030), nullptr);  // after the last FDE
  EXPECT_EQ(table.lookup(0x1000 + 0x100000000ull), nullptr);
  EXPECT_EQ(table.lookup(UINT64_MAX), nullptr);
  EXPECT_EQ(UnwindTable{}.lookup(0x1000), nullptr);
}

TEST(UnwindTableLookup, MemoryGrowsWithRows) {
  UnwindTable table = small_table();
  uint64_t small = table.memory_bytes();
  EXPECT_GE(small, sizeof(UnwindTable) + 5 * sizeof(UnwindRow));
  table.rows.resize(1000);
  EXPECT_GE(table.memory_bytes(), small + 995 * sizeof(UnwindRow));
}

}  // namespace
}  // namespace scorch
