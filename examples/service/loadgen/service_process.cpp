// fork/exec of the service, its "listening" line, and a bounded stop.
// SPDX-License-Identifier: MIT
#include "service_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace loadgen {
namespace {

[[noreturn]] void fail(const std::string& program, const std::string& why) {
  throw std::runtime_error("service " + program + ": " + why);
}

}  // namespace

ServiceProcess::ServiceProcess(const std::string& program, const std::vector<std::string>& args,
                               std::chrono::seconds timeout) {
  int out[2];
  if (pipe(out) != 0) fail(program, std::string("pipe: ") + std::strerror(errno));
  std::vector<std::string> argv_strings = {program};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_strings.size() + 1);
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) fail(program, std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // A load generator killed by a signal (a ctest timeout) must not leave its services running.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    close(out[1]);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string seen;
  while (port_ == 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      close(out[0]);
      stop();
      fail(program, "did not listen within " + std::to_string(timeout.count()) + " s");
    }
    pollfd p{out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) {
      close(out[0]);
      const int status = stop();
      fail(program, "exited before listening (status " + std::to_string(status) + ")");
    }
    seen.append(buf, static_cast<std::size_t>(n));
    const auto at = seen.find("listening on 127.0.0.1:");
    if (at != std::string::npos && seen.find('\n', at) != std::string::npos) {
      port_ = std::stoi(seen.substr(at + std::strlen("listening on 127.0.0.1:")));
    }
  }
  close(out[0]);  // it prints nothing else on stdout
}

ServiceProcess::~ServiceProcess() { stop(); }

int ServiceProcess::stop() {
  if (pid_ <= 0) return 0;
  kill(pid_, SIGTERM);
  int status = 0;
  // Bounded: 15 s for a clean stop, then SIGKILL.
  for (int i = 0; i < 1500; ++i) {
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

}  // namespace loadgen
