// Cold start as Lambda sees it: the time from spawning a runtime to its first `GET .../invocation/next`.
//   first_next RUNS -- COMMAND [ARGS...] [-- COMMAND [ARGS...]]...
// Each run spawns every command in turn (side by side: they share the machine's load), each with
// AWS_LAMBDA_RUNTIME_API pointing at a fresh listening socket, stamps CLOCK_MONOTONIC just before
// posix_spawn and again once the request line has arrived, then kills the process. A small C++ launcher,
// so the figure holds no interpreter's fork. Prints JSON: {"samples_ms": [[command 1's runs], ...]}.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace {

constexpr std::string_view next_line = "GET /2018-06-01/runtime/invocation/next ";

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "first_next: %s\n", message.c_str());
  std::exit(2);
}

// One cold start of `argv`: milliseconds from spawn to the first request line.
double one_run(const std::vector<char*>& argv) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(listener, 4) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    die(std::string("cannot listen: ") + std::strerror(errno));
  }
  const std::string endpoint = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  setenv("AWS_LAMBDA_RUNTIME_API", endpoint.c_str(), 1);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  for (int fd : {0, 1, 2})
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  pid_t pid = 0;
  const double started = now_ms();
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    die(std::string("cannot spawn ") + argv[0] + ": " + std::strerror(errno));
  }
  posix_spawn_file_actions_destroy(&actions);

  pollfd waiting{listener, POLLIN, 0};
  if (poll(&waiting, 1, 60000) != 1) die(std::string(argv[0]) + " never connected");
  const int connection = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  std::string request;
  char buffer[4096];
  while (connection >= 0 && request.find("\r\n") == std::string::npos) {
    const ssize_t got = read(connection, buffer, sizeof buffer);
    if (got <= 0) break;
    request.append(buffer, static_cast<size_t>(got));
  }
  const double arrived = now_ms();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  if (connection >= 0) close(connection);
  close(listener);
  if (!std::string_view(request).starts_with(next_line)) {
    die(std::string("the first request of ") + argv[0] + " was not GET next: " + request.substr(0, 80));
  }
  return arrived - started;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || std::string_view(argv[2]) != "--")
    die("usage: first_next RUNS -- COMMAND [ARGS...] [-- ...]");
  const int runs = std::atoi(argv[1]);
  std::vector<std::vector<char*>> commands;
  for (int i = 2; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      commands.emplace_back();
      continue;
    }
    commands.back().push_back(argv[i]);
  }
  for (auto& command : commands) {
    if (command.empty()) die("an empty command");
    command.push_back(nullptr);
  }
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::vector<double>> samples(commands.size());
  for (int run = 0; run < runs; ++run) {
    for (size_t c = 0; c < commands.size(); ++c) samples[c].push_back(one_run(commands[c]));
  }
  std::printf("{\"samples_ms\": [");
  for (size_t c = 0; c < samples.size(); ++c) {
    std::printf("%s[", c ? ", " : "");
    for (size_t i = 0; i < samples[c].size(); ++i) std::printf("%s%.4f", i ? ", " : "", samples[c][i]);
    std::printf("]");
  }
  std::printf("]}\n");
  return 0;
}
