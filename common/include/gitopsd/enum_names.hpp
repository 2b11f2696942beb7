// Names of the enums whose words are part of the contract (event kinds, providers, result
// statuses): each is declared once with BOOST_DESCRIBE_ENUM, and its enumerators' names are
// the words on the wire. Boost.JSON converts described enums the same way.
#pragma once

#include <boost/describe/enum.hpp>
#include <boost/describe/enum_to_string.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/mp11/algorithm.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace gitopsd {

template <class E>
concept DescribedEnum = boost::describe::has_describe_enumerators<E>::value;

template <DescribedEnum E>
std::string_view enum_name(E value) {
  return boost::describe::enum_to_string(value, "?");
}

template <DescribedEnum E>
std::optional<E> enum_from_name(std::string_view name) {
  std::optional<E> found;
  boost::mp11::mp_for_each<boost::describe::describe_enumerators<E>>([&](auto D) {
    if (!found && name == D.name) found = D.value;
  });
  return found;
}

// Streams write the name: log lines, test failure messages.
template <DescribedEnum E>
std::ostream& operator<<(std::ostream& out, E value) {
  return out << enum_name(value);
}

// "push, merge, poll or manual": every name of E, for messages that say what is allowed.
template <DescribedEnum E>
std::string enum_names() {
  using Ds = boost::describe::describe_enumerators<E>;
  std::string out;
  std::size_t i = 0;
  boost::mp11::mp_for_each<Ds>([&](auto D) {
    if (i > 0) out += i + 1 == boost::mp11::mp_size<Ds>::value ? " or " : ", ";
    out += D.name;
    ++i;
  });
  return out;
}

}  // namespace gitopsd
