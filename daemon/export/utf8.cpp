#include "export/utf8.h"

namespace scorch {

namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

size_t utf8_char_len(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 0;
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return 1;

  size_t len = 0;
  unsigned char second_min = 0x80;  // narrower ranges for the second byte rule out overlongs and surrogates
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) second_min = 0xA0;  // overlong
    if (lead == 0xED) second_max = 0x9F;  // UTF-16 surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) second_min = 0x90;  // overlong
    if (lead == 0xF4) second_max = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // continuation byte as lead, C0/C1 (overlong), F5..FF
  }
  if (pos + len > text.size()) return 0;

  const auto second = static_cast<unsigned char>(text[pos + 1]);
  if (second < second_min || second > second_max) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (!is_continuation(static_cast<unsigned char>(text[pos + i]))) return 0;
  }
  return len;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t len = utf8_char_len(text, pos);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++pos;
    } else {
      out.append(text.substr(pos, len));
      pos += len;
    }
  }
  return out;
}

size_t utf8_length(std::string_view text) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t len = utf8_char_len(text, pos);
    pos += len == 0 ? 1 : len;
    ++count;
  }
  return count;
}

std::string_view utf8_prefix(std::string_view text, size_t max_chars) {
  size_t pos = 0;
  for (size_t chars = 0; chars < max_chars && pos < text.size(); ++chars) {
    const size_t len = utf8_char_len(text, pos);
    pos += len == 0 ? 1 : len;
  }
  return text.substr(0, pos);
}

}  // namespace scorch
