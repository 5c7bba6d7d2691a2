// HTTP response caching: GET routes cached per route + query + user with DynamicTTL, ETag and
// Cache-Control, 304 for If-None-Match from the cache, invalidation on PUT.
// Runs a self-check against itself; `http_cache --serve` keeps serving on 127.0.0.1.
// SPDX-License-Identifier: MIT
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <ttlcache/ttlcache.hpp>

struct Response {
  std::string body;
  std::string etag;
};

int main(int argc, char** argv) {
  std::map<int, std::string> files = {{1, "print('hello')"}, {2, "fn main() {}"}};
  std::map<int, int> owner = {{1, 7}, {2, 7}};
  int db_queries = 0;
  std::mutex db;  // the server runs handlers on a thread pool

  auto policy = std::make_shared<ttlcache::DynamicTTL>();
  ttlcache::Cache<std::string, Response> cache(
      ttlcache::make_tagged_memory_backend<std::string, Response>());

  // Serves a GET through the cache: key = route + query + user; tags say what makes it stale.
  auto cached_get = [&](const httplib::Request& req, httplib::Response& res, const char* type,
                        const ttlcache::Tags& tags, auto&& load) {
    const std::string key = ttlcache::make_key("GET", req.path, req.get_param_value("page"),
                                               req.get_header_value("X-User"));
    const bool hit = cache.contains(key);
    const auto ttl = policy->ttl_for(type, {{"user_tier", req.get_header_value("X-Tier")}});
    const Response r = cache.get_or_load(
        key,
        [&] {
          std::string body = load();
          return Response{body, "\"" + ttlcache::digest_hex(body).substr(0, 16) + "\""};
        },
        ttl, tags);
    const auto left = cache.ttl(key).value_or(ttl);
    res.set_header("ETag", r.etag);
    res.set_header("Cache-Control", "private, max-age=" + std::to_string(left.count() / 1000));
    res.set_header("X-Cache", hit ? "HIT" : "MISS");
    if (req.get_header_value("If-None-Match") == r.etag) {
      res.status = 304;  // the client's copy is current: no body
    } else {
      res.set_content(r.body, "text/plain");
    }
  };

  httplib::Server server;
  server.Get(R"(/files/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    const int id = std::stoi(req.matches[1]);
    cached_get(req, res, "file_content", {ttlcache::make_key("file", id)}, [&] {
      std::lock_guard<std::mutex> lock(db);
      return ++db_queries, files[id];
    });
  });
  server.Get(R"(/users/(\d+)/files)", [&](const httplib::Request& req, httplib::Response& res) {
    const int user = std::stoi(req.matches[1]);
    cached_get(req, res, "file_list", {ttlcache::make_key("user", user)}, [&] {
      std::lock_guard<std::mutex> lock(db);
      ++db_queries;
      std::string list;
      for (const auto& [id, who] : owner) list += who == user ? std::to_string(id) + "\n" : "";
      return list;
    });
  });
  server.Put(R"(/files/(\d+))", [&](const httplib::Request& req, httplib::Response& res) {
    const int id = std::stoi(req.matches[1]);
    int file_owner = 0;
    {
      std::lock_guard<std::mutex> lock(db);  // the source of truth first,
      files[id] = req.body;
      file_owner = owner[id];
    }  // then what it made stale
    cache.invalidate_tags({ttlcache::make_key("file", id), ttlcache::make_key("user", file_owner)});
    res.status = 204;
  });

  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  std::printf("serving on http://127.0.0.1:%d/\n", port);
  if (argc > 1 && std::string(argv[1]) == "--serve") {
    serving.join();
    return 0;
  }

  httplib::Client client("127.0.0.1", port);
  auto first = client.Get("/files/1", {{"X-User", "7"}});
  auto again = client.Get("/files/1", {{"X-User", "7"}});
  auto not_modified =
      client.Get("/files/1", {{"X-User", "7"}, {"If-None-Match", first->get_header_value("ETag")}});
  client.Put("/files/1", "print('edited')", "text/plain");
  auto edited =
      client.Get("/files/1", {{"X-User", "7"}, {"If-None-Match", first->get_header_value("ETag")}});
  std::printf("GET  %d %s | GET %d %s | If-None-Match %d | after PUT %d %s \"%s\"\n", first->status,
              first->get_header_value("X-Cache").c_str(), again->status,
              again->get_header_value("X-Cache").c_str(), not_modified->status, edited->status,
              edited->get_header_value("X-Cache").c_str(), edited->body.c_str());
  std::printf("Cache-Control: %s; database queries: %d for 4 GETs\n",
              again->get_header_value("Cache-Control").c_str(), db_queries);
  server.stop();
  serving.join();
  const bool ok = first->status == 200 && again->get_header_value("X-Cache") == "HIT" &&
                  not_modified->status == 304 && edited->status == 200 &&
                  edited->body == "print('edited')" && db_queries == 2;
  return ok ? 0 : 1;
}
