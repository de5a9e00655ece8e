#pragma once
/// Where to put a uprobe in a function so that hitting it is cheap.
///
/// The kernel emulates a few x86-64 instructions when a uprobe sits on them (push of a register,
/// jumps, conditional jumps, calls): about 0.6 us a hit here. Any other instruction is copied
/// out of line and single-stepped: about 10 us. Allocator entry points often begin with a test
/// or a compare (glibc's free: test %rdi,%rdi; je), so the probe goes on the first emulated
/// instruction reached on every path, provided that what runs before it changes neither the
/// arguments the probe reads nor rbp, and moves rsp only in known steps.

#include <cstdint>
#include <span>
#include <string>

namespace scorch {

/// x86-64 register numbers (ModRM/REX order).
enum X86Reg : uint8_t {
  kRax = 0,
  kRcx,
  kRdx,
  kRbx,
  kRsp,
  kRbp,
  kRsi,
  kRdi,
  kR8,
  kR9,
  kR10,
  kR11,
  kR12,
  kR13,
  kR14,
  kR15
};
inline constexpr uint16_t reg_bit(X86Reg r) { return static_cast<uint16_t>(1u << r); }

struct ProbeSite {
  uint32_t offset = 0;    // from the function's start
  uint32_t sp_words = 0;  // 8-byte words pushed (or reserved) before the site: [rsp + 8*sp_words] is the return address
  bool emulated = false;  // the instruction there is one the kernel emulates
  std::string insn;       // what sits there ("push", "jcc", "jmp", "call"), or "single-stepped"
};

/// Decodes code (the function's first bytes) up to the first emulated instruction that every
/// call reaches, skipping only instructions known not to write the registers in `keep` (the
/// arguments read at the probe, as reg_bit flags), rbp, or rsp (except sub $imm,%rsp). Falls
/// back to offset 0, not emulated, when it meets anything else.
ProbeSite choose_probe_site(std::span<const uint8_t> code, uint16_t keep);

}  // namespace scorch
