// LoadEngine's batch operations: get_many_or_load, set_many with options, and warm (out-of-line
// members of the class in load_engine_core.hpp, kept apart to keep each file readable).
// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ttlcache/detail/load_engine_core.hpp"

namespace ttlcache::detail {

template <class K, class V>
template <class BatchLoader>
std::vector<std::optional<V>> LoadEngine<K, V>::call_batch_loader(BatchLoader& loader,
                                                                  const std::vector<K>& keys) {
  auto got = std::invoke(loader, keys);
  using R = std::decay_t<decltype(got)>;
  std::vector<std::optional<V>> out(keys.size());
  if constexpr (is_map<R>::value) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto it = got.find(keys[i]);
      if (it != got.end()) out[i] = std::move(it->second);
    }
  } else {
    if (got.size() != keys.size()) {
      throw argument_error(who() + "the batch loader returned " + std::to_string(got.size()) +
                           " values for " + std::to_string(keys.size()) + " keys");
    }
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if constexpr (std::is_same_v<typename R::value_type, std::optional<V>>) {
        out[i] = std::move(got[i]);
      } else {
        out[i] = static_cast<V>(std::move(got[i]));
      }
    }
  }
  return out;
}

// Reads keys; fresh values into out, stale copies (fail-safe) into stale.
template <class K, class V>
void LoadEngine<K, V>::read_many(const std::vector<K>& keys, std::vector<std::optional<V>>& out,
                                 std::vector<std::optional<Timed<V>>>* stale, const Request& req) {
  if (!timed_) {
    out = call("get_many", req, [&] { return backend_->get_many(keys); });
    return;
  }
  auto timed = call("get_many", req, [&] { return timed_->get_many_timed(keys); });
  const std::int64_t now = timed_->now_ms();
  out.assign(keys.size(), std::nullopt);
  if (stale) stale->assign(keys.size(), std::nullopt);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!timed[i]) continue;
    if (now < timed[i]->fresh_until_ms) {
      out[i] = std::move(timed[i]->value);
    } else if (stale) {
      (*stale)[i] = std::move(timed[i]);
    }
  }
}

// Writes the loaded values (nullopt: nothing to store) in one batch, under stamps when given.
template <class K, class V>
void LoadEngine<K, V>::write_many(std::vector<K> keys, std::vector<std::optional<V>> values,
                                  std::chrono::milliseconds ttl, std::int64_t took_us,
                                  const std::optional<std::vector<Stamp>>& stamps,
                                  const Request& req) {
  check_ttl(ttl);
  if (timed_) {
    const auto us = static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(took_us, 0, std::numeric_limits<std::uint32_t>::max()));
    std::vector<std::pair<K, Timed<V>>> entries;
    entries.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (values[i]) {
        entries.emplace_back(std::move(keys[i]),
                             timed_->make_entry(std::move(*values[i]), ttl, us));
      }
    }
    if (entries.empty()) return;
    call("set_many", req, [&] {
      if (stamps) {
        timed_->set_many_timed_stamped(std::move(entries), *stamps);
      } else {
        timed_->set_many_timed(std::move(entries));
      }
    });
    return;
  }
  std::vector<Write<K, V>> writes;
  writes.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (values[i]) writes.push_back({std::move(keys[i]), std::move(*values[i]), ttl});
  }
  if (writes.empty()) return;
  call("set_many", req, [&] {
    if (stamps) {
      tag_support(*backend_).set_many_stamped(std::move(writes), *stamps);
    } else {
      backend_->set_many(std::move(writes));
    }
  });
}

template <class K, class V>
template <class BatchLoader>
std::vector<std::optional<V>> LoadEngine<K, V>::load_many(const std::vector<K>& keys,
                                                          BatchLoader& batch_loader,
                                                          const EntryOptions& eo) {
  if (!groups_per_key(eo)) return load_many_in(keys, batch_loader, request(eo));
  // Key groups (adaptive TTL): one batch per group, each stored with its group's TTL and
  // reported under it.
  std::map<std::string, std::vector<std::size_t>> parts;
  for (std::size_t i = 0; i < keys.size(); ++i) parts[group_fn_(keys[i])].push_back(i);
  if (parts.size() <= 1) {
    return load_many_in(keys, batch_loader,
                        request_in(eo, parts.empty() ? std::string() : parts.begin()->first));
  }
  std::vector<std::optional<V>> out(keys.size());
  for (const auto& [group, where] : parts) {
    std::vector<K> sub;
    sub.reserve(where.size());
    for (const std::size_t i : where) sub.push_back(keys[i]);
    auto got = load_many_in(sub, batch_loader, request_in(eo, group));
    for (std::size_t j = 0; j < where.size(); ++j) out[where[j]] = std::move(got[j]);
  }
  return out;
}

template <class K, class V>
template <class BatchLoader>
std::vector<std::optional<V>> LoadEngine<K, V>::load_many_in(const std::vector<K>& keys,
                                                             BatchLoader& batch_loader,
                                                             const Request& req) {
  if (req.tags) tag_support(*backend_);
  observe(req, TtlObservation::Kind::read);
  std::vector<std::optional<V>> out;
  std::vector<std::optional<Timed<V>>> stale;
  try {
    read_many(keys, out, req.fail_safe ? &stale : nullptr, req);
  } catch (const backend_error&) {  // fail-safe: an unreadable cache is all misses
    if (!req.fail_safe) throw;
    out.assign(keys.size(), std::nullopt);
    stale.clear();
  }
  std::unordered_map<K, std::vector<std::size_t>> where;
  std::vector<K> missing;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (stats_) record_read(out[i].has_value(), req.ct);
    if (out[i]) continue;
    auto [it, inserted] = where.try_emplace(keys[i]);
    if (inserted) missing.push_back(keys[i]);
    it->second.push_back(i);
  }
  if (missing.empty()) return out;

  const auto ttl = req.ttl();
  std::optional<std::vector<Stamp>> stamps;
  try {
    stamps = stamps_for(req, ttl);
  } catch (const backend_error&) {
    if (!req.fail_safe) throw;
  }
  const bool can_store = !req.tags || stamps.has_value();
  if (can_store) remember_types(req);
  const std::int64_t start_ns = stats_ ? stats_->now_ns() : 0;
  const std::int64_t started = bg_->clock_us();
  std::vector<std::uint64_t> seen;  // write generations before the loader reads the source
  seen.reserve(missing.size());
  for (const auto& k : missing) seen.push_back(bg_->writes_seen(k));
  std::vector<std::optional<V>> loaded;
  try {
    loaded = call_batch_loader(batch_loader, missing);
  } catch (...) {
    if (stats_) {
      stats_->record_load_failure(stats_->now_ns() - start_ns, std::current_exception(),
                                  req.content_type, req.ct);
    }
    const bool all_stale =
        !stale.empty() && std::all_of(missing.begin(), missing.end(), [&](const K& k) {
          return stale[where[k].front()].has_value();
        });
    if (!all_stale) throw;
    for (const auto& k : missing) {
      for (const std::size_t i : where[k]) {
        out[i] = stale[i] ? stale[i]->value : stale[where[k].front()]->value;
        if (stats_) stats_->record_stale_served(req.ct);
      }
    }
    return out;
  }
  const std::int64_t took = bg_->clock_us() - started;
  if (stats_) stats_->record_load(stats_->now_ns() - start_ns, req.ct);
  for (std::size_t j = 0; j < missing.size(); ++j) {
    if (!loaded[j]) continue;
    for (const std::size_t i : where[missing[j]]) out[i] = loaded[j];
  }
  if (can_store) {
    // Keys written since their load read the source are not stored (LoadShared::store_loaded);
    // those written while the batch is stored are removed again after it.
    // Under fail-safe, a key with a stale copy is a reload: compared with it while the policy
    // adapts (adaptive TTL, LoadShared::report_reload).
    const bool compare = !stale.empty() && bg_->compares_reloads(req.content_type);
    std::vector<std::pair<K, std::uint64_t>> stored;
    for (std::size_t j = 0; j < missing.size(); ++j) {
      if (!loaded[j]) continue;
      if (bg_->writes_seen(missing[j]) != seen[j]) {
        loaded[j].reset();
      } else {
        stored.emplace_back(missing[j], seen[j]);
        if (compare) {
          const auto& previous = stale[where[missing[j]].front()];
          if (previous) bg_->report_reload(req.content_type, req.group, *previous, *loaded[j]);
        }
      }
    }
    try {
      write_many(std::move(missing), std::move(loaded), ttl, took, stamps, req);
      for (const auto& entry : stored) {
        const K& key = entry.first;  // (lambdas cannot capture structured bindings in C++17)
        if (bg_->writes_seen(key) != entry.second) {
          call("erase", req, [&] { return backend_->erase(key); });
        }
      }
    } catch (const backend_error&) {  // counted by call(); the loaded values are the answer
    }
  }
  return out;
}

template <class K, class V>
template <class Loader>
WarmProgress LoadEngine<K, V>::warm(const std::vector<K>& keys, Loader& loader,
                                    const EntryOptions& eo, const WarmOptions& wo) {
  Request req = request(eo);
  if (req.tags) tag_support(*backend_);
  if (wo.batch_size == 0 || wo.concurrency == 0) {
    throw argument_error(who() + "warm needs batch_size and concurrency above 0");
  }
  const std::size_t batches = (keys.size() + wo.batch_size - 1) / wo.batch_size;
  std::atomic<std::size_t> next{0};
  std::mutex progress_mutex;
  WarmProgress progress;
  progress.total = keys.size();

  auto one_batch = [&](std::size_t b) {
    const Request breq = req;  // each batch its own budget (spent is per request)
    const auto first = keys.begin() + static_cast<std::ptrdiff_t>(b * wo.batch_size);
    const auto last =
        keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), (b + 1) * wo.batch_size));
    std::vector<K> batch(first, last);
    std::size_t failed = 0;
    try {
      std::vector<K> todo;
      if (wo.skip_cached) {
        std::vector<std::optional<V>> found;
        read_many(batch, found, nullptr, breq);
        for (std::size_t i = 0; i < batch.size(); ++i) {
          if (!found[i]) todo.push_back(batch[i]);
        }
      } else {
        todo = batch;
      }
      const auto ttl = breq.ttl();
      // Versions read before the loads, as get_or_load does.
      const auto stamps = stamps_for(breq, ttl);
      std::vector<std::optional<V>> values(todo.size());
      const std::int64_t started = bg_->clock_us();
      if constexpr (std::is_invocable_v<Loader&, const K&> || std::is_invocable_v<Loader&>) {
        const LoaderRef<K, V> one(loader);
        for (std::size_t i = 0; i < todo.size(); ++i) {
          try {
            values[i] = run_loader(one, todo[i], breq);
          } catch (...) {
            ++failed;
          }
        }
      } else {
        try {
          values = call_batch_loader(loader, todo);
        } catch (...) {
          failed = todo.size();
          values.assign(todo.size(), std::nullopt);
        }
      }
      const std::int64_t took = bg_->clock_us() - started;
      const std::int64_t per_key = todo.empty() ? 0 : took / static_cast<std::int64_t>(todo.size());
      const std::size_t loaded_count = static_cast<std::size_t>(
          std::count_if(values.begin(), values.end(), [](const auto& v) { return v.has_value(); }));
      try {
        write_many(std::move(todo), std::move(values), ttl, per_key, stamps, breq);
      } catch (const error&) {
        failed += loaded_count;
      }
    } catch (...) {  // the lookup or the stamps failed: the whole batch is lost
      failed = batch.size();
    }
    std::lock_guard<std::mutex> lock(progress_mutex);
    progress.done += batch.size();
    progress.failed += failed;
    if (wo.on_progress) {
      try {
        wo.on_progress(progress);
      } catch (...) {  // a throwing callback must not end the warming threads
      }
    }
  };
  auto worker = [&] {
    for (std::size_t b = next++; b < batches; b = next++) one_batch(b);
  };
  const std::size_t threads = std::min(wo.concurrency, batches);
  std::vector<std::thread> pool;
  pool.reserve(threads > 0 ? threads - 1 : 0);
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  if (threads > 0) worker();
  for (auto& t : pool) t.join();
  return progress;
}

}  // namespace ttlcache::detail
