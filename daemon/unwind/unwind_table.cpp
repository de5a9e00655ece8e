#include "unwind/unwind_table.h"

#include <algorithm>
#include <limits>

namespace scorch {

const UnwindRow* UnwindTable::lookup(uint64_t elf_pc) const {
  if (rows.empty() || elf_pc < base_pc || elf_pc - base_pc > std::numeric_limits<uint32_t>::max()) {
    return nullptr;
  }
  auto offset = static_cast<uint32_t>(elf_pc - base_pc);
  auto it = std::upper_bound(rows.begin(), rows.end(), offset,
                             [](uint32_t value, const UnwindRow& row) { return value < row.pc_offset; });
  if (it == rows.begin()) {
    return nullptr;
  }
  --it;
  return it->cfa == CfaRule::kNoInfo ? nullptr : &*it;
}

uint64_t UnwindTable::memory_bytes() const {
  uint64_t bytes = sizeof(*this) + rows.capacity() * sizeof(UnwindRow) + segments.capacity() * sizeof(SegmentHeader);
  if (build_id.size() >= sizeof(std::string)) {  // longer than the small-string buffer
    bytes += build_id.capacity() + 1;
  }
  return bytes;
}

const char* cfa_rule_name(CfaRule rule) {
  switch (rule) {
    case CfaRule::kNoInfo:
      return "no-info";
    case CfaRule::kRsp:
      return "rsp";
    case CfaRule::kRbp:
      return "rbp";
    case CfaRule::kPlt:
      return "plt";
    case CfaRule::kUndefined:
      return "undefined";
    case CfaRule::kUnsupported:
      return "unsupported";
    case CfaRule::kSignal:
      return "signal";
  }
  return "?";
}

const char* rbp_rule_name(RbpRule rule) {
  switch (rule) {
    case RbpRule::kSame:
      return "same";
    case RbpRule::kOffset:
      return "offset";
    case RbpRule::kUndefined:
      return "undefined";
    case RbpRule::kUnsupported:
      return "unsupported";
  }
  return "?";
}

}  // namespace scorch
