#pragma once
/// JSON exporter: the whole Profile as one JSON object, for scripts and other tools.

#include <string>

#include "model/profile.h"

namespace scorch {

/// Renders the profile as a compact JSON object followed by a newline:
/// {"measure","unit","period_ns","duration_ns","pids":[],"total","drops":{...},"notes":[],
///  "stacks":[{"pid","comm","count","frames":[{"name","kernel"}]}]} with frames root first.
std::string render_json(const Profile& profile);

}  // namespace scorch
