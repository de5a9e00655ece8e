#pragma once
/// Little-endian, bounds-checked primitives the protocol messages are written with.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace scorch::wire {

/// Appends fixed-width integers and length-prefixed strings to a byte buffer.
class Writer {
 public:
  void u8(uint8_t v) { buf_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
  }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t> buf_;
};

/// Reads what Writer wrote; any read past the end sets a sticky failure instead of throwing.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}

  uint8_t u8() { return static_cast<uint8_t>(get(1)); }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  /// A string of at most max_len bytes; longer ones fail the reader.
  std::string str(size_t max_len) {
    uint32_t n = u32();
    if (failed_ || n > max_len || n > remaining()) {
      fail("string too long or truncated");
      return {};
    }
    std::string s(reinterpret_cast<const char*>(data_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  /// An element count, refused when it exceeds max or could not fit in what is left
  /// (each element takes at least min_elem_bytes), so a lying count allocates nothing.
  uint32_t count(uint32_t max, size_t min_elem_bytes) {
    uint32_t n = u32();
    if (!failed_ && (n > max || n * min_elem_bytes > remaining())) fail("element count out of range");
    return failed_ ? 0 : n;
  }

  size_t remaining() const { return data_.size() - pos_; }
  bool failed() const { return failed_; }
  const std::string& why() const { return why_; }
  void fail(std::string why) {
    if (!failed_) {
      failed_ = true;
      why_ = std::move(why);
    }
  }
  /// True when everything was read and nothing is left over.
  bool finish() {
    if (!failed_ && remaining() != 0) fail("trailing bytes after message");
    return !failed_;
  }

 private:
  uint64_t get(size_t n) {
    if (failed_ || remaining() < n) {
      fail("message truncated");
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool failed_ = false;
  std::string why_;
};

}  // namespace scorch::wire
