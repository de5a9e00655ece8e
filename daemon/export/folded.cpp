#include "export/folded.h"

#include <charconv>
#include <map>

namespace scorch {

namespace {

void append_clean(std::string& out, std::string_view name) {
  for (char c : name) {
    if (c == ';') {
      out += ':';
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
}

std::string stack_key(const StackCount& stack) {
  std::string key;
  append_clean(key, stack.comm);
  for (const Frame& frame : stack.frames) {
    key += ';';
    append_clean(key, frame.name);
    if (frame.kernel) key += kKernelSuffix;
  }
  return key;
}

Error line_error(size_t line_no, const std::string& why) {
  Error error;
  error.what = "parse folded stacks";
  error.reason = "line " + std::to_string(line_no) + ": " + why;
  return error;
}

Frame parse_frame(std::string_view field) {
  Frame frame;
  if (field.ends_with(kKernelSuffix)) {
    field.remove_suffix(kKernelSuffix.size());
    frame.kernel = true;
  }
  frame.name = std::string(field);
  return frame;
}

}  // namespace

std::string render_folded(const Profile& profile) {
  std::map<std::string, uint64_t> merged;
  for (const StackCount& stack : profile.stacks) merged[stack_key(stack)] += stack.count;

  std::string out;
  for (const auto& [key, count] : merged) {
    if (count == 0) continue;
    out += key;
    out += ' ';
    out += std::to_string(count);
    out += '\n';
  }
  return out;
}

Result<Profile> parse_folded(std::string_view text) {
  Profile profile;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);

    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.empty()) continue;

    const size_t space = line.find_last_of(" \t");
    if (space == std::string_view::npos) return line_error(line_no, "missing count after the stack");
    const std::string_view count_text = line.substr(space + 1);
    std::string_view stack_text = line.substr(0, space);

    StackCount stack;
    const char* end = count_text.data() + count_text.size();
    const auto [ptr, ec] = std::from_chars(count_text.data(), end, stack.count);
    if (ec == std::errc::result_out_of_range) {
      return line_error(line_no, "count '" + std::string(count_text) + "' out of range");
    }
    if (ec != std::errc() || ptr != end) {
      return line_error(line_no, "count '" + std::string(count_text) + "' is not a non-negative integer");
    }

    const size_t first_sep = stack_text.find(';');
    stack.comm = std::string(stack_text.substr(0, first_sep));
    if (first_sep != std::string_view::npos) {
      stack_text.remove_prefix(first_sep + 1);
      while (true) {
        const size_t sep = stack_text.find(';');
        stack.frames.push_back(parse_frame(stack_text.substr(0, sep)));
        if (sep == std::string_view::npos) break;
        stack_text.remove_prefix(sep + 1);
      }
    }
    profile.stacks.push_back(std::move(stack));
  }
  return profile;
}

}  // namespace scorch
