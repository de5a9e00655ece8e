#pragma once
/// JsonWriter: builds a JSON document into a string, inserting commas and escaping strings.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace scorch {

/// Appends `text` to `out` as a JSON string literal (with quotes); control characters become \u00XX,
/// well-formed UTF-8 is copied as is, ill-formed bytes become \ufffd.
void append_json_string(std::string& out, std::string_view text);

/// Streaming JSON builder: call key() before every value inside an object; commas are added for you.
///
///   JsonWriter w;
///   w.begin_object().key("total").value(uint64_t{42}).key("ok").value(true).end_object();
///   w.str() == R"({"total":42,"ok":true})"
class JsonWriter {
 public:
  /// pretty: newline and two-space indentation per nesting level; otherwise compact.
  explicit JsonWriter(bool pretty = false);

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text);  // without it a string literal would pick value(bool)
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int64_t number);
  JsonWriter& value(bool flag);
  JsonWriter& value(double number);  // NaN and infinities are written as null
  JsonWriter& null_value();
  /// A number already written as text; the caller checks it is a JSON number.
  JsonWriter& number_text(std::string_view number);

  /// Any other integer type (uint32_t pids, int, size_t on other platforms) without ambiguity.
  /// char is excluded on purpose: write a character as a string.
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) JsonWriter& value(T number) {
    if constexpr (std::is_signed_v<T>) {
      return value(static_cast<int64_t>(number));
    } else {
      return value(static_cast<uint64_t>(number));
    }
  }

  /// The document so far; complete once every begin_* has its end_*.
  const std::string& str() const { return out_; }
  /// Moves the document out; the writer is empty afterwards.
  std::string take();

 private:
  struct Level {
    bool is_object = false;
    bool empty = true;
  };

  void before_value();  // comma/newline/indent before a value or a key
  void open(char bracket, bool is_object);
  void close(char bracket);
  void newline_indent();

  std::string out_;
  std::vector<Level> levels_;
  bool pretty_ = false;
  bool after_key_ = false;
};

}  // namespace scorch
