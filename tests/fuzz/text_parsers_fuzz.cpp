// libFuzzer: the parsers of text scorch reads from outside: folded stacks, /proc/PID/maps,
// /proc/kallsyms, /proc/PID/status. Folded text that parses must render and parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/proc_status.h"
#include "export/folded.h"
#include "symbolize/kallsyms.h"
#include "symbolize/proc_maps.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_proc_maps(text);
  (void)parse_proc_status(text);
  auto k = KernelSymbols::parse(text);
  if (!k.empty()) (void)k.lookup(k.symbols().front().address + 1);
  auto p = parse_folded(text);
  if (p.ok()) {
    auto again = parse_folded(render_folded(*p));
    if (!again.ok()) std::abort();
  }
  return 0;
}
