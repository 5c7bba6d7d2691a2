// HTTP response caching: GET routes cached per route + query + user with DynamicTTL, ETag and
// Cache-Control, 304 for If-None-Match from the cache, invalidation on POST, PUT and DELETE.
// Runs a self-check against itself; `http_cache --serve` keeps serving on 127.0.0.1.
// SPDX-License-Identifier: MIT
#include <httplib.h>

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
Response respond(const std::string& body) {
  return {body, "\"" + ttlcache::digest_hex(body).substr(0, 16) + "\""};
}

int main(int argc, char** argv) {
  std::map<int, std::string> files = {{1, "print('hello')"}, {2, "fn main() {}"}};
  std::map<int, int> owner = {{1, 7}, {2, 7}};
  int db_queries = 0;
  std::mutex db;  // the server runs handlers on a thread pool

  // TTLs by content type and user tier (the shipped DynamicTTL table), and tags.
  auto cache = ttlcache::CacheBuilder<std::string, Response>("http").dynamic_ttl().tags().build();

  // Serves a GET through the cache: key = route + query + user; tags say what makes it stale.
  auto cached_get = [&](const httplib::Request& req, httplib::Response& res, const char* type,
                        const ttlcache::Tags& tags, auto&& load) {
    const std::string key = ttlcache::make_key("GET", req.path, req.get_param_value("page"),
                                               req.get_header_value("X-User"));
    const bool hit = cache.contains(key);
    const Response r = cache.get_or_load(
        key, [&] { return respond(load()); },
        ttlcache::EntryOptions()
            .content_type(type, {{"user_tier", req.get_header_value("X-Tier")}})
            .tags(tags));
    const auto left =
        std::to_string(cache.ttl(key).value_or(std::chrono::milliseconds(0)).count() / 1000);
    res.set_header("ETag", r.etag);
    res.set_header("Cache-Control", "private, max-age=" + left);
    res.set_header("X-Cache", hit ? "HIT" : "MISS");
    if (req.get_header_value("If-None-Match") == r.etag)
      res.status = 304;  // current: no body
    else
      res.set_content(r.body, "text/plain");
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
      std::string list;
      for (const auto& [id, who] : owner) list += who == user ? std::to_string(id) + " " : "";
      return ++db_queries, list;
    });
  });
  // Writes (POST creates, PUT edits, DELETE removes): the source of truth first, then what they
  // made stale, the file and its owner's list.
  auto on_write = [&](const httplib::Request& req, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(db);
    const int id = req.matches.size() > 1 ? std::stoi(req.matches[1]) : files.rbegin()->first + 1;
    if (req.method == "POST") owner[id] = std::stoi(req.get_header_value("X-User"));
    const int who = owner[id];
    if (req.method == "DELETE")
      files.erase(id), owner.erase(id);
    else
      files[id] = req.body;
    lock.unlock();
    cache.invalidate_tags({ttlcache::make_key("file", id), ttlcache::make_key("user", who)});
    res.status = req.method == "POST" ? 201 : 204;
  };
  server.Post("/files", on_write).Put(R"(/files/(\d+))", on_write);
  server.Delete(R"(/files/(\d+))", on_write);

  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  std::printf("serving on http://127.0.0.1:%d/\n", port);
  if (argc > 1 && std::string(argv[1]) == "--serve") return serving.join(), 0;

  httplib::Client client("127.0.0.1", port);
  auto get = [&](const char* path, const std::string& etag = "") {
    return client.Get(path, {{"X-User", "7"}, {"If-None-Match", etag}});
  };
  auto first = get("/files/1"), again = get("/files/1");
  auto not_modified = get("/files/1", first->get_header_value("ETag"));
  client.Put("/files/1", "print('edited')", "text/plain");
  auto edited = get("/files/1", first->get_header_value("ETag"));
  auto list = get("/users/7/files");
  client.Post("/files", {{"X-User", "7"}}, "new", "text/plain");  // file 3, of user 7
  auto after_post = get("/users/7/files");
  client.Delete("/files/2");
  auto after_delete = get("/users/7/files");
  std::printf("GET %d %s, %s, If-None-Match %d; after PUT: %s; lists [%s] [%s] [%s]; %d queries\n",
              first->status, first->get_header_value("X-Cache").c_str(),
              again->get_header_value("X-Cache").c_str(), not_modified->status,
              edited->body.c_str(), list->body.c_str(), after_post->body.c_str(),
              after_delete->body.c_str(), db_queries);
  server.stop();
  serving.join();
  const bool ok = first->status == 200 && again->get_header_value("X-Cache") == "HIT" &&
                  not_modified->status == 304 && edited->body == "print('edited')" &&
                  list->body == "1 2 " && after_post->body == "1 2 3 " &&
                  after_delete->body == "1 3 " && db_queries == 5;
  return ok ? 0 : 1;
}
