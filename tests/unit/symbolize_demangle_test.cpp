#include <gtest/gtest.h>

#include "symbolize/demangle.h"

namespace scorch {
namespace {

// Real names: C++ from g++ 12, Rust from Debian's rustc 1.63 (tests/testprogs/rust_chain.rs built
// with the default legacy scheme and with -C symbol-mangling-version=v0).
TEST(Demangle, CxxTemplatesLambdasAnonymousNamespaces) {
  EXPECT_EQ(demangle("_ZN6scorch10SymbolizerC2Ev"), "scorch::Symbolizer::Symbolizer");
  EXPECT_EQ(demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"), "std::vector<int, std::allocator<int> >::push_back");
  EXPECT_EQ(demangle("_ZNK3foo3barIiE3bazEv"), "foo::bar<int>::baz");
  EXPECT_EQ(demangle("_ZZ4mainENKUliE_clEi"), "main::{lambda(int)#1}::operator()");
  EXPECT_EQ(demangle("_ZN12_GLOBAL__N_14helpEv"), "(anonymous namespace)::help");
}

TEST(Demangle, RustLegacyDropsTheHash) {
  EXPECT_EQ(demangle("_ZN10rust_chain5chain4leaf17hf5298777044d7f19E"), "rust_chain::chain::leaf");
  EXPECT_EQ(demangle("_ZN3std2rt19lang_start_internal17h2c2e962c94282c61E"), "std::rt::lang_start_internal");
  EXPECT_EQ(
      demangle("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h10f608ef96c47ea8E.llvm.5849639930532096069"),
      "std::rt::lang_start::{{closure}}");
}

TEST(Demangle, RustV0) {
  EXPECT_EQ(demangle("_RNvNtCs5WrX9I8c9nn_10rust_chain5chain4leaf"), "rust_chain::chain::leaf");
  EXPECT_EQ(demangle("_RNvCs5WrX9I8c9nn_10rust_chain4main"), "rust_chain::main");
  EXPECT_EQ(demangle("_RINvNtCs6IL9ONYDOZW_4core3ptr13drop_in_placeNtNtCsihNoVIYWwLU_"
                     "5alloc6string6StringECs5WrX9I8c9nn_10rust_chain"),
            "core::ptr::drop_in_place::<alloc::string::String>");
}

TEST(Demangle, PlainAndBrokenNamesComeBackAsTheyAre) {
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("__libc_start_main"), "__libc_start_main");
  EXPECT_EQ(demangle("_Z"), "_Z");
  EXPECT_EQ(demangle("_ZN3foo"), "_ZN3foo");  // truncated: not a valid name
  EXPECT_EQ(demangle(""), "");
}

}  // namespace
}  // namespace scorch
