#pragma once
/// Compact x86-64 unwind tables derived from an ELF file's call frame information, for a BPF unwinder.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "unwind/segment_map.h"

namespace scorch {

/// How the CFA (the caller's rsp, just above the return address) is found.
enum class CfaRule : uint8_t {
  kNoInfo = 0,   // no FDE covers these pcs
  kRsp,          // CFA = rsp + cfa_offset
  kRbp,          // CFA = rbp + cfa_offset
  kPlt,          // CFA = rsp + 8 + ((rip & 15) >= cfa_offset ? 8 : 0): the PLT's CFA expression
  kUndefined,    // the return address is undefined: the outermost frame (_start, thread entry)
  kUnsupported,  // any other rule: stop here or fall back to frame pointers
  kSignal,       // the kernel's signal frame (glibc's __restore_rt): the interrupted registers are saved
                 // on the stack, rsp at rsp + cfa_offset and rip just above it; rbp (kOffset) at
                 // rsp + rbp_offset. The interrupted ip is exact, not a return address.
};

/// Where the caller's rbp is.
enum class RbpRule : uint8_t {
  kSame = 0,     // rbp is unchanged
  kOffset,       // saved at CFA + rbp_offset
  kUndefined,    // not recoverable
  kUnsupported,  // any other rule
};

/// How to unwind one step from any pc in [pc, next row's pc): x86-64 only for now.
struct UnwindRow {
  uint32_t pc_offset = 0;  // pc - UnwindTable::base_pc
  int32_t cfa_offset = 0;  // kRsp, kRbp: added to the register; kPlt: the threshold N; kSignal: rsp's slot; else 0
  CfaRule cfa = CfaRule::kNoInfo;
  RbpRule rbp = RbpRule::kSame;
  int16_t rbp_offset = 0;  // kOffset only (from the CFA, or from rsp in a kSignal row); else 0

  bool operator==(const UnwindRow&) const = default;
};
static_assert(sizeof(UnwindRow) == 12, "UnwindRow is shared with the BPF unwinder");

/// Which section a table was built from.
enum class CfiSection : uint8_t { kEhFrame, kDebugFrame };

/// What went into a table and what did not fit, for reports.
struct UnwindTableStats {
  size_t fdes = 0;               // FDEs turned into rows
  size_t skipped_fdes = 0;       // empty, overlapping, outside executable segments or undecodable
  size_t unsupported_cfa = 0;    // rows (after merging) whose CFA rule is kUnsupported
  size_t unsupported_rbp = 0;    // rows (after merging) whose rbp rule is kUnsupported
  size_t offsets_too_large = 0;  // CFI rows whose offset did not fit the row, made kUnsupported
  size_t bad_cfi_rows = 0;       // pcs where libdw could not evaluate the CFI, made kUnsupported
};

/// The unwind rows of one ELF file in its virtual addresses, sorted by pc, gaps marked kNoInfo.
struct UnwindTable {
  std::string build_id;  // lowercase hex of NT_GNU_BUILD_ID; empty when the file has none
  CfiSection section = CfiSection::kEhFrame;
  uint64_t base_pc = 0;                 // the pc of rows[0]
  std::vector<UnwindRow> rows;          // the last row is kNoInfo, at the end of the last FDE
  std::vector<SegmentHeader> segments;  // the file's PT_LOAD program headers, to place its mappings
  UnwindTableStats stats;

  /// The ELF virtual address where row starts.
  uint64_t pc(const UnwindRow& row) const { return base_pc + row.pc_offset; }
  /// The row that applies at elf_pc, or nullptr when no FDE covers it (before, between or after FDEs).
  const UnwindRow* lookup(uint64_t elf_pc) const;
  /// Heap and object footprint, for cache accounting.
  uint64_t memory_bytes() const;
};

/// "rsp", "rbp", "plt", ...: for logs and test messages.
const char* cfa_rule_name(CfaRule rule);
const char* rbp_rule_name(RbpRule rule);

}  // namespace scorch
