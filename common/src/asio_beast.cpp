// Asio's and Beast's compiled parts (their .ipp files), built once here instead of inline in
// every translation unit that includes them: gitopsd_common defines
// BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION for all its users,
// so this file must be the only one that includes these headers.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
