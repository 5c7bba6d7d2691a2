// The service's reads and writes, and how each uses the cache.
// SPDX-License-Identifier: MIT
#include "views.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <ttlcache/context.hpp>
#include <ttlcache/entry_options.hpp>
#include <ttlcache/key.hpp>
#include <ttlcache/tags.hpp>

#include "markdown.hpp"

namespace service {
namespace {

/// A row that does not exist: a 404, never cached.
struct not_found : std::runtime_error {
  not_found() : std::runtime_error("not found") {}
};

Response missing() { return Response{404, R"({"error":"not found"})"}; }

std::string file_tag(std::int64_t id) { return ttlcache::make_key("file", id); }
std::string user_tag(std::int64_t id) { return ttlcache::make_key("user", id); }
/// A user's bookmark list: it changes only when a file on it is deleted.
std::string bookmarks_tag(std::int64_t id) { return ttlcache::make_key("bookmarks_of", id); }

/// What DynamicTTL's rules may use: premium users see shorter lifetimes.
ttlcache::Context context_for(std::int64_t user) {
  ttlcache::Context ctx;
  if (user > 0 && user % 10 == 0) ctx.set("user_tier", "premium");
  return ctx;
}

}  // namespace

// One spelling per question: one cache entry, and the database is asked what the key says.
std::string normalized_query(const std::string& query) {
  std::vector<std::string> words;
  std::string word;
  for (const char ch : query) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Loaders capture by value: refresh-ahead and stale-while-revalidate run them again on a
// background thread after the request that created them has returned.
template <class Loader>
Response Views::read_tagged(const std::string& key, const char* type, std::int64_t user,
                            Loader&& loader, const std::vector<std::string>& tags,
                            const char* entity) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  try {
    if (!cache_) return Response{200, loader()};
    ttlcache::Tags t(tags);
    if (entity) t.entity(entity);
    // The content type, not a TTL computed here: the policy then decides at load time, and the
    // statistics (and the dashboard) count hits and misses per view.
    auto r = cache_->get_or_load_result(
        key, std::forward<Loader>(loader),
        ttlcache::EntryOptions().content_type(type, context_for(user)).tags(std::move(t)));
    if (r.hit) hits_.fetch_add(1, std::memory_order_relaxed);
    return Response{200, std::move(r.value)};
  } catch (const not_found&) {
    return missing();
  }
}

template <class Loader>
Response Views::read_bounded(const std::string& key, const char* type, Loader&& loader) {
  reads_.fetch_add(1, std::memory_order_relaxed);
  if (!cache_) return Response{200, loader()};
  auto r = cache_->get_or_load_result(key, std::forward<Loader>(loader), type);
  if (r.hit) hits_.fetch_add(1, std::memory_order_relaxed);
  return Response{200, std::move(r.value)};
}

Response Views::file_list(std::int64_t user, int page) {
  return read_tagged(ttlcache::make_key("file_list", user, page), "file_list", user,
                     [this, user, page] { return db_.file_list(user, page, per_page).dump(); },
                     {user_tag(user)});
}

Response Views::file_content(std::int64_t id) {
  return read_tagged(ttlcache::make_key("file_content", id), "file_content", 0,
                     [this, id] {
                       auto f = db_.file(id);
                       if (!f) throw not_found();
                       return f->dump();
                     },
                     {file_tag(id)});
}

Response Views::markdown(std::int64_t id) {
  auto r = read_tagged(ttlcache::make_key("markdown_render", id), "markdown_render", 0,
                       [this, id] {
                         auto f = db_.file(id);
                         if (!f) throw not_found();
                         return render_markdown((*f)["content"].get<std::string>());
                       },
                       {file_tag(id)});
  if (r.status == 200) r.content_type = "text/html; charset=utf-8";
  return r;
}

Response Views::user_stats(std::int64_t user) {
  return read_tagged(ttlcache::make_key("user_stats", user), "user_stats", user,
                     [this, user] { return db_.user_stats(user).dump(); }, {user_tag(user)});
}

Response Views::public_stats() {
  return read_bounded(ttlcache::make_key("public_stats"), "public_stats",
                      [this] { return db_.public_stats().dump(); });
}

Response Views::search(const std::string& words) {
  std::string query = normalized_query(words);
  const std::string key = ttlcache::make_key("search_results", query);
  return read_bounded(key, "search_results",
                      [this, query = std::move(query)] { return db_.search(query, 20).dump(); });
}

Response Views::bookmarks(std::int64_t user) {
  // Not the user's own tag: their own writes do not change the files they bookmarked. A delete
  // invalidates the lists that show the file (bookmarks_of); the `files` entity version is the
  // fallback for a database that cannot tell which lists those are.
  return read_tagged(
      ttlcache::make_key("bookmarks", user), "bookmarks", user,
      [this, user] { return db_.bookmarks(user).dump(); }, {bookmarks_tag(user)}, "files");
}

void Views::write_through(std::int64_t id, const nlohmann::json& file, const std::string& body) {
  cache_->set(
      ttlcache::make_key("file_content", id), body,
      ttlcache::EntryOptions().content_type("file_content").tags(ttlcache::Tags{file_tag(id)}));
  // The render too: an edit is read back (and rendered) at once far more often than not, and
  // the writer already holds the new text.
  cache_->set(
      ttlcache::make_key("markdown_render", id),
      render_markdown(file["content"].get<std::string>()),  // as stored, as markdown() reads it
      ttlcache::EntryOptions().content_type("markdown_render").tags(ttlcache::Tags{file_tag(id)}));
}

Response Views::create_file(std::int64_t owner, const std::string& name,
                            const std::string& language, const std::string& content) {
  writes_.fetch_add(1, std::memory_order_relaxed);
  const nlohmann::json file = db_.create_file(owner, name, language, content);
  const auto id = file["id"].get<std::int64_t>();
  std::string body = file.dump();
  if (cache_) {
    std::lock_guard<std::mutex> lock(lock_for(id));
    cache_->invalidate_tag(user_tag(owner));  // the owner's list and stats
    // Write-through: the first read of the new file is a hit (not on a shared cache, where
    // an edit by another instance, which could guess the id, is not serialised with it).
    if (write_through_) write_through(id, file, body);
  }
  return Response{201, std::move(body)};
}

Response Views::edit_file(std::int64_t id, const std::string& content) {
  writes_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(lock_for(id), std::defer_lock);
  if (cache_) lock.lock();
  auto file = db_.edit_file(id, content);
  if (!file) return missing();
  std::string body = file->dump();
  if (cache_) {
    cache_->invalidate_tags({file_tag(id), user_tag((*file)["owner"].get<std::int64_t>())});
    if (write_through_) write_through(id, *file, body);
  }
  return Response{200, std::move(body)};
}

Response Views::delete_file(std::int64_t id) {
  writes_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(lock_for(id), std::defer_lock);
  if (cache_) lock.lock();
  // Who bookmarked it, read before the delete removes those rows (no request adds bookmarks,
  // so the set cannot change in between).
  const auto bookmarked_by =
      cache_ ? db_.bookmarked_by(id) : std::optional<std::vector<std::int64_t>>();
  const auto owner = db_.delete_file(id);
  if (!owner) return missing();
  if (cache_) {
    std::vector<std::string> tags = {file_tag(id), user_tag(*owner)};
    if (bookmarked_by) {
      for (const auto user : *bookmarked_by) tags.push_back(bookmarks_tag(user));
    }
    cache_->invalidate_tags(tags);
    if (!bookmarked_by) cache_->bump_version("files");  // every bookmark list that may show it
  }
  return Response{200, nlohmann::json{{"deleted", id}}.dump()};
}

}  // namespace service
