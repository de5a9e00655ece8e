#include "cli/session.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>

#include "cli/client.h"

namespace scorch::cli {
namespace {

using namespace std::chrono_literals;

std::atomic<int> g_interrupts{0};

void on_sigint(int) { g_interrupts.fetch_add(1); }

// Reads frames until one that is not progress arrives; shows progress on a terminal.
Result<Frame> await_reply(Client& client, bool show_progress, const std::string& label, const std::string& events) {
  bool stop_sent = false;
  bool progress_shown = false;
  // After Ctrl-C or SIGTERM the result normally follows at once; a daemon that does not send it
  // must not keep the client (and whoever waits on it) forever.
  constexpr auto kStopGrace = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point stop_deadline;
  while (true) {
    if (g_interrupts.load() >= 2) return Error{"wait for the profile", "interrupted twice", EINTR, {}};
    if (g_interrupts.load() == 1 && !stop_sent) {
      stop_sent = true;
      stop_deadline = std::chrono::steady_clock::now() + kStopGrace;
      if (auto r = client.send(proto::MsgType::kStopRequest, proto::encode(proto::StopRequest{})); !r) return r.error();
    }
    if (stop_sent && std::chrono::steady_clock::now() >= stop_deadline)
      return Error{"wait for the profile", "scorchd sent no result within 10 s of the stop request", ETIMEDOUT,
                   "see scorchd's log; 'scorch status' shows whether the daemon still answers"};
    auto got = client.receive(200ms);
    if (!got) return got.error();
    if (!*got) continue;
    Frame f = std::move(**got);
    if (f.type == proto::MsgType::kProgress) {
      auto p = proto::decode_progress(f.payload);
      if (p && show_progress) {
        std::string line = "\rscorch: " + label + ": " + format_seconds(p->elapsed_ms);
        if (p->duration_ms) line += " / " + format_seconds(p->duration_ms);
        line += ", " + std::to_string(p->samples) + " " + events + (stop_sent ? " (stopping)" : "") + "   ";
        std::cerr << line << std::flush;
        progress_shown = true;
      }
      continue;
    }
    if (progress_shown) std::cerr << "\n";
    return f;
  }
}

// Sends the request, shows progress until the result arrives (Ctrl-C asks for it early), and
// decodes it.
Result<Profile> fetch_profile(const GlobalOptions& g, const proto::ProfileRequest& req, const std::string& label,
                              const std::string& events) {
  auto client = Client::connect(g.socket_path);
  if (!client) return client.error();
  if (auto r = client->send(proto::MsgType::kProfileRequest, proto::encode(req)); !r) return r.error();
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto reply = await_reply(*client, ::isatty(STDERR_FILENO) != 0, label, events);
  if (!reply) return reply.error();
  if (reply->type == proto::MsgType::kErrorReply) {
    auto e = proto::decode_error_reply(reply->payload);
    return e ? to_error(*e) : e.error();
  }
  if (reply->type != proto::MsgType::kProfileResult)
    return Error{"read profile from scorchd", std::string("unexpected ") + proto::type_name(reply->type), EPROTO, {}};
  return proto::decode_profile(reply->payload);
}

// The options of every measuring command: whom, how long, how often, where to.
std::vector<Option> shared_options(SessionArgs& args) {
  proto::ProfileRequest& req = args.request;
  return {
      {{"-p", "--pid"},
       "a PID",
       [&req](const std::string& v) {
         std::string bad;
         return parse_pids(v, proto::kMaxPid, req.pids, bad) ? "" : "'" + bad + "' is not a PID";
       }},
      {{"-d", "--duration"},
       "seconds",
       [&req](const std::string& v) {
         return parse_seconds(v, proto::kMaxDurationMs, req.duration_ms) ? ""
                                                                         : "'" + v + "' is not a duration in seconds";
       }},
      {{"-o", "--output"},
       "a file",
       [&args](const std::string& v) {
         args.output = v;
         return std::string();
       }},
  };
}

}  // namespace

Option frequency_option(uint32_t& hz) {
  return {{"-F", "--frequency"}, "a frequency", [&hz](const std::string& v) {
            if (parse_u32(v, hz) && hz != 0 && hz <= proto::kMaxFrequencyHz) return std::string();
            return "-F takes 1.." + std::to_string(proto::kMaxFrequencyHz) + " Hz, not '" + v + "'";
          }};
}

int run_session_command(const GlobalOptions& g, const std::vector<std::string>& args, const SessionCommand& command) {
  SessionArgs parsed;
  std::vector<Option> options = command.options();
  for (auto& o : shared_options(parsed)) options.push_back(std::move(o));
  if (auto exit_code = parse_options(args, options, command.name, command.usage)) return *exit_code;
  const proto::ProfileRequest& req = parsed.request;
  if (req.pids.size() > proto::kMaxPids) return usage_error("too many PIDs", command.usage);
  if (std::string message = command.check(parsed); !message.empty()) return usage_error(message, command.usage);
  command.encode(parsed.request);
  if (!parsed.output.empty()) {
    if (auto r = check_writable(parsed.output); !r) {
      print_error(r.error());
      return 1;
    }
  }

  std::string who = req.pids.empty() ? "all processes" : "PID " + std::to_string(req.pids[0]);
  if (req.pids.size() > 1) who += " and " + std::to_string(req.pids.size() - 1) + " more";
  auto profile = fetch_profile(g, req, command.verb + " " + who, command.events);
  if (!profile) {
    print_error(profile.error());
    return 1;
  }
  SessionRun run{g, parsed, who, output_format(parsed.output, g.json)};
  if (!emit(*profile, command.render(run, *profile), parsed.output)) return 1;
  command.summarize(run, *profile);
  return 0;
}

void summarize_stacks(const SessionRun& run, const Profile& p, const std::string& done, const std::string& amount,
                      const std::string& empty_note) {
  const std::string& output = run.args.output;
  if (run.global.json && !output.empty()) {
    JsonWriter w;
    w.begin_object();
    w.key("output").value(output);
    w.key("total").value(p.total());
    w.key("duration_ns").value(p.duration_ns);
    write_drops_json(w, p.drops);
    w.end_object();
    std::cout << w.str() << "\n";
  } else {
    print_summary(p, output, done, amount);
  }
  if (p.total() == 0) std::cerr << "scorch: note: " << empty_note << "\n";
}

}  // namespace scorch::cli
