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
#include "model/profile.h"

namespace scorch::proto {

inline constexpr uint32_t kMagic = 0x524f4353;  // "SCOR" little-endian
inline constexpr uint16_t kVersion = 8;         // 2: measures (off-CPU, wall); 3: malloc, stack values;
                                                // 4: per-measure options, named drop counters;
                                                // 5: log2 histograms in profile results;
                                                // 6: tables in profile results;
                                                // 7: perf events in the status reply;
                                                // 8: stat per thread
inline constexpr size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxRequestPayload = 64 * 1024;        // client -> daemon
inline constexpr uint32_t kMaxReplyPayload = 256 * 1024 * 1024;  // daemon -> client
inline constexpr uint32_t kMaxPids = 1024;
inline constexpr uint32_t kMaxPid = 4 * 1024 * 1024;  // PID_MAX_LIMIT
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

/// Start a profile: the common part, then the measure's own options, encoded by its
/// <measure>_options.cpp. Empty pids: whole system (root only).
struct ProfileRequest {
  std::vector<uint32_t> pids;
  uint64_t duration_ms = 0;  // 0: until a StopRequest or the client goes away
  uint8_t measure = 0;       // a measure id (proto/measure_options.h)
  std::vector<uint8_t> options;
};
inline constexpr uint32_t kMaxOptionsBytes = 4096;
inline constexpr uint32_t kMaxHistograms = 64 * 1024;  // per profile result; buckets: Histogram::kMaxBuckets
inline constexpr uint32_t kMaxTables = 64;             // per profile result
inline constexpr uint32_t kMaxTableColumns = 64;
inline constexpr uint32_t kMaxTableRows = 1024 * 1024;  // over all tables of a result

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
  std::string measure;         // its CLI name: "cpu", "malloc", ...
  std::string detail;          // how it measures: "99 Hz", "count mode", ...
  std::string events;          // what samples counts: "samples", "blocks", "allocator calls"
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
  std::vector<FeatureStatus> events;  // the perf events scorch knows (proto/perf_events.h): can they be opened
};

/// Sent about once a second while a profile runs.
struct Progress {
  uint64_t elapsed_ms = 0;
  uint64_t duration_ms = 0;
  uint64_t samples = 0;
};

struct ErrorReply {
  std::string what;  // "<verb> <object>"
  std::string reason;
  std::string hint;
  int32_t err = 0;  // errno when one applies
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
