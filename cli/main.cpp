// scorch: the thin client of scorchd. Global options, the command table's lookup, exit codes; nothing else.
#include <iostream>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/log.h"
#include "scorch_version.h"

int main(int argc, char** argv) {
  scorch::log::set_program("scorch");
  scorch::cli::GlobalOptions g;
  g.socket_path = scorch::cli::default_socket_path();
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    if (a == "--socket") {
      if (i + 1 >= argc) {
        std::cerr << "scorch: --socket needs a path\n" << scorch::cli::usage();
        return 2;
      }
      g.socket_path = argv[++i];
    } else if (a == "-j" || a == "--json") {
      g.json = true;
    } else if (a == "-v" || a == "--verbose") {
      g.verbose = true;
      scorch::log::set_verbose(true);
    } else if (a == "--version") {
      std::cout << "scorch " << scorch::kScorchVersion << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::cout << scorch::cli::usage();
      return 0;
    } else {
      std::cerr << "scorch: unknown option '" << a << "'\n" << scorch::cli::usage();
      return 2;
    }
  }
  if (i >= argc) {
    std::cerr << scorch::cli::usage();
    return 2;
  }
  std::string name = argv[i];
  std::vector<std::string> args(argv + i + 1, argv + argc);
  for (const auto& c : scorch::cli::commands())
    if (name == c.name) return c.run(g, args);
  std::cerr << "scorch: unknown command '" << name << "'\n" << scorch::cli::usage();
  return 2;
}
