// A loader seen through one type, so the load path is compiled once per Cache<K, V>.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace ttlcache::detail {

/// Calls a loader (`loader(key)` or `loader()`, returning something a V is made from) through
/// two function pointers. get_or_load passes one of these to the engine instead of the
/// loader's own type: with the type, every lambda a program passed instantiated the whole load
/// path again (single-flight, fail-safe, timeouts, background refresh), about a second of -O2
/// per call site; now that path is compiled once per Cache<K, V>. The cost is an indirect call
/// per load, never on a hit.
///
/// Non-owning: valid only during the call it was made for. A load that outlives that call
/// (refresh-ahead, timeouts) takes an owning copy with bind(), which needs a copyable loader.
/// Thread-safety: calls may run concurrently when the loader allows it (warm() does).
template <class K, class V>
class LoaderRef {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_cv_t<F>, LoaderRef>>>
  explicit LoaderRef(F& loader) noexcept {
    static_assert(std::is_invocable_v<F&, const K&> || std::is_invocable_v<F&>,
                  "a loader is callable as loader(key) or loader() and returns a V");
    if constexpr (std::is_function_v<F>) {
      // A function named directly: its address is a function pointer, which void* may not hold.
      target_.function = reinterpret_cast<void (*)()>(&loader);
      call_ = [](Target t, const K& key) { return invoke(*reinterpret_cast<F*>(t.function), key); };
      bind_ = [](Target t, const K& key) -> std::function<V()> {
        F* const f = reinterpret_cast<F*>(t.function);
        return [f, key] { return invoke(*f, key); };
      };
    } else {
      target_.object = const_cast<void*>(static_cast<const void*>(std::addressof(loader)));
      call_ = [](Target t, const K& key) { return invoke(*static_cast<F*>(t.object), key); };
      using Copy = std::remove_cv_t<F>;
      if constexpr (std::is_copy_constructible_v<Copy>) {
        bind_ = [](Target t, const K& key) -> std::function<V()> {
          return [copy = Copy(*static_cast<F*>(t.object)), key]() mutable {
            return invoke(copy, key);
          };
        };
      }
    }
  }

  /// Runs the loader for key; its exceptions pass through.
  V operator()(const K& key) const { return call_(target_, key); }

  /// Whether bind() can make an owning copy (the loader is copyable).
  bool copyable() const noexcept { return bind_ != nullptr; }

  /// An owning loader for key that outlives this call (a copy of the loader). Requires
  /// copyable().
  std::function<V()> bind(const K& key) const { return bind_(target_, key); }

 private:
  union Target {
    void* object;
    void (*function)();
  };

  template <class G>
  static V invoke(G& loader, const K& key) {
    if constexpr (std::is_invocable_v<G&, const K&>) {
      return static_cast<V>(std::invoke(loader, key));
    } else {
      return static_cast<V>(std::invoke(loader));
    }
  }

  Target target_{};
  V (*call_)(Target, const K&) = nullptr;
  std::function<V()> (*bind_)(Target, const K&) = nullptr;
};

}  // namespace ttlcache::detail
