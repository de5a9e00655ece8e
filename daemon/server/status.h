#pragma once
/// status_notes: what status says about the probes, the unwinder and symbols (built on the worker).

#include <string>
#include <vector>

#include "session/profiler.h"

namespace scorch {

class Symbolizer;

/// Lines for the status reply's notes: probe counters, unwind tables, kernel symbols.
std::vector<std::string> status_notes(const Profiler& profiler, const Symbolizer& symbolizer);

}  // namespace scorch
