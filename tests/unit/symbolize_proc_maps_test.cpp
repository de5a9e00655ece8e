#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>

#include "symbolize/proc_maps.h"

namespace scorch {
namespace {

constexpr const char* kMaps =
    "55d4a3c00000-55d4a3c01000 r--p 00000000 08:01 1311234                    /usr/bin/my prog\n"
    "55d4a3c01000-55d4a3c02000 r-xp 00001000 08:01 1311234                    /usr/bin/my prog\n"
    "55d4a4e00000-55d4a4e21000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f1c2a000000-7f1c2a022000 r-xp 00028000 fd:02 42                         /tmp/libgone.so (deleted)\n"
    "7f1c2b000000-7f1c2b100000 rwxp 00000000 00:00 0 \n"
    "7f1c2c000000-7f1c2c001000 r-xp 00000000 00:00 0\n"
    "7ffd1e3f6000-7ffd1e3f8000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

TEST(SymbolizeProcMaps, ParsesFieldsOfFileMapping) {
  std::vector<MapEntry> maps = parse_proc_maps(kMaps);
  ASSERT_EQ(maps.size(), 8u);
  const MapEntry& text = maps[1];
  EXPECT_EQ(text.start, 0x55d4a3c01000u);
  EXPECT_EQ(text.end, 0x55d4a3c02000u);
  EXPECT_EQ(text.offset, 0x1000u);
  EXPECT_EQ(text.perms, "r-xp");
  EXPECT_EQ(text.dev_major, 8u);
  EXPECT_EQ(text.dev_minor, 1u);
  EXPECT_EQ(text.inode, 1311234u);
  EXPECT_EQ(text.path, "/usr/bin/my prog");
  EXPECT_FALSE(text.deleted);
  EXPECT_TRUE(text.executable());
  EXPECT_TRUE(text.file_backed());
}

TEST(SymbolizeProcMaps, HexDeviceNumbersAndDeletedSuffix) {
  std::vector<MapEntry> maps = parse_proc_maps(kMaps);
  ASSERT_EQ(maps.size(), 8u);
  const MapEntry& gone = maps[3];
  EXPECT_EQ(gone.dev_major, 0xfdu);
  EXPECT_EQ(gone.dev_minor, 2u);
  EXPECT_EQ(gone.offset, 0x28000u);
  EXPECT_EQ(gone.path, "/tmp/libgone.so");
  EXPECT_TRUE(gone.deleted);
}

TEST(SymbolizeProcMaps, AnonymousAndSpecialMappings) {
  std::vector<MapEntry> maps = parse_proc_maps(kMaps);
  ASSERT_EQ(maps.size(), 8u);
  EXPECT_EQ(maps[2].path, "[heap]");
  EXPECT_FALSE(maps[2].file_backed());
  EXPECT_EQ(maps[4].path, "");  // trailing space after the inode
  EXPECT_EQ(maps[4].perms, "rwxp");
  EXPECT_EQ(maps[5].path, "");  // nothing after the inode
  EXPECT_EQ(maps[5].inode, 0u);
  EXPECT_EQ(maps[6].path, "[vdso]");
  EXPECT_EQ(maps[7].start, 0xffffffffff600000u);
  EXPECT_EQ(maps[7].path, "[vsyscall]");
  EXPECT_FALSE(maps[7].deleted);
}

TEST(SymbolizeProcMaps, SkipsMalformedLines) {
  std::vector<MapEntry> maps = parse_proc_maps(
      "garbage\n"
      "\n"
      "1000-2000 r-xp 00000000 08:01\n"            // no inode
      "zz00-2000 r-xp 00000000 08:01 1 /bin/x\n"   // bad hex
      "3000-2000 r-xp 00000000 08:01 1 /bin/x\n"   // end before start
      "4000-5000 r-xp 00000000 08:01 7 /bin/ok");  // no final newline
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].start, 0x4000u);
  EXPECT_EQ(maps[0].path, "/bin/ok");
}

TEST(SymbolizeProcMaps, DeletedAloneIsAPathNotASuffix) {
  std::vector<MapEntry> maps = parse_proc_maps("1000-2000 r-xp 00000000 00:01 9 (deleted)\n");
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].path, "(deleted)");
  EXPECT_FALSE(maps[0].deleted);
}

TEST(SymbolizeProcMaps, FindMapping) {
  std::vector<MapEntry> maps = parse_proc_maps(kMaps);
  ASSERT_EQ(maps.size(), 8u);
  EXPECT_EQ(find_mapping(maps, 0x55d4a3c01000u), &maps[1]);
  EXPECT_EQ(find_mapping(maps, 0x55d4a3c01fffu), &maps[1]);
  EXPECT_EQ(find_mapping(maps, 0x55d4a3c02000u), nullptr);  // end is exclusive, gap follows
  EXPECT_EQ(find_mapping(maps, 0x10u), nullptr);
  EXPECT_EQ(find_mapping(maps, 0xffffffffff600123u), &maps[7]);
  EXPECT_EQ(find_mapping({}, 0x1000u), nullptr);
}

TEST(SymbolizeProcMaps, ReadsOwnMaps) {
  auto maps = read_proc_maps(static_cast<uint32_t>(::getpid()));
  ASSERT_TRUE(maps.ok()) << maps.error().message();
  auto here = reinterpret_cast<uint64_t>(&read_proc_maps);
  const MapEntry* entry = find_mapping(*maps, here);
  ASSERT_NE(entry, nullptr);
  EXPECT_TRUE(entry->executable());
  EXPECT_TRUE(entry->file_backed());
}

TEST(SymbolizeProcMaps, MissingProcessIsAnError) {
  // pid_max is at most 2^22, so this pid never exists.
  auto maps = read_proc_maps(0x7ffffff0u);
  ASSERT_FALSE(maps.ok());
  EXPECT_EQ(maps.error().message(), "failed to read /proc/2147483632/maps: no such process");
  EXPECT_EQ(maps.error().err, ENOENT);
}

}  // namespace
}  // namespace scorch
