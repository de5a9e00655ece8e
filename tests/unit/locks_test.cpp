// The lock-contention measure without BPF: its options on the wire, and how a futex wait is told
// to be lock contention (or not) from its kind and the waiter's frames.
#include <gtest/gtest.h>

#include "locks.h"
#include "probes/locks_probe.h"
#include "proto/locks_options.h"
#include "session/locks_session.h"

namespace scorch {
namespace {

std::vector<Frame> user(std::initializer_list<const char*> names) {
  std::vector<Frame> f;
  for (const char* n : names) f.push_back(Frame{n, false});
  return f;
}

TEST(LocksOptions, RoundTripAndRefusals) {
  proto::LocksOptions o;
  o.min_wait_ns = 250'000;
  o.holders = true;
  auto back = proto::decode_locks_options(proto::encode(o));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->min_wait_ns, 250'000u);
  EXPECT_TRUE(back->holders);
  EXPECT_FALSE(back->kernel);

  auto defaults = proto::decode_locks_options({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->min_wait_ns, 0u);
  EXPECT_FALSE(defaults->kernel || defaults->holders);

  o.kernel = true;  // holders are user-space releases only
  EXPECT_FALSE(proto::decode_locks_options(proto::encode(o)).ok());
  std::vector<uint8_t> bytes = proto::encode(proto::LocksOptions{});
  bytes[8] = 2;  // a flag that is neither 0 nor 1
  EXPECT_FALSE(proto::decode_locks_options(bytes).ok());
  bytes = proto::encode(proto::LocksOptions{});
  bytes.pop_back();
  EXPECT_FALSE(proto::decode_locks_options(bytes).ok()) << "truncated";
  bytes = proto::encode(proto::LocksOptions{});
  bytes.push_back(0);
  EXPECT_FALSE(proto::decode_locks_options(bytes).ok()) << "trailing bytes";
}

TEST(LockKind, MutexesAndTheirCondvarReacquire) {
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, 0, user({"main", "site_a", "pthread_mutex_lock", "__lll_lock_wait"})),
            "mutex");
  EXPECT_EQ(lock_kind_name(
                SCORCH_LOCK_LLL, 0,
                user({"waiter", "pthread_cond_wait@@GLIBC_2.3.2", "__pthread_mutex_cond_lock", "__lll_lock_wait"})),
            "mutex (condvar re-acquire)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_PI, 0, user({"pi_site", "__pthread_mutex_lock_full", "__futex_lock_pi64"})),
            "pi-mutex");
}

TEST(LockKind, PthreadMutexKindsFromTheLock) {
  const auto via_mutex_lock = user({"main", "site", "___pthread_mutex_lock", "__lll_lock_wait"});
  const uint32_t k = SCORCH_LOCK_F_MUTEX_KIND;
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 0, via_mutex_lock), "mutex");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 1, via_mutex_lock), "mutex (recursive)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 2, via_mutex_lock), "mutex (error-checking)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 3, via_mutex_lock), "mutex (adaptive)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 128 | 1, via_mutex_lock), "mutex (recursive)") << "process-shared";
  // A lock taken elsewhere (glibc's own locks: a bare int) has no kind, whatever lies past it.
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, k | 1, user({"main", "malloc", "_int_malloc", "__lll_lock_wait_private"})),
            "mutex");
  // Nor a wait whose kind was not read.
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_LLL, 1, via_mutex_lock), "mutex");
}

TEST(LockKind, BitsetWaitsAreLocksOnlyInRwlocks) {
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_BITSET, 0,
                           user({"read_site", "pthread_rwlock_rdlock@@GLIBC_2.34", "__futex_abstimed_wait_common"})),
            "rwlock (read)");
  EXPECT_EQ(
      lock_kind_name(SCORCH_LOCK_BITSET, 0, user({"w", "__pthread_rwlock_wrlock", "__futex_abstimed_wait_common"})),
      "rwlock (write)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_BITSET, 0,
                           user({"waiter", "pthread_cond_wait@@GLIBC_2.3.2", "__futex_abstimed_wait_common"})),
            "")
      << "a condition variable's wait is not contention";
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_BITSET, 0, user({"main", "sem_wait", "__new_sem_wait_slow64"})), "");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_BITSET, 0, user({"main", "pthread_join", "__pthread_clockjoin_ex"})), "");
  EXPECT_EQ(
      lock_kind_name(SCORCH_LOCK_WAIT, 0, user({"main", "std::__atomic_futex_unsigned_base::_M_futex_wait_until"})),
      "");
}

TEST(LockKind, KernelLocksByContentionFlags) {
  constexpr uint32_t spin = 1, read = 2, write = 4, rt = 8, percpu = 16, mutex = 32;
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, spin, {}), "spinlock");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, spin | read, {}), "rwlock (read)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, write, {}), "rwsem (write)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, read, {}), "rwsem (read)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, mutex, {}), "mutex");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, mutex | rt, {}), "rt-mutex");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, percpu | write, {}), "percpu-rwsem (write)");
  EXPECT_EQ(lock_kind_name(SCORCH_LOCK_KERNEL, write | SCORCH_LOCK_F_MMAP_LOCK, {}), "rwsem (write)")
      << "scorch's own flags do not change the kind";
}

TEST(LocksProbe, SaysWhyKernelLocksAreUnavailable) {
  EXPECT_EQ(kernel_locks_unavailable([](const char*) { return true; }), "");
  EXPECT_EQ(kernel_locks_unavailable([](const char* tp) { return std::string(tp) != "contention_end"; }),
            "the kernel has no lock:contention_end tracepoint in its BTF (Linux 5.19 or later)");
  EXPECT_EQ(kernel_locks_unavailable([](const char*) { return false; }),
            "the kernel has no lock:contention_begin tracepoint in its BTF (Linux 5.19 or later)");
}

}  // namespace
}  // namespace scorch
