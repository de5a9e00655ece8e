#pragma once
/// The scorch wire protocol: versioned, length-framed binary messages over a Unix stream socket.
///
/// Every frame is a 16-byte header (magic "SCOR", version, type, payload length, zero flags)
/// followed by the payload. A peer that receives a bad header answers with an ErrorReply and
/// closes that connection only.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "export/profile.h"

namespace scorch::proto {

inline constexpr uint32_t kMagic = 0x524f4353;  // "SCOR" little-endian
inline constexpr uint16_t kVersion = 3;  // 2: measures (off-CPU, wall); 3: malloc, stack values
inline constexpr size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxRequestPayload = 64 * 1024;        // client -> daemon
inline constexpr uint32_t kMaxReplyPayload = 256 * 1024 * 1024;  // daemon -> client
inline constexpr uint32_t kMaxPids = 1024;
inline constexpr uint32_t kMaxPid = 4 * 1024 * 1024;  // PID_MAX_LIMIT
inline constexpr uint32_t kMaxFrequencyHz = 10000;
inline constexpr uint32_t kDefaultFrequencyHz = 99;
inline constexpr uint64_t kMaxDurationMs = 7ull * 24 * 3600 * 1000;

enum class MsgType : uint16_t {
  kStatusRequest = 1,
  kProfileRequest = 2,
  kStopRequest = 3,
  kStatusReply = 101,
  kProgress = 102,
  kProfileResult = 103,
  kErrorReply = 199,
};
bool is_known_type(uint16_t type);
const char* type_name(MsgType type);

/// A decoded frame header.
struct FrameHeader {
  uint16_t version = kVersion;
  MsgType type = MsgType::kErrorReply;
  uint32_t length = 0;
};

/// Why a header was refused; the receiver answers with this and closes.
enum class HeaderProblem { kNone, kBadMagic, kBadVersion, kBadType, kTooLarge, kBadFlags };
struct HeaderCheck {
  HeaderProblem problem = HeaderProblem::kNone;
  FrameHeader header;
  std::string reason;  // empty when problem == kNone
};
HeaderCheck decode_header(std::span<const uint8_t, kHeaderSize> bytes, uint32_t max_payload);
std::vector<uint8_t> encode_frame(MsgType type, std::span<const uint8_t> payload);

// ---- messages ----

/// Ask for daemon version, features, sessions and drop counters.
struct StatusRequest {};

/// What a profile measures.
enum class Measure : uint8_t {
  kCpu = 0,     // sampled on-CPU stacks
  kOffCpu = 1,  // blocked time by stack (sched_switch)
  kWall = 2,    // both, in time units: on-CPU samples scaled by their period, plus off-CPU time
  kMalloc = 3,  // allocator calls and bytes by stack (uprobes)
};
inline constexpr uint8_t kMaxMeasure = 3;
inline constexpr uint64_t kMaxSampleBytes = (1ull << 24) - 1;  // the BPF side keeps 24 bits of it
inline constexpr uint32_t kMaxDutyPermille = 1000;
const char* measure_name(Measure m);
inline constexpr uint32_t kAllStates = 0xf;
inline constexpr uint8_t kUserStack = 1, kKernelStack = 2, kBothStacks = 3;
/// Off-CPU thread states by number (the BPF side's order): "preempted", "sleep", "disk", "other".
const char* offcpu_state_name(uint32_t state);
/// Parses a comma-separated list of state names ("all" too) into a mask; an error names the bad word.
Result<uint32_t> parse_offcpu_states(std::string_view list);

/// Start a profile. Empty pids: whole system (root only).
struct ProfileRequest {
  std::vector<uint32_t> pids;
  uint32_t frequency_hz = kDefaultFrequencyHz;
  uint64_t duration_ms = 0;  // 0: until a StopRequest or the client goes away
  Measure measure = Measure::kCpu;
  // Off-CPU only: blocks kept (min <= duration <= max, state bit in the mask), states as frames.
  uint64_t min_block_ns = 0;
  uint64_t max_block_ns = UINT64_MAX;
  uint32_t states = kAllStates;
  bool by_state = false;
  uint8_t stacks = kBothStacks;  // off-CPU: which stacks to take
  // Malloc only.
  bool outstanding = false;      // live blocks at the end, by allocating stack
  uint64_t min_age_ns = 0;       // outstanding: only blocks at least this old
  uint64_t sample_bytes = 0;     // 0: every call; else one sample per this many bytes on average
  uint32_t duty_permille = 0;    // 0: probes always attached; else the share of time they are
  bool weight_calls = false;     // flamegraph width: calls instead of bytes
};

/// End the running profile now and send its result.
struct StopRequest {};

/// One probed kernel feature as scorch status shows it.
struct FeatureStatus {
  std::string name;
  bool available = false;
  std::string detail;
};

/// One active profiling session.
struct SessionInfo {
  uint64_t id = 0;
  uint32_t uid = 0;
  std::vector<uint32_t> pids;  // empty: whole system
  uint32_t frequency_hz = 0;
  Measure measure = Measure::kCpu;
  uint64_t elapsed_ms = 0;
  uint64_t duration_ms = 0;
  uint64_t samples = 0;
};

struct StatusReply {
  std::string version;
  uint32_t daemon_pid = 0;
  uint64_t uptime_ms = 0;
  std::vector<FeatureStatus> features;
  std::vector<SessionInfo> sessions;
  DropCounters drops;  // since daemon start
  uint64_t symbol_cache_bytes = 0;
  std::vector<std::string> notes;
};

/// Sent about once a second while a profile runs.
struct Progress {
  uint64_t elapsed_ms = 0;
  uint64_t duration_ms = 0;
  uint64_t samples = 0;
};

struct ErrorReply {
  std::string what;    // "<verb> <object>"
  std::string reason;
  std::string hint;
  int32_t err = 0;     // errno when one applies
};

std::vector<uint8_t> encode(const StatusRequest&);
std::vector<uint8_t> encode(const ProfileRequest&);
std::vector<uint8_t> encode(const StopRequest&);
std::vector<uint8_t> encode(const StatusReply&);
std::vector<uint8_t> encode(const Progress&);
std::vector<uint8_t> encode(const Profile&);
std::vector<uint8_t> encode(const ErrorReply&);

/// Decoders validate every field; a refusal names the field.
Result<StatusRequest> decode_status_request(std::span<const uint8_t> payload);
Result<ProfileRequest> decode_profile_request(std::span<const uint8_t> payload);
Result<StopRequest> decode_stop_request(std::span<const uint8_t> payload);
Result<StatusReply> decode_status_reply(std::span<const uint8_t> payload);
Result<Progress> decode_progress(std::span<const uint8_t> payload);
Result<Profile> decode_profile(std::span<const uint8_t> payload);
Result<ErrorReply> decode_error_reply(std::span<const uint8_t> payload);

/// A whole frame (header + payload) for a message.
template <typename Msg>
std::vector<uint8_t> frame(MsgType type, const Msg& msg) {
  return encode_frame(type, encode(msg));
}

}  // namespace scorch::proto
