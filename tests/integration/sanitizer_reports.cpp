// In the sanitized build, scorchd and scorch write ASan/UBSan/LeakSanitizer reports into
// SCORCH_SANITIZER_REPORT_DIR (tests/sanitizer/defaults.cpp). This listener fails the test during
// which a report appeared and prints it: a daemon's report at exit (a leak, a bad free while
// stopping) would otherwise go unseen, since most tests never look at how their daemon exited.

#include <gtest/gtest.h>

#ifdef SCORCH_SANITIZER_REPORT_DIR

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace scorch::test {
namespace {

namespace fs = std::filesystem;

class SanitizerReports : public ::testing::EmptyTestEventListener {
 public:
  void OnTestProgramStart(const ::testing::UnitTest&) override {
    std::error_code ec;
    fs::create_directories(SCORCH_SANITIZER_REPORT_DIR, ec);
    ::chmod(SCORCH_SANITIZER_REPORT_DIR, 01777);  // the security tests run the CLI as nobody
    seen_ = scan();                               // reports of earlier runs were told then
  }
  // End events run in reverse order of the listeners: this one before the default printer, so a
  // failure added here shows on the test's own line.
  void OnTestEnd(const ::testing::TestInfo&) override { check(); }
  void OnTestIterationEnd(const ::testing::UnitTest&, int) override { check(); }

 private:
  using Snapshot = std::map<std::string, fs::file_time_type>;

  static Snapshot scan() {
    Snapshot s;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(SCORCH_SANITIZER_REPORT_DIR, ec))
      if (e.is_regular_file(ec)) s[e.path().string()] = e.last_write_time(ec);
    return s;
  }

  void check() {
    Snapshot now = scan();
    for (const auto& [path, time] : now) {
      auto it = seen_.find(path);
      if (it != seen_.end() && it->second == time) continue;
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      std::string report = text.str();
      constexpr size_t kMax = 20000;
      if (report.size() > kMax) report = report.substr(0, kMax) + "\n... (the rest is in the file)";
      ADD_FAILURE() << "sanitizer report " << path << ":\n" << report;
    }
    seen_ = std::move(now);
  }

  Snapshot seen_;
};

const bool registered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new SanitizerReports);
  return true;
}();

}  // namespace
}  // namespace scorch::test

#endif
