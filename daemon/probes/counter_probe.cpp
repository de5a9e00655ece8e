#include "probes/counter_probe.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/proc_tasks.h"
#include "probes/cpus.h"
#include "probes/perf_event.h"

namespace scorch {
namespace {

bool is_hardware(uint32_t type) { return type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE; }

/// Why perf_event_open of ev failed with err, as the user should read it, and what to do.
Error open_error(const proto::PerfEventDef& ev, const std::string& what, int err) {
  const std::string because = std::strerror(err);
  if (is_hardware(ev.type) && (err == ENOENT || err == ENODEV || err == EOPNOTSUPP))
    return Error{what, "this machine has no hardware PMU (" + std::string(ev.name) + ": " + because + ")", err,
                 "usual in a VM without a virtual PMU (QEMU/KVM: -cpu host; clouds: an instance type with PMU "
                 "access); software events still work: scorch list"};
  if (err == EACCES || err == EPERM) return Error{what, because, err, "scorchd needs root (CAP_PERFMON)"};
  if (err == ENOENT || err == EINVAL)
    return Error{what, "the kernel does not know this event (" + because + ")", err, "scorch list shows what works"};
  return make_errno_error(what, err);
}

int open_counter(const proto::PerfEventDef& ev, int pid, int cpu, bool inherit) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = ev.type;
  attr.config = ev.config;
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.inherit = inherit ? 1 : 0;
  return perf_event_open(&attr, pid, cpu);
}

}  // namespace

uint64_t CounterReading::scaled() const {
  if (running_ns == 0 || running_ns >= enabled_ns) return value;
  return static_cast<uint64_t>(static_cast<unsigned __int128>(value) * enabled_ns / running_ns);
}

Result<void> check_perf_event(const proto::PerfEventDef& ev, const std::string& what) {
  UniqueFd fd(open_counter(ev, 0, -1, false));
  if (!fd.valid()) return open_error(ev, what, errno);
  return {};
}

Result<void> CounterGroup::open_thread(uint32_t tid, bool must) {
  std::vector<Fd> opened;
  for (size_t i = 0; i < events_.size(); ++i) {
    UniqueFd fd(open_counter(events_[i], static_cast<int>(tid), -1, true));
    if (!fd.valid()) {
      const int e = errno;
      if (e == ESRCH && !must) return {};  // it exited meanwhile
      return open_error(events_[i], "count " + std::string(events_[i].name) + " of thread " + std::to_string(tid), e);
    }
    opened.push_back(Fd{i, tid, std::move(fd)});
  }
  for (auto& f : opened) fds_.push_back(std::move(f));
  tids_.insert(std::upper_bound(tids_.begin(), tids_.end(), tid), tid);
  return {};
}

Result<CounterGroup> CounterGroup::open(uint32_t tgid, std::vector<proto::PerfEventDef> events,
                                        const std::string& what) {
  CounterGroup g;
  g.tgid_ = tgid;
  g.events_ = std::move(events);
  for (const auto& ev : g.events_)
    if (auto r = check_perf_event(ev, what); !r) return r.error();
  if (tgid == kPidAny) {
    auto cpus = online_cpus();
    if (!cpus) return cpus.error();
    for (uint32_t cpu : *cpus)
      for (size_t i = 0; i < g.events_.size(); ++i) {
        UniqueFd fd(open_counter(g.events_[i], -1, static_cast<int>(cpu), false));
        if (!fd.valid()) {
          if (errno == ENODEV) continue;  // went offline meanwhile
          return open_error(g.events_[i], what, errno);
        }
        g.fds_.push_back(Fd{i, cpu, std::move(fd)});
      }
    return g;
  }
  const std::vector<uint32_t> tids = thread_ids(tgid);
  if (tids.empty()) return Error{what, "no such process", ESRCH, {}};
  for (uint32_t tid : tids)
    if (auto r = g.open_thread(tid, false); !r) return r.error();
  if (g.tids_.empty()) return Error{what, "no such process", ESRCH, {}};
  g.add_new_threads();  // those created while the first ones were opened
  return g;
}

void CounterGroup::add_new_threads() {
  if (tgid_ == kPidAny) return;
  for (uint32_t tid : thread_ids(tgid_))
    if (!std::binary_search(tids_.begin(), tids_.end(), tid)) (void)open_thread(tid, false);
}

std::vector<CounterReading> CounterGroup::read() const {
  std::vector<CounterReading> out(events_.size());
  for (const Fd& f : fds_) {
    uint64_t v[3] = {};  // value, time enabled, time running (read_format above)
    if (::read(f.fd.get(), v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) continue;
    out[f.event].value += v[0];
    out[f.event].enabled_ns += v[1];
    out[f.event].running_ns += v[2];
  }
  return out;
}

}  // namespace scorch
