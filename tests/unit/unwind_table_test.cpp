#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "fixture_util.h"
#include "symbolize/proc_maps.h"
#include "unwind/segment_map.h"
#include "unwind/table_builder.h"

namespace scorch {
namespace {

const char kLibc[] = "/lib/x86_64-linux-gnu/libc.so.6";

// ---- readelf --debug-dump=frames-interp, the oracle ----

/// One row of readelf's interpreted table: its location and the CFA, rbp and ra columns as printed
/// ("rsp+8", "exp"; "c-16", "u"; "c-8").
struct ReadelfRow {
  uint64_t loc = 0;
  std::string cfa;
  std::string rbp = "u";  // readelf prints no rbp column for FDEs that never mention rbp
  std::string ra;
};

/// One FDE as readelf prints it; rows is empty when its program only repeats the CIE's initial row.
struct ReadelfFde {
  uint64_t begin = 0;
  uint64_t end = 0;
  std::vector<ReadelfRow> rows;
  ReadelfRow cie_row;
};

// Splits at spaces, keeping "r9 (r9)" (a register rule readelf prints with the register's name) one word.
std::vector<std::string> split_words(const std::string& line) {
  std::istringstream fields(line);
  std::vector<std::string> words;
  std::string word;
  while (fields >> word) {
    if (word[0] == '(' && !words.empty()) {
      words.back() += " " + word;
    } else {
      words.push_back(word);
    }
  }
  return words;
}

// The FDEs readelf prints for section (".eh_frame" or ".debug_frame") of file, not of its separate debug file.
std::vector<ReadelfFde> readelf_fdes(const std::string& file, const std::string& section) {
  bool ran = false;
  std::string command = "readelf --debug-dump=frames-interp,no-follow-links '" + file + "' 2>/dev/null";
  std::string output = fixture::run_command(command, &ran);
  EXPECT_TRUE(ran) << "readelf failed on " << file;

  std::vector<ReadelfFde> fdes;
  std::map<std::string, ReadelfRow> cie_rows;  // by the CIE's offset as printed
  enum class Entry { kNone, kCie, kFde } entry = Entry::kNone;
  bool in_section = false;
  std::string cie_offset;
  std::vector<std::string> columns;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("Contents of the ", 0) == 0) {
      in_section = line.rfind("Contents of the " + section + " section", 0) == 0;
      entry = Entry::kNone;
      continue;
    }
    std::vector<std::string> words = split_words(line);
    if (!in_section || words.empty()) {
      entry = Entry::kNone;
      continue;
    }
    if (words.size() >= 4 && words[3] == "CIE") {
      entry = Entry::kCie;
      cie_offset = words[0];
    } else if (words.size() >= 6 && words[3] == "FDE" && words[4].rfind("cie=", 0) == 0 &&
               words[5].rfind("pc=", 0) == 0) {
      entry = Entry::kFde;
      ReadelfFde fde;
      std::string range = words[5].substr(3);
      size_t dots = range.find("..");
      fde.begin = std::stoull(range.substr(0, dots), nullptr, 16);
      fde.end = std::stoull(range.substr(dots + 2), nullptr, 16);
      fde.cie_row = cie_rows[words[4].substr(4)];
      fdes.push_back(fde);
    } else if (words[0] == "LOC") {
      columns = words;
    } else if (entry != Entry::kNone && words.size() == columns.size()) {
      ReadelfRow row;
      row.loc = std::stoull(words[0], nullptr, 16);
      for (size_t i = 1; i < words.size(); ++i) {
        if (columns[i] == "CFA") {
          row.cfa = words[i];
        } else if (columns[i] == "rbp") {
          row.rbp = words[i];
        } else if (columns[i] == "ra") {
          row.ra = words[i];
        }
      }
      if (entry == Entry::kCie) {
        cie_rows[cie_offset] = row;
      } else {
        fdes.back().rows.push_back(row);
      }
    }
  }
  return fdes;
}

// "rsp+8" -> ("rsp", 8); "r10-16" -> ("r10", -16).
std::pair<std::string, int64_t> register_and_offset(const std::string& text) {
  size_t sign = text.find_first_of("+-");
  if (sign == std::string::npos) {
    return {text, 0};
  }
  return {text.substr(0, sign), std::stoll(text.substr(sign))};
}

// Empty when the table's row at loc says what readelf's row says, else how they differ.
std::string compare_row(const UnwindTable& table, uint64_t loc, const ReadelfRow& expected) {
  const UnwindRow* row = table.lookup(loc);
  std::ostringstream why;
  why << std::hex << "0x" << loc << std::dec << " readelf {" << expected.cfa << " rbp " << expected.rbp << " ra "
      << expected.ra << "} table ";
  if (row == nullptr) {
    return why.str() + "{no info}";
  }
  why << "{" << cfa_rule_name(row->cfa) << " " << row->cfa_offset << " rbp " << rbp_rule_name(row->rbp) << " "
      << row->rbp_offset << "}";

  bool cfa_ok = false;
  if (row->cfa == CfaRule::kSignal) {
    // Every rule of a signal frame is an expression (its offsets: LibcSignalFrameMatchesReadelf).
    return expected.cfa == "exp" && expected.ra == "exp" && expected.rbp == "exp" && row->rbp == RbpRule::kOffset
               ? std::string()
               : why.str();
  }
  if (expected.ra == "u") {
    cfa_ok = row->cfa == CfaRule::kUndefined;
  } else if (expected.ra != "c-8") {
    cfa_ok = row->cfa == CfaRule::kUnsupported;
  } else if (expected.cfa == "exp") {
    cfa_ok = row->cfa == CfaRule::kPlt || row->cfa == CfaRule::kUnsupported;
  } else {
    auto [reg, offset] = register_and_offset(expected.cfa);
    if (reg == "rsp") {
      cfa_ok = row->cfa == CfaRule::kRsp && row->cfa_offset == offset;
    } else if (reg == "rbp") {
      cfa_ok = row->cfa == CfaRule::kRbp && row->cfa_offset == offset;
    } else {
      cfa_ok = row->cfa == CfaRule::kUnsupported;
    }
  }

  bool rbp_ok = false;
  if (expected.rbp == "u" || expected.rbp == "s") {
    rbp_ok = row->rbp == RbpRule::kSame;
  } else if (expected.rbp[0] == 'c') {
    rbp_ok = row->rbp == RbpRule::kOffset && row->rbp_offset == std::stoll(expected.rbp.substr(1));
  } else {
    rbp_ok = row->rbp == RbpRule::kUnsupported;  // exp, vexp, v+N, rN
  }
  return cfa_ok && rbp_ok ? std::string() : why.str();
}

/// What comparing a table with readelf found.
struct OracleResult {
  size_t fdes = 0;
  size_t rows_compared = 0;  // readelf rows (and CIE rows of FDEs without rows of their own)
  size_t expression_rows = 0;
  size_t gaps_checked = 0;
  std::vector<std::string> mismatches;
};

// Checks every row readelf prints for section at its LOC (and at the last byte of its FDE), and that
// lookups before, between and after the FDEs find no info.
OracleResult compare_with_readelf(const std::string& file, const std::string& section, const UnwindTable& table) {
  OracleResult result;
  std::vector<ReadelfFde> fdes = readelf_fdes(file, section);
  result.fdes = fdes.size();
  auto check = [&](uint64_t loc, const ReadelfRow& expected) {
    ++result.rows_compared;
    result.expression_rows += expected.cfa == "exp" ? 1 : 0;
    std::string mismatch = compare_row(table, loc, expected);
    if (!mismatch.empty()) {
      result.mismatches.push_back(mismatch);
    }
  };
  for (const ReadelfFde& fde : fdes) {
    if (fde.rows.empty()) {
      check(fde.begin, fde.cie_row);
      check(fde.end - 1, fde.cie_row);
      continue;
    }
    const ReadelfRow* last_inside = nullptr;  // readelf may print a row at the FDE's end
    for (size_t i = 0; i < fde.rows.size(); ++i) {
      const ReadelfRow& row = fde.rows[i];
      bool superseded = i + 1 < fde.rows.size() && fde.rows[i + 1].loc == row.loc;  // advance by 0
      if (!superseded && row.loc >= fde.begin && row.loc < fde.end) {
        check(row.loc, row);
        last_inside = &row;
      }
    }
    if (last_inside != nullptr) {
      check(fde.end - 1, *last_inside);
    }
  }

  std::sort(fdes.begin(), fdes.end(), [](const ReadelfFde& a, const ReadelfFde& b) { return a.begin < b.begin; });
  auto expect_no_info = [&](uint64_t pc) {
    ++result.gaps_checked;
    if (table.lookup(pc) != nullptr) {
      std::ostringstream why;
      why << std::hex << "0x" << pc << " is in no FDE but has a row";
      result.mismatches.push_back(why.str());
    }
  };
  if (!fdes.empty()) {
    expect_no_info(fdes.front().begin - 1);
    expect_no_info(fdes.back().end);
  }
  for (size_t i = 0; i + 1 < fdes.size(); ++i) {
    if (fdes[i].end < fdes[i + 1].begin) {
      expect_no_info(fdes[i].end);
      expect_no_info(fdes[i + 1].begin - 1);
    }
  }
  return result;
}

void expect_matches_readelf(const std::string& file, const std::string& section, const UnwindTable& table,
                            OracleResult* out = nullptr) {
  SCOPED_TRACE(file + " " + section);
  OracleResult result = compare_with_readelf(file, section, table);
  EXPECT_GT(result.rows_compared, 0u);
  EXPECT_EQ(result.fdes, table.stats.fdes);
  EXPECT_EQ(table.stats.skipped_fdes, 0u);
  EXPECT_EQ(table.stats.bad_cfi_rows, 0u);
  EXPECT_TRUE(result.mismatches.empty()) << result.mismatches.size() << " of " << result.rows_compared
                                         << " rows differ from readelf";
  for (size_t i = 0; i < result.mismatches.size() && i < 20; ++i) {
    ADD_FAILURE() << result.mismatches[i];
  }
  std::printf("[ oracle   ] %s %s: %zu FDEs, %zu rows compared (%zu exp), %zu gap lookups, %zu mismatches\n",
              file.c_str(), section.c_str(), result.fdes, result.rows_compared, result.expression_rows,
              result.gaps_checked, result.mismatches.size());
  if (out != nullptr) {
    *out = result;
  }
}

// ---- helpers ----

std::optional<UnwindTable> table_or_fail(const std::string& file) {
  auto table = build_unwind_table(file);
  EXPECT_TRUE(table.ok()) << table.error().message();
  if (!table.ok()) {
    return std::nullopt;
  }
  return std::move(table).value();
}

// The rows that start inside [begin, begin + size).
std::vector<UnwindRow> rows_in(const UnwindTable& table, uint64_t begin, uint64_t size) {
  std::vector<UnwindRow> rows;
  for (const UnwindRow& row : table.rows) {
    if (table.pc(row) >= begin && table.pc(row) < begin + size) {
      rows.push_back(row);
    }
  }
  return rows;
}

fixture::NmSymbol symbol(const std::string& file, const std::string& name) {
  for (const fixture::NmSymbol& sym : fixture::nm_symbols(file)) {
    if (sym.name == name) {
      return sym;
    }
  }
  ADD_FAILURE() << name << " not in " << file;
  return {};
}

bool has_row(const std::vector<UnwindRow>& rows, CfaRule cfa, int32_t cfa_offset) {
  return std::any_of(rows.begin(), rows.end(),
                     [&](const UnwindRow& row) { return row.cfa == cfa && row.cfa_offset == cfa_offset; });
}

void expect_well_formed(const UnwindTable& table) {
  ASSERT_GE(table.rows.size(), 2u);
  EXPECT_EQ(table.rows.front().pc_offset, 0u);
  EXPECT_EQ(table.rows.back().cfa, CfaRule::kNoInfo);
  for (size_t i = 1; i < table.rows.size(); ++i) {
    const UnwindRow& a = table.rows[i - 1];
    const UnwindRow& b = table.rows[i];
    ASSERT_LT(a.pc_offset, b.pc_offset) << "row " << i;
    bool same_rules = a.cfa == b.cfa && a.cfa_offset == b.cfa_offset && a.rbp == b.rbp && a.rbp_offset == b.rbp_offset;
    EXPECT_FALSE(same_rules) << "rows " << i - 1 << " and " << i << " were not merged";
  }
  EXPECT_GE(table.memory_bytes(), table.rows.size() * sizeof(UnwindRow));
}

// ---- the fixture without frame pointers ----

TEST(UnwindTable, FixtureMatchesReadelf) {
  std::string file = fixture::path("fixture_unwind");
  auto table = table_or_fail(file);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->section, CfiSection::kEhFrame);
  expect_well_formed(*table);
  OracleResult result;
  expect_matches_readelf(file, ".eh_frame", *table, &result);
  EXPECT_GT(result.expression_rows, 0u);  // the PLT and the realigned function
  EXPECT_GT(result.gaps_checked, 2u);
}

TEST(UnwindTable, FixtureFunctionShapes) {
  std::string file = fixture::path("fixture_unwind");
  auto table = table_or_fail(file);
  ASSERT_TRUE(table);

  fixture::NmSymbol leaf = symbol(file, "unwind_leaf");
  const UnwindRow* row = table->lookup(leaf.address);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->cfa, CfaRule::kRsp);
  EXPECT_EQ(row->cfa_offset, 8);
  EXPECT_EQ(row->rbp, RbpRule::kSame);

  // Callee-saved pushes, rbp among them, without a frame pointer.
  fixture::NmSymbol pushes = symbol(file, "unwind_pushes");
  std::vector<UnwindRow> rows = rows_in(*table, pushes.address, pushes.size);
  EXPECT_TRUE(has_row(rows, CfaRule::kRsp, 56));
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const UnwindRow& r) { return r.rbp == RbpRule::kOffset; }));
  EXPECT_FALSE(std::any_of(rows.begin(), rows.end(), [](const UnwindRow& r) { return r.cfa == CfaRule::kRbp; }));

  // alloca and optimize("no-omit-frame-pointer") give rbp-based CFAs with rbp saved at CFA-16.
  for (const char* name : {"unwind_alloca", "unwind_frame_pointer"}) {
    SCOPED_TRACE(name);
    fixture::NmSymbol fn = symbol(file, name);
    rows = rows_in(*table, fn.address, fn.size);
    EXPECT_TRUE(has_row(rows, CfaRule::kRbp, 16));
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(),
                            [](const UnwindRow& r) { return r.rbp == RbpRule::kOffset && r.rbp_offset == -16; }));
  }

  // A frame beyond 16-bit offsets.
  fixture::NmSymbol big = symbol(file, "unwind_big_frame");
  EXPECT_TRUE(has_row(rows_in(*table, big.address, big.size), CfaRule::kRsp, 40016));

  // Stack realignment through r10 and expressions: not for the BPF unwinder.
  fixture::NmSymbol realigned = symbol(file, "unwind_realigned");
  rows = rows_in(*table, realigned.address, realigned.size);
  EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [](const UnwindRow& r) { return r.cfa == CfaRule::kUnsupported; }));
  EXPECT_GT(table->stats.unsupported_cfa, 0u);

  // _start marks the return address undefined: the outermost frame.
  fixture::NmSymbol start = symbol(file, "_start");
  row = table->lookup(start.address);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->cfa, CfaRule::kUndefined);

  // The PLT's CFA expression, with ld's threshold.
  auto plt =
      std::find_if(table->rows.begin(), table->rows.end(), [](const UnwindRow& r) { return r.cfa == CfaRule::kPlt; });
  ASSERT_NE(plt, table->rows.end());
  EXPECT_GT(plt->cfa_offset, 0);
  EXPECT_LT(plt->cfa_offset, 16);
}

TEST(UnwindTable, BuildIdMatchesReadelf) {
  for (const std::string& file : {fixture::path("fixture_unwind"), std::string(kLibc)}) {
    SCOPED_TRACE(file);
    auto table = table_or_fail(file);
    ASSERT_TRUE(table);
    std::string expected = fixture::readelf_build_id(file);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(table->build_id, expected);
  }
}

TEST(UnwindTable, FdVariantGivesTheSameTable) {
  std::string file = fixture::path("fixture_unwind");
  auto by_path = table_or_fail(file);
  ASSERT_TRUE(by_path);
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  auto by_fd = build_unwind_table_fd(fd.get(), file);
  ASSERT_TRUE(by_fd.ok()) << by_fd.error().message();
  EXPECT_EQ(by_fd->build_id, by_path->build_id);
  EXPECT_EQ(by_fd->base_pc, by_path->base_pc);
  EXPECT_EQ(by_fd->rows, by_path->rows);
}

TEST(UnwindTable, DebugFrameWhenThereIsNoEhFrame) {
  std::string file = fixture::path("fixture_unwind_debug_frame");
  auto table = table_or_fail(file);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->section, CfiSection::kDebugFrame);
  expect_well_formed(*table);
  expect_matches_readelf(file, ".debug_frame", *table);
  fixture::NmSymbol big = symbol(file, "unwind_big_frame");
  EXPECT_TRUE(has_row(rows_in(*table, big.address, big.size), CfaRule::kRsp, 40016));
  // The C runtime's code was only described by the removed .eh_frame.
  EXPECT_EQ(table->lookup(symbol(file, "_start").address), nullptr);
}

// ---- the C library ----

TEST(UnwindTable, LibcMatchesReadelf) {
  auto table = table_or_fail(kLibc);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->section, CfiSection::kEhFrame);
  expect_well_formed(*table);
  OracleResult result;
  expect_matches_readelf(kLibc, ".eh_frame", *table, &result);
  EXPECT_GT(result.rows_compared, 10000u);
  const UnwindTableStats& stats = table->stats;
  std::printf("[ libc     ] %zu rows, %zu FDEs, %zu unsupported CFA rows, %zu unsupported rbp rows, %llu bytes\n",
              table->rows.size(), stats.fdes, stats.unsupported_cfa, stats.unsupported_rbp,
              static_cast<unsigned long long>(table->memory_bytes()));
  EXPECT_LT(stats.unsupported_cfa * 100, table->rows.size());  // under 1%
  EXPECT_EQ(stats.offsets_too_large, 0u);
}

// The kernel's vdso (clock_gettime and friends): the daemon copies its own image to build the
// table every x86-64 process's [vdso] mapping unwinds with; here the copy goes to a file, for readelf.
TEST(UnwindTable, VdsoMatchesReadelf) {
  const auto start = ::getauxval(AT_SYSINFO_EHDR);
  if (start == 0) GTEST_SKIP() << "the kernel maps no vdso into this process";
  auto maps = read_proc_maps(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(maps) << maps.error().message();
  auto vdso = std::find_if(maps->begin(), maps->end(), [&](const MapEntry& m) { return m.start == start; });
  ASSERT_NE(vdso, maps->end());
  char path[] = "/tmp/scorch-vdso-XXXXXX";
  UniqueFd fd(::mkstemp(path));
  ASSERT_TRUE(fd.valid());
  const uint64_t bytes = vdso->end - vdso->start;
  ASSERT_EQ(::write(fd.get(), reinterpret_cast<const void*>(start), bytes), static_cast<ssize_t>(bytes));
  auto table = table_or_fail(path);
  ASSERT_TRUE(table);
  expect_well_formed(*table);
  OracleResult result;
  expect_matches_readelf(path, ".eh_frame", *table, &result);
  EXPECT_GT(result.fdes, 0u) << "the vdso has no .eh_frame FDEs";
  std::printf("[ vdso     ] %zu FDEs, %zu rows\n", result.fdes, table->rows.size());
  ::unlink(path);
}

/// A signal frame FDE as `readelf --debug-dump=frames` prints its program: the CFA expression's
/// offset (DW_OP_breg7 N; DW_OP_deref) and where rip and rbp are saved (DW_OP_breg7 M); -1: absent.
struct ReadelfSignalFde {
  uint64_t begin = 0, end = 0;
  int64_t cfa_rsp_slot = -1, rip_slot = -1, rbp_slot = -1;
};

// The FDEs of file's .eh_frame whose CIE has the "S" (signal frame) augmentation.
std::vector<ReadelfSignalFde> readelf_signal_fdes(const std::string& file) {
  bool ran = false;
  std::string output =
      fixture::run_command("readelf --debug-dump=frames,no-follow-links '" + file + "' 2>/dev/null", &ran);
  EXPECT_TRUE(ran) << "readelf failed on " << file;
  std::vector<ReadelfSignalFde> fdes;
  std::map<std::string, bool> signal_cies;  // by offset
  std::string cie;
  bool in_signal_fde = false;
  auto slot_after = [](const std::string& line, const std::string& marker) -> int64_t {
    size_t at = line.find(marker);
    return at == std::string::npos ? -1 : std::stoll(line.substr(at + marker.size()));
  };
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> words = split_words(line);
    if (words.size() >= 4 && words[3] == "CIE") {
      cie = words[0];
      in_signal_fde = false;
    } else if (words.size() >= 2 && words[0] == "Augmentation:") {
      signal_cies[cie] = words[1].find('S') != std::string::npos;
    } else if (words.size() >= 6 && words[3] == "FDE" && words[5].rfind("pc=", 0) == 0) {
      in_signal_fde = signal_cies[words[4].substr(4)];
      if (in_signal_fde) {
        std::string range = words[5].substr(3);
        size_t dots = range.find("..");
        fdes.push_back(
            {std::stoull(range.substr(0, dots), nullptr, 16), std::stoull(range.substr(dots + 2), nullptr, 16)});
      }
    } else if (in_signal_fde && line.find("DW_CFA_def_cfa_expression (DW_OP_breg7 (rsp): ") != std::string::npos &&
               line.find("; DW_OP_deref)") != std::string::npos) {
      fdes.back().cfa_rsp_slot = slot_after(line, "(DW_OP_breg7 (rsp): ");
    } else if (in_signal_fde && line.find("DW_CFA_expression: r16 (rip) ") != std::string::npos) {
      fdes.back().rip_slot = slot_after(line, "(DW_OP_breg7 (rsp): ");
    } else if (in_signal_fde && line.find("DW_CFA_expression: r6 (rbp) ") != std::string::npos) {
      fdes.back().rbp_slot = slot_after(line, "(DW_OP_breg7 (rsp): ");
    }
  }
  return fdes;
}

// glibc's __restore_rt: its rules are DWARF expressions over the kernel's rt_sigframe, which the
// table keeps as one kSignal row (rsp's slot, rbp's slot; rip's is rsp's + 8), over the whole FDE.
TEST(UnwindTable, LibcSignalFrameMatchesReadelf) {
  auto table = table_or_fail(kLibc);
  ASSERT_TRUE(table);
  std::vector<ReadelfSignalFde> fdes = readelf_signal_fdes(kLibc);
  ASSERT_FALSE(fdes.empty()) << "readelf lists no signal frame FDE in " << kLibc;
  for (const ReadelfSignalFde& fde : fdes) {
    ASSERT_GE(fde.cfa_rsp_slot, 0) << std::hex << fde.begin;
    ASSERT_EQ(fde.rip_slot, fde.cfa_rsp_slot + 8) << std::hex << fde.begin;
    for (uint64_t pc : {fde.begin, fde.end - 1}) {
      const UnwindRow* row = table->lookup(pc);
      ASSERT_NE(row, nullptr) << std::hex << pc;
      EXPECT_EQ(row->cfa, CfaRule::kSignal) << std::hex << pc << " " << cfa_rule_name(row->cfa);
      EXPECT_EQ(row->cfa_offset, fde.cfa_rsp_slot) << std::hex << pc;
      EXPECT_EQ(row->rbp, fde.rbp_slot >= 0 ? RbpRule::kOffset : RbpRule::kSame) << std::hex << pc;
      if (fde.rbp_slot >= 0) {
        EXPECT_EQ(row->rbp_offset, fde.rbp_slot) << std::hex << pc;
      }
    }
  }
  std::printf("[ libc     ] %zu signal frame FDEs, rsp saved at rsp+%lld\n", fdes.size(),
              static_cast<long long>(fdes[0].cfa_rsp_slot));
}

// ---- errors ----

TEST(UnwindTable, NoCallFrameInformation) {
  std::string file = fixture::path("fixture_unwind_no_cfi");
  ASSERT_EQ(::access(file.c_str(), R_OK), 0) << file;
  auto table = build_unwind_table(file);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().what, "build unwind table for " + file);
  EXPECT_EQ(table.error().reason, "no .eh_frame or .debug_frame section");
  EXPECT_FALSE(table.error().hint.empty());
}

TEST(UnwindTable, NotAnElfFile) {
  char name[] = "/tmp/scorch_unwind_test_XXXXXX";
  UniqueFd fd(::mkstemp(name));
  ASSERT_TRUE(fd.valid());
  const char text[] = "#!/bin/sh\necho not an ELF file\n";
  ASSERT_EQ(::write(fd.get(), text, sizeof(text) - 1), static_cast<ssize_t>(sizeof(text) - 1));
  auto table = build_unwind_table(name);
  ::unlink(name);
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().what, std::string("build unwind table for ") + name);
  EXPECT_EQ(table.error().reason, "not an ELF file");
}

TEST(UnwindTable, MissingFile) {
  auto table = build_unwind_table("/nonexistent/libnothing.so");
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.error().err, ENOENT);
  EXPECT_NE(table.error().message().find("/nonexistent/libnothing.so"), std::string::npos);
}

}  // namespace
}  // namespace scorch

// ---- LLD's layout: the executable segment's p_vaddr != p_offset ----

namespace scorch {
namespace {

/// The PT_LOAD lines of `readelf -lW file`, the oracle for program headers.
std::vector<SegmentHeader> readelf_load_segments(const std::string& file) {
  bool ran = false;
  std::string output = fixture::run_command("readelf -lW '" + file + "' 2>/dev/null", &ran);
  EXPECT_TRUE(ran) << "readelf -lW failed on " << file;
  std::vector<SegmentHeader> segments;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    std::string word;
    while (fields >> word) words.push_back(word);
    if (words.size() < 8 || words[0] != "LOAD") continue;
    SegmentHeader seg;
    seg.offset = std::stoull(words[1], nullptr, 16);
    seg.vaddr = std::stoull(words[2], nullptr, 16);
    seg.filesz = std::stoull(words[4], nullptr, 16);
    seg.memsz = std::stoull(words[5], nullptr, 16);
    for (size_t i = 6; i + 1 < words.size(); ++i) {  // "R E": the flags may take two words
      seg.flags |= (words[i].find('R') != std::string::npos ? PF_R : 0) |
                   (words[i].find('W') != std::string::npos ? PF_W : 0) |
                   (words[i].find('E') != std::string::npos ? PF_X : 0);
    }
    segments.push_back(seg);
  }
  return segments;
}

constexpr uint64_t kPage = 4096;

/// A mapping as the kernel's ELF loader makes it for one PT_LOAD segment loaded at base.
struct KernelMapping {
  uint64_t start = 0, end = 0, offset = 0;
};
KernelMapping kernel_mapping(const SegmentHeader& seg, uint64_t base) {
  KernelMapping m;
  m.start = base + (seg.vaddr & ~(kPage - 1));
  m.end = base + ((seg.vaddr + seg.filesz + kPage - 1) & ~(kPage - 1));
  m.offset = seg.offset - (seg.vaddr & (kPage - 1));
  return m;
}

const char* kLldSkip = "not built: clang or ld.lld is missing (packaging/install-deps.sh --test installs lld)";

class UnwindLld : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    file_ = fixture::path(GetParam());
    if (::access(file_.c_str(), R_OK) != 0) GTEST_SKIP() << file_ << " " << kLldSkip;
  }
  std::string file_;
};

// The table's program headers are readelf's, and the fixture has the layout it stands for.
TEST_P(UnwindLld, SegmentsAndRowsMatchReadelf) {
  auto table = table_or_fail(file_);
  ASSERT_TRUE(table);
  std::vector<SegmentHeader> expected = readelf_load_segments(file_);
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(table->segments, expected);
  bool lld_layout = std::any_of(expected.begin(), expected.end(), [](const SegmentHeader& s) {
    return (s.flags & PF_X) != 0 && s.vaddr != s.offset && s.vaddr - s.offset >= kPage;
  });
  EXPECT_TRUE(lld_layout) << file_ << ": no executable segment with p_vaddr a page or more past p_offset";
  expect_well_formed(*table);
  expect_matches_readelf(file_, ".eh_frame", *table);
}

// Every row readelf prints, looked up from the address it has in a process: the mapping the kernel
// makes for the executable segment, placed through the program headers, leads to the same row.
TEST_P(UnwindLld, RuntimeAddressesFindReadelfRows) {
  auto table = table_or_fail(file_);
  ASSERT_TRUE(table);
  const bool pie = std::string(GetParam()).find("nopie") == std::string::npos;
  const uint64_t base = pie ? 0x7f3a12340000ull : 0;         // where a PIE is loaded; a fixed address otherwise
  std::vector<std::pair<KernelMapping, uint64_t>> mappings;  // with the bias they get
  for (const SegmentHeader& seg : readelf_load_segments(file_)) {
    if ((seg.flags & PF_X) == 0) continue;
    KernelMapping m = kernel_mapping(seg, base);
    auto vaddr = mapping_start_vaddr(table->segments, m.offset, m.end - m.start, true, kPage);
    ASSERT_TRUE(vaddr.has_value()) << std::hex << "mapping at offset 0x" << m.offset;
    mappings.emplace_back(m, m.start - *vaddr);
  }
  ASSERT_FALSE(mappings.empty());
  size_t rows = 0;
  std::vector<std::string> mismatches;
  for (const ReadelfFde& fde : readelf_fdes(file_, ".eh_frame")) {
    std::vector<std::pair<uint64_t, ReadelfRow>> checks;
    if (fde.rows.empty()) {
      checks.emplace_back(fde.begin, fde.cie_row);
    }
    for (size_t i = 0; i < fde.rows.size(); ++i) {
      bool superseded = i + 1 < fde.rows.size() && fde.rows[i + 1].loc == fde.rows[i].loc;
      if (!superseded && fde.rows[i].loc >= fde.begin && fde.rows[i].loc < fde.end) {
        checks.emplace_back(fde.rows[i].loc, fde.rows[i]);
      }
    }
    for (const auto& [loc, expected] : checks) {
      const uint64_t runtime_pc = base + loc;
      auto m = std::find_if(mappings.begin(), mappings.end(),
                            [&](const auto& mb) { return runtime_pc >= mb.first.start && runtime_pc < mb.first.end; });
      if (m == mappings.end()) {
        std::ostringstream why;
        why << std::hex << "0x" << loc << " is in no executable mapping";
        mismatches.push_back(why.str());
        continue;
      }
      ++rows;
      std::string mismatch = compare_row(*table, runtime_pc - m->second, expected);
      if (!mismatch.empty()) mismatches.push_back(mismatch);
    }
  }
  EXPECT_GT(rows, 10u);
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " of " << rows << " rows differ, first: " << mismatches[0];
  std::printf("[ lld      ] %s: %zu rows found from runtime addresses, %zu mismatches\n", GetParam(), rows,
              mismatches.size());
}

// The real loader: the running fixture says where two functions were loaded; its executable
// mapping in /proc/PID/maps, placed through the program headers, gives nm's addresses and the rows
// readelf shows there.
TEST_P(UnwindLld, RunningProgramsMappingGivesNmAddresses) {
  auto table = table_or_fail(file_);
  ASSERT_TRUE(table);
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(to_child[0], STDIN_FILENO);
    ::dup2(from_child[1], STDOUT_FILENO);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::execl(file_.c_str(), file_.c_str(), "wait", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  std::string line;
  char c = 0;
  while (::read(from_child[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  std::string maps_text = fixture::run_command("cat /proc/" + std::to_string(pid) + "/maps");
  ::close(to_child[1]);  // EOF: the fixture exits
  ::close(from_child[0]);
  ::waitpid(pid, nullptr, 0);

  uint64_t leaf = 0, pushes = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "ready leaf=%" SCNx64 " pushes=%" SCNx64, &leaf, &pushes), 2) << line;
  std::vector<MapEntry> maps = parse_proc_maps(maps_text);
  char real[PATH_MAX];
  ASSERT_NE(::realpath(file_.c_str(), real), nullptr);
  for (const auto& [runtime, name] : {std::pair{leaf, "unwind_leaf"}, std::pair{pushes, "unwind_pushes"}}) {
    SCOPED_TRACE(name);
    const MapEntry* m = find_mapping(maps, runtime);
    ASSERT_NE(m, nullptr) << std::hex << "0x" << runtime << " in no mapping of\n" << maps_text;
    EXPECT_EQ(m->path, real);
    EXPECT_TRUE(m->executable());
    auto vaddr = mapping_start_vaddr(table->segments, m->offset, m->end - m->start, m->executable(), kPage);
    ASSERT_TRUE(vaddr.has_value());
    const uint64_t elf_pc = runtime - (m->start - *vaddr);
    EXPECT_EQ(elf_pc, symbol(file_, name).address) << std::hex << "mapping offset 0x" << m->offset;
    const UnwindRow* row = table->lookup(elf_pc);
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->cfa, CfaRule::kRsp);  // at a function's first instruction: CFA = rsp+8
    EXPECT_EQ(row->cfa_offset, 8);
  }
}

INSTANTIATE_TEST_SUITE_P(Linkers, UnwindLld, ::testing::Values("fixture_unwind_lld", "fixture_unwind_lld_nopie"));

// GNU ld's layout (p_vaddr == p_offset), the C library's: each mapping the kernel makes starts at
// its segment's page-rounded p_vaddr, and readelf's rows are found from runtime addresses.
TEST(UnwindSegments, GnuLdLayoutOfLibc) {
  auto table = table_or_fail(kLibc);
  ASSERT_TRUE(table);
  EXPECT_EQ(table->segments, readelf_load_segments(kLibc));
  size_t executable = 0;
  for (const SegmentHeader& seg : table->segments) {
    KernelMapping m = kernel_mapping(seg, 0x7f0000000000ull);
    bool x = (seg.flags & PF_X) != 0;
    auto vaddr = mapping_start_vaddr(table->segments, m.offset, m.end - m.start, x, kPage);
    ASSERT_TRUE(vaddr.has_value());
    EXPECT_EQ(*vaddr, seg.vaddr & ~(kPage - 1));
    executable += x ? 1 : 0;
  }
  EXPECT_EQ(executable, 1u);
}

// What no segment covers, or a segment the loader could not map, gives no address.
TEST(UnwindSegments, NoSegmentNoAddress) {
  auto table = table_or_fail(fixture::path("fixture_unwind"));
  ASSERT_TRUE(table);
  uint64_t end = 0;
  for (const SegmentHeader& seg : table->segments) end = std::max(end, seg.offset + seg.filesz);
  EXPECT_FALSE(mapping_start_vaddr(table->segments, (end + kPage) & ~(kPage - 1), kPage, true, kPage).has_value());
  std::vector<SegmentHeader> skewed = table->segments;  // p_vaddr and p_offset no longer congruent
  for (SegmentHeader& seg : skewed) seg.vaddr += 8;
  for (const SegmentHeader& seg : table->segments) {
    KernelMapping m = kernel_mapping(seg, 0);
    EXPECT_FALSE(mapping_start_vaddr(skewed, m.offset, m.end - m.start, false, kPage).has_value());
  }
  EXPECT_FALSE(mapping_start_vaddr(table->segments, 0, kPage, true, 3000).has_value()) << "not a power of two";
}

}  // namespace
}  // namespace scorch
