// The request context: a small typed map (bool, number, string) that TTL policies read.
// SPDX-License-Identifier: MIT
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ttlcache {

/// One context value. Integers are stored as double: rules compare numbers, not types.
using ContextValue = std::variant<bool, double, std::string>;

/// What the caller knows about a request ({"is_favorite", true}, {"user_tier", "premium"},
/// {"last_modified_hours_ago", 0.5}). A flat vector: contexts hold a handful of entries, and a
/// linear scan of a few strings beats hashing them. Not thread-safe for concurrent mutation;
/// concurrent reads are fine.
class Context {
 public:
  /// A name and a value; converting constructors keep brace-initialisation natural.
  struct Item {
    std::string name;
    ContextValue value;

    Item(std::string n, bool v) : name(std::move(n)), value(v) {}
    Item(std::string n, const char* v) : name(std::move(n)), value(std::string(v)) {}
    Item(std::string n, std::string v) : name(std::move(n)), value(std::move(v)) {}
    template <class N,
              std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, bool>, int> = 0>
    Item(std::string n, N v) : name(std::move(n)), value(static_cast<double>(v)) {}
  };

  Context() = default;
  Context(std::initializer_list<Item> items) {
    for (const auto& item : items) set_value(item.name, item.value);
  }

  /// Sets (or replaces) one value; returns *this for chaining.
  Context& set(std::string name, bool v) { return set_value(std::move(name), ContextValue(v)); }
  Context& set(std::string name, const char* v) {
    return set_value(std::move(name), ContextValue(std::string(v)));
  }
  Context& set(std::string name, std::string v) {
    return set_value(std::move(name), ContextValue(std::move(v)));
  }
  template <class N, std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, bool>, int> = 0>
  Context& set(std::string name, N v) {
    return set_value(std::move(name), ContextValue(static_cast<double>(v)));
  }

  /// The value under name, or nullptr when absent.
  const ContextValue* find(std::string_view name) const noexcept {
    for (const auto& item : items_) {
      if (item.first == name) return &item.second;
    }
    return nullptr;
  }
  bool contains(std::string_view name) const noexcept { return find(name) != nullptr; }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  const std::vector<std::pair<std::string, ContextValue>>& items() const noexcept { return items_; }

 private:
  Context& set_value(std::string name, ContextValue v) {
    for (auto& item : items_) {
      if (item.first == name) {
        item.second = std::move(v);
        return *this;
      }
    }
    items_.emplace_back(std::move(name), std::move(v));
    return *this;
  }

  std::vector<std::pair<std::string, ContextValue>> items_;
};

}  // namespace ttlcache
