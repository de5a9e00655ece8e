#pragma once
/// JSON exporter: the whole Profile as one JSON object, for scripts and other tools.

#include <string>

#include "model/profile.h"

namespace scorch {

/// Renders the profile as a compact JSON object followed by a newline:
/// {"measure","unit","period_ns","duration_ns","pids":[],"total","drops":{...},"notes":[],
///  "stacks":[{"pid","comm","count","frames":[{"name","kernel"}]}]} with frames root first, then,
/// when the profile has any, "histograms":[{"label","unit","buckets":[{"low","high","count"}]}]
/// listing the non-empty buckets only: [low, high) is [2^i, 2^(i+1)), low 0 for bucket 0 (the last
/// bucket's high, 2^64, is past uint64_t: readers that parse integers as doubles still get it exactly),
/// and "tables":[{"title","columns":[{"name","numeric"}],"rows":[{"<column>": cell}]}] with numeric
/// cells as JSON numbers (null where one is not a number).
std::string render_json(const Profile& profile);

}  // namespace scorch
