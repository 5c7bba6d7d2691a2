// Starts a ttlcache_service process, waits until it listens, and stops it.
// SPDX-License-Identifier: MIT
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace loadgen {

/// A running service. Thread-safety: none (one owner). Exceptions: std::runtime_error when
/// the process cannot start, exits, or does not listen within the timeout (the message
/// names the program and what happened).
class ServiceProcess {
 public:
  /// Runs program with args; returns once it printed "listening on 127.0.0.1:<port>".
  ServiceProcess(const std::string& program, const std::vector<std::string>& args,
                 std::chrono::seconds timeout = std::chrono::seconds(120));
  /// Stops it (SIGTERM; SIGKILL after 15 s) if still running.
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  int port() const noexcept { return port_; }
  /// SIGTERM, then waits (bounded); returns the exit status (or -1 when killed).
  int stop();

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace loadgen
