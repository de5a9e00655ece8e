#include "probes/oncpu_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>

#include "common/log.h"
#include "common/unique_fd.h"
#include "oncpu.h"
#include "oncpu.skel.h"
#include "probes/cpus.h"
#include "probes/map_util.h"
#include "probes/perf_event.h"
#include "common/proc_tasks.h"
#include "probes/unwind_maps.h"
#include "proto/perf_events.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_filter_key) == 8);
static_assert(sizeof(scorch_oncpu_key) == 24);
static_assert(sizeof(scorch_oncpu_value) == 32);
static_assert(SCORCH_CNT_MAX <= 8);

/// The event as perf names it ("cpu-clock", "cache-misses"), or its type and config.
std::string event_name(const SamplerEvent& e) {
  for (const proto::PerfEventDef& def : proto::perf_events())
    if (def.type == e.type && def.config == e.config) return std::string(def.name);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "type %u config 0x%llx", e.type, static_cast<unsigned long long>(e.config));
  return buf;
}

/// "cpu-clock perf event (every 10101010 ns)", for messages.
std::string describe(const SamplerEvent& e) {
  bool clock =
      e.type == PERF_TYPE_SOFTWARE && (e.config == PERF_COUNT_SW_CPU_CLOCK || e.config == PERF_COUNT_SW_TASK_CLOCK);
  if (e.freq) return event_name(e) + " perf event (" + std::to_string(e.period) + " samples/s)";
  return event_name(e) + " perf event (every " + std::to_string(e.period) + (clock ? " ns)" : " events)");
}

/// What to tell the user when perf_event_open of this event fails with err.
std::string open_hint(const SamplerEvent& e, int err) { return perf_open_hint(e.type, err, true); }

int open_event(const SamplerEvent& e, int pid, int cpu, bool inherit) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = e.type;
  attr.config = e.config;
  attr.sample_period = e.period;  // a fixed count of events (ns for the clocks), or with freq:
  attr.freq = e.freq ? 1 : 0;     // samples per second (the union's sample_freq)
  attr.inherit = inherit ? 1 : 0;
  return perf_event_open(&attr, pid, cpu);
}

}  // namespace

SamplerEvent SamplerEvent::cpu_clock(uint64_t period_ns) {
  return SamplerEvent{PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, period_ns};
}

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

Result<uint32_t> OnCpuProbe::add_sampler(uint32_t target, const SamplerEvent& event) {
  if (event.period == 0)
    return Error{"start a sampler of " + event_name(event), "a sampling period of 0 events", EINVAL, {}};
  auto key = std::make_pair(target, event);
  if (auto it = samplers_.find(key); it != samplers_.end()) {
    ++it->second.refs;
    return it->second.id;
  }
  if (next_id_ == 0) return Error{"start a sampler of " + event_name(event), "sampler ids ran out", EOVERFLOW, {}};
  Sampler sampler;
  sampler.id = next_id_++;
  // The filter entry goes in first: the events' first samples must not be dropped.
  if (auto r = add_filter(target, sampler.id); !r) return r.error();
  auto r = target == kPidAny ? attach_cpus(sampler, event) : attach_threads(sampler, target, event);
  if (!r) {
    sampler.links.clear();
    remove_filter(target, sampler.id);
    return r.error();
  }
  sampler.refs = 1;
  log::debug("on-CPU sampler " + std::to_string(sampler.id) + ", " + describe(event) + ": " +
             std::to_string(sampler.links.size()) +
             (target == kPidAny ? " CPUs" : " threads of PID " + std::to_string(target)));
  uint32_t id = sampler.id;
  samplers_.emplace(key, std::move(sampler));
  return id;
}

Result<void> OnCpuProbe::attach(Sampler& sampler, int perf_fd, const std::string& where) {
  // A BPF link (not the ioctl) carries the cookie: the program reads it with bpf_get_attach_cookie().
  LIBBPF_OPTS(bpf_perf_event_opts, opts);
  opts.bpf_cookie = sampler.id;
  bpf_link* link = bpf_program__attach_perf_event_opts(skel_->progs.scorch_oncpu, perf_fd, &opts);
  if (!link) {
    int e = errno;
    return make_errno_error("attach on-CPU program to " + where, e,
                            e == EOPNOTSUPP ? "the kernel has no BPF perf links (attach cookies need Linux 5.15)" : "");
  }
  sampler.links.emplace_back(link);
  return {};
}

Result<void> OnCpuProbe::attach_cpus(Sampler& sampler, const SamplerEvent& event) {
  auto cpus = online_cpus();
  if (!cpus) return cpus.error();
  std::string skipped;
  int skipped_errno = 0;
  for (uint32_t cpu : *cpus) {
    UniqueFd fd(open_event(event, -1, static_cast<int>(cpu), false));
    if (!fd.valid()) {
      int e = errno;
      if (e == ENODEV) {  // went offline since we read the list: degrade, don't die
        skipped += " " + std::to_string(cpu);
        skipped_errno = e;
        continue;
      }
      return make_errno_error("open " + describe(event) + " on CPU " + std::to_string(cpu), e, open_hint(event, e));
    }
    if (auto r = attach(sampler, fd.get(), "CPU " + std::to_string(cpu)); !r) return r;
    fd.release();  // the link owns the perf event now
  }
  if (sampler.links.empty())
    return make_errno_error("open " + describe(event) + " on any online CPU", skipped_errno ? skipped_errno : ENODEV,
                            open_hint(event, skipped_errno ? skipped_errno : ENODEV));
  if (!skipped.empty()) log::warning("CPUs went offline while attaching, not sampled:" + skipped);
  return {};
}

Result<void> OnCpuProbe::attach_threads(Sampler& sampler, uint32_t tgid, const SamplerEvent& event) {
  // Threads created while we attach are caught by a second pass (their creator may not have had
  // its inheritable event yet); threads created afterwards inherit one. An inherited event has no
  // cookie of its own: the program takes its parent's (sampler_id in oncpu.bpf.c).
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<uint32_t> tids = thread_ids(tgid);
    if (tids.empty()) {
      if (sampler.links.empty()) return Error{"profile PID " + std::to_string(tgid), "no such process", ESRCH, {}};
      break;
    }
    for (uint32_t tid : tids) {
      if (sampler.tids.count(tid)) continue;
      UniqueFd fd(open_event(event, static_cast<int>(tid), -1, true));
      if (!fd.valid()) {
        int e = errno;
        if (e == ESRCH) continue;  // the thread exited meanwhile
        return make_errno_error("open " + describe(event) + " on thread " + std::to_string(tid), e,
                                open_hint(event, e));
      }
      if (auto r = attach(sampler, fd.get(), "thread " + std::to_string(tid)); !r) return r;
      fd.release();
      sampler.tids.insert(tid);
    }
  }
  if (sampler.links.empty()) return Error{"profile PID " + std::to_string(tgid), "no such process", ESRCH, {}};
  return {};
}

void OnCpuProbe::remove_sampler(uint32_t target, const SamplerEvent& event) {
  auto it = samplers_.find({target, event});
  if (it == samplers_.end() || --it->second.refs > 0) return;
  uint32_t id = it->second.id;
  samplers_.erase(it);  // the events stop first; what they left in the maps carries an id nobody has
  remove_filter(target, id);
}

Result<void> OnCpuProbe::add_filter(uint32_t tgid, uint32_t sampler) {
  scorch_filter_key key{};
  key.tgid = tgid;
  key.sampler = sampler;
  uint8_t one = 1;
  if (bpf_map__update_elem(skel_->maps.filter, &key, sizeof(key), &one, sizeof(one), BPF_ANY) != 0) {
    int e = errno;
    return make_errno_error("add PID " + std::to_string(tgid) + " to the kernel filter", e,
                            e == E2BIG ? "too many PIDs profiled at once" : "");
  }
  filter_keys_.emplace(tgid, sampler);
  sync_fast_filter();
  return {};
}

void OnCpuProbe::sync_fast_filter() {
  // The hash map is complete already; the .bss table is rebuilt whole into the idle copy, then
  // flipped in, so a sample never sees a half-written table.
  publish_filter_table(skel_->bss,
                       std::vector<std::pair<uint32_t, uint32_t>>(filter_keys_.begin(), filter_keys_.end()));
}

void OnCpuProbe::remove_filter(uint32_t tgid, uint32_t sampler) {
  if (filter_keys_.erase({tgid, sampler}) == 0) return;
  scorch_filter_key key{};
  key.tgid = tgid;
  key.sampler = sampler;
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
    s.sampler = key.sampler;
    s.comm = std::string_view(value.comm, strnlen(value.comm, sizeof(value.comm)));
    s.count = value.count;
    s.weight = value.weight;
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
  d.add("stack_collisions", c[SCORCH_CNT_STACK_COLLISION]);
  d.add("stack_errors", c[SCORCH_CNT_STACK_ERROR]);
  d.add("map_full", c[SCORCH_CNT_MAP_FULL]);
  d.add("lost_stacks", lost_stacks_);
  return d;
}

uint32_t OnCpuProbe::program_id() const {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.scorch_oncpu), &info, &len) != 0) return 0;
  return info.id;
}

}  // namespace scorch
