// Binds the service's endpoints to cpp-httplib.
// SPDX-License-Identifier: MIT
#include "http_routes.hpp"

#include <exception>
#include <string>
#include <utility>

#include "markdown.hpp"

namespace service {
namespace {

std::int64_t id_at(const httplib::Request& req, std::size_t i = 1) {
  return std::stoll(req.matches[static_cast<int>(i)].str());  // the route's \d+ group
}

void send(httplib::Response& res, const Response& r) {
  res.status = r.status;
  res.set_content(r.body, r.content_type);
}

void bad_request(httplib::Response& res, const std::string& why) {
  res.status = 400;
  res.set_content(nlohmann::json{{"error", why}}.dump(), "application/json");
}

}  // namespace

void add_routes(httplib::Server& server, Views& views, Database& db,
                std::function<nlohmann::json()> stats) {
  server.Get(R"(/api/users/(\d{1,18})/files)",
             [&views](const httplib::Request& req, httplib::Response& res) {
               int page = 0;
               if (req.has_param("page")) {
                 try {
                   page = std::stoi(req.get_param_value("page"));
                 } catch (const std::exception&) {
                   page = -1;
                 }
                 if (page < 0 || page > 10'000) return bad_request(res, "page: 0..10000");
               }
               send(res, views.file_list(id_at(req), page));
             });
  server.Get(R"(/api/users/(\d{1,18})/stats)",
             [&views](const httplib::Request& req, httplib::Response& res) {
               send(res, views.user_stats(id_at(req)));
             });
  server.Get(R"(/api/users/(\d{1,18})/bookmarks)",
             [&views](const httplib::Request& req, httplib::Response& res) {
               send(res, views.bookmarks(id_at(req)));
             });
  server.Get(R"(/api/files/(\d{1,18}))",
             [&views](const httplib::Request& req, httplib::Response& res) {
               send(res, views.file_content(id_at(req)));
             });
  server.Get(R"(/api/files/(\d{1,18})/render)",
             [&views](const httplib::Request& req, httplib::Response& res) {
               Response r = views.markdown(id_at(req));
               if (r.status != 200) return send(res, r);
               const std::string etag = etag_of(r.body);
               res.set_header("ETag", etag);
               res.set_header("Cache-Control", "no-cache");  // revalidate, then 304
               if (req.get_header_value("If-None-Match") == etag) {
                 res.status = 304;
                 return;
               }
               send(res, r);
             });
  server.Get("/api/stats", [&views](const httplib::Request&, httplib::Response& res) {
    send(res, views.public_stats());
  });
  server.Get("/api/search", [&views](const httplib::Request& req, httplib::Response& res) {
    const std::string q = req.get_param_value("q");
    if (q.empty() || q.size() > 200) return bad_request(res, "q: 1 to 200 characters");
    send(res, views.search(q));
  });
  server.Post(R"(/api/users/(\d{1,18})/files)", [&views](const httplib::Request& req,
                                                         httplib::Response& res) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("name") ||
        !body["name"].is_string() || !body.contains("content") || !body["content"].is_string()) {
      return bad_request(res, "body: {\"name\": string, \"content\": string}");
    }
    send(res, views.create_file(id_at(req), body["name"].get<std::string>(),
                                body.value("language", std::string("markdown")),
                                body["content"].get<std::string>()));
  });
  server.Put(R"(/api/files/(\d{1,18}))",
             [&views](const httplib::Request& req, httplib::Response& res) {
               send(res, views.edit_file(id_at(req), req.body));
             });
  server.Delete(R"(/api/files/(\d{1,18}))",
                [&views](const httplib::Request& req, httplib::Response& res) {
                  send(res, views.delete_file(id_at(req)));
                });
  server.Get("/admin/stats",
             [stats = std::move(stats)](const httplib::Request&, httplib::Response& res) {
               res.set_content(stats().dump(), "application/json");
             });
  server.Get(R"(/admin/db/files/(\d{1,18})/version)",
             [&db](const httplib::Request& req, httplib::Response& res) {
               const auto v = db.file_version(id_at(req));
               res.set_content(nlohmann::json{{"version", v ? *v : 0}}.dump(), "application/json");
             });
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res,
                                  std::exception_ptr ep) {
    std::string why = "unknown error";
    try {
      std::rethrow_exception(std::move(ep));
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {  // keep "unknown error"
    }
    res.status = 500;
    res.set_content(nlohmann::json{{"error", why}, {"path", req.path}}.dump(), "application/json");
  });
}

std::unique_ptr<dashboard::History> add_dashboard(httplib::Server& server, ServiceCache& cache) {
  const dashboard::StatsSource stats = [&cache] { return cache.stats(); };
  auto history = std::make_unique<dashboard::History>(stats);
  dashboard::add_routes(server, "/dashboard", stats, *history);
  return history;
}

}  // namespace service
