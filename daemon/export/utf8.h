#pragma once
/// UTF-8 helpers shared by the exporters: validate, repair, count and cut text without splitting characters.

#include <cstddef>
#include <string>
#include <string_view>

namespace scorch {

/// Length in bytes (1-4) of the well-formed UTF-8 character starting at text[pos], or 0 if the bytes
/// there are not well-formed UTF-8 (bad lead byte, missing continuation, overlong form, surrogate, > U+10FFFF).
size_t utf8_char_len(std::string_view text, size_t pos);

/// Copy of text with every ill-formed byte sequence replaced by U+FFFD.
std::string sanitize_utf8(std::string_view text);

/// Number of characters (code points) in text; an ill-formed byte counts as one character.
size_t utf8_length(std::string_view text);

/// The first max_chars characters of text (all of it if shorter); never cuts a character in half.
std::string_view utf8_prefix(std::string_view text, size_t max_chars);

}  // namespace scorch
