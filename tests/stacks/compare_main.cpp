// stacks_compare: scorch's folded stacks against `perf script` call chains (see tests/stacks/compare.sh).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "chains.h"

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "scorch: failed to parse arguments: %s\n"
               "usage: stacks_compare --scorch FOLDED --perf PERF_SCRIPT [--switch-ins PERF_SCRIPT] [--leaf NAME]\n"
               "                      [--title TEXT] [--worst N] [--dump DIR] [--fp-oracle]\n",
               why);
  return 2;
}

bool open_in(const std::string& path, std::ifstream& in) {
  in.open(path);
  if (!in) std::fprintf(stderr, "scorch: failed to open %s: %s\n", path.c_str(), std::strerror(errno));
  return static_cast<bool>(in);
}

void dump(const scorch::stacks::Chains& chains, const std::string& path) {
  std::ofstream out(path);
  for (const auto& [chain, w] : chains.weight) {
    std::string line;
    for (const std::string& f : chain) line += (line.empty() ? "" : ";") + f;
    out << line << ' ' << static_cast<uint64_t>(w + 0.5) << '\n';
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string scorch_path, perf_path, switch_path, leaf, title = "scorch vs perf", dump_dir;
  size_t worst = 5;
  bool fp_oracle = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--fp-oracle") {
      fp_oracle = true;
      continue;
    }
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    std::string v = argv[++i];
    if (a == "--scorch")
      scorch_path = v;
    else if (a == "--perf")
      perf_path = v;
    else if (a == "--switch-ins")
      switch_path = v;
    else if (a == "--leaf")
      leaf = v;
    else if (a == "--title")
      title = v;
    else if (a == "--dump")
      dump_dir = v;
    else if (a == "--worst")
      worst = std::stoul(v);
    else
      return usage(("unknown option " + a).c_str());
  }
  if (scorch_path.empty() || perf_path.empty()) return usage("--scorch and --perf are required");

  std::ifstream scorch_in, perf_in, switch_in;
  if (!open_in(scorch_path, scorch_in) || !open_in(perf_path, perf_in)) return 1;
  scorch::stacks::Chains scorch = scorch::stacks::parse_folded(scorch_in);
  scorch::stacks::Chains perf;
  if (!switch_path.empty()) {
    if (!open_in(switch_path, switch_in)) return 1;
    double end = 0;
    std::vector<scorch::stacks::SwitchIn> ins = scorch::stacks::parse_switch_ins(switch_in, &end);
    perf = scorch::stacks::parse_perf_script(perf_in, &ins, end);
  } else {
    perf = scorch::stacks::parse_perf_script(perf_in);
  }
  if (!leaf.empty()) {
    scorch = scorch::stacks::only_leaf(scorch, leaf);
    perf = scorch::stacks::only_leaf(perf, leaf);
  }
  scorch::stacks::reconcile_names(scorch, perf);
  if (fp_oracle) scorch::stacks::allow_fp_leaf_skip(scorch, perf);
  if (!dump_dir.empty()) {
    dump(scorch, dump_dir + "/scorch.chains");
    dump(perf, dump_dir + "/perf.chains");
  }
  std::cout << scorch::stacks::render(scorch::stacks::compare(scorch, perf, worst), title);
  return 0;
}
