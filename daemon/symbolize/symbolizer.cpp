#include "symbolize/symbolizer.h"

#include "symbolize/demangle.h"

#include <elfutils/debuginfod.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <charconv>

#include "common/log.h"

namespace scorch {

namespace {

constexpr const char* kUnknown = "[unknown]";
constexpr const char* kAnonymous = "[anon]";

std::string to_hex(uint64_t value) {
  char buffer[17];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value, 16);
  (void)ec;  // 16 hex digits always fit
  return std::string(buffer, end);
}

std::string_view basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

size_t maps_bytes(const std::vector<MapEntry>& maps) {
  size_t bytes = maps.capacity() * sizeof(MapEntry);
  for (const MapEntry& entry : maps) {
    if (entry.path.size() >= sizeof(std::string)) {
      bytes += entry.path.capacity() + 1;
    }
  }
  return bytes;
}

}  // namespace

std::string display_name(std::string_view raw) { return demangle(raw); }

const std::string& Symbolizer::display(const std::string& raw) {
  // Demangling costs microseconds; the same few thousand names come back every drain.
  if (const std::string* hit = demangled_.find(raw)) return *hit;
  return demangled_.put(raw, demangle(raw));
}

size_t Symbolizer::FileKeyHash::operator()(const FileKey& key) const {
  uint64_t dev = (static_cast<uint64_t>(key.dev_major) << 32) | key.dev_minor;
  return std::hash<uint64_t>()(key.inode * 0x9e3779b97f4a7c15ULL ^ dev);
}

Symbolizer::Symbolizer(SymbolizerOptions options)
    : options_(std::move(options)), elf_cache_(options_.max_elf_files), processes_(options_.max_processes) {}

std::vector<std::string> Symbolizer::symbolize_user(uint32_t pid, std::span<const uint64_t> ips) {
  std::lock_guard lock(mutex_);
  ProcessState* state = processes_.find(pid);
  if (state == nullptr) {
    state = &processes_.put(pid, ProcessState{});
  }
  bool refreshed = false;
  if (!state->loaded) {
    refresh_maps(pid, *state);
    refreshed = true;
  }

  std::vector<std::string> names;
  names.reserve(ips.size());
  for (uint64_t ip : ips) {
    const MapEntry* mapping = find_mapping(state->maps, ip);
    if (mapping == nullptr && !refreshed) {
      refresh_maps(pid, *state);
      refreshed = true;
      mapping = find_mapping(state->maps, ip);
    }
    if (mapping == nullptr) {
      names.emplace_back(kUnknown);
      continue;
    }
    names.push_back(symbolize_in_mapping(pid, *state, *mapping, ip));
  }
  return names;
}

const PerfMapEntry* Symbolizer::perf_map_lookup(uint32_t pid, ProcessState& state, uint64_t ip) {
  const auto now = std::chrono::steady_clock::now();
  if (now - state.perf_map_checked >= std::chrono::milliseconds(250)) {
    state.perf_map_checked = now;
    // The file carries the pid the process sees inside its own pid namespace, under its own root.
    if (state.ns_pid == 0) state.ns_pid = namespace_pid(pid);
    const std::string file = "/tmp/perf-" + std::to_string(state.ns_pid) + ".map";
    // Checked against the credentials the process has now: it must own the file (see safe_file.h).
    auto creds = safe_file::read_credentials(pid);
    safe_file::Rules rules;
    rules.max_size = safe_file::kPerfMapCap;
    rules.reader = creds ? &*creds : nullptr;
    rules.owned_by_reader = true;
    auto fd = creds ? safe_file::open_in_process_root(pid, file, rules) : Result<UniqueFd>(creds.error());
    struct stat st {};
    std::string refusal;
    if (!fd) {
      if (fd.error().err != ENOENT && fd.error().err != ESRCH) refusal = fd.error().reason;
    } else if (::fstat(fd->get(), &st) == 0 && st.st_size != state.perf_map_size) {
      auto text = safe_file::read_capped(fd->get(), safe_file::kPerfMapCap, file);
      if (!text) {
        refusal = text.error().reason;
      } else {
        // Each map within its own cap, and all of them within the daemon's.
        size_t others = 0;
        processes_.for_each([&](uint32_t other, const ProcessState& o) {
          if (other != pid) others += o.perf_map.size();
        });
        const size_t room = others < options_.max_perf_map_entries ? options_.max_perf_map_entries - others : 0;
        const size_t cap = std::min<size_t>(safe_file::kPerfMapEntries, room);
        state.perf_map = parse_perf_map(*text, cap);
        state.perf_map_size = st.st_size;
        if (state.perf_map.size() == cap)
          note(state, "perf map " + file + " of PID " + std::to_string(pid) + ": only its first " +
                          std::to_string(cap) + " entries read (" +
                          (cap < safe_file::kPerfMapEntries ? "the perf maps of all traced processes are capped at " +
                                                                  std::to_string(options_.max_perf_map_entries)
                                                            : "the cap for one map") +
                          ")");
      }
    }
    if (!refusal.empty() && refusal != state.perf_map_refusal)
      note(state, "perf map " + file + " of PID " + std::to_string(pid) + " not read: " + refusal);
    state.perf_map_refusal = refusal;
    if (!refusal.empty()) {
      // What was read before stays only while the file is the process's own to give.
      state.perf_map.clear();
      state.perf_map_size = -1;
    }
  }
  return find_perf_map_entry(state.perf_map, ip);
}

void Symbolizer::note(ProcessState& state, std::string text) {
  if (std::find(state.notes.begin(), state.notes.end(), text) != state.notes.end()) return;
  log::info(text);
  if (state.notes.size() < 64) state.notes.push_back(std::move(text));
}

std::vector<std::string> Symbolizer::file_notes(uint32_t pid) const {
  std::lock_guard lock(mutex_);
  const ProcessState* state = processes_.peek(pid);
  return state ? state->notes : std::vector<std::string>{};
}

bool Symbolizer::prepare(uint32_t pid) {
  std::lock_guard lock(mutex_);
  ProcessState* state = processes_.find(pid);
  if (!state) state = &processes_.put(pid, ProcessState{});
  refresh_maps(pid, *state);
  for (const MapEntry& m : state->maps)
    if (m.executable() && m.file_backed()) elf_for(pid, *state, m);
  return !state->maps.empty();
}

void Symbolizer::refresh_maps(uint32_t pid, ProcessState& state) {
  auto maps = read_proc_maps(pid);
  // A process that exited reads as no maps: keep what was read while it lived, so one stray
  // address after the exit does not wipe the names of all its other samples.
  if ((!maps || maps->empty()) && !state.maps.empty()) return;
  state.maps = maps ? std::move(maps).value() : std::vector<MapEntry>{};
  state.failed_files.clear();
  state.loaded = true;
  // Files are read for the process only as far as its own credentials could read them.
  if (auto creds = safe_file::read_credentials(pid)) state.creds = *creds;
}

std::shared_ptr<const ElfSymbols> Symbolizer::with_debug_file(uint32_t pid, ProcessState& state,
                                                              const MapEntry& mapping,
                                                              std::shared_ptr<const ElfSymbols> elf) {
  const std::string& id = elf->build_id();
  // A candidate inside the process's root (a container's own file) or on the host.
  struct Candidate {
    bool in_root;
    std::string path;
  };
  std::vector<Candidate> candidates;
  // By build id, in each debug directory: the process's own (a container's) first, then the host's.
  if (id.size() >= 4) {
    const std::string rel = "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
    for (const std::string& dir : options_.debug_dirs) {
      candidates.push_back({true, dir + rel});
      candidates.push_back({false, dir + rel});
    }
  }
  // By .gnu_debuglink: next to the file, in .debug/ there, and under each debug directory (as gdb).
  const std::string& link = elf->debuglink();
  if (!link.empty() && link.find('/') == std::string::npos && link != "." && link != ".." &&
      mapping.path.front() == '/') {
    std::string dir = mapping.path.substr(0, mapping.path.rfind('/'));
    candidates.push_back({true, dir + "/" + link});
    candidates.push_back({true, dir + "/.debug/" + link});
    for (const std::string& debug_dir : options_.debug_dirs) {
      candidates.push_back({true, debug_dir + dir + "/" + link});
      candidates.push_back({false, debug_dir + dir + "/" + link});
    }
  }
  safe_file::Rules rules;
  rules.max_size = safe_file::kElfCap;
  rules.reader = &*state.creds;  // elf_for checked that they are known
  for (const Candidate& c : candidates) {
    auto fd = c.in_root ? safe_file::open_in_process_root(pid, c.path, rules) : safe_file::open_trusted(c.path, rules);
    if (!fd) {
      if (fd.error().err != ENOENT && fd.error().err != ENOTDIR)
        note(state, "debug file " + c.path + (c.in_root ? " (in PID " + std::to_string(pid) + "'s root)" : "") +
                        " not read: " + fd.error().reason);
      continue;
    }
    auto debug = ElfSymbols::load_fd(fd->get(), c.in_root ? "/proc/" + std::to_string(pid) + "/root" + c.path : c.path);
    // The same build id (when there is one), or it is some other build's file.
    if (debug && (*debug)->build_id() == id && !(*debug)->symbols().empty())
      return ElfSymbols::with_debug_symbols(*elf, **debug);
  }
  if (options_.debuginfod && id.size() >= 4 && id.size() % 2 == 0) {
    // Once per file (the result is cached with the file): ask the servers by build id.
    if (!debuginfod_) debuginfod_.reset(debuginfod_begin());
    std::vector<unsigned char> raw_id;
    for (size_t i = 0; i < id.size(); i += 2)
      raw_id.push_back(static_cast<unsigned char>(std::stoul(id.substr(i, 2), nullptr, 16)));
    char* path = nullptr;
    int fd = debuginfod_ ? debuginfod_find_debuginfo(static_cast<debuginfod_client*>(debuginfod_.get()), raw_id.data(),
                                                     static_cast<int>(raw_id.size()), &path)
                         : -1;
    if (fd >= 0) {
      auto debug = ElfSymbols::load_fd(fd, path ? path : "debuginfod");
      ::close(fd);
      std::free(path);
      if (debug && (*debug)->build_id() == id && !(*debug)->symbols().empty())
        return ElfSymbols::with_debug_symbols(*elf, **debug);
    }
  }
  return elf;
}

void Symbolizer::DebuginfodDeleter::operator()(void* client) const {
  debuginfod_end(static_cast<debuginfod_client*>(client));
}

std::string Symbolizer::symbolize_in_mapping(uint32_t pid, ProcessState& state, const MapEntry& mapping, uint64_t ip) {
  if (mapping.path.empty() || mapping.path.starts_with("[anon") || mapping.path.starts_with("//anon")) {
    // JIT code: named by the JIT's perf map when it writes one (Node --perf-basic-prof, JVM agents).
    const PerfMapEntry* jit = perf_map_lookup(pid, state, ip);
    return jit ? jit->name : std::string(kAnonymous);
  }
  if (mapping.path.front() == '[') {
    return mapping.path;  // [vdso], [vsyscall], [heap], [stack]
  }
  uint64_t file_offset = ip - mapping.start + mapping.offset;
  std::shared_ptr<const ElfSymbols> elf;  // keeps symbol alive
  const Symbol* symbol = nullptr;
  if (mapping.inode != 0) {
    elf = elf_for(pid, state, mapping);
    std::optional<uint64_t> vaddr = elf ? elf->file_offset_to_vaddr(file_offset) : std::nullopt;
    symbol = vaddr ? elf->lookup(*vaddr) : nullptr;
  }
  if (symbol == nullptr) {
    return std::string(basename(mapping.path)) + "+0x" + to_hex(file_offset);
  }
  return display(symbol->name);
}

std::string Symbolizer::symbolize_data(uint32_t pid, uint64_t addr) {
  std::lock_guard lock(mutex_);
  ProcessState* state = processes_.find(pid);
  if (state == nullptr) state = &processes_.put(pid, ProcessState{});
  bool refreshed = false;
  if (!state->loaded) {
    refresh_maps(pid, *state);
    refreshed = true;
  }
  if (find_mapping(state->maps, addr) == nullptr && !refreshed) refresh_maps(pid, *state);
  const std::vector<MapEntry>& maps = state->maps;
  if (find_mapping(maps, addr) == nullptr) return {};

  // The file mapped at addr or, when addr is in anonymous memory (the .bss past a file's last page),
  // the nearest file mapped below it; whether its loaded segments cover addr decides.
  auto it = std::upper_bound(maps.begin(), maps.end(), addr, [](uint64_t a, const MapEntry& e) { return a < e.start; });
  while (it != maps.begin() && !std::prev(it)->file_backed()) --it;
  if (it == maps.begin()) return {};
  const MapEntry& file_map = *std::prev(it);
  std::shared_ptr<const ElfSymbols> elf = elf_for(pid, *state, file_map);
  if (!elf || elf->segments().empty()) return {};

  // The load bias: where the lowest PT_LOAD segment is mapped (its page, as the loader maps it),
  // from the nearest mapping of the same file at that segment's file page, at or below file_map.
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const LoadSegment& first =
      *std::min_element(elf->segments().begin(), elf->segments().end(),
                        [](const LoadSegment& a, const LoadSegment& b) { return a.vaddr < b.vaddr; });
  const MapEntry* base = nullptr;
  for (auto m = it; m != maps.begin() && base == nullptr;) {
    --m;
    if (m->inode == file_map.inode && m->dev_major == file_map.dev_major && m->dev_minor == file_map.dev_minor &&
        m->offset == (first.offset & ~(page - 1)))
      base = &*m;
  }
  if (base == nullptr) return {};
  const uint64_t vaddr = addr - (base->start - (first.vaddr & ~(page - 1)));
  const bool loaded = std::any_of(elf->segments().begin(), elf->segments().end(), [&](const LoadSegment& seg) {
    return vaddr >= seg.vaddr && vaddr - seg.vaddr < seg.memsz;
  });
  const Symbol* object = loaded ? elf->lookup_object(vaddr) : nullptr;
  if (object == nullptr) return {};
  std::string name = display(object->name);
  if (vaddr != object->address) name += "+0x" + to_hex(vaddr - object->address);
  return name;
}

std::shared_ptr<const ElfSymbols> Symbolizer::elf_for(uint32_t pid, ProcessState& state, const MapEntry& mapping) {
  FileKey key{mapping.dev_major, mapping.dev_minor, mapping.inode};
  if (auto* cached = elf_cache_.find(key)) {
    return *cached;
  }
  if (std::find(state.failed_files.begin(), state.failed_files.end(), key) != state.failed_files.end()) {
    return nullptr;
  }

  // map_files reaches the very file that is mapped, even when deleted or in another mount namespace;
  // the path inside the process's root is the fallback (the same inode only).
  if (!state.creds) return nullptr;  // the process is gone, or what it may read is unknown: nothing
  auto file = open_mapped_file(pid, mapping, &*state.creds);
  if (file) {
    auto loaded = ElfSymbols::load_fd(file->fd.get(), file->name);
    if (loaded) return elf_cache_.put(key, with_debug_file(pid, state, mapping, std::move(loaded).value()));
  } else if (file.error().err != ENOENT && file.error().err != ESRCH) {
    note(state, "symbols of " + mapping.path + " in PID " + std::to_string(pid) + " not read: " + file.error().reason);
  }
  // Not cached globally: another process may still be able to provide this file.
  state.failed_files.push_back(key);
  return nullptr;
}

void Symbolizer::load_kernel_locked() {
  if (kernel_ || kernel_error_) {
    return;
  }
  auto loaded = KernelSymbols::load(options_.kallsyms_path);
  if (loaded) {
    kernel_ = std::move(loaded).value();
  } else {
    kernel_error_ = loaded.error();
  }
}

Result<void> Symbolizer::load_kernel() {
  std::lock_guard lock(mutex_);
  load_kernel_locked();
  if (kernel_error_) {
    return *kernel_error_;
  }
  return {};
}

std::string Symbolizer::symbolize_kernel(uint64_t ip) {
  std::lock_guard lock(mutex_);
  load_kernel_locked();
  if (!kernel_) {
    return kUnknown;
  }
  std::optional<std::string> name = kernel_->lookup(ip);
  return name ? display(std::string(*name)) : std::string(kUnknown);
}

void Symbolizer::forget(uint32_t pid) {
  std::lock_guard lock(mutex_);
  processes_.erase(pid);
}

void Symbolizer::refresh_kernel() {
  std::lock_guard lock(mutex_);
  kernel_.reset();
  kernel_error_.reset();
}

std::optional<Error> Symbolizer::kernel_error() const {
  std::lock_guard lock(mutex_);
  return kernel_error_;
}

uint64_t Symbolizer::cache_bytes() const {
  std::lock_guard lock(mutex_);
  uint64_t bytes = sizeof(*this);
  elf_cache_.for_each([&](const FileKey&, const std::shared_ptr<const ElfSymbols>& elf) {
    bytes += sizeof(FileKey) + elf->memory_bytes();
  });
  processes_.for_each([&](uint32_t, const ProcessState& state) {
    bytes += sizeof(ProcessState) + maps_bytes(state.maps) + state.failed_files.capacity() * sizeof(FileKey);
    bytes += state.perf_map.capacity() * sizeof(PerfMapEntry);
    for (const PerfMapEntry& e : state.perf_map)
      if (e.name.size() >= sizeof(std::string)) bytes += e.name.capacity() + 1;
  });
  if (kernel_) {
    bytes += kernel_->memory_bytes();
  }
  return bytes;
}

size_t Symbolizer::cached_elf_files() const {
  std::lock_guard lock(mutex_);
  return elf_cache_.size();
}

size_t Symbolizer::cached_processes() const {
  std::lock_guard lock(mutex_);
  return processes_.size();
}

}  // namespace scorch
