#include <gtest/gtest.h>

#include "profile_builders.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "export/flamegraph.h"

namespace scorch {
namespace {

FlameNode make_node(std::string name, uint64_t total, uint64_t self, std::vector<FlameNode> children = {}) {
  FlameNode node;
  node.name = std::move(name);
  node.total = total;
  node.self = self;
  node.children = std::move(children);
  return node;
}

/// Writes text to a fresh temp file and returns its path.
std::filesystem::path write_temp(const std::string& text, const std::string& suffix) {
  static int counter = 0;
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("scorch_fg_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + suffix);
  std::ofstream(path) << text;
  return path;
}

bool is_well_formed_xml(const std::string& text) {
  const auto path = write_temp(text, ".svg");
  const std::string cmd = "/usr/bin/xmllint --noout '" + path.string() + "'";
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(path);
  return rc == 0;
}

size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

Profile small_profile() {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "app", {{"main", false}, {"compute", false}}, 5));
  profile.stacks.push_back(make_stack(2, "app", {{"main", false}, {"compute", false}}, 1));
  profile.stacks.push_back(make_stack(1, "app", {{"main", false}}, 2));
  profile.stacks.push_back(make_stack(1, "app", {{"main", false}, {"read", false}, {"vfs_read", true}}, 3));
  profile.stacks.push_back(make_stack(3, "bash", {{"main", false}}, 4));
  return profile;
}

TEST(ExportFlameTree, TotalsAndSelf) {
  const FlameNode root = build_flame_tree(small_profile());
  EXPECT_EQ(root.name, "all");
  EXPECT_EQ(root.total, 15u);
  EXPECT_EQ(root.self, 0u);
  ASSERT_EQ(root.children.size(), 2u);

  const FlameNode& app = root.children[0];
  EXPECT_EQ(app.name, "app");
  EXPECT_EQ(app.total, 11u);
  EXPECT_EQ(app.self, 0u);
  ASSERT_EQ(app.children.size(), 1u);

  const FlameNode& main = app.children[0];
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.total, 11u);
  EXPECT_EQ(main.self, 2u);
  ASSERT_EQ(main.children.size(), 2u);
  EXPECT_EQ(main.children[0].name, "compute");  // alphabetical
  EXPECT_EQ(main.children[0].total, 6u);
  EXPECT_EQ(main.children[0].self, 6u);
  EXPECT_EQ(main.children[1].name, "read");
  EXPECT_EQ(main.children[1].total, 3u);
  EXPECT_EQ(main.children[1].self, 0u);
  ASSERT_EQ(main.children[1].children.size(), 1u);
  EXPECT_EQ(main.children[1].children[0].name, "vfs_read");
  EXPECT_TRUE(main.children[1].children[0].kernel);
  EXPECT_EQ(main.children[1].children[0].self, 3u);

  const FlameNode& bash = root.children[1];
  EXPECT_EQ(bash.name, "bash");
  EXPECT_EQ(bash.total, 4u);
  ASSERT_EQ(bash.children.size(), 1u);
  EXPECT_EQ(bash.children[0].self, 4u);
}

TEST(ExportFlameTree, KernelAndUserFramesOfSameNameAreDistinct) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "app", {{"f", true}}, 1));
  profile.stacks.push_back(make_stack(1, "app", {{"f", false}}, 2));
  const FlameNode root = build_flame_tree(profile);
  ASSERT_EQ(root.children.size(), 1u);
  ASSERT_EQ(root.children[0].children.size(), 2u);
  EXPECT_FALSE(root.children[0].children[0].kernel);
  EXPECT_EQ(root.children[0].children[0].total, 2u);
  EXPECT_TRUE(root.children[0].children[1].kernel);
  EXPECT_EQ(root.children[0].children[1].total, 1u);
}

TEST(ExportFlameLayout, ProportionalPositions) {
  const double w = 1000;
  const FlameNode root = make_node("all", 10, 0, {make_node("a", 7, 3, {make_node("c", 4, 4)}), make_node("b", 3, 3)});
  const std::vector<FlameRect> rects = layout_flame(root, w, 0);
  ASSERT_EQ(rects.size(), 4u);

  EXPECT_EQ(rects[0].name, "all");
  EXPECT_EQ(rects[0].depth, 0u);
  EXPECT_DOUBLE_EQ(rects[0].x, 0);
  EXPECT_DOUBLE_EQ(rects[0].width, w);

  EXPECT_EQ(rects[1].name, "a");
  EXPECT_EQ(rects[1].depth, 1u);
  EXPECT_EQ(rects[1].value, 7u);
  EXPECT_DOUBLE_EQ(rects[1].x, 0);
  EXPECT_DOUBLE_EQ(rects[1].width, 0.7 * w);

  EXPECT_EQ(rects[2].name, "c");
  EXPECT_EQ(rects[2].depth, 2u);
  EXPECT_DOUBLE_EQ(rects[2].x, 0);
  EXPECT_DOUBLE_EQ(rects[2].width, 0.4 * w);

  EXPECT_EQ(rects[3].name, "b");
  EXPECT_EQ(rects[3].depth, 1u);
  EXPECT_EQ(rects[3].offset, 7u);
  EXPECT_DOUBLE_EQ(rects[3].x, 0.7 * w);
  EXPECT_DOUBLE_EQ(rects[3].width, 0.3 * w);
}

TEST(ExportFlameLayout, ChildOffsetsStartAtParent) {
  const FlameNode root = make_node(
      "all", 8, 0, {make_node("a", 4, 0, {}), make_node("b", 4, 1, {make_node("x", 1, 1), make_node("y", 2, 2)})});
  const std::vector<FlameRect> rects = layout_flame(root, 800, 0);
  ASSERT_EQ(rects.size(), 5u);
  EXPECT_EQ(rects[3].name, "x");
  EXPECT_DOUBLE_EQ(rects[3].x, 400);
  EXPECT_DOUBLE_EQ(rects[3].width, 100);
  EXPECT_EQ(rects[4].name, "y");
  EXPECT_DOUBLE_EQ(rects[4].x, 500);
  EXPECT_DOUBLE_EQ(rects[4].width, 200);
  EXPECT_EQ(rects[4].depth, 2u);
}

TEST(ExportFlameLayout, PrunesNarrowRectsAndTheirDescendants) {
  // "tiny" is 1/1000 of 100px = 0.1px; its child would be too, and must vanish with it.
  const FlameNode root =
      make_node("all", 1000, 0, {make_node("big", 999, 999), make_node("tiny", 1, 0, {make_node("leaf", 1, 1)})});
  const std::vector<FlameRect> all = layout_flame(root, 100, 0);
  EXPECT_EQ(all.size(), 4u);
  const std::vector<FlameRect> pruned = layout_flame(root, 100, 0.5);
  ASSERT_EQ(pruned.size(), 2u);
  EXPECT_EQ(pruned[0].name, "all");
  EXPECT_EQ(pruned[1].name, "big");
}

TEST(ExportFlameLayout, EmptyTreeHasNoRects) {
  EXPECT_TRUE(layout_flame(build_flame_tree(Profile{}), 1000, 0).empty());
}

TEST(ExportFlameSvg, WellFormedSelfContainedAndNamed) {
  Profile profile = small_profile();
  profile.stacks.push_back(make_stack(1, "app", {{"main", false}, {"operator<<", false}}, 2));
  profile.stacks.push_back(make_stack(1, "app", {{"main", false}, {"a&b \"q\" 'x' >y", false}}, 2));
  FlameOptions options;
  options.title = "cpu <profile> & more";
  options.subtitle = "pid 1, 2 & 3";
  const std::string svg = render_flamegraph_svg(profile, options);

  EXPECT_TRUE(is_well_formed_xml(svg));
  EXPECT_NE(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("<![CDATA["), std::string::npos);
  EXPECT_NE(svg.find("compute"), std::string::npos);
  EXPECT_NE(svg.find("vfs_read"), std::string::npos);
  EXPECT_NE(svg.find("operator&lt;&lt;"), std::string::npos);
  EXPECT_EQ(svg.find("operator<<"), std::string::npos);
  EXPECT_NE(svg.find("a&amp;b &quot;q&quot; &#39;x&#39; &gt;y"), std::string::npos);
  EXPECT_NE(svg.find("cpu &lt;profile&gt; &amp; more"), std::string::npos);

  // Tooltips: "name (N samples, P%)".
  EXPECT_NE(svg.find("<title>all (19 samples, 100.00%)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>compute (6 samples, 31.58%)</title>"), std::string::npos);

  // No external resources: the only URL is the SVG namespace name.
  EXPECT_EQ(count_of(svg, "http"), 1u);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_EQ(svg.find("src="), std::string::npos);
  EXPECT_EQ(svg.find("@import"), std::string::npos);
}

TEST(ExportFlameSvg, OneFrameGroupPerRectWithData) {
  const Profile profile = small_profile();
  const std::string svg = render_flamegraph_svg(profile, FlameOptions{});
  const size_t rects = layout_flame(build_flame_tree(profile), 1180, 0.1).size();
  EXPECT_EQ(count_of(svg, "<g class=\"f\""), rects);
  EXPECT_NE(svg.find("<g class=\"f\" data-s=\"0\" data-v=\"15\" data-d=\"0\">"), std::string::npos);
  EXPECT_NE(svg.find("data-total=\"15\""), std::string::npos);
}

TEST(ExportFlameSvg, HeightGrowsWithDepth) {
  Profile shallow;
  shallow.stacks.push_back(make_stack(1, "app", {{"main", false}}, 1));
  Profile deep;
  std::vector<Frame> frames;
  for (int i = 0; i < 10; ++i) {
    Frame frame;
    frame.name = "f";  // not "f" + std::to_string(i): g++ 12 -O3 raises a false -Wrestrict on that
    frame.name += std::to_string(i);
    frames.push_back(frame);
  }
  deep.stacks.push_back(make_stack(1, "app", frames, 1));
  // depth 2 (all, app, main) vs depth 11: 9 more levels of 16px.
  EXPECT_NE(render_flamegraph_svg(shallow, FlameOptions{}).find("height=\"114\""), std::string::npos);
  EXPECT_NE(render_flamegraph_svg(deep, FlameOptions{}).find("height=\"258\""), std::string::npos);
}

TEST(ExportFlameSvg, KernelFramesUseDifferentColourThanSameNamedUserFrame) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "app", {{"same_name", false}}, 1));
  profile.stacks.push_back(make_stack(1, "app", {{"same_name", true}}, 1));
  const std::string svg = render_flamegraph_svg(profile, FlameOptions{});
  auto fill_after = [&](size_t from) {
    const size_t pos = svg.find("fill=\"", from);
    return svg.substr(pos, svg.find('"', pos + 6) - pos);
  };
  const size_t user = svg.find("<title>same_name");
  const size_t kernel = svg.find("<title>same_name", user + 1);
  ASSERT_NE(kernel, std::string::npos);
  EXPECT_NE(fill_after(user), fill_after(kernel));
}

TEST(ExportFlameSvg, DeterministicOutput) {
  EXPECT_EQ(render_flamegraph_svg(small_profile(), FlameOptions{}),
            render_flamegraph_svg(small_profile(), FlameOptions{}));
}

TEST(ExportFlameSvg, LongNamesAreTruncatedToFit) {
  Profile profile;
  const std::string long_name(300, 'x');
  profile.stacks.push_back(make_stack(1, "app", {{long_name, false}}, 1));
  profile.stacks.push_back(make_stack(1, "app", {{"y", false}}, 1));
  FlameOptions options;
  options.width = 220;  // 200px of frames: each half is 100px, (100 - 6) / 7 = 13 characters
  const std::string svg = render_flamegraph_svg(profile, options);
  EXPECT_TRUE(is_well_formed_xml(svg));
  EXPECT_NE(svg.find(">" + std::string(11, 'x') + "..</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">" + std::string(12, 'x') + "..</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>" + long_name + " (1 samples, 50.00%)</title>"), std::string::npos);
}

TEST(ExportFlameSvg, BadBytesInNamesStillGiveWellFormedXml) {
  Profile profile;
  profile.stacks.push_back(make_stack(1, "a\x01pp", {{"bad\xff\xfe utf8", false}, {"ctl\x1b[31m", false}}, 1));
  profile.stacks.push_back(make_stack(1, "app", {{"caf\xc3\xa9", false}}, 1));
  const std::string svg = render_flamegraph_svg(profile, FlameOptions{});
  EXPECT_TRUE(is_well_formed_xml(svg));
  EXPECT_NE(svg.find("caf\xc3\xa9"), std::string::npos);
}

TEST(ExportFlameSvg, EmptyProfileSaysNoSamples) {
  const std::string svg = render_flamegraph_svg(Profile{}, FlameOptions{});
  EXPECT_TRUE(is_well_formed_xml(svg));
  EXPECT_NE(svg.find("No samples"), std::string::npos);
  EXPECT_EQ(svg.find("<g class=\"f\""), std::string::npos);
}

}  // namespace
}  // namespace scorch
