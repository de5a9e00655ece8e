// Who may profile what: root anything, others only processes whose uids are all theirs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

#include "server/access.h"

namespace scorch {
namespace {

UidLookup table(std::map<uint32_t, ProcessUids> procs) {
  return [procs](uint32_t pid) -> std::optional<ProcessUids> {
    auto it = procs.find(pid);
    if (it == procs.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Access, RootMayProfileAnythingThatExists) {
  auto lookup = table({{10, {1000, 1000, 1000}}, {11, {0, 0, 0}}});
  EXPECT_TRUE(authorize_profile(0, {10, 11}, lookup).ok());
  EXPECT_TRUE(authorize_profile(0, {}, lookup).ok());
  auto missing = authorize_profile(0, {12}, lookup);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "failed to profile PID 12: no such process");
}

TEST(Access, UserMayProfileOnlyItsOwnProcesses) {
  auto lookup = table({{10, {1000, 1000, 1000}}, {11, {1001, 1001, 1001}}, {12, {1000, 0, 1000}}});
  EXPECT_TRUE(authorize_profile(1000, {10}, lookup).ok());
  auto other = authorize_profile(1000, {10, 11}, lookup);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().err, EPERM);
  EXPECT_NE(other.error().message().find("PID 11: permission denied"), std::string::npos);
  EXPECT_FALSE(other.error().hint.empty());
  // A setuid process (effective uid 0) is not the user's to trace, as with ptrace.
  EXPECT_FALSE(authorize_profile(1000, {12}, lookup).ok());
  auto system = authorize_profile(1000, {}, lookup);
  ASSERT_FALSE(system.ok());
  EXPECT_NE(system.error().message().find("whole system"), std::string::npos);
}

TEST(Access, ReadsRealProcessUids) {
  auto self = read_process_uids(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->real, ::getuid());
  EXPECT_EQ(self->effective, ::geteuid());
  EXPECT_FALSE(read_process_uids(0x3fffff).has_value());
}

}  // namespace
}  // namespace scorch
