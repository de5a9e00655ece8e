#include "export/flamegraph.h"

#include <cstdio>
#include "export/format.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

#include "export/utf8.h"

namespace scorch {

namespace {

constexpr double kFrameHeight = 16;  // one level of the graph, including a 1px gap
constexpr double kXPad = 10;         // left and right margin
constexpr double kCharWidth = 7;     // estimated average glyph width of the 12px label font
constexpr double kLabelPad = 3;      // label inset from the left edge of its frame
constexpr double kBottomPad = 30;    // room for the hover detail line

// ---- child lookup for build_flame_tree ----

bool node_less(const FlameNode& node, const std::pair<std::string_view, bool>& key) {
  if (node.name != key.first) return node.name < key.first;
  return node.kernel < key.second;
}

FlameNode& child_of(FlameNode& parent, std::string_view name, bool kernel) {
  const std::pair<std::string_view, bool> key{name, kernel};
  auto it = std::lower_bound(parent.children.begin(), parent.children.end(), key, node_less);
  if (it == parent.children.end() || it->name != name || it->kernel != kernel) {
    FlameNode node;
    node.name = std::string(name);
    node.kernel = kernel;
    it = parent.children.insert(it, std::move(node));
  }
  return *it;
}

void layout_node(const FlameNode& node, uint32_t depth, uint64_t offset, double root_total, double width_px,
                 double min_width_px, std::vector<FlameRect>& out) {
  if (node.total == 0) return;
  const double width = width_px * static_cast<double>(node.total) / root_total;
  if (width < min_width_px) return;
  out.push_back(FlameRect{node.name, node.kernel, node.total, depth,
                          width_px * static_cast<double>(offset) / root_total, width, offset});
  uint64_t child_offset = offset;
  for (const FlameNode& child : node.children) {
    layout_node(child, depth + 1, child_offset, root_total, width_px, min_width_px, out);
    child_offset += child.total;
  }
}

// ---- text helpers ----

/// Valid UTF-8 that XML 1.0 accepts: control characters become spaces, U+FFFE/U+FFFF become U+FFFD.
std::string clean_name(std::string_view name) {
  std::string out = sanitize_utf8(name);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  size_t pos = 0;
  while ((pos = out.find("\xEF\xBF", pos)) != std::string::npos) {
    if (pos + 2 < out.size() && (out[pos + 2] == '\xBE' || out[pos + 2] == '\xBF')) out[pos + 2] = '\xBD';
    pos += 2;
  }
  return out;
}

void append_xml(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
}

/// Fixed-point with `decimals` digits, trailing zeros (and a bare '.') trimmed: 12.5, 700, 0.33.
std::string num(double value, int decimals = 2) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, decimals);
  std::string out(buf, res.ptr);
  if (out.find('.') != std::string::npos) {
    while (out.back() == '0') out.pop_back();
    if (out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

std::string with_commas(uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

/// The label that fits in a frame `width` px wide: the name, or its start followed by "..", or nothing
/// when fewer than 3 characters fit. The script in the SVG applies the same rule after a zoom.
std::string fit_label(const std::string& name, double width) {
  const double fit = std::floor((width - 2 * kLabelPad) / kCharWidth);
  if (fit < 3) return {};
  const auto max_chars = static_cast<size_t>(fit);
  if (utf8_length(name) <= max_chars) return name;
  return std::string(utf8_prefix(name, max_chars - 2)) + "..";
}

// ---- colours ----

uint64_t hash_name(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;  // final avalanche so every bit depends on every byte
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

int channel(double value) { return static_cast<int>(std::lround(std::clamp(value, 0.0, 1.0) * 255.0)); }

/// hue in degrees, saturation and lightness in [0, 1].
std::string hsl_to_rgb(double hue, double sat, double light) {
  const double chroma = (1 - std::fabs(2 * light - 1)) * sat;
  const double sector = hue / 60.0;
  const double second = chroma * (1 - std::fabs(std::fmod(sector, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (sector < 1) {
    r = chroma, g = second;
  } else if (sector < 2) {
    r = second, g = chroma;
  } else if (sector < 3) {
    g = chroma, b = second;
  } else if (sector < 4) {
    g = second, b = chroma;
  } else if (sector < 5) {
    r = second, b = chroma;
  } else {
    r = chroma, b = second;
  }
  const double m = light - chroma / 2;
  return "rgb(" + std::to_string(channel(r + m)) + "," + std::to_string(channel(g + m)) + "," +
         std::to_string(channel(b + m)) + ")";
}

/// Warm colours picked by the name's hash: user frames red to yellow, kernel frames a paler orange;
/// blocked time in blues.
std::string frame_color(std::string_view name, bool kernel, bool off_cpu) {
  const uint64_t h = hash_name(name);
  const double v1 = static_cast<double>(h & 0xFFFF) / 65535.0;
  const double v2 = static_cast<double>((h >> 16) & 0xFFFF) / 65535.0;
  const double v3 = static_cast<double>((h >> 32) & 0xFFFF) / 65535.0;
  if (off_cpu || name.starts_with("[off-cpu")) {
    if (kernel) return hsl_to_rgb(200 + 20 * v1, 0.45 + 0.2 * v2, 0.70 + 0.08 * v3);
    return hsl_to_rgb(205 + 30 * v1, 0.60 + 0.2 * v2, 0.55 + 0.10 * v3);
  }
  if (kernel) return hsl_to_rgb(22 + 14 * v1, 0.55 + 0.2 * v2, 0.70 + 0.08 * v3);
  return hsl_to_rgb(0 + 52 * v1, 0.80 + 0.15 * v2, 0.52 + 0.10 * v3);
}

/// A duration in microseconds as a person reads it: "850 us", "12.35 ms", "3.20 s".
std::string format_micros(uint64_t us) {
  char buf[48];
  if (us < 1000)
    std::snprintf(buf, sizeof(buf), "%llu us", static_cast<unsigned long long>(us));
  else if (us < 1'000'000)
    std::snprintf(buf, sizeof(buf), "%.2f ms", static_cast<double>(us) / 1e3);
  else
    std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(us) / 1e6);
  return buf;
}

// ---- SVG pieces ----

constexpr std::string_view kStyle = R"CSS(
text { font-family: Verdana, "DejaVu Sans", sans-serif; font-size: 12px; fill: rgb(0,0,0); }
.title { font-size: 17px; }
.subtitle { fill: rgb(100,100,100); }
.ctl { cursor: pointer; fill: rgb(40,40,160); }
.ctl:hover { text-decoration: underline; }
.f { cursor: pointer; }
.f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }
.f text { pointer-events: none; }
.parent { opacity: 0.5; }
.hide { display: none; }
)CSS";

// Frames are <g class="f" data-s data-v data-d> with <title>, <rect>, <text>. data-s is the offset and
// data-v the value, both in counts, so zooming is exact integer interval arithmetic.
constexpr std::string_view kScript = R"JS(
(function () {
  "use strict";
  var svg = document.documentElement;
  var total = Number(svg.getAttribute("data-total"));
  var fw = Number(svg.getAttribute("data-fw"));
  var xpad = Number(svg.getAttribute("data-xpad"));
  var char_width = Number(svg.getAttribute("data-charw"));
  var label_pad = Number(svg.getAttribute("data-labelpad"));
  var container = document.getElementById("frames");
  var details = document.getElementById("details");
  var matched = document.getElementById("matched");
  var unzoom_ctl = document.getElementById("unzoom");
  var search_ctl = document.getElementById("search");
  var frames = [];
  var by_group = new Map();
  var searching = false;

  var groups = container.children;
  for (var i = 0; i < groups.length; i++) {
    var g = groups[i];
    var title = g.getElementsByTagName("title")[0].textContent;
    var cut = title.lastIndexOf(" (");
    var f = {
      g: g,
      rect: g.getElementsByTagName("rect")[0],
      text: g.getElementsByTagName("text")[0],
      s: Number(g.getAttribute("data-s")),
      v: Number(g.getAttribute("data-v")),
      d: Number(g.getAttribute("data-d")),
      title: title,
      name: cut < 0 ? title : title.substring(0, cut)
    };
    frames.push(f);
    by_group.set(g, f);
  }

  function fit_label(name, width) {
    var n = Math.floor((width - 2 * label_pad) / char_width);
    if (n < 3) return "";
    if (name.length <= n) return name;
    return name.substring(0, n - 2) + "..";
  }

  function place(f, x, width) {
    f.rect.setAttribute("x", (xpad + x).toFixed(2));
    f.rect.setAttribute("width", width.toFixed(2));
    f.text.setAttribute("x", (xpad + x + label_pad).toFixed(2));
    f.text.textContent = fit_label(f.name, width);
  }

  function set_state(f, hidden, ancestor) {
    f.g.classList.toggle("hide", hidden);
    f.g.classList.toggle("parent", ancestor);
  }

  function unzoom() {
    frames.forEach(function (f) {
      set_state(f, false, false);
      place(f, f.s * fw / total, f.v * fw / total);
    });
    unzoom_ctl.classList.add("hide");
  }

  function zoom(target) {
    if (target.d === 0) {
      unzoom();
      return;
    }
    var start = target.s;
    var end = target.s + target.v;
    frames.forEach(function (f) {
      if (f.d < target.d && f.s <= start && f.s + f.v >= end) {
        set_state(f, false, true);
        place(f, 0, fw);
      } else if (f.d >= target.d && f.s >= start && f.s + f.v <= end) {
        set_state(f, false, false);
        place(f, (f.s - start) * fw / target.v, f.v * fw / target.v);
      } else {
        set_state(f, true, false);
      }
    });
    unzoom_ctl.classList.remove("hide");
  }

  function reset_search() {
    frames.forEach(function (f) { f.rect.style.fill = ""; });
    matched.textContent = " ";
    search_ctl.textContent = "Search";
    searching = false;
  }

  function search(term) {
    var re;
    try {
      re = new RegExp(term);
    } catch (err) {
      alert("Invalid regular expression: " + err.message);
      return;
    }
    var hits = [];
    frames.forEach(function (f) {
      var hit = re.test(f.name);
      f.rect.style.fill = hit ? "rgb(230,0,230)" : "";
      if (hit) hits.push(f);
    });
    // Sum each matched subtree once: a hit inside an earlier hit's interval is nested in it.
    hits.sort(function (a, b) { return a.s - b.s || a.d - b.d; });
    var sum = 0;
    var covered_end = -1;
    hits.forEach(function (f) {
      if (f.s >= covered_end) {
        sum += f.v;
        covered_end = f.s + f.v;
      }
    });
    matched.textContent = "Matched: " + (100 * sum / total).toFixed(1) + "%";
    search_ctl.textContent = "Reset Search";
    searching = true;
  }

  function ask_search() {
    var term = prompt("Search frames (regular expression):", "");
    if (term) search(term);
  }

  function frame_of(event) {
    var g = event.target.closest ? event.target.closest("g.f") : null;
    return g ? by_group.get(g) : undefined;
  }

  container.addEventListener("click", function (event) {
    var f = frame_of(event);
    if (f) zoom(f);
  });
  container.addEventListener("mouseover", function (event) {
    var f = frame_of(event);
    details.textContent = f ? "Function: " + f.title : " ";
  });
  container.addEventListener("mouseout", function () { details.textContent = " "; });
  unzoom_ctl.addEventListener("click", unzoom);
  search_ctl.addEventListener("click", function () {
    if (searching) reset_search(); else ask_search();
  });
  window.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && (event.key === "f" || event.key === "F")) {
      event.preventDefault();
      ask_search();
    } else if (event.key === "Escape") {
      unzoom();
      reset_search();
    }
  });
})();
)JS";

void append_text(std::string& out, const std::string& attrs, std::string_view content) {
  out += "<text " + attrs + ">";
  append_xml(out, content);
  out += "</text>\n";
}

}  // namespace

FlameNode build_flame_tree(const Profile& profile) {
  FlameNode root;
  root.name = "all";
  for (const StackCount& stack : profile.stacks) {
    if (stack.count == 0) continue;
    root.total += stack.count;
    FlameNode* node = &child_of(root, stack.comm, false);
    node->total += stack.count;
    for (const Frame& frame : stack.frames) {
      node = &child_of(*node, frame.name, frame.kernel);
      node->total += stack.count;
    }
    node->self += stack.count;
  }
  return root;
}

std::vector<FlameRect> layout_flame(const FlameNode& root, double width_px, double min_width_px) {
  std::vector<FlameRect> rects;
  if (root.total == 0) return rects;
  layout_node(root, 0, 0, static_cast<double>(root.total), width_px, min_width_px, rects);
  return rects;
}

std::string render_flamegraph_svg(const Profile& profile, const FlameOptions& options) {
  const FlameNode root = build_flame_tree(profile);
  const double width = std::max(options.width, 2 * kXPad + 100);
  const double frames_width = width - 2 * kXPad;
  const std::vector<FlameRect> rects = layout_flame(root, frames_width, options.min_width_px);

  uint32_t max_depth = 0;
  for (const FlameRect& rect : rects) max_depth = std::max(max_depth, rect.depth);
  const bool has_subtitle = !options.subtitle.empty();
  const double top = has_subtitle ? 54 : 36;
  const double frames_height = rects.empty() ? 40 : (max_depth + 1) * kFrameHeight;
  const double height = top + frames_height + kBottomPad;

  std::string out;
  out.reserve(4096 + rects.size() * 256);
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + num(width) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\" data-total=\"" +
         std::to_string(root.total) + "\" data-fw=\"" + num(frames_width) + "\" data-xpad=\"" + num(kXPad) +
         "\" data-charw=\"" + num(kCharWidth) + "\" data-labelpad=\"" + num(kLabelPad) + "\">\n";
  out += "<style type=\"text/css\"><![CDATA[";
  out += kStyle;
  out += "]]></style>\n";
  out +=
      "<rect x=\"0\" y=\"0\" width=\"" + num(width) + "\" height=\"" + num(height) + "\" fill=\"rgb(250,250,246)\"/>\n";
  append_text(out, "class=\"title\" x=\"" + num(width / 2) + "\" y=\"24\" text-anchor=\"middle\"",
              clean_name(options.title));
  if (has_subtitle) {
    append_text(out, "class=\"subtitle\" x=\"" + num(width / 2) + "\" y=\"42\" text-anchor=\"middle\"",
                clean_name(options.subtitle));
  }

  if (rects.empty()) {
    append_text(out, "x=\"" + num(width / 2) + "\" y=\"" + num(top + 24) + "\" text-anchor=\"middle\"", "No samples");
    out += "</svg>\n";
    return out;
  }

  append_text(out, "id=\"unzoom\" class=\"ctl hide\" x=\"" + num(kXPad) + "\" y=\"24\"", "Reset Zoom");
  append_text(out, "id=\"search\" class=\"ctl\" x=\"" + num(width - kXPad) + "\" y=\"24\" text-anchor=\"end\"",
              "Search");
  append_text(out, "id=\"details\" x=\"" + num(kXPad) + "\" y=\"" + num(height - 10) + "\"", " ");
  append_text(out, "id=\"matched\" x=\"" + num(width - kXPad) + "\" y=\"" + num(height - 10) + "\" text-anchor=\"end\"",
              " ");

  const std::string unit = clean_name(options.unit);
  out += "<g id=\"frames\">\n";
  for (const FlameRect& rect : rects) {
    const std::string name = clean_name(rect.name);
    const double x = kXPad + rect.x;
    const double y = top + (max_depth - rect.depth) * kFrameHeight;
    out += "<g class=\"f\" data-s=\"" + std::to_string(rect.offset) + "\" data-v=\"" + std::to_string(rect.value) +
           "\" data-d=\"" + std::to_string(rect.depth) + "\"><title>";
    append_xml(out, name);
    if (unit == "us") {
      out += " (" + format_micros(rect.value);
    } else {
      out += " (" + with_commas(rect.value) + " ";
      append_xml(out, unit);
    }
    out += ", " + format_percent(rect.value, root.total, 2) + "%)</title>";
    out += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(rect.width) + "\" height=\"" +
           num(kFrameHeight - 1) + "\" fill=\"" + frame_color(name, rect.kernel, options.off_cpu) +
           "\" rx=\"2\" ry=\"2\"/>";
    out += "<text x=\"" + num(x + kLabelPad) + "\" y=\"" + num(y + 10.5) + "\">";
    append_xml(out, fit_label(name, rect.width));
    out += "</text></g>\n";
  }
  out += "</g>\n";
  out += "<script type=\"text/ecmascript\"><![CDATA[";
  out += kScript;
  out += "]]></script>\n";
  out += "</svg>\n";
  return out;
}

}  // namespace scorch
