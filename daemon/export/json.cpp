#include "export/json.h"

#include "export/json_writer.h"

namespace scorch {
namespace {

/// {"label","unit","buckets":[{"low","high","count"}]} with the non-empty buckets only.
void write_histogram(JsonWriter& w, const Histogram& h) {
  w.begin_object();
  w.key("label").value(h.label);
  w.key("unit").value(h.unit);
  w.key("buckets").begin_array();
  for (size_t i = 0; i < h.counts.size() && i < Histogram::kMaxBuckets; ++i) {
    if (h.counts[i] == 0) continue;
    w.begin_object();
    w.key("low").value(i == 0 ? uint64_t{0} : uint64_t{1} << i);
    if (i + 1 < Histogram::kMaxBuckets)
      w.key("high").value(uint64_t{1} << (i + 1));
    else
      w.key("high").value(18446744073709551616.0);  // 2^64: past uint64_t; a double prints it exactly
    w.key("count").value(h.counts[i]);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

/// {"title","columns":[{"name","numeric"}],"rows":[{column: cell}]}; numeric cells as numbers.
void write_table(JsonWriter& w, const Table& t) {
  w.begin_object();
  w.key("title").value(t.title);
  w.key("columns").begin_array();
  for (const auto& c : t.columns) {
    w.begin_object();
    w.key("name").value(c.name);
    w.key("numeric").value(c.numeric);
    w.end_object();
  }
  w.end_array();
  w.key("rows").begin_array();
  for (const auto& row : t.rows) {
    w.begin_object();
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : std::string();
      w.key(t.columns[i].name);
      if (t.columns[i].numeric && Table::is_number(cell))
        w.number_text(cell);
      else if (t.columns[i].numeric)
        w.null_value();
      else
        w.value(cell);
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string render_json(const Profile& profile) {
  JsonWriter w;
  w.begin_object();
  w.key("measure").value(profile.measure);
  w.key("unit").value(profile.unit);
  w.key("period_ns").value(profile.period_ns);
  w.key("duration_ns").value(profile.duration_ns);

  w.key("pids").begin_array();
  for (uint32_t pid : profile.pids) w.value(pid);
  w.end_array();

  w.key("total").value(profile.total());

  w.key("drops").begin_object();
  w.key("samples").value(profile.drops.samples);
  for (const Drop& d : profile.drops.counts) w.key(d.name).value(d.count);
  w.end_object();

  w.key("notes").begin_array();
  for (const std::string& note : profile.notes) w.value(note);
  w.end_array();

  if (!profile.value_names.empty()) {
    w.key("value_names").begin_array();
    for (const std::string& n : profile.value_names) w.value(n);
    w.end_array();
  }

  w.key("stacks").begin_array();
  for (const StackCount& stack : profile.stacks) {
    w.begin_object();
    w.key("pid").value(stack.pid);
    w.key("comm").value(stack.comm);
    w.key("count").value(stack.count);
    if (!stack.values.empty()) {
      w.key("values").begin_array();
      for (uint64_t v : stack.values) w.value(v);
      w.end_array();
    }
    w.key("frames").begin_array();
    for (const Frame& frame : stack.frames) {
      w.begin_object();
      w.key("name").value(frame.name);
      w.key("kernel").value(frame.kernel);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();

  // Only when the measure made some, so profiles without them read as before.
  if (!profile.histograms.empty()) {
    w.key("histograms").begin_array();
    for (const Histogram& h : profile.histograms) write_histogram(w, h);
    w.end_array();
  }
  if (!profile.tables.empty()) {
    w.key("tables").begin_array();
    for (const Table& t : profile.tables) write_table(w, t);
    w.end_array();
  }

  w.end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

}  // namespace scorch
