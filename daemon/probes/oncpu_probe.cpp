#include "probes/oncpu_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <string>
#include <unordered_map>

#include "common/log.h"
#include "common/unique_fd.h"
#include "oncpu.h"
#include "oncpu.skel.h"
#include "probes/cpus.h"
#include "probes/map_util.h"
#include "probes/perf_event.h"
#include "probes/unwind_maps.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_filter_key) == 16);
static_assert(sizeof(scorch_oncpu_key) == 32);
static_assert(sizeof(scorch_oncpu_value) == 24);
static_assert(SCORCH_CNT_MAX <= 8);

int open_cpu_clock(int pid, int cpu, uint64_t period_ns, bool inherit) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_period = period_ns;  // cpu-clock counts nanoseconds: a fixed period in ns
  attr.inherit = inherit ? 1 : 0;
  return perf_event_open(&attr, pid, cpu);
}

}  // namespace

void OnCpuProbe::SkelDeleter::operator()(oncpu_bpf* s) const { oncpu_bpf__destroy(s); }
void OnCpuProbe::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Result<std::unique_ptr<OnCpuProbe>> OnCpuProbe::load(const UnwindMaps& unwind) {
  std::unique_ptr<OnCpuProbe> probe(new OnCpuProbe());
  probe->skel_.reset(oncpu_bpf__open());
  if (!probe->skel_) return make_errno_error("open BPF object oncpu", errno);
  if (auto r = unwind.share_with(probe->skel_->obj); !r) return r.error();
  int err = oncpu_bpf__load(probe->skel_.get());
  if (err) return make_errno_error("load BPF program oncpu", -err, "run scorchd as root (CAP_BPF and CAP_PERFMON)");
  if (!probe->skel_->bss) return Error{"map .bss of oncpu", "kernel does not support mmap-able maps", ENOTSUP, {}};
  return probe;
}

OnCpuProbe::~OnCpuProbe() {
  samplers_.clear();  // links first: detach before the program goes away
  skel_.reset();
}

Result<void> OnCpuProbe::add_sampler(uint32_t target, uint64_t period_ns) {
  uint64_t period = sampling_period(target, period_ns);
  auto key = std::make_pair(target, period);
  auto it = samplers_.find(key);
  if (it != samplers_.end()) {
    ++it->second.refs;
    return {};
  }
  Sampler sampler;
  auto r = target == kPidAny ? attach_cpus(sampler, period) : attach_threads(sampler, target, period);
  if (!r) return r;
  sampler.refs = 1;
  log::debug("on-CPU sampler period " + std::to_string(period) + " ns: " + std::to_string(sampler.links.size()) +
             (target == kPidAny ? " CPUs" : " threads of PID " + std::to_string(target)));
  samplers_.emplace(key, std::move(sampler));
  return {};
}

Result<void> OnCpuProbe::attach_cpus(Sampler& sampler, uint64_t period) {
  auto cpus = online_cpus();
  if (!cpus) return cpus.error();
  std::string skipped;
  for (uint32_t cpu : *cpus) {
    UniqueFd fd(open_cpu_clock(-1, static_cast<int>(cpu), period, false));
    if (!fd.valid()) {
      int e = errno;
      if (e == ENODEV) {  // went offline since we read the list: degrade, don't die
        skipped += " " + std::to_string(cpu);
        continue;
      }
      return make_errno_error("open cpu-clock perf event on CPU " + std::to_string(cpu), e,
                              e == EACCES || e == EPERM ? "scorchd needs root (CAP_PERFMON)" : "");
    }
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.scorch_oncpu, fd.get());
    if (!link) return make_errno_error("attach on-CPU program to CPU " + std::to_string(cpu), errno);
    fd.release();  // the link owns the perf event now
    sampler.links.emplace_back(link);
  }
  if (!skipped.empty()) log::warning("CPUs went offline while attaching, not sampled:" + skipped);
  if (sampler.links.empty()) return Error{"attach on-CPU sampler", "no online CPU could be sampled", ENODEV, {}};
  return {};
}

Result<void> OnCpuProbe::attach_threads(Sampler& sampler, uint32_t tgid, uint64_t period) {
  // Threads created while we attach are caught by a second pass (their creator may not have had
  // its inheritable event yet); threads created afterwards inherit one.
  for (int pass = 0; pass < 2; ++pass) {
    std::error_code ec;
    std::filesystem::directory_iterator dir("/proc/" + std::to_string(tgid) + "/task", ec);
    if (ec) {
      if (sampler.links.empty())
        return Error{"profile PID " + std::to_string(tgid), "no such process", ESRCH, {}};
      break;
    }
    for (const auto& entry : dir) {
      uint32_t tid = 0;
      std::string name = entry.path().filename().string();
      auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), tid);
      if (err != std::errc() || p != name.data() + name.size() || sampler.tids.count(tid)) continue;
      UniqueFd fd(open_cpu_clock(static_cast<int>(tid), -1, period, true));
      if (!fd.valid()) {
        int e = errno;
        if (e == ESRCH) continue;  // the thread exited meanwhile
        return make_errno_error("open cpu-clock perf event on thread " + std::to_string(tid), e,
                                e == EACCES || e == EPERM ? "scorchd needs root (CAP_PERFMON)" : "");
      }
      bpf_link* link = bpf_program__attach_perf_event(skel_->progs.scorch_oncpu, fd.get());
      if (!link) return make_errno_error("attach on-CPU program to thread " + std::to_string(tid), errno);
      fd.release();
      sampler.links.emplace_back(link);
      sampler.tids.insert(tid);
    }
  }
  if (sampler.links.empty()) return Error{"profile PID " + std::to_string(tgid), "no such process", ESRCH, {}};
  return {};
}

void OnCpuProbe::remove_sampler(uint32_t target, uint64_t period_ns) {
  auto it = samplers_.find({target, sampling_period(target, period_ns)});
  if (it != samplers_.end() && --it->second.refs == 0) samplers_.erase(it);
}

Result<void> OnCpuProbe::add_filter(uint32_t tgid, uint64_t period_ns) {
  auto key_pair = std::make_pair(tgid, period_ns);
  int& refs = filter_refs_[key_pair];
  if (refs++ > 0) return {};
  scorch_filter_key key{};
  key.tgid = tgid;
  key.period_ns = period_ns;
  uint8_t one = 1;
  if (bpf_map__update_elem(skel_->maps.filter, &key, sizeof(key), &one, sizeof(one), BPF_ANY) != 0) {
    int e = errno;
    filter_refs_.erase(key_pair);
    return make_errno_error("add PID " + std::to_string(tgid) + " to the kernel filter", e,
                            e == E2BIG ? "too many PIDs profiled at once" : "");
  }
  sync_fast_filter();
  return {};
}

void OnCpuProbe::sync_fast_filter() {
  // The hash map is complete already; the .bss table is rebuilt whole into the idle copy, then
  // flipped in, so a sample never sees a half-written table.
  std::vector<std::pair<uint32_t, uint64_t>> keys;
  for (const auto& [key, refs] : filter_refs_) keys.push_back(key);
  publish_filter_table(skel_->bss, keys);
}

void OnCpuProbe::remove_filter(uint32_t tgid, uint64_t period_ns) {
  auto it = filter_refs_.find({tgid, period_ns});
  if (it == filter_refs_.end() || --it->second > 0) return;
  filter_refs_.erase(it);
  scorch_filter_key key{};
  key.tgid = tgid;
  key.period_ns = period_ns;
  sync_fast_filter();  // before the hash entry goes, so no moment has neither
  bpf_map__delete_elem(skel_->maps.filter, &key, sizeof(key), 0);
}

Result<void> OnCpuProbe::drain(const std::function<void(const RawSample&)>& fn) {
  // The count goes up by one per drain (the program keys its per-CPU "already stored" memory on
  // it); its low bit selects the maps the program fills.
  uint32_t seq = skel_->bss->active_generation;
  uint32_t old = seq & 1;
  skel_->bss->active_generation = seq + 1;
  int counts_fd = bpf_map__fd(old ? skel_->maps.counts1 : skel_->maps.counts0);
  int stacks_fd = bpf_map__fd(old ? skel_->maps.stacks1 : skel_->maps.stacks0);
  int ustacks_fd = bpf_map__fd(old ? skel_->maps.ustacks1 : skel_->maps.ustacks0);

  // Stack-trace map values and unwound stacks share the layout: ips[], ended by 0.
  StackReader<int32_t, scorch_ustack> stacks(stacks_fd, lost_stacks_);
  StackReader<uint64_t, scorch_ustack> unwound(ustacks_fd, lost_stacks_);
  auto stack = [&](int32_t id) -> const std::vector<uint64_t>& {
    static const std::vector<uint64_t> none;
    return id < 0 ? none : stacks.get(id);
  };
  drain_counts<scorch_oncpu_key, scorch_oncpu_value>(counts_fd, [&](const auto& key, const auto& value) {
    RawSample s;
    s.tgid = key.tgid;
    s.period_ns = key.period_ns;
    s.comm = std::string_view(value.comm, strnlen(value.comm, sizeof(value.comm)));
    s.count = value.count;
    s.user_ips = key.user_stack_hash ? unwound.get(key.user_stack_hash) : stack(key.user_stack_id);
    s.kernel_ips = stack(key.kernel_stack_id);
    fn(s);
  });
  clear_map<int32_t>(stacks_fd);
  clear_map<uint64_t>(ustacks_fd);
  return {};
}

std::array<uint64_t, 8> OnCpuProbe::read_counters() const {
  std::array<uint64_t, 8> sums{};
  sum_percpu_counters(bpf_map__fd(skel_->maps.counters), SCORCH_CNT_MAX, sums.data());
  return sums;
}

DropCounters OnCpuProbe::counters() const {
  auto c = read_counters();
  DropCounters d;
  d.samples = c[SCORCH_CNT_SAMPLES];
  d.stack_collisions = c[SCORCH_CNT_STACK_COLLISION];
  d.stack_errors = c[SCORCH_CNT_STACK_ERROR];
  d.map_full = c[SCORCH_CNT_MAP_FULL];
  d.lost_stacks = lost_stacks_;
  return d;
}

uint32_t OnCpuProbe::program_id() const {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.scorch_oncpu), &info, &len) != 0) return 0;
  return info.id;
}

}  // namespace scorch
