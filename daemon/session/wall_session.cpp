#include "session/wall_session.h"

namespace scorch {
namespace {

class WallSession : public MeasureSession {
 public:
  WallSession(std::unique_ptr<CpuSession> cpu, std::unique_ptr<OffCpuSession> offcpu)
      : cpu_(std::move(cpu)), offcpu_(std::move(offcpu)) {}
  std::string detail() const override { return cpu_->detail() + ", " + offcpu_->detail(); }
  void lose(uint32_t pid) override {
    cpu_->lose(pid);
    offcpu_->lose(pid);
  }
  void finish(Profile& p) override {
    cpu_->finish(p);     // sets the period; its stacks hold ns already
    offcpu_->finish(p);  // adds blocks in progress, turns every stack's ns into us
  }

 private:
  std::unique_ptr<CpuSession> cpu_;
  std::unique_ptr<OffCpuSession> offcpu_;
};

}  // namespace

Result<std::unique_ptr<Measure>> WallMeasure::load(MeasureEnv& env) {
  auto* cpu = dynamic_cast<CpuMeasure*>(env.loaded("cpu"));
  auto* offcpu = dynamic_cast<OffCpuMeasure*>(env.loaded("offcpu"));
  if (!cpu || !offcpu)
    return Error{"load the wall-clock measure",
                 std::string("it needs the ") + (cpu ? "off-CPU" : "on-CPU") + " measure, which is unavailable",
                 ENOTSUP, "see 'scorch status' for why"};
  return std::unique_ptr<Measure>(new WallMeasure(*cpu, *offcpu));
}

Result<std::unique_ptr<MeasureSession>> WallMeasure::start(Session& core, std::span<const uint8_t> options) {
  auto o = proto::decode_wall_options(options);
  if (!o) return o.error();
  auto cpu = cpu_.start_part(core, o->cpu, true);
  if (!cpu) return cpu.error();
  auto off = offcpu_.start_part(core, o->offcpu, true);
  if (!off) return off.error();
  return std::unique_ptr<MeasureSession>(new WallSession(std::move(*cpu), std::move(*off)));
}

}  // namespace scorch
