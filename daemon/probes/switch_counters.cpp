#include "probes/switch_counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "probes/cpus.h"
#include "probes/map_util.h"
#include "stat.h"
#include "stat.skel.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_stat_key) == 8);
static_assert(sizeof(scorch_stat_value) == 3 * 8 * SCORCH_STAT_MAX_EVENTS + SCORCH_COMM_LEN);

}  // namespace

void SwitchCounters::SkelDeleter::operator()(stat_bpf* s) const { stat_bpf__destroy(s); }
void SwitchCounters::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Result<std::unique_ptr<SwitchCounters>> SwitchCounters::start(const Options& o, const std::string& what) {
  if (o.events.empty() || o.events.size() > SCORCH_STAT_MAX_EVENTS)
    return Error{what, "between 1 and " + std::to_string(SCORCH_STAT_MAX_EVENTS) + " events at once", EINVAL, {}};
  if (o.tgids.size() > SCORCH_STAT_TARGET_ENTRIES)
    return Error{what, "more than " + std::to_string(SCORCH_STAT_TARGET_ENTRIES) + " processes", E2BIG, {}};
  for (const auto& ev : o.events)
    if (auto r = check_perf_event(ev, what); !r) return r.error();
  auto cpus = online_cpus();
  if (!cpus) return cpus.error();
  const int possible = libbpf_num_possible_cpus();
  if (possible <= 0) return make_errno_error("count the CPUs", -possible);

  std::unique_ptr<SwitchCounters> c(new SwitchCounters());
  c->events_ = o.events.size();
  c->cpus_ = *cpus;
  c->skel_.reset(stat_bpf__open());
  if (!c->skel_) return make_errno_error("open BPF object stat", errno);
  c->skel_->rodata->nr_events = static_cast<uint32_t>(o.events.size());
  c->skel_->rodata->nr_cpus = static_cast<uint32_t>(possible);
  c->skel_->rodata->all_tasks = o.tgids.empty() ? 1 : 0;
  c->skel_->rodata->per_thread = o.per_thread ? 1 : 0;
  bpf_map__set_max_entries(c->skel_->maps.counters, static_cast<uint32_t>(o.events.size() * possible));
  bpf_map__set_max_entries(c->skel_->maps.totals, o.max_tasks ? o.max_tasks : 1);
  if (int err = stat_bpf__load(c->skel_.get()))
    return make_errno_error(
        "load BPF program stat", -err,
        "counting per task needs tp_btf and bpf_perf_event_read_value (Linux 5.5 or later with BTF)");

  const int counters_fd = bpf_map__fd(c->skel_->maps.counters);
  for (size_t e = 0; e < o.events.size(); ++e)
    for (uint32_t cpu : c->cpus_) {
      UniqueFd fd(open_counting_event(o.events[e], -1, static_cast<int>(cpu), false));
      if (!fd.valid()) {
        if (errno == ENODEV) continue;  // went offline meanwhile: its readings fail and are counted
        return counter_open_error(o.events[e], what, errno);
      }
      const uint32_t index = static_cast<uint32_t>(e * possible + cpu);
      const uint32_t value = static_cast<uint32_t>(fd.get());
      if (bpf_map_update_elem(counters_fd, &index, &value, BPF_ANY) != 0)
        return make_errno_error(
            "add the counter of " + std::string(o.events[e].name) + " on CPU " + std::to_string(cpu), errno);
      c->fds_.push_back(std::move(fd));
    }
  const uint8_t one = 1;
  for (uint32_t tgid : o.tgids)
    if (bpf_map_update_elem(bpf_map__fd(c->skel_->maps.targets), &tgid, &one, BPF_ANY) != 0)
      return make_errno_error("add PID " + std::to_string(tgid) + " to the counting filter", errno);

  bpf_link* link = bpf_program__attach(c->skel_->progs.scorch_stat_switch);
  if (!link) return make_errno_error("attach the counting program to sched_switch", errno);
  c->link_.reset(link);
  c->read_running();  // each CPU's first readings: the count starts here
  return c;
}

SwitchCounters::~SwitchCounters() {
  link_.reset();
  skel_.reset();
}

void SwitchCounters::read_running() const {
  const int fd = bpf_program__fd(skel_->progs.scorch_stat_read);
  for (uint32_t cpu : cpus_) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = cpu);
    (void)bpf_prog_test_run_opts(fd, &opts);  // an offline CPU: its task was charged when it left
  }
}

void SwitchCounters::remove_target(uint32_t tgid) { bpf_map_delete_elem(bpf_map__fd(skel_->maps.targets), &tgid); }

void SwitchCounters::stop() {
  if (!link_) return;
  read_running();
  link_.reset();
}

std::vector<SwitchCounters::TaskCounts> SwitchCounters::read() const {
  std::vector<TaskCounts> out;
  const int fd = bpf_map__fd(skel_->maps.totals);
  for (const auto& key : all_keys<scorch_stat_key>(fd)) {
    scorch_stat_value v{};
    if (bpf_map_lookup_elem(fd, &key, &v) != 0) continue;
    TaskCounts t;
    t.tgid = key.tgid;
    t.tid = key.tid;
    t.comm.assign(v.comm, strnlen(v.comm, sizeof(v.comm)));
    for (size_t e = 0; e < events_; ++e) t.readings.push_back(CounterReading{v.counter[e], v.enabled[e], v.running[e]});
    out.push_back(std::move(t));
  }
  return out;
}

SwitchCounters::Counters SwitchCounters::counters() const {
  uint64_t sums[SCORCH_STAT_MAX] = {};
  sum_percpu_counters(bpf_map__fd(skel_->maps.stats), SCORCH_STAT_MAX, sums);
  return Counters{sums[SCORCH_STAT_SWITCHES], sums[SCORCH_STAT_CHARGED], sums[SCORCH_STAT_MAP_FULL],
                  sums[SCORCH_STAT_READ_ERROR]};
}

}  // namespace scorch
