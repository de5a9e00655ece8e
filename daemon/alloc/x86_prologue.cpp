#include "alloc/x86_prologue.h"

#include <optional>

namespace scorch {
namespace {

constexpr int kMaxInstructions = 16;

/// One decoded instruction, as far as choose_probe_site needs it.
struct Insn {
  uint32_t length = 0;
  enum Kind { kHarmless, kWritesReg, kSubRsp, kEmulated } kind = kHarmless;
  uint8_t written = 0;    // kWritesReg: the register
  uint32_t sp_bytes = 0;  // kSubRsp: how much
  const char* name = "";
};

/// The length of a ModRM operand (ModRM, SIB, displacement) starting at code[pos]; nullopt if cut.
std::optional<uint32_t> modrm_length(std::span<const uint8_t> code, size_t pos) {
  if (pos >= code.size()) return std::nullopt;
  uint8_t modrm = code[pos];
  uint8_t mod = modrm >> 6, rm = modrm & 7;
  uint32_t len = 1;
  if (mod != 3 && rm == 4) {
    if (pos + 1 >= code.size()) return std::nullopt;
    uint8_t sib = code[pos + 1];
    ++len;
    if (mod == 0 && (sib & 7) == 5) len += 4;
  }
  if (mod == 0 && rm == 5) len += 4;  // rip-relative
  if (mod == 1) len += 1;
  if (mod == 2) len += 4;
  if (pos + len > code.size()) return std::nullopt;
  return len;
}

std::optional<Insn> decode(std::span<const uint8_t> code) {
  size_t pos = 0;
  bool opsize = false;
  // endbr64: f3 0f 1e fa
  if (code.size() >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa)
    return Insn{4, Insn::kHarmless, 0, 0, "endbr64"};
  while (pos < code.size() && (code[pos] == 0x66 || code[pos] == 0x64 || code[pos] == 0x65 || code[pos] == 0x2e)) {
    if (code[pos] == 0x66) opsize = true;
    ++pos;
  }
  uint8_t rex = 0;
  if (pos < code.size() && (code[pos] & 0xf0) == 0x40) rex = code[pos++];
  if (pos >= code.size()) return std::nullopt;
  const uint8_t op = code[pos++];
  const bool rex_w = (rex & 8) != 0;

  auto with_modrm = [&](Insn::Kind kind, uint32_t imm, bool dest_is_reg) -> std::optional<Insn> {
    auto ml = modrm_length(code, pos);
    if (!ml || pos + *ml + imm > code.size()) return std::nullopt;
    uint8_t modrm = code[pos];
    uint8_t reg = static_cast<uint8_t>(((rex & 4) << 1) | ((modrm >> 3) & 7));
    uint8_t rm = static_cast<uint8_t>(((rex & 1) << 3) | (modrm & 7));
    Insn insn{static_cast<uint32_t>(pos + *ml + imm), kind, 0, 0, "modrm"};
    if (kind == Insn::kWritesReg) {
      if (dest_is_reg) {
        insn.written = reg;
      } else if ((modrm >> 6) == 3) {
        insn.written = rm;
      } else {
        insn.kind = Insn::kHarmless;  // a store to memory leaves the registers alone
      }
    }
    return insn;
  };

  if (op >= 0x50 && op <= 0x57 && !opsize) return Insn{static_cast<uint32_t>(pos), Insn::kEmulated, 0, 0, "push"};
  if (op >= 0x70 && op <= 0x7f)
    return pos + 1 <= code.size()
               ? std::optional<Insn>(Insn{static_cast<uint32_t>(pos + 1), Insn::kEmulated, 0, 0, "jcc"})
               : std::nullopt;
  if (op == 0xeb) return Insn{static_cast<uint32_t>(pos + 1), Insn::kEmulated, 0, 0, "jmp"};
  if (op == 0xe9) return Insn{static_cast<uint32_t>(pos + 4), Insn::kEmulated, 0, 0, "jmp"};
  if (op == 0xe8) return Insn{static_cast<uint32_t>(pos + 4), Insn::kEmulated, 0, 0, "call"};
  if (op == 0x90) return Insn{static_cast<uint32_t>(pos), Insn::kHarmless, 0, 0, "nop"};
  if (op == 0x0f) {
    if (pos >= code.size()) return std::nullopt;
    uint8_t op2 = code[pos++];
    if (op2 >= 0x80 && op2 <= 0x8f) return Insn{static_cast<uint32_t>(pos + 4), Insn::kEmulated, 0, 0, "jcc"};
    if (op2 == 0x1f) return with_modrm(Insn::kHarmless, 0, false);  // multi-byte nop
    return std::nullopt;
  }
  switch (op) {
    case 0x84:
    case 0x85:
    case 0x38:
    case 0x39:
    case 0x3a:
    case 0x3b:  // test, cmp
      return with_modrm(Insn::kHarmless, 0, false);
    case 0x88:
    case 0x89:
    case 0x00:
    case 0x01:
    case 0x08:
    case 0x09:
    case 0x20:
    case 0x21:
    case 0x28:
    case 0x29:
    case 0x30:
    case 0x31:  // mov/add/or/and/sub/xor r -> r/m
      return with_modrm(Insn::kWritesReg, 0, false);
    case 0x8a:
    case 0x8b:
    case 0x8d:
    case 0x02:
    case 0x03:
    case 0x0a:
    case 0x0b:
    case 0x22:
    case 0x23:
    case 0x2a:
    case 0x2b:
    case 0x32:
    case 0x33:  // mov/lea/add/or/and/sub/xor r/m -> r
      return with_modrm(Insn::kWritesReg, 0, true);
    case 0x04:
    case 0x0c:
    case 0x24:
    case 0x2c:
    case 0x34:  // add/or/and/sub/xor al, imm8
      return Insn{static_cast<uint32_t>(pos + 1), Insn::kWritesReg, kRax, 0, "alu"};
    case 0x05:
    case 0x0d:
    case 0x25:
    case 0x2d:
    case 0x35:  // add/or/and/sub/xor eax, imm32
      return Insn{static_cast<uint32_t>(pos + (opsize ? 2 : 4)), Insn::kWritesReg, kRax, 0, "alu"};
    case 0x3c:
      return Insn{static_cast<uint32_t>(pos + 1), Insn::kHarmless, 0, 0, "cmp"};
    case 0x3d:
      return Insn{static_cast<uint32_t>(pos + (opsize ? 2 : 4)), Insn::kHarmless, 0, 0, "cmp"};
    case 0x80:
    case 0x81:
    case 0x83: {
      if (pos >= code.size()) return std::nullopt;
      uint32_t imm = op == 0x81 ? (opsize ? 2 : 4) : 1;
      uint8_t modrm = code[pos];
      uint8_t ext = (modrm >> 3) & 7;
      if (ext == 7) return with_modrm(Insn::kHarmless, imm, false);  // cmp
      auto insn = with_modrm(Insn::kWritesReg, imm, false);
      if (insn && insn->kind == Insn::kWritesReg && insn->written == kRsp) {
        // sub $imm,%rsp reserves stack in a known step; anything else on rsp is refused.
        if (ext != 5 || !rex_w || op == 0x80) return std::nullopt;
        int64_t value = op == 0x83 ? static_cast<int8_t>(code[insn->length - 1])
                                   : static_cast<int32_t>(code[insn->length - 4] | (code[insn->length - 3] << 8) |
                                                          (code[insn->length - 2] << 16) |
                                                          (static_cast<uint32_t>(code[insn->length - 1]) << 24));
        if (value <= 0 || value % 8) return std::nullopt;
        insn->kind = Insn::kSubRsp;
        insn->sp_bytes = static_cast<uint32_t>(value);
      }
      return insn;
    }
    case 0xc1:
      return with_modrm(Insn::kWritesReg, 1, false);  // shifts by imm8
    case 0xd1:
      return with_modrm(Insn::kWritesReg, 0, false);  // shifts by 1
    case 0xf6:
    case 0xf7: {
      if (pos >= code.size() || ((code[pos] >> 3) & 7) != 0) return std::nullopt;  // only test
      return with_modrm(Insn::kHarmless, op == 0xf6 ? 1 : (opsize ? 2 : 4), false);
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

ProbeSite choose_probe_site(std::span<const uint8_t> code, uint16_t keep) {
  ProbeSite fallback{0, 0, false, "single-stepped"};
  uint32_t offset = 0, sp_bytes = 0;
  for (int i = 0; i < kMaxInstructions && offset < code.size(); ++i) {
    auto insn = decode(code.subspan(offset));
    if (!insn) break;
    if (insn->kind == Insn::kEmulated) return ProbeSite{offset, sp_bytes / 8, true, insn->name};
    if (insn->kind == Insn::kWritesReg &&
        (insn->written == kRsp || insn->written == kRbp || (keep & reg_bit(static_cast<X86Reg>(insn->written)))))
      break;
    if (insn->kind == Insn::kSubRsp) sp_bytes += insn->sp_bytes;
    offset += insn->length;
  }
  return fallback;
}

}  // namespace scorch
