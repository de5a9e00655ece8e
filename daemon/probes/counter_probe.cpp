#include "probes/counter_probe.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "common/proc_tasks.h"
#include "probes/perf_event.h"

namespace scorch {
Error counter_open_error(const proto::PerfEventDef& ev, const std::string& what, int err) {
  const std::string because = std::strerror(err);
  const std::string hint = perf_open_hint(ev.type, err, false);
  if (is_hardware_event(ev.type) && (err == ENOENT || err == ENODEV || err == EOPNOTSUPP))
    return Error{what, "this machine has no hardware PMU (" + std::string(ev.name) + ": " + because + ")", err, hint};
  if (err == ENOENT || err == EINVAL)
    return Error{what, "the kernel does not know this event (" + because + ")", err, hint};
  return Error{what, because, err, hint};
}

int open_counting_event(const proto::PerfEventDef& ev, int pid, int cpu, bool inherit) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = ev.type;
  attr.config = ev.config;
  attr.read_format = PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING;
  attr.inherit = inherit ? 1 : 0;
  return perf_event_open(&attr, pid, cpu);
}

uint64_t CounterReading::scaled() const {
  if (running_ns == 0 || running_ns >= enabled_ns) return value;
  return static_cast<uint64_t>(static_cast<unsigned __int128>(value) * enabled_ns / running_ns);
}

Result<void> check_perf_event(const proto::PerfEventDef& ev, const std::string& what) {
  UniqueFd fd(open_counting_event(ev, 0, -1, false));
  if (!fd.valid()) return counter_open_error(ev, what, errno);
  return {};
}

Result<void> CounterGroup::open_thread(uint32_t tid) {
  std::vector<Fd> opened;
  for (size_t i = 0; i < events_.size(); ++i) {
    UniqueFd fd(open_counting_event(events_[i], static_cast<int>(tid), -1, true));
    if (!fd.valid()) {
      const int e = errno;
      if (e == ESRCH) return {};  // it exited meanwhile
      return counter_open_error(events_[i],
                                "count " + std::string(events_[i].name) + " of thread " + std::to_string(tid), e);
    }
    opened.push_back(Fd{i, std::move(fd)});
  }
  for (auto& f : opened) fds_.push_back(std::move(f));
  return {};
}

Result<CounterGroup> CounterGroup::open(uint32_t tgid, std::vector<proto::PerfEventDef> events,
                                        const std::string& what) {
  CounterGroup g;
  g.tgid_ = tgid;
  g.events_ = std::move(events);
  for (const auto& ev : g.events_)
    if (auto r = check_perf_event(ev, what); !r) return r.error();
  const std::vector<uint32_t> tids = thread_ids(tgid);
  if (tids.empty()) return Error{what, "no such process", ESRCH, {}};
  for (uint32_t tid : tids)
    if (auto r = g.open_thread(tid); !r) return r.error();
  // One pass, as perf stat -p: a thread created later by one of these inherits its counters, and
  // reading a counter sums its inherited copies, so opening that thread too would count it twice.
  if (g.fds_.empty()) return Error{what, "no such process", ESRCH, {}};  // every thread exited meanwhile
  return g;
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
