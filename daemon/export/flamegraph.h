#pragma once
/// Flame graph exporter: a call tree, its layout, and a self-contained interactive SVG.

#include <cstdint>
#include <string>
#include <vector>

#include "model/profile.h"

namespace scorch {

/// One node of the merged call tree: a function under a given call path.
struct FlameNode {
  std::string name;
  bool kernel = false;
  uint64_t total = 0;               // counts of all stacks passing through this node
  uint64_t self = 0;                // counts of stacks ending at this node
  std::vector<FlameNode> children;  // sorted by name, then user before kernel
};

/// Merges the stacks into a tree: root "all", then one node per comm, then the frames root to leaf.
/// Stacks with a zero count are skipped.
FlameNode build_flame_tree(const Profile& profile);

/// One rectangle of a flame graph, in pixels relative to the left edge of the graph.
struct FlameRect {
  std::string name;
  bool kernel = false;
  uint64_t value = 0;  // the node's total
  uint32_t depth = 0;  // 0 for the root
  double x = 0;
  double width = 0;
  uint64_t offset = 0;  // counts to the left of this rect within the root; x == width_px * offset / root.total
};

/// Lays the tree out in width_px pixels: the root spans [0, width_px), each child gets a share of its
/// parent's width proportional to its total, siblings left to right in tree order. Parents come before
/// their children in the result. Nodes with a zero total or narrower than min_width_px are left out
/// with all their descendants; an empty tree gives no rects.
std::vector<FlameRect> layout_flame(const FlameNode& root, double width_px, double min_width_px);

/// Knobs for render_flamegraph_svg.
struct FlameOptions {
  std::string title = "scorch flamegraph";
  std::string subtitle;          // second line under the title; none when empty
  std::string unit = "samples";  // what the counts are, shown in tooltips; "us" is shown as a duration (ms, s)
  bool off_cpu = false;          // blocked time: cool colours for every frame (as offcputime's graphs)
  double width = 1200;           // image width in pixels
  double min_width_px = 0.1;     // frames narrower than this are not drawn (keeps big profiles small)
};

/// A self-contained interactive SVG flame graph (inline style and script, no external references):
/// hover shows "name (N unit, P%)", click zooms into a frame, "Search" highlights frames matching a
/// regular expression and shows the share they cover; frames named "[off-cpu..." (the blocked part
/// of a wall-clock profile) are drawn in blue, Ctrl-F searches, Escape resets. An empty profile
/// gives a valid SVG saying there are no samples. Output depends only on the inputs.
std::string render_flamegraph_svg(const Profile& profile, const FlameOptions& options);

}  // namespace scorch
