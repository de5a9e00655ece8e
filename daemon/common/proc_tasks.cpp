#include "common/proc_tasks.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>

namespace scorch {

std::vector<uint32_t> thread_ids(uint32_t pid) {
  std::vector<uint32_t> tids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    const std::string name = entry.path().filename().string();
    uint32_t tid = 0;
    auto [p, e] = std::from_chars(name.data(), name.data() + name.size(), tid);
    if (e == std::errc() && p == name.data() + name.size()) tids.push_back(tid);
  }
  std::sort(tids.begin(), tids.end());
  return tids;
}

std::optional<std::string> task_comm(uint32_t pid, uint32_t tid) {
  std::string path = "/proc/" + std::to_string(pid);
  if (tid != 0) path += "/task/" + std::to_string(tid);
  std::ifstream in(path + "/comm");
  std::string comm;
  if (!in || !std::getline(in, comm)) return std::nullopt;
  return comm;
}

}  // namespace scorch
