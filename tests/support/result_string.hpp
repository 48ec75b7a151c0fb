// Prints a proto::Result in failed doctest assertions as "ok" or its error. Without it doctest
// would pick boost::system::result's operator<<, which fails to compile for values that cannot
// be printed.
#pragma once

#include "proto/error.hpp"

#include <doctest/doctest.h>

#include <sstream>

template <class T>
struct doctest::StringMaker<boost::system::result<T, timmd::proto::Error>> {
  static String convert(const boost::system::result<T, timmd::proto::Error>& result) {
    if (result.has_value()) {
      return "ok";
    }
    std::ostringstream out;
    out << result.error();
    return out.str().c_str();
  }
};
