// How a cache tells whether a reload changed a value (adaptive TTL): ValueEqual and the trait
// that finds V's operator==.
// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace ttlcache {

/// Compares a cached copy with a reloaded value: true when they are the same data. A Cache
/// uses it only while its TtlPolicy adapts, to report a refresh as reload_changed or
/// reload_unchanged (CacheBuilder::value_equal). It may compare a part that stands for the
/// whole (a version, an ETag, a hash). It must be thread-safe; an exception it throws is
/// swallowed and the reload goes unreported.
template <class V>
using ValueEqual = std::function<bool(const V&, const V&)>;

namespace detail {

// operator== that can be called on two const V and gives something convertible to bool.
template <class T, class = void>
struct has_equal_operator : std::false_type {};
template <class T>
struct has_equal_operator<
    T, std::void_t<decltype(std::declval<const T&>() == std::declval<const T&>())>>
    : std::is_convertible<decltype(std::declval<const T&>() == std::declval<const T&>()), bool> {};

// C++17's std::vector, std::map, std::pair... declare operator== for every element type, so the
// operator alone says nothing: look inside them (a vector of a type without == is not
// comparable, and asking would not compile).
template <class T, class = void>
struct is_range : std::false_type {};
template <class T>
struct is_range<T, std::void_t<typename T::value_type, decltype(std::declval<const T&>().begin())>>
    : std::true_type {};

template <class T, class = void>
struct is_equality_comparable : has_equal_operator<T> {};
template <class T>
struct range_comparable
    : std::conjunction<has_equal_operator<T>, is_equality_comparable<typename T::value_type>> {};
// Ranges (strings too: char compares) compare when their elements do.
template <class T>
struct is_equality_comparable<T, std::enable_if_t<is_range<T>::value>> : range_comparable<T> {};
template <class A, class B>
struct is_equality_comparable<std::pair<A, B>>
    : std::conjunction<is_equality_comparable<std::remove_const_t<A>>, is_equality_comparable<B>> {
};
template <class T>
struct is_equality_comparable<std::optional<T>> : is_equality_comparable<T> {};
// A shared value compares what it points to (a reload always makes a new pointer).
template <class T>
struct is_equality_comparable<std::shared_ptr<const T>> : is_equality_comparable<T> {};

template <class V>
bool values_equal(const V& a, const V& b) {
  return static_cast<bool>(a == b);
}
template <class T>
bool values_equal(const std::shared_ptr<const T>& a, const std::shared_ptr<const T>& b) {
  if (a == b) return true;  // the same pointer, or both null
  if (!a || !b) return false;
  return static_cast<bool>(*a == *b);
}

/// The equality a cache uses: the one given, else V's operator== when V has one (for a shared
/// value, its pointee's), else none (empty: reloads are not compared).
template <class V>
ValueEqual<V> value_equal_or_default(ValueEqual<V> given) {
  if (given) return given;
  if constexpr (is_equality_comparable<V>::value) {
    return [](const V& a, const V& b) { return values_equal(a, b); };
  } else {
    return {};
  }
}

}  // namespace detail
}  // namespace ttlcache
