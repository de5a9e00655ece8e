#include "export/json.h"

#include "export/json_writer.h"

namespace scorch {

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

  w.end_object();
  std::string out = w.take();
  out += '\n';
  return out;
}

}  // namespace scorch
