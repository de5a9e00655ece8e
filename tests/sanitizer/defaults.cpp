// Runtime defaults of the sanitized build (-DSCORCH_SANITIZE=ON), compiled into every sanitized
// executable (see the top-level CMakeLists.txt). ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS
// still override them.
//
// Programs the tests start (scorchd, scorch) write their reports to SCORCH_SANITIZER_REPORT_DIR
// instead of stderr: scorchd's stderr is a log nobody reads unless a test fails, and a CLI test
// that expects exit code 1 would pass on an ASan report too. The integration tests fail any test
// during which a report appears there (tests/integration/sanitizer_reports.cpp). The test binaries
// themselves report on stderr, where ctest shows it.

#include <dlfcn.h>

#define SCORCH_HOOK extern "C" __attribute__((visibility("default"), used))

#ifdef SCORCH_SANITIZER_LOG_NAME
#define SCORCH_LOG_PATH ":log_path=" SCORCH_SANITIZER_REPORT_DIR "/" SCORCH_SANITIZER_LOG_NAME
#else
#define SCORCH_LOG_PATH ""
#endif

// halt_on_error: the first report ends the program (as -fno-sanitize-recover=all does for UBSan).
SCORCH_HOOK const char* __asan_default_options() {
  return "halt_on_error=1:detect_leaks=1:strict_init_order=1:check_initialization_order=1" SCORCH_LOG_PATH;
}

SCORCH_HOOK const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1" SCORCH_LOG_PATH; }

// Leaks of third-party libraries, each with the reason it is not ours: lsan.supp, built in (it
// cannot go into a `suppressions=` flag: that flag is shared with ASan, which rejects `leak:` lines).
SCORCH_HOOK const char* __lsan_default_suppressions() {
  return
#include "lsan_supp.inc"
      ;
}

#ifdef SCORCH_SANITIZER_LOG_NAME
// GCC links UBSan as a runtime of its own (libubsan.so) beside ASan's, with its own report file,
// which log_path does not reach: libubsan's start-up call that would set it binds to libasan's
// exported function of the same name. So it is set on libubsan itself.
__attribute__((constructor)) static void scorch_ubsan_report_path() {
  void* ubsan = ::dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!ubsan) return;
  auto set_path = reinterpret_cast<void (*)(const char*)>(::dlsym(ubsan, "__sanitizer_set_report_path"));
  if (set_path) set_path(SCORCH_SANITIZER_REPORT_DIR "/" SCORCH_SANITIZER_LOG_NAME);
  ::dlclose(ubsan);
}
#endif
