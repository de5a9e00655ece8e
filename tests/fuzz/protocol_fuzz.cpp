// libFuzzer: every decoder of the wire protocol on arbitrary bytes. A decoded profile must encode
// and decode again to the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "proto/locks_options.h"
#include "proto/malloc_options.h"
#include "proto/protocol.h"
#include "proto/wall_options.h"

using namespace scorch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  if (size >= proto::kHeaderSize) (void)proto::decode_header(in.first<proto::kHeaderSize>(), proto::kMaxRequestPayload);
  (void)proto::decode_profile_request(in);
  (void)proto::decode_status_request(in);
  (void)proto::decode_cpu_options(in);
  (void)proto::decode_offcpu_options(in);
  (void)proto::decode_wall_options(in);
  (void)proto::decode_malloc_options(in);
  (void)proto::decode_locks_options(in);
  (void)proto::decode_stop_request(in);
  (void)proto::decode_status_reply(in);
  (void)proto::decode_progress(in);
  (void)proto::decode_error_reply(in);
  auto p = proto::decode_profile(in);
  if (p.ok()) {
    auto again = proto::decode_profile(proto::encode(*p));
    if (!again.ok() || again->stacks.size() != p->stacks.size() || again->total() != p->total()) std::abort();
    if (again->histograms.size() != p->histograms.size()) std::abort();
    for (size_t i = 0; i < p->histograms.size(); ++i)
      if (again->histograms[i].label != p->histograms[i].label ||
          again->histograms[i].counts != p->histograms[i].counts)
        std::abort();
  }
  return 0;
}
