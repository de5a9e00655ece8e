#pragma once
/// Result<T>: a value or an Error carrying a message and an errno; errors become exit codes only in main.

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace scorch {

/// An error: what failed ("load BPF object"), why, the errno if any, and an optional hint for the user.
struct Error {
  std::string what;    // "<verb> <object>", e.g. "open /proc/1234/maps"
  std::string reason;  // human-readable cause, e.g. strerror(errno)
  int err = 0;         // errno value when one applies, else 0
  std::string hint;    // how to fix it, when known

  /// "failed to <what>: <reason>"
  std::string message() const { return "failed to " + what + ": " + reason; }
};

inline Error make_errno_error(std::string what, int err, std::string hint = {}) {
  return Error{std::move(what), std::strerror(err), err, std::move(hint)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace scorch
