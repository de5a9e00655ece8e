#include "probes/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "common/unique_fd.h"
#include "probes/perf_event.h"

namespace scorch {
namespace {

// r0 = 0; exit: the smallest program every verifier accepts.
const struct bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

FeatureResult yes(Feature f, const char* name, std::string detail) { return {f, name, true, std::move(detail)}; }
FeatureResult no(Feature f, const char* name, std::string detail) { return {f, name, false, std::move(detail)}; }

bool file_exists(const char* path) {
  struct stat st;
  return ::stat(path, &st) == 0;
}

int read_int_file(const char* path) {
  std::ifstream in(path);
  int v = -1;
  in >> v;
  return in ? v : -1;
}

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

FeatureResult probe_btf(const btf* vmlinux) {
  if (!file_exists("/sys/kernel/btf/vmlinux"))
    return no(Feature::kBtf, "btf", "/sys/kernel/btf/vmlinux missing (kernel built without CONFIG_DEBUG_INFO_BTF)");
  if (!vmlinux) return no(Feature::kBtf, "btf", "vmlinux BTF present but could not be parsed");
  return yes(Feature::kBtf, "btf", "/sys/kernel/btf/vmlinux");
}

FeatureResult probe_prog_type(Feature f, const char* name, bpf_prog_type type) {
  int r = libbpf_probe_bpf_prog_type(type, nullptr);
  if (r == 1) return yes(f, name, "program type loads");
  return no(f, name, r == 0 ? "program type not supported" : "probe failed: " + errno_text(r));
}

FeatureResult probe_map_type(Feature f, const char* name, bpf_map_type type) {
  int r = libbpf_probe_bpf_map_type(type, nullptr);
  if (r == 1) return yes(f, name, "map type supported");
  return no(f, name, r == 0 ? "map type not supported" : "probe failed: " + errno_text(r));
}

FeatureResult probe_perf(Feature f, const char* name, uint32_t type, uint64_t config) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = type;
  attr.config = config;
  attr.sample_period = 1000000000;
  attr.disabled = 1;
  UniqueFd fd(perf_event_open(&attr, -1, 0));
  if (fd.valid()) return yes(f, name, "perf_event_open succeeds");
  int err = errno;
  std::string why = errno_text(err);
  if (err == ENOENT || err == EOPNOTSUPP)
    why += " (no such PMU event on this machine, e.g. a VM without a virtual PMU)";
  return no(f, name, why);
}

FeatureResult probe_batch_ops() {
  const char* name = "batch_map_ops";
  UniqueFd map(bpf_map_create(BPF_MAP_TYPE_HASH, "scorch_probe", 4, 8, 4, nullptr));
  if (!map.valid()) return no(Feature::kBatchMapOps, name, "cannot create a hash map: " + errno_text(errno));
  uint32_t keys[4], out_batch = 0, count = 4;
  uint64_t values[4];
  int r = bpf_map_lookup_batch(map.get(), nullptr, &out_batch, keys, values, &count, nullptr);
  int err = r < 0 ? errno : 0;
  // An empty map answers ENOENT when batching works; EINVAL/ENOTSUPP when it does not.
  if (r == 0 || err == ENOENT) return yes(Feature::kBatchMapOps, name, "bpf_map_lookup_batch works");
  return no(Feature::kBatchMapOps, name, "bpf_map_lookup_batch: " + errno_text(err));
}

FeatureResult probe_tracing(Feature f, const char* name, const btf* vmlinux, bpf_attach_type attach, const char* target,
                            int kind) {
  if (!vmlinux) return no(f, name, "needs kernel BTF");
  int id = btf__find_by_name_kind(vmlinux, target, kind);
  if (id < 0) return no(f, name, std::string("BTF has no ") + target);
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = static_cast<__u32>(id));
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_TRACING, "scorch_probe", "GPL", kReturnZero, 2, &opts));
  if (!prog.valid()) return no(f, name, std::string("program load fails: ") + errno_text(errno));
  UniqueFd link(bpf_raw_tracepoint_open(nullptr, prog.get()));
  if (!link.valid()) return no(f, name, std::string("attach fails: ") + errno_text(errno));
  return yes(f, name, std::string("attached to ") + target);
}

FeatureResult probe_raw_tp() {
  const char* name = "raw_tracepoint";
  UniqueFd prog(bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "scorch_probe", "GPL", kReturnZero, 2, nullptr));
  if (!prog.valid()) return no(Feature::kRawTracepoint, name, "program load fails: " + errno_text(errno));
  UniqueFd link(bpf_raw_tracepoint_open("sched_switch", prog.get()));
  if (!link.valid()) return no(Feature::kRawTracepoint, name, "attach fails: " + errno_text(errno));
  return yes(Feature::kRawTracepoint, name, "attached to sched_switch");
}

// kprobes and uprobes are reached through their perf PMUs (no tracefs needed).
FeatureResult probe_probe_pmu(Feature f, const char* name, const char* pmu, bool uprobe) {
  std::string type_path = std::string("/sys/bus/event_source/devices/") + pmu + "/type";
  int type = read_int_file(type_path.c_str());
  if (type < 0)
    return no(f, name,
              std::string("no ") + pmu + " PMU in /sys/bus/event_source/devices (kernel built without CONFIG_" +
                  (uprobe ? "UPROBE_EVENTS" : "KPROBES") + "?)");
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = static_cast<uint32_t>(type);
  std::string target;
  if (uprobe) {
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return no(f, name, "cannot resolve /proc/self/exe");
    target.assign(exe, static_cast<size_t>(n));
    attr.config1 = reinterpret_cast<uint64_t>(target.c_str());  // uprobe_path
    attr.config2 = 0;                                           // probe_offset: the ELF header, never executed
  } else {
    target = "do_nanosleep";
    attr.config1 = reinterpret_cast<uint64_t>(target.c_str());  // kprobe_func
  }
  UniqueFd fd(perf_event_open(&attr, -1, 0));
  if (!fd.valid()) return no(f, name, std::string("perf_event_open on the ") + pmu + " PMU: " + errno_text(errno));
  return yes(f, name, std::string("via the ") + pmu + " PMU");
}

// libbpf finds a tracepoint's id in tracefs: /sys/kernel/tracing, else debugfs's tracing/. Where
// neither is mounted (a VM's minimal init; systemd mounts it on most machines), scorchd mounts it.
FeatureResult probe_tracefs() {
  const char* name = "tracefs";
  struct stat st {};
  if (::stat("/sys/kernel/tracing/events", &st) == 0) return yes(Feature::kTracefs, name, "/sys/kernel/tracing");
  if (::stat("/sys/kernel/debug/tracing/events", &st) == 0)
    return yes(Feature::kTracefs, name, "/sys/kernel/debug/tracing");
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
      ::stat("/sys/kernel/tracing/events", &st) == 0)
    return yes(Feature::kTracefs, name, "/sys/kernel/tracing (it was not mounted: scorchd mounted it)");
  return no(Feature::kTracefs, name,
            "not mounted, and mounting it on /sys/kernel/tracing failed: " + errno_text(errno) +
                " (tracepoints by name, syscalls:sys_enter_futex among them, are then missing)");
}

}  // namespace

Features Features::from(std::vector<FeatureResult> results) {
  Features f;
  f.results_ = std::move(results);
  return f;
}

Features Features::probe() {
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  std::vector<FeatureResult> r;
  r.push_back(probe_btf(vmlinux.get()));
  r.push_back(probe_prog_type(Feature::kPerfEventProg, "perf_event_prog", BPF_PROG_TYPE_PERF_EVENT));
  r.push_back(probe_perf(Feature::kPerfSoftware, "perf_sw_cpu_clock", PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK));
  r.push_back(probe_perf(Feature::kPerfHardware, "perf_hw_cycles", PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES));
  r.push_back(probe_map_type(Feature::kStackTraceMap, "stack_trace_map", BPF_MAP_TYPE_STACK_TRACE));
  r.push_back(probe_map_type(Feature::kRingBuffer, "ring_buffer", BPF_MAP_TYPE_RINGBUF));
  r.push_back(probe_batch_ops());
  r.push_back(probe_tracing(Feature::kTpBtf, "tp_btf", vmlinux.get(), BPF_TRACE_RAW_TP, "btf_trace_sched_switch",
                            BTF_KIND_TYPEDEF));
  r.push_back(probe_raw_tp());
  r.push_back(probe_probe_pmu(Feature::kUprobes, "uprobes", "uprobe", true));
  r.push_back(probe_probe_pmu(Feature::kKprobes, "kprobes", "kprobe", false));
  r.push_back(
      probe_tracing(Feature::kFentry, "fentry", vmlinux.get(), BPF_TRACE_FENTRY, "do_nanosleep", BTF_KIND_FUNC));
  r.push_back(probe_tracefs());
  return from(std::move(r));
}

bool Features::has(Feature f) const {
  for (const auto& r : results_)
    if (r.feature == f) return r.available;
  return false;
}

const FeatureResult& Features::get(Feature f) const {
  for (const auto& r : results_)
    if (r.feature == f) return r;
  static const FeatureResult missing{Feature::kCount, "unknown", false, "not probed"};
  return missing;
}

std::vector<std::string> Features::report() const {
  std::vector<std::string> lines;
  for (const auto& r : results_) {
    std::string name = r.name;
    name.resize(std::max<size_t>(name.size(), 18), ' ');
    lines.push_back(name + (r.available ? "yes  " : "no   ") + r.detail);
  }
  return lines;
}

}  // namespace scorch
