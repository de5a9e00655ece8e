#include "proto/protocol.h"

#include <algorithm>
#include <unordered_map>

#include "proto/wire.h"

namespace scorch::proto {
namespace {

constexpr size_t kMaxString = 64 * 1024;
constexpr uint32_t kMaxFrames = 1024;
constexpr uint32_t kMaxStacks = 8 * 1024 * 1024;
constexpr uint32_t kMaxStrings = 16 * 1024 * 1024;
constexpr uint32_t kMaxListItems = 4096;
constexpr uint32_t kMaxDropCounters = 64;
constexpr size_t kMaxDropName = 64;
constexpr uint32_t kKernelBit = 0x80000000u;
constexpr size_t kMaxHistogramLabel = 4096;
constexpr size_t kMaxHistogramUnit = 256;  // as a profile's unit

Error decode_error(const char* what, const std::string& why) {
  return Error{std::string("decode ") + what, why, EPROTO, {}};
}

template <typename T>
Result<T> finish(wire::Reader& r, const char* what, T value) {
  if (!r.finish()) return decode_error(what, r.why());
  return value;
}

void put_drops(wire::Writer& w, const DropCounters& d) {
  w.u64(d.samples);
  w.u32(static_cast<uint32_t>(d.counts.size()));
  for (const Drop& c : d.counts) {
    w.str(c.name);
    w.u64(c.count);
  }
}

DropCounters get_drops(wire::Reader& r) {
  DropCounters d;
  d.samples = r.u64();
  uint32_t n = r.count(kMaxDropCounters, 12);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    Drop c;
    c.name = r.str(kMaxDropName);
    c.count = r.u64();
    if (!r.failed() && (c.name.empty() ||
                        std::any_of(d.counts.begin(), d.counts.end(), [&](const Drop& o) { return o.name == c.name; })))
      r.fail("drop counter name empty or repeated");
    d.counts.push_back(std::move(c));
  }
  return d;
}

void put_pids(wire::Writer& w, const std::vector<uint32_t>& pids) {
  w.u32(static_cast<uint32_t>(pids.size()));
  for (uint32_t p : pids) w.u32(p);
}

std::vector<uint32_t> get_pids(wire::Reader& r) {
  uint32_t n = r.count(kMaxPids, 4);
  std::vector<uint32_t> pids;
  pids.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = r.u32();
    if (p == 0 || p > kMaxPid) r.fail("pid " + std::to_string(p) + " out of range");
    pids.push_back(p);
  }
  return pids;
}

void put_strings(wire::Writer& w, const std::vector<std::string>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.str(s);
}

std::vector<std::string> get_strings(wire::Reader& r) {
  uint32_t n = r.count(kMaxListItems, 4);
  std::vector<std::string> v;
  for (uint32_t i = 0; i < n && !r.failed(); ++i) v.push_back(r.str(kMaxString));
  return v;
}

// Each histogram: label, unit, then its buckets as a count and that many u64s.
void put_histograms(wire::Writer& w, const std::vector<Histogram>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (const Histogram& h : v) {
    w.str(h.label);
    w.str(h.unit);
    w.u32(static_cast<uint32_t>(h.counts.size()));
    for (uint64_t c : h.counts) w.u64(c);
  }
}

std::vector<Histogram> get_histograms(wire::Reader& r) {
  uint32_t n = r.count(kMaxHistograms, 12);
  std::vector<Histogram> v;
  v.reserve(n);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    Histogram h;
    h.label = r.str(kMaxHistogramLabel);
    h.unit = r.str(kMaxHistogramUnit);
    uint32_t nb = r.count(static_cast<uint32_t>(Histogram::kMaxBuckets), 8);
    h.counts.reserve(nb);
    for (uint32_t j = 0; j < nb && !r.failed(); ++j) h.counts.push_back(r.u64());
    v.push_back(std::move(h));
  }
  return v;
}

// Each: name, available, detail (kernel features, perf events).
void put_features(wire::Writer& w, const std::vector<FeatureStatus>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (const auto& f : v) {
    w.str(f.name);
    w.u8(f.available ? 1 : 0);
    w.str(f.detail);
  }
}

std::vector<FeatureStatus> get_features(wire::Reader& r) {
  std::vector<FeatureStatus> v;
  uint32_t n = r.count(kMaxListItems, 9);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    FeatureStatus f;
    f.name = r.str(kMaxString);
    f.available = r.u8() != 0;
    f.detail = r.str(kMaxString);
    v.push_back(std::move(f));
  }
  return v;
}

// Each table: title, columns (name, numeric flag), then rows of one string per column.
void put_tables(wire::Writer& w, const std::vector<Table>& v) {
  w.u32(static_cast<uint32_t>(v.size()));
  for (const Table& t : v) {
    w.str(t.title);
    w.u32(static_cast<uint32_t>(t.columns.size()));
    for (const auto& c : t.columns) {
      w.str(c.name);
      w.u8(c.numeric ? 1 : 0);
    }
    w.u32(static_cast<uint32_t>(t.rows.size()));
    for (const auto& row : t.rows)
      for (size_t i = 0; i < t.columns.size(); ++i) w.str(i < row.size() ? row[i] : std::string());
  }
}

std::vector<Table> get_tables(wire::Reader& r) {
  uint32_t n = r.count(kMaxTables, 8);
  std::vector<Table> v;
  uint32_t rows_left = kMaxTableRows;
  for (uint32_t i = 0; i < n && !r.failed(); ++i) {
    Table t;
    t.title = r.str(kMaxHistogramLabel);
    uint32_t nc = r.count(kMaxTableColumns, 5);
    if (!r.failed() && nc == 0) r.fail("table without columns");
    for (uint32_t j = 0; j < nc && !r.failed(); ++j) {
      Table::Column c;
      c.name = r.str(kMaxDropName);
      uint8_t numeric = r.u8();
      if (!r.failed() && (c.name.empty() || numeric > 1)) r.fail("bad table column");
      c.numeric = numeric == 1;
      t.columns.push_back(std::move(c));
    }
    uint32_t nr = r.count(rows_left, 4 * nc);
    rows_left -= std::min(nr, rows_left);
    for (uint32_t j = 0; j < nr && !r.failed(); ++j) {
      std::vector<std::string> row;
      for (uint32_t k = 0; k < nc && !r.failed(); ++k) {
        row.push_back(r.str(kMaxString));
        if (!r.failed() && t.columns[k].numeric && !Table::is_number(row.back()))
          r.fail("table cell '" + row.back().substr(0, 32) + "' in numeric column " + t.columns[k].name);
      }
      t.rows.push_back(std::move(row));
    }
    v.push_back(std::move(t));
  }
  return v;
}

}  // namespace

bool is_known_type(uint16_t type) {
  switch (static_cast<MsgType>(type)) {
    case MsgType::kStatusRequest:
    case MsgType::kProfileRequest:
    case MsgType::kStopRequest:
    case MsgType::kStatusReply:
    case MsgType::kProgress:
    case MsgType::kProfileResult:
    case MsgType::kErrorReply:
      return true;
  }
  return false;
}

const char* type_name(MsgType type) {
  switch (type) {
    case MsgType::kStatusRequest:
      return "status request";
    case MsgType::kProfileRequest:
      return "profile request";
    case MsgType::kStopRequest:
      return "stop request";
    case MsgType::kStatusReply:
      return "status reply";
    case MsgType::kProgress:
      return "progress";
    case MsgType::kProfileResult:
      return "profile result";
    case MsgType::kErrorReply:
      return "error reply";
  }
  return "unknown";
}

HeaderCheck decode_header(std::span<const uint8_t, kHeaderSize> bytes, uint32_t max_payload) {
  wire::Reader r(bytes);
  HeaderCheck c;
  uint32_t magic = r.u32();
  c.header.version = r.u16();
  uint16_t type = r.u16();
  c.header.length = r.u32();
  uint32_t flags = r.u32();
  c.header.type = static_cast<MsgType>(type);
  if (magic != kMagic) {
    c.problem = HeaderProblem::kBadMagic;
    c.reason = "not a scorch frame (bad magic)";
  } else if (c.header.version != kVersion) {
    c.problem = HeaderProblem::kBadVersion;
    c.reason = "protocol version " + std::to_string(c.header.version) + " not supported (this side speaks " +
               std::to_string(kVersion) + ")";
  } else if (!is_known_type(type)) {
    c.problem = HeaderProblem::kBadType;
    c.reason = "unknown message type " + std::to_string(type);
  } else if (flags != 0) {
    c.problem = HeaderProblem::kBadFlags;
    c.reason = "reserved header flags set";
  } else if (c.header.length > max_payload) {
    c.problem = HeaderProblem::kTooLarge;
    c.reason =
        "frame of " + std::to_string(c.header.length) + " bytes exceeds the limit of " + std::to_string(max_payload);
  }
  return c;
}

std::vector<uint8_t> encode_frame(MsgType type, std::span<const uint8_t> payload) {
  wire::Writer w;
  w.u32(kMagic);
  w.u16(kVersion);
  w.u16(static_cast<uint16_t>(type));
  w.u32(static_cast<uint32_t>(payload.size()));
  w.u32(0);
  auto& out = w.bytes();
  out.insert(out.end(), payload.begin(), payload.end());
  return std::move(out);
}

// ---- requests ----

std::vector<uint8_t> encode(const StatusRequest&) { return {}; }
std::vector<uint8_t> encode(const StopRequest&) { return {}; }

Result<StatusRequest> decode_status_request(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  return finish(r, "status request", StatusRequest{});
}

Result<StopRequest> decode_stop_request(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  return finish(r, "stop request", StopRequest{});
}

std::vector<uint8_t> encode(const ProfileRequest& m) {
  wire::Writer w;
  put_pids(w, m.pids);
  w.u64(m.duration_ms);
  w.u8(m.measure);
  w.u32(static_cast<uint32_t>(m.options.size()));
  auto& out = w.bytes();
  out.insert(out.end(), m.options.begin(), m.options.end());
  return std::move(out);
}

Result<ProfileRequest> decode_profile_request(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  ProfileRequest m;
  m.pids = get_pids(r);
  m.duration_ms = r.u64();
  m.measure = r.u8();
  uint32_t n = r.count(kMaxOptionsBytes, 1);
  for (uint32_t i = 0; i < n && !r.failed(); ++i) m.options.push_back(r.u8());
  if (!r.failed() && m.duration_ms > kMaxDurationMs) r.fail("duration too long");
  return finish(r, "profile request", std::move(m));
}

// ---- replies ----

std::vector<uint8_t> encode(const StatusReply& m) {
  wire::Writer w;
  w.str(m.version);
  w.u32(m.daemon_pid);
  w.u64(m.uptime_ms);
  put_features(w, m.features);
  w.u32(static_cast<uint32_t>(m.sessions.size()));
  for (const auto& s : m.sessions) {
    w.u64(s.id);
    w.u32(s.uid);
    put_pids(w, s.pids);
    w.str(s.measure);
    w.str(s.detail);
    w.str(s.events);
    w.u64(s.elapsed_ms);
    w.u64(s.duration_ms);
    w.u64(s.samples);
  }
  put_drops(w, m.drops);
  w.u64(m.symbol_cache_bytes);
  put_strings(w, m.notes);
  put_features(w, m.events);
  return std::move(w.bytes());
}

Result<StatusReply> decode_status_reply(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  StatusReply m;
  m.version = r.str(kMaxString);
  m.daemon_pid = r.u32();
  m.uptime_ms = r.u64();
  m.features = get_features(r);
  uint32_t ns = r.count(kMaxListItems, 48);
  for (uint32_t i = 0; i < ns && !r.failed(); ++i) {
    SessionInfo s;
    s.id = r.u64();
    s.uid = r.u32();
    s.pids = get_pids(r);
    s.measure = r.str(kMaxString);
    s.detail = r.str(kMaxString);
    s.events = r.str(kMaxString);
    s.elapsed_ms = r.u64();
    s.duration_ms = r.u64();
    s.samples = r.u64();
    m.sessions.push_back(std::move(s));
  }
  m.drops = get_drops(r);
  m.symbol_cache_bytes = r.u64();
  m.notes = get_strings(r);
  m.events = get_features(r);
  return finish(r, "status reply", std::move(m));
}

std::vector<uint8_t> encode(const Progress& m) {
  wire::Writer w;
  w.u64(m.elapsed_ms);
  w.u64(m.duration_ms);
  w.u64(m.samples);
  return std::move(w.bytes());
}

Result<Progress> decode_progress(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  Progress m;
  m.elapsed_ms = r.u64();
  m.duration_ms = r.u64();
  m.samples = r.u64();
  return finish(r, "progress", m);
}

std::vector<uint8_t> encode(const ErrorReply& m) {
  wire::Writer w;
  w.str(m.what);
  w.str(m.reason);
  w.str(m.hint);
  w.i32(m.err);
  return std::move(w.bytes());
}

Result<ErrorReply> decode_error_reply(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  ErrorReply m;
  m.what = r.str(kMaxString);
  m.reason = r.str(kMaxString);
  m.hint = r.str(kMaxString);
  m.err = r.i32();
  return finish(r, "error reply", std::move(m));
}

// A profile's frame names repeat across stacks: they travel once, in a string table.
std::vector<uint8_t> encode(const Profile& p) {
  std::vector<std::string> table;
  std::unordered_map<std::string, uint32_t> index;
  auto intern = [&](const std::string& s) {
    auto [it, inserted] = index.try_emplace(s, static_cast<uint32_t>(table.size()));
    if (inserted) table.push_back(s);
    return it->second;
  };
  wire::Writer body;
  body.u32(static_cast<uint32_t>(p.stacks.size()));
  for (const auto& s : p.stacks) {
    body.u32(s.pid);
    body.u32(intern(s.comm));
    body.u64(s.count);
    body.u32(static_cast<uint32_t>(s.values.size()));
    for (uint64_t v : s.values) body.u64(v);
    body.u32(static_cast<uint32_t>(s.frames.size()));
    for (const auto& f : s.frames) body.u32(intern(f.name) | (f.kernel ? kKernelBit : 0));
  }

  wire::Writer w;
  w.str(p.measure);
  w.str(p.unit);
  w.u64(p.period_ns);
  w.u64(p.duration_ns);
  put_pids(w, p.pids);
  put_drops(w, p.drops);
  put_strings(w, p.notes);
  put_strings(w, p.value_names);
  put_histograms(w, p.histograms);
  put_tables(w, p.tables);
  w.u32(static_cast<uint32_t>(table.size()));
  for (const auto& s : table) w.str(s);
  auto& out = w.bytes();
  out.insert(out.end(), body.bytes().begin(), body.bytes().end());
  return std::move(out);
}

Result<Profile> decode_profile(std::span<const uint8_t> payload) {
  wire::Reader r(payload);
  Profile p;
  p.measure = r.str(256);
  p.unit = r.str(256);
  p.period_ns = r.u64();
  p.duration_ns = r.u64();
  p.pids = get_pids(r);
  p.drops = get_drops(r);
  p.notes = get_strings(r);
  p.value_names = get_strings(r);
  p.histograms = get_histograms(r);
  p.tables = get_tables(r);
  uint32_t nstr = r.count(kMaxStrings, 4);
  std::vector<std::string> table;
  table.reserve(nstr);
  for (uint32_t i = 0; i < nstr && !r.failed(); ++i) table.push_back(r.str(kMaxString));
  uint32_t nstacks = r.count(kMaxStacks, 20);
  p.stacks.reserve(nstacks);
  auto lookup = [&](uint32_t idx) -> const std::string* {
    if (idx >= table.size()) {
      r.fail("string index " + std::to_string(idx) + " out of range");
      return nullptr;
    }
    return &table[idx];
  };
  for (uint32_t i = 0; i < nstacks && !r.failed(); ++i) {
    StackCount s;
    s.pid = r.u32();
    const std::string* comm = lookup(r.u32());
    s.count = r.u64();
    uint32_t nvalues = r.count(static_cast<uint32_t>(p.value_names.size()), 8);
    if (!r.failed() && nvalues != 0 && nvalues != p.value_names.size()) r.fail("stack values do not match their names");
    for (uint32_t j = 0; j < nvalues && !r.failed(); ++j) s.values.push_back(r.u64());
    uint32_t nframes = r.count(kMaxFrames, 4);
    if (comm) s.comm = *comm;
    s.frames.reserve(nframes);
    for (uint32_t j = 0; j < nframes && !r.failed(); ++j) {
      uint32_t v = r.u32();
      const std::string* name = lookup(v & ~kKernelBit);
      if (name) s.frames.push_back(Frame{*name, (v & kKernelBit) != 0});
    }
    p.stacks.push_back(std::move(s));
  }
  return finish(r, "profile result", std::move(p));
}

}  // namespace scorch::proto
