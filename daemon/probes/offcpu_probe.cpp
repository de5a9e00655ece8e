#include "probes/offcpu_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "offcpu.h"
#include "offcpu.skel.h"
#include "probes/map_util.h"
#include "probes/unwind_maps.h"

namespace scorch {
namespace {

static_assert(sizeof(scorch_offcpu_key) == 32);
static_assert(sizeof(scorch_offcpu_filter) == 24);
static_assert(SCORCH_STATE_MAX == 4 && SCORCH_STATE_PREEMPTED == 0 && SCORCH_STATE_SLEEP == 1 &&
                  SCORCH_STATE_DISK == 2 && SCORCH_STATE_OTHER == 3,
              "proto::offcpu_state_name's order");

}  // namespace

void OffCpuProbe::SkelDeleter::operator()(offcpu_bpf* s) const { offcpu_bpf__destroy(s); }
void OffCpuProbe::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

Result<std::unique_ptr<OffCpuProbe>> OffCpuProbe::load(const UnwindMaps& unwind, Attach attach) {
  std::unique_ptr<OffCpuProbe> probe(new OffCpuProbe());
  probe->attach_ = attach;
  probe->skel_.reset(offcpu_bpf__open());
  if (!probe->skel_) return make_errno_error("open BPF object offcpu", errno);
  if (auto r = unwind.share_with(probe->skel_->obj); !r) return r.error();
  // Load only the variant in use; the fallback does not need task storage at all.
  const bool raw = attach == Attach::kRawTp;
  bpf_program__set_autoload(probe->skel_->progs.scorch_offcpu_switch, !raw);
  bpf_program__set_autoload(probe->skel_->progs.scorch_offcpu_switch_raw, raw);
  if (raw) bpf_map__set_autocreate(probe->skel_->maps.starts, false);
  int err = offcpu_bpf__load(probe->skel_.get());
  if (err)
    return make_errno_error("load BPF program offcpu", -err,
                            "off-CPU profiling needs tp_btf and task storage (Linux 5.11 or later with BTF)");
  if (!probe->skel_->bss) return Error{"map .bss of offcpu", "kernel does not support mmap-able maps", ENOTSUP, {}};
  return probe;
}

OffCpuProbe::~OffCpuProbe() {
  link_.reset();  // detach before the program goes away
  skel_.reset();
}

Result<void> OffCpuProbe::add_filter(uint32_t tgid, const Filter& filter) {
  auto it = filters_.find(tgid);
  if (it != filters_.end()) {
    if (!(it->second.filter == filter)) {
      std::string who = tgid == kPidAny ? "the whole system" : "PID " + std::to_string(tgid);
      return Error{"trace " + who + " off-CPU", "another profile traces it with a different block filter", EBUSY,
                   "use the same --min-block, --max-block and --state, or wait for that profile to end"};
    }
    ++it->second.refs;
    return {};
  }
  scorch_offcpu_filter value{};
  value.min_ns = filter.min_ns;
  value.max_ns = filter.max_ns;
  value.states = filter.states;
  value.stacks = filter.stacks;
  if (bpf_map__update_elem(skel_->maps.filter, &tgid, sizeof(tgid), &value, sizeof(value), BPF_ANY) != 0)
    return make_errno_error("add the off-CPU filter", errno);
  if (!link_) {
    ++skel_->bss->attach_epoch;  // before attaching: records of earlier attachments are stale
    bpf_link* link = bpf_program__attach(attach_ == Attach::kRawTp ? skel_->progs.scorch_offcpu_switch_raw
                                                                   : skel_->progs.scorch_offcpu_switch);
    if (!link) {
      int e = errno;
      bpf_map__delete_elem(skel_->maps.filter, &tgid, sizeof(tgid), 0);
      return make_errno_error("attach the off-CPU program to sched_switch", e);
    }
    link_.reset(link);
  }
  filters_.emplace(tgid, Entry{filter, 1});
  sync_fast_filter();
  return {};
}

void OffCpuProbe::sync_fast_filter() {
  // As on-CPU: the hash map is complete; the .bss table (which tgids have an entry) is rebuilt
  // into the idle copy and flipped in.
  std::vector<std::pair<uint32_t, uint32_t>> keys;
  for (const auto& [tgid, entry] : filters_) keys.emplace_back(tgid, 1);  // one filter per tgid: a constant second half
  publish_filter_table(skel_->bss, keys);
}

void OffCpuProbe::remove_filter(uint32_t tgid) {
  auto it = filters_.find(tgid);
  if (it == filters_.end() || --it->second.refs > 0) return;
  filters_.erase(it);
  sync_fast_filter();  // before the hash entry goes
  bpf_map__delete_elem(skel_->maps.filter, &tgid, sizeof(tgid), 0);
  if (filters_.empty()) link_.reset();  // nobody asks: context switches cost nothing again
}

Result<void> OffCpuProbe::drain(const std::function<void(const RawBlock&)>& fn) {
  uint32_t old = skel_->bss->active_generation & 1;
  skel_->bss->active_generation = old ^ 1;
  int counts_fd = bpf_map__fd(old ? skel_->maps.counts1 : skel_->maps.counts0);
  int ustacks_fd = bpf_map__fd(old ? skel_->maps.ustacks1 : skel_->maps.ustacks0);
  int kstacks_fd = bpf_map__fd(old ? skel_->maps.kstacks1 : skel_->maps.kstacks0);

  StackReader<uint64_t, scorch_kstack> users(ustacks_fd, lost_stacks_), kernels(kstacks_fd, lost_stacks_);
  auto stack = [](StackReader<uint64_t, scorch_kstack>& r, uint64_t hash) -> const std::vector<uint64_t>& {
    static const std::vector<uint64_t> none;
    return hash == 0 ? none : r.get(hash);
  };
  drain_counts<scorch_offcpu_key, scorch_offcpu_value>(counts_fd, [&](const auto& key, const auto& value) {
    RawBlock b;
    b.tgid = key.tgid;
    b.state = key.state;
    b.whole_system = key.scope == SCORCH_SCOPE_ANY;
    b.comm = std::string_view(value.comm, strnlen(value.comm, sizeof(value.comm)));
    b.total_ns = value.total_ns;
    b.count = value.count;
    b.user_ips = stack(users, key.user_stack_hash);
    b.kernel_ips = stack(kernels, key.kernel_stack_hash);
    fn(b);
  });
  clear_map<uint64_t>(ustacks_fd);
  clear_map<uint64_t>(kstacks_fd);
  return {};
}

std::optional<OffCpuProbe::Pending> OffCpuProbe::pending(uint32_t tid) const {
  scorch_offcpu_start rec{};
  int err = 0;
  if (attach_ == Attach::kRawTp) {
    err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.raw_starts), &tid, &rec);
  } else {
    constexpr unsigned kPidfdThread = 0x80;  // PIDFD_THREAD (O_EXCL): a pidfd for a thread, Linux 6.9
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(tid), kPidfdThread));
    if (pidfd < 0) return std::nullopt;
    err = bpf_map_lookup_elem(bpf_map__fd(skel_->maps.starts), &pidfd, &rec);
    ::close(pidfd);
  }
  if (err != 0 || rec.ts == 0 || rec.epoch != skel_->bss->attach_epoch || !(rec.scopes & (1u << SCORCH_SCOPE_PID)))
    return std::nullopt;
  Pending p;
  p.tgid = rec.tgid;
  p.state = rec.state;
  p.start_ns = rec.ts;
  p.min_ns = rec.min_ns[SCORCH_SCOPE_PID];
  p.max_ns = rec.max_ns[SCORCH_SCOPE_PID];
  p.comm.assign(rec.comm, strnlen(rec.comm, sizeof(rec.comm)));
  for (uint64_t ip : rec.user.ips) {
    if (ip == 0 || rec.uhash == 0) break;
    p.user_ips.push_back(ip);
  }
  for (uint64_t ip : rec.kernel.ips) {
    if (ip == 0 || rec.khash == 0) break;
    p.kernel_ips.push_back(ip);
  }
  return p;
}

OffCpuProbe::Counters OffCpuProbe::counters() const {
  uint64_t sums[SCORCH_OFF_MAX] = {};
  sum_percpu_counters(bpf_map__fd(skel_->maps.counters), SCORCH_OFF_MAX, sums);
  Counters c{sums[SCORCH_OFF_SWITCH_OUTS],
             sums[SCORCH_OFF_BLOCKS],
             sums[SCORCH_OFF_FILTERED],
             sums[SCORCH_OFF_NO_STORAGE],
             sums[SCORCH_OFF_MAP_FULL],
             sums[SCORCH_OFF_STACK_ERROR],
             lost_stacks_,
             sums[SCORCH_OFF_KSTACK_WALKS],
             sums[SCORCH_OFF_KSTACK_KEPT]};
  return c;
}

uint32_t OffCpuProbe::program_id() const {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  bpf_program* prog =
      attach_ == Attach::kRawTp ? skel_->progs.scorch_offcpu_switch_raw : skel_->progs.scorch_offcpu_switch;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) != 0) return 0;
  return info.id;
}

}  // namespace scorch
