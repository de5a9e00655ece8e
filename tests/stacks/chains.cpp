#include "chains.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <sstream>

#include "symbolize/demangle.h"

namespace scorch::stacks {

namespace {

constexpr std::string_view kKernelSuffix = "_[k]";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string_view basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_hex(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// "4005.127461:" -> seconds; false when the token is not a perf time stamp.
bool parse_time(std::string_view tok, double* out) {
  if (!tok.ends_with(':')) return false;
  tok.remove_suffix(1);
  if (tok.empty() || tok.find('.') == std::string_view::npos) return false;
  for (char c : tok)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
  *out = std::strtod(std::string(tok).c_str(), nullptr);
  return true;
}

// The header of one perf script record: tid and time (comm may hold spaces, so find the time).
bool parse_header(std::string_view line, uint32_t* tid, double* time) {
  std::vector<std::string_view> toks = split_ws(line);
  for (size_t i = 1; i < toks.size(); ++i) {
    if (!parse_time(toks[i], time)) continue;
    std::string_view t = toks[i - 1];
    size_t slash = t.find('/');  // pid/tid when -F pid,tid
    if (slash != std::string_view::npos) t = t.substr(slash + 1);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *tid);
    return ec == std::errc() && p == t.data() + t.size();
  }
  return false;
}

}  // namespace

void Chains::add(Chain chain, double w) {
  if (chain.empty() || w <= 0) return;
  weight[std::move(chain)] += w;
  total += w;
}

std::string normalize_frame(std::string_view name, std::string_view dso) {
  name = trim(name);
  if (name.empty() || name == "[unknown]" || name == "[anon]") {
    if (dso.empty() || dso == "[unknown]" || dso.starts_with("//anon") || dso.starts_with("[anon")) return "[unknown]";
    if (dso.front() == '[') return std::string(dso);  // [vdso]
    return "[" + std::string(basename(dso)) + "]";
  }
  if (dso == "[vdso]") return "[vdso]";  // scorch names no symbol of the vdso
  size_t plus = name.rfind("+0x");
  if (plus != std::string_view::npos && is_hex(name.substr(plus + 3))) {
    if (dso.empty()) return "[" + std::string(basename(name.substr(0, plus))) + "]";  // scorch: file+offset
    name = name.substr(0, plus);                                                      // perf: symbol+offset
  }
  size_t at = name.find('@');  // memcpy@@GLIBC_2.14, malloc@plt
  std::string_view plt;
  if (at != std::string_view::npos && at > 0) {
    if (name.substr(at) == "@plt") plt = "@plt";
    name = name.substr(0, at);
  }
  std::string out = demangle(name);
  // One function, several names (glibc: writev, __writev, __GI___writev; malloc, __libc_malloc):
  // the tools pick different aliases, so both sides drop the alias prefixes.
  for (std::string_view prefix : {"__GI_", "__libc_"})
    if (out.starts_with(prefix) && out.size() > prefix.size()) out.erase(0, prefix.size());
  size_t underscores = out.find_first_not_of('_');
  if (underscores != std::string::npos) out.erase(0, underscores);
  out += plt;
  return out;
}

Chains parse_folded(std::istream& in) {
  Chains chains;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = trim(line);
    size_t sp = l.rfind(' ');
    if (sp == std::string_view::npos) continue;
    double w = std::strtod(std::string(l.substr(sp + 1)).c_str(), nullptr);
    std::string_view stack = l.substr(0, sp);
    Chain chain;
    bool first = true;
    size_t i = 0;
    while (i <= stack.size()) {
      size_t j = stack.find(';', i);
      if (j == std::string_view::npos) j = stack.size();
      std::string_view f = stack.substr(i, j - i);
      if (!first && !f.ends_with(kKernelSuffix) && !f.empty() && !f.starts_with("[off-cpu"))
        chain.push_back(normalize_frame(f));
      first = false;  // the comm
      i = j + 1;
    }
    chains.records += static_cast<uint64_t>(w + 0.5);  // folded lines carry counts
    chains.add(std::move(chain), w);
  }
  return chains;
}

std::vector<SwitchIn> parse_switch_ins(std::istream& in, double* last_time) {
  std::vector<SwitchIn> out;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string_view> toks = split_ws(line);
    double t = 0;
    bool have_time = false;
    for (std::string_view tok : toks) {
      if (!have_time && parse_time(tok, &t)) {
        have_time = true;
        if (last_time && t > *last_time) *last_time = t;
      } else if (have_time && tok.starts_with("next_pid=")) {
        std::string_view v = tok.substr(9);
        uint32_t tid = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), tid);
        if (ec == std::errc() && tid != 0) out.push_back({tid, t});
      }
    }
  }
  return out;
}

Chains parse_perf_script(std::istream& in, const std::vector<SwitchIn>* switch_ins, double end_time) {
  struct Record {
    uint32_t tid;
    double time;
    Chain chain;  // root first
  };
  std::vector<Record> records;
  Chain leaf_first;
  uint32_t tid = 0;
  double time = 0;
  bool in_record = false;
  auto flush = [&] {
    if (!in_record) return;
    in_record = false;
    records.push_back({tid, time, Chain(leaf_first.rbegin(), leaf_first.rend())});
    leaf_first.clear();
  };
  std::string line;
  while (std::getline(in, line)) {
    if (trim(line).empty()) {
      flush();
      continue;
    }
    if (line[0] != ' ' && line[0] != '\t') {
      flush();
      in_record = parse_header(line, &tid, &time);
      continue;
    }
    if (!in_record) continue;
    // "\t    3d251 symbol (dso)"
    std::string_view l = trim(line);
    size_t sp = l.find(' ');
    if (sp == std::string_view::npos) continue;
    std::string_view ip_text = l.substr(0, sp);
    std::string_view rest = trim(l.substr(sp + 1));
    if (rest.ends_with("(inlined)")) continue;  // folded into the function that contains it
    uint64_t ip = 0;
    std::from_chars(ip_text.data(), ip_text.data() + ip_text.size(), ip, 16);
    if (ip >= 0x800000000000ull) continue;  // kernel, or the end of a cut-off chain
    std::string_view sym = rest, dso;
    size_t open = rest.rfind(" (");
    if (open != std::string_view::npos && rest.ends_with(')')) {
      sym = rest.substr(0, open);
      dso = rest.substr(open + 2, rest.size() - open - 3);
    } else if (rest.starts_with('(') && rest.ends_with(')')) {
      sym = {};
      dso = rest.substr(1, rest.size() - 2);
    }
    if (dso == "[kernel.kallsyms]" || dso.starts_with("[kernel")) continue;
    leaf_first.push_back(normalize_frame(sym, dso.empty() ? std::string_view("[unknown]") : dso));
  }
  flush();

  Chains chains;
  chains.records = records.size();
  if (!switch_ins) {
    for (Record& r : records) chains.add(std::move(r.chain), 1);
    return chains;
  }
  // A block lasts until its thread is switched back in; perf drops events under load, so never
  // past the thread's next switch-out either (it ran in between).
  std::map<uint32_t, std::vector<double>> ins, outs;
  for (const SwitchIn& s : *switch_ins) ins[s.tid].push_back(s.time);
  for (const Record& r : records) outs[r.tid].push_back(r.time);
  for (auto* m : {&ins, &outs})
    for (auto& [t, times] : *m) std::sort(times.begin(), times.end());
  for (Record& r : records) {
    double until = std::max(end_time, r.time);
    for (const std::vector<double>* times : {&ins[r.tid], &outs[r.tid]}) {
      auto it = std::upper_bound(times->begin(), times->end(), r.time);
      if (it != times->end()) until = std::min(until, *it);
    }
    chains.add(std::move(r.chain), (until - r.time) * 1e6);
  }
  return chains;
}

Chains only_leaf(const Chains& chains, const std::string& leaf) {
  Chains out;
  out.records = chains.records;
  for (const auto& [chain, w] : chains.weight)
    if (!chain.empty() && chain.back() == leaf) out.add(chain, w);
  return out;
}

namespace {

size_t common_from_leaf(const Chain& a, const Chain& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[a.size() - 1 - n] == b[b.size() - 1 - n]) ++n;
  return n;
}

double mean_depth(const Chains& c) {
  double frames = 0;
  for (const auto& [chain, w] : c.weight) frames += w * static_cast<double>(chain.size());
  return c.total > 0 ? frames / c.total : 0;
}

// A frame one tool could not name: `[libx.so]` (not [unknown], which is outside any file).
bool unnamed_in_file(const std::string& f) {
  return f.size() > 2 && f.front() == '[' && f != "[unknown]" && f != "[vdso]";
}

bool has_unnamed(const Chain& c) { return std::any_of(c.begin(), c.end(), unnamed_in_file); }

bool same_but_names(const Chain& a, const Chain& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && !unnamed_in_file(a[i]) && !unnamed_in_file(b[i])) return false;
  return true;
}

// Re-keys each chain of `from` that has unnamed frames and is not in `to` as the heaviest chain of
// `to` it equals but for those names. Only a chain with unnamed frames of its own is re-keyed: were
// a named chain re-keyed as the other tool's unnamed one, that unnamed chain would then take the
// other tool's named chains in turn (one wrong unwind of Go's signal trampoline once took 42% of
// the samples that way).
void rekey(Chains& from, const Chains& to) {
  Chains out;
  out.records = from.records;
  for (auto& [chain, w] : from.weight) {
    const Chain* match = nullptr;
    double best = 0;
    if (!to.weight.count(chain)) {
      for (const auto& [other, ow] : to.weight) {
        if (ow > best && has_unnamed(chain) && same_but_names(chain, other)) {
          match = &other;
          best = ow;
        }
      }
    }
    out.add(match ? *match : chain, w);
  }
  from = std::move(out);
}

}  // namespace

void reconcile_names(Chains& scorch, Chains& perf) {
  rekey(perf, scorch);
  rekey(scorch, perf);
}

void allow_fp_leaf_skip(Chains& scorch, const Chains& perf) {
  // A leaf without a frame makes perf skip its caller in every sample of that leaf, so the choice
  // is made per leaf function: skipped or not, whichever agrees more with perf.
  auto share = [](const Chains& side, const Chain& chain) {
    auto it = side.weight.find(chain);
    return it == side.weight.end() || side.total <= 0 ? 0.0 : it->second / side.total;
  };
  auto skipped = [](const Chain& chain) {
    Chain out = chain;
    if (out.size() >= 2) out.erase(out.end() - 2);  // the leaf's caller
    return out;
  };
  std::map<std::string, std::pair<double, double>> by_leaf;  // leaf -> overlap as is, skipped
  for (const auto& [chain, w] : scorch.weight) {
    double s = scorch.total > 0 ? w / scorch.total : 0;
    auto& [as_is, skip] = by_leaf[chain.back()];
    as_is += std::min(s, share(perf, chain));
    skip += std::min(s, share(perf, skipped(chain)));
  }
  Chains out;
  out.records = scorch.records;
  for (const auto& [chain, w] : scorch.weight) {
    const auto& [as_is, skip] = by_leaf[chain.back()];
    out.add(skip > as_is ? skipped(chain) : chain, w);
  }
  scorch = std::move(out);
}

Comparison compare(const Chains& scorch, const Chains& perf, size_t worst) {
  Comparison c;
  c.scorch_total = scorch.total;
  c.perf_total = perf.total;
  c.scorch_records = scorch.records;
  c.perf_records = perf.records;
  c.scorch_distinct = scorch.weight.size();
  c.perf_distinct = perf.weight.size();
  c.scorch_mean_depth = mean_depth(scorch);
  c.perf_mean_depth = mean_depth(perf);
  auto share = [](const Chains& side, const Chain& chain) {
    auto it = side.weight.find(chain);
    return it == side.weight.end() || side.total <= 0 ? 0.0 : it->second / side.total;
  };
  std::set<Chain> all;
  for (const auto& [chain, w] : scorch.weight) all.insert(chain);
  for (const auto& [chain, w] : perf.weight) all.insert(chain);
  std::vector<Difference> diffs;
  for (const Chain& chain : all) {
    double s = share(scorch, chain), p = share(perf, chain);
    c.overlap += std::min(s, p);
    if (s > 0 && p > 0) {
      ++c.common_distinct;
      c.scorch_seen += s;
      c.perf_seen += p;
    }
    Difference d;
    d.chain = chain;
    d.perf_side = p >= s;
    d.perf_share = p;
    d.scorch_share = s;
    diffs.push_back(std::move(d));
  }
  std::sort(diffs.begin(), diffs.end(), [](const Difference& a, const Difference& b) {
    return std::abs(a.perf_share - a.scorch_share) > std::abs(b.perf_share - b.scorch_share);
  });
  for (Difference& d : diffs) {
    if (c.worst.size() >= worst || std::abs(d.perf_share - d.scorch_share) < 0.005) break;
    const Chains& other = d.perf_side ? scorch : perf;
    if (other.weight.count(d.chain)) {  // the same chain on both sides: only the shares differ
      c.worst.push_back(std::move(d));
      continue;
    }
    size_t best_common = 0;
    double best_weight = 0;
    for (const auto& [chain, w] : other.weight) {
      if (chain == d.chain) continue;
      size_t common = common_from_leaf(chain, d.chain);
      if (common == 0) continue;
      if (common > best_common || (common == best_common && w > best_weight)) {
        best_common = common;
        best_weight = w;
        d.closest = chain;
      }
    }
    d.closest_share = other.total > 0 ? best_weight / other.total : 0;
    d.first_diff = best_common;
    c.worst.push_back(std::move(d));
  }
  return c;
}

std::string join(const Chain& chain) {
  std::string out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (!out.empty()) out += " <- ";
    out += *it;
  }
  return out.empty() ? "(no frames)" : out;
}

namespace {

std::string pct(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string frame_at(const Chain& chain, size_t from_leaf) {
  return from_leaf < chain.size() ? "'" + chain[chain.size() - 1 - from_leaf] + "'" : "(end of stack)";
}

}  // namespace

std::string render(const Comparison& c, const std::string& title) {
  std::ostringstream o;
  o << title << "\n";
  o << "samples: scorch " << c.scorch_records << " (weight " << num(c.scorch_total) << "), perf " << c.perf_records
    << " (weight " << num(c.perf_total) << ")\n";
  o << "distinct chains: scorch " << c.scorch_distinct << ", perf " << c.perf_distinct << ", in both "
    << c.common_distinct << "\n";
  o << "frames per chain: scorch " << num(c.scorch_mean_depth) << ", perf " << num(c.perf_mean_depth) << "\n";
  o << "chains equal to perf's: " << pct(c.overlap) << " (sum over chains of the smaller of the two shares)\n";
  o << "samples whose chain the other tool has too: scorch " << pct(c.scorch_seen) << ", perf " << pct(c.perf_seen)
    << " (shares aside)\n";
  if (!c.worst.empty()) o << "worst stacks (leaf first):\n";
  for (const Difference& d : c.worst) {
    o << "  perf " << pct(d.perf_share) << ", scorch " << pct(d.scorch_share) << " ("
      << (d.perf_side ? "perf's" : "scorch's") << " chain): " << join(d.chain) << "\n";
    const char* other = d.perf_side ? "scorch" : "perf";
    if (d.perf_share > 0 && d.scorch_share > 0) {
      o << "    the same chain on both sides: only the shares differ\n";
      continue;
    }
    if (d.closest.empty()) {
      o << "    " << other << " has no chain with this leaf\n";
      continue;
    }
    const Chain& perf_chain = d.perf_side ? d.chain : d.closest;
    const Chain& scorch_chain = d.perf_side ? d.closest : d.chain;
    o << "    " << other << "'s closest (" << pct(d.closest_share) << "): " << join(d.closest) << "\n";
    o << "    first difference at frame " << d.first_diff << " from the leaf: perf "
      << frame_at(perf_chain, d.first_diff) << ", scorch " << frame_at(scorch_chain, d.first_diff) << "\n";
  }
  o << "overlap_pct " << num(c.overlap * 100) << "\n";
  o << "scorch_seen_pct " << num(c.scorch_seen * 100) << "\n";
  o << "perf_seen_pct " << num(c.perf_seen * 100) << "\n";
  o << "scorch_samples " << c.scorch_records << "\n";
  o << "perf_samples " << c.perf_records << "\n";
  o << "scorch_depth " << num(c.scorch_mean_depth) << "\n";
  o << "perf_depth " << num(c.perf_mean_depth) << "\n";
  return o.str();
}

}  // namespace scorch::stacks
