// Two processes share one cache through Redis: a writer stores a profile, a reader sees it.
// SPDX-License-Identifier: MIT
//
// usage: redis_shared [URL]                 forks: the parent writes, the child reads
//        redis_shared writer|reader [URL]   one role per process (e.g. on two machines)
// URL defaults to $TTLCACHE_REDIS_URL, then redis://127.0.0.1:6379/0. Start a server with e.g.
//   redis-server --port 16379 --bind 127.0.0.1 --save '' --daemonize yes
//   build/redis/examples/redis_shared redis://127.0.0.1:16379/0
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "ttlcache/builder.hpp"
#include "ttlcache/errors.hpp"
#include "ttlcache/json_codec.hpp"
#include "ttlcache/key.hpp"
#include "ttlcache/redis.hpp"

namespace {

using namespace std::chrono_literals;

struct Profile {
  std::string name;
  int plan_level = 0;
  std::string written_by;
};
void to_json(nlohmann::json& j, const Profile& p) {
  j = {{"name", p.name}, {"plan_level", p.plan_level}, {"written_by", p.written_by}};
}
void from_json(const nlohmann::json& j, Profile& p) {
  j.at("name").get_to(p.name);
  j.at("plan_level").get_to(p.plan_level);
  j.at("written_by").get_to(p.written_by);
}

// Each process builds its own cache: connections are never shared across fork(). Profiles
// travel as JSON (json_codec.hpp: any type with to_json/from_json).
ttlcache::Cache<std::string, Profile> open_profiles(const std::string& url) {
  auto options = ttlcache::redis::RedisOptions::from_url(url);
  options.key_namespace = "example-shared";  // every instance of the "service" uses this
  options.client_name = "redis_shared_example";
  std::printf("[%d] connecting: %s\n", static_cast<int>(::getpid()), options.describe().c_str());
  return ttlcache::CacheBuilder<std::string, Profile>("profiles").redis(options).build();
}

const std::string profile_key = ttlcache::make_key("profile", 42);
const std::string ack_key = ttlcache::make_key("ack", 42);

int run_writer(const std::string& url, bool wait_for_ack) {
  auto profiles = open_profiles(url);
  const Profile profile{"Ada", 3, "pid " + std::to_string(::getpid())};
  profiles.set(profile_key, profile, 30s);
  std::printf("[%d] writer: stored %s for 30 s\n", static_cast<int>(::getpid()),
              profile_key.c_str());
  if (!wait_for_ack) return 0;
  // The only channel between the processes is Redis itself.
  for (int i = 0; i < 100; ++i) {
    if (auto ack = profiles.get(ack_key)) {
      std::printf("[%d] writer: the reader (%s) saw the profile\n", static_cast<int>(::getpid()),
                  ack->written_by.c_str());
      return 0;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::printf("[%d] writer: no acknowledgement from the reader\n", static_cast<int>(::getpid()));
  return 1;
}

int run_reader(const std::string& url) {
  auto profiles = open_profiles(url);
  for (int i = 0; i < 100; ++i) {
    if (auto profile = profiles.get(profile_key)) {
      const auto ttl = profiles.ttl(profile_key);
      std::printf("[%d] reader: %s = {name: %s, plan_level: %d, written_by: %s}, %lld ms left\n",
                  static_cast<int>(::getpid()), profile_key.c_str(), profile->name.c_str(),
                  profile->plan_level, profile->written_by.c_str(),
                  ttl ? static_cast<long long>(ttl->count()) : -1LL);
      profiles.set(ack_key, Profile{"ack", 0, "pid " + std::to_string(::getpid())}, 30s);
      return 0;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::printf("[%d] reader: the profile never appeared\n", static_cast<int>(::getpid()));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string role;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "writer" || arg == "reader") {
      role = arg;
    } else {
      url = arg;
    }
  }
  if (url.empty()) {
    const char* env = std::getenv("TTLCACHE_REDIS_URL");
    url = env != nullptr && *env != '\0' ? env : "redis://127.0.0.1:6379/0";
  }

  try {
    if (role == "writer") return run_writer(url, false);
    if (role == "reader") return run_reader(url);

    {
      // Start from a clean slate, then let go of the connection before forking.
      auto options = ttlcache::redis::RedisOptions::from_url(url);
      options.key_namespace = "example-shared";
      ttlcache::redis::RedisStore(options).clear();
    }
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child < 0) {
      std::perror("fork");
      return 1;
    }
    if (child == 0) {
      const int read = run_reader(url);
      std::fflush(stdout);  // _Exit skips the stdio flush, and the child must not run atexit
      std::_Exit(read);
    }
    const int written = run_writer(url, true);
    int status = 0;
    ::waitpid(child, &status, 0);
    const bool reader_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::printf("writer %s, reader %s\n", written == 0 ? "ok" : "failed",
                reader_ok ? "ok" : "failed");
    return written == 0 && reader_ok ? 0 : 1;
  } catch (const ttlcache::error& e) {
    // Messages name the server and the key, never the password.
    std::fprintf(stderr, "redis_shared: %s\n", e.what());
    return 1;
  }
}
