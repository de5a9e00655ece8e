#pragma once
/// Which allocator a process really uses, and where to probe it.
///
/// A process's malloc is the first definition in symbol lookup order: the executable (an
/// allocator linked statically), then preloaded and needed libraries (jemalloc, tcmalloc,
/// mimalloc interpose on glibc's), then glibc's libc.so.6. The functions found there get a probe
/// site each (see x86_prologue.h).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/x86_prologue.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace scorch {

/// One allocator function to probe.
struct AllocFunction {
  uint32_t kind = 0;         // enum scorch_alloc_kind
  std::string name;          // "malloc", "aligned_alloc/memalign" when one address has two names
  uint64_t file_offset = 0;  // of the function's first instruction
  ProbeSite site;            // the entry probe
  bool has_return = false;   // a return probe too (a uretprobe needs rsp at the return address)
  ProbeSite return_site;     // where it goes: the entry site if nothing was pushed before it, else 0
};

struct Allocator {
  std::string name;                         // "glibc", "jemalloc", "tcmalloc", "mimalloc", or the file's name
  std::string version;                      // "2.36", "5.3.0"; empty when not found
  std::string file;                         // the file as the process maps it
  std::string attach_path;                  // where the probes attach: /proc/self/fd/N of file_fd, the checked file
  std::shared_ptr<const UniqueFd> file_fd;  // kept open while the probes may be attached again
  bool in_executable = false;
  std::vector<AllocFunction> functions;
  std::vector<std::string> notes;  // functions left unprobed and why, other allocators seen

  /// "jemalloc 5.3.0 (libjemalloc.so.2)", "glibc 2.36 (libc.so.6)", "tcmalloc (in the executable)".
  std::string describe() const;
  /// "malloc+0 push, free+3 jcc, calloc+0 push, ..."
  std::string probe_sites() const;
};

/// Reads the allocator functions of one ELF file (attach_path: where scorchd opens it); the
/// error says why none could be used. name/version are filled from the file.
Result<Allocator> read_allocator(const std::string& file, const std::string& attach_path, bool in_executable);

/// The same from the file already open (safe_file.h's checks passed); attach_path becomes its /proc/self/fd.
Result<Allocator> read_allocator_fd(const std::string& file, std::shared_ptr<const UniqueFd> fd, bool in_executable);

/// The allocator's version from its .rodata ("2.36", "5.3.0"), or empty; name as Allocator::name.
std::string allocator_version(const std::string& name, std::string_view rodata);

/// The allocator of a running process, from /proc/PID/maps and the files mapped.
Result<Allocator> find_allocator(uint32_t pid);

}  // namespace scorch
