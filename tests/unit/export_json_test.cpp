#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "export/json.h"
#include "export/json_writer.h"
#include "export/utf8.h"

namespace scorch {
namespace {

bool python_parses(const std::string& json) {
  static int counter = 0;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("scorch_json_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".json");
  std::ofstream(path) << json;
  const std::string cmd =
      "python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' '" + path.string() + "'";
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(path);
  return rc == 0;
}

std::string json_string(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(ExportJsonWriter, EscapesSpecialAndControlCharacters) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
  EXPECT_EQ(json_string("a\nb\tc\rd\be\ff"), "\"a\\nb\\tc\\rd\\be\\ff\"");
  EXPECT_EQ(json_string(std::string_view("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
}

TEST(ExportJsonWriter, PassesValidUtf8AndReplacesInvalid) {
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\"");
  EXPECT_EQ(json_string("a\xff"
                        "b"),
            "\"a\\ufffdb\"");
  EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"");                        // truncated sequence
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // UTF-16 surrogate
}

TEST(ExportJsonWriter, CommasAndNesting) {
  JsonWriter w;
  w.begin_object();
  w.key("a").value(uint64_t{1});
  w.key("b").begin_array().value(int64_t{-2}).value(true).value("s").null_value().end_array();
  w.key("c").begin_object().end_object();
  w.key("d").begin_array().end_array();
  w.key("e").value(2.5);
  w.end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":[-2,true,"s",null],"c":{},"d":[],"e":2.5})");
}

TEST(ExportJsonWriter, NumbersAtTheLimits) {
  JsonWriter w;
  w.begin_array();
  w.value(std::numeric_limits<uint64_t>::max());
  w.value(std::numeric_limits<int64_t>::min());
  w.value(uint32_t{7});
  w.value(-3);
  w.value(std::numeric_limits<double>::quiet_NaN());
  w.value(std::numeric_limits<double>::infinity());
  w.value(0.1);
  w.end_array();
  EXPECT_EQ(w.str(), "[18446744073709551615,-9223372036854775808,7,-3,null,null,0.1]");
}

TEST(ExportJsonWriter, PrettyPrinting) {
  JsonWriter w(true);
  w.begin_object()
      .key("x")
      .begin_array()
      .value(uint64_t{1})
      .value(uint64_t{2})
      .end_array()
      .key("y")
      .begin_object()
      .end_object()
      .end_object();
  EXPECT_EQ(w.str(), "{\n  \"x\": [\n    1,\n    2\n  ],\n  \"y\": {}\n}");
  EXPECT_TRUE(python_parses(w.str()));
}

TEST(ExportJsonWriter, TakeResets) {
  JsonWriter w;
  w.begin_array().value(true).end_array();
  EXPECT_EQ(w.take(), "[true]");
  EXPECT_EQ(w.str(), "");
  w.begin_array().end_array();
  EXPECT_EQ(w.str(), "[]");
}

TEST(ExportUtf8, LengthAndPrefixRespectCharacters) {
  const std::string text =
      "a\xc3\xa9\xe2\x82\xac"
      "b";  // a é € b
  EXPECT_EQ(utf8_length(text), 4u);
  EXPECT_EQ(utf8_prefix(text, 2), "a\xc3\xa9");
  EXPECT_EQ(utf8_prefix(text, 3), "a\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(utf8_prefix(text, 10), text);
  EXPECT_EQ(sanitize_utf8("x\x80y"), "x\xef\xbf\xbdy");
}

Profile sample_profile() {
  Profile profile;
  profile.measure = "cpu";
  profile.unit = "samples";
  profile.period_ns = 10101010;
  profile.duration_ns = 5000000000;
  profile.pids = {42, 43};
  profile.drops.samples = 100;
  profile.drops.add("stack_collisions", 1);
  profile.drops.add("stack_errors", 2);
  profile.drops.add("map_full", 3);
  profile.drops.add("lost_stacks", 4);
  profile.notes = {"process 43 exited", "quote \" and \\ and \n newline"};
  StackCount a;
  a.pid = 42;
  a.comm = "my\tapp";
  a.frames = {{"main", false}, {"operator<<(\"x\")", false}, {"sys_\x01write", true}};
  a.count = 7;
  profile.stacks.push_back(a);
  StackCount b;
  b.pid = 43;
  b.comm = "idle";
  b.count = 2;
  profile.stacks.push_back(b);
  return profile;
}

TEST(ExportJson, ExactDocument) {
  const std::string expected =
      R"({"measure":"cpu","unit":"samples","period_ns":10101010,"duration_ns":5000000000,"pids":[42,43],)"
      R"("total":9,"drops":{"samples":100,"stack_collisions":1,"stack_errors":2,"map_full":3,"lost_stacks":4},)"
      R"("notes":["process 43 exited","quote \" and \\ and \n newline"],)"
      R"("stacks":[{"pid":42,"comm":"my\tapp","count":7,"frames":[{"name":"main","kernel":false},)"
      R"J({"name":"operator<<(\"x\")","kernel":false},{"name":"sys_\u0001write","kernel":true}]},)J"
      R"({"pid":43,"comm":"idle","count":2,"frames":[]}]})"
      "\n";
  EXPECT_EQ(render_json(sample_profile()), expected);
}

TEST(ExportJson, ValidForPython) {
  Profile profile = sample_profile();
  profile.stacks[0].frames.push_back({"caf\xc3\xa9\xff", false});
  EXPECT_TRUE(python_parses(render_json(profile)));
  EXPECT_TRUE(python_parses(render_json(Profile{})));
}

TEST(ExportJson, EmptyProfile) {
  EXPECT_EQ(render_json(Profile{}),
            R"({"measure":"cpu","unit":"samples","period_ns":0,"duration_ns":0,"pids":[],"total":0,)"
            R"("drops":{"samples":0},"notes":[],"stacks":[]})"
            "\n");
}

}  // namespace
}  // namespace scorch
