#pragma once
// The named policies of a Hopper forward config (forward_config.cuh says what each does), and
// the compile-time lookups that read them from a config's parameter pack:
//
//   ForwardConfig<bfloat16_t, 64, 128, KVStages<3>, PersistentGrid, ScoresAhead>
//
// A policy left out takes its default (2 K/V stages, 2 consumer groups, no ping-pong, one CTA
// per tile, S one block ahead off); an unknown type in the pack is a compile error.

#include <type_traits>

namespace attnkit::hopper {

template <int Stages>
struct KVStages {};
template <int Groups>
struct ConsumerGroups {};
struct PingPong {};
struct PersistentGrid {};
struct ScoresAhead {};

namespace detail {

template <template <int> class Policy, class T>
struct IntPolicy {
  static constexpr bool matches = false;
  static constexpr int value = 0;
};
template <template <int> class Policy, int N>
struct IntPolicy<Policy, Policy<N>> {
  static constexpr bool matches = true;
  static constexpr int value = N;
};

}  // namespace detail

// N of the Policy<N> in the pack, or Default when there is none.
template <template <int> class Policy, int Default, class... Policies>
constexpr int int_policy() {
  // One extra entry each, so that an empty pack still makes arrays.
  constexpr bool matches[] = {detail::IntPolicy<Policy, Policies>::matches..., false};
  constexpr int values[] = {detail::IntPolicy<Policy, Policies>::value..., 0};
  int value = Default;
  for (int i = 0; i < static_cast<int>(sizeof...(Policies)); ++i)
    if (matches[i]) value = values[i];
  return value;
}

// Whether Policy is in the pack.
template <class Policy, class... Policies>
constexpr bool has_policy() {
  return (std::is_same_v<Policy, Policies> || ...);
}

template <class... Policies>
constexpr bool known_forward_policies() {
  return ((detail::IntPolicy<KVStages, Policies>::matches || detail::IntPolicy<ConsumerGroups, Policies>::matches ||
           has_policy<Policies, PingPong, PersistentGrid, ScoresAhead>()) &&
          ...);
}

}  // namespace attnkit::hopper
