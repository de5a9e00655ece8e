#include "symbolize/symbolizer.h"

#include <iterator>

#include <fstream>

#include <filesystem>

#include "symbolize/demangle.h"

#include <elfutils/debuginfod.h>
#include <unistd.h>

#include <cstdlib>

#include <algorithm>
#include <charconv>

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
    std::string path = "/proc/" + std::to_string(pid) + "/root/tmp/perf-" + std::to_string(state.ns_pid) + ".map";
    std::error_code ec;
    auto size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
    if (!ec && size != state.perf_map_size) {
      std::ifstream in(path, std::ios::binary);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      state.perf_map = parse_perf_map(text);
      state.perf_map_size = size;
    }
  }
  return find_perf_map_entry(state.perf_map, ip);
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
}

std::shared_ptr<const ElfSymbols> Symbolizer::with_debug_file(uint32_t pid, const MapEntry& mapping,
                                                          std::shared_ptr<const ElfSymbols> elf) {
  const std::string& id = elf->build_id();
  const std::string root = "/proc/" + std::to_string(pid) + "/root";
  std::vector<std::string> candidates;
  // By build id, in each debug directory: the process's own (a container's) first, then the host's.
  if (id.size() >= 4) {
    const std::string rel = "/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) + ".debug";
    for (const std::string& dir : options_.debug_dirs) {
      candidates.push_back(root + dir + rel);
      candidates.push_back(dir + rel);
    }
  }
  // By .gnu_debuglink: next to the file, in .debug/ there, and under each debug directory (as gdb).
  const std::string& link = elf->debuglink();
  if (!link.empty() && link.find('/') == std::string::npos && mapping.path.front() == '/') {
    std::string dir = mapping.path.substr(0, mapping.path.rfind('/'));
    candidates.push_back(root + dir + "/" + link);
    candidates.push_back(root + dir + "/.debug/" + link);
    for (const std::string& debug_dir : options_.debug_dirs) {
      candidates.push_back(root + debug_dir + dir + "/" + link);
      candidates.push_back(debug_dir + dir + "/" + link);
    }
  }
  for (const std::string& path : candidates) {
    auto debug = ElfSymbols::load(path);
    // The same build id (when there is one), or it is some other build's file.
    if (debug && (*debug)->build_id() == id && !(*debug)->symbols().empty())
      return ElfSymbols::with_debug_symbols(*elf, **debug);
  }
  if (options_.debuginfod && id.size() >= 4 && id.size() % 2 == 0) {
    // Once per file (the result is cached with the file): ask the servers by build id.
    if (!debuginfod_) debuginfod_.reset(debuginfod_begin());
    std::vector<unsigned char> raw_id;
    for (size_t i = 0; i < id.size(); i += 2) raw_id.push_back(static_cast<unsigned char>(std::stoul(id.substr(i, 2), nullptr, 16)));
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

std::string Symbolizer::symbolize_in_mapping(uint32_t pid, ProcessState& state, const MapEntry& mapping,
                                             uint64_t ip) {
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

std::shared_ptr<const ElfSymbols> Symbolizer::elf_for(uint32_t pid, ProcessState& state, const MapEntry& mapping) {
  FileKey key{mapping.dev_major, mapping.dev_minor, mapping.inode};
  if (auto* cached = elf_cache_.find(key)) {
    return *cached;
  }
  if (std::find(state.failed_files.begin(), state.failed_files.end(), key) != state.failed_files.end()) {
    return nullptr;
  }

  // map_files reaches the very file that is mapped, even when deleted or in another mount namespace;
  // the paths are fallbacks for when it is not readable.
  std::string proc = "/proc/" + std::to_string(pid);
  std::vector<std::string> candidates{proc + "/map_files/" + to_hex(mapping.start) + "-" + to_hex(mapping.end)};
  if (!mapping.deleted && mapping.path.front() == '/') {
    candidates.push_back(proc + "/root" + mapping.path);
    candidates.push_back(mapping.path);
  }
  for (const std::string& candidate : candidates) {
    auto loaded = ElfSymbols::load(candidate);
    if (loaded) {
      return elf_cache_.put(key, with_debug_file(pid, mapping, std::move(loaded).value()));
    }
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
