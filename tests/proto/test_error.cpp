#include "proto/error.hpp"

#include <doctest/doctest.h>

#include <set>

using timmd::proto::Errc;

TEST_CASE("every error code has a distinct name and message") {
  std::set<std::string> names;
  for (const auto code : timmd::proto::k_all_errcs) {
    const auto name = std::string(timmd::proto::to_string(code));
    CHECK(names.insert(name).second);
    CHECK(timmd::proto::errc_from_string(name) == code);
    const auto message = timmd::proto::make_error_code(code).message();
    CHECK_FALSE(message.empty());
    CHECK(message.find("unknown") == std::string::npos);
  }
  CHECK(names.size() == 15);
}

TEST_CASE("error round-trips through JSON") {
  const auto error = timmd::proto::make_error(Errc::gated, "accept the license", {{"repo", "a/b"}});
  const auto back = timmd::proto::Error::from_json(error.to_json());
  CHECK(back.code == Errc::gated);
  CHECK(back.message == "accept the license");
  CHECK(back.details["repo"] == "a/b");
}

TEST_CASE("unknown error code from a newer daemon becomes internal") {
  const auto back = timmd::proto::Error::from_json({{"code", "brand_new"}, {"message", "m"}});
  CHECK(back.code == Errc::internal);
  CHECK(back.message.find("brand_new") != std::string::npos);
}
