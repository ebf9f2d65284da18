// Where the shared peer data lives (MLXR_TEST_DATA, default ../shared/data beside the checkout).
// Tests that need it call MLXR_REQUIRE_DATA(path) and skip with a loud message when it is absent.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace mlxr::testing {

inline std::string data_dir() {
  if (const char* d = std::getenv("MLXR_TEST_DATA")) return d;
  return std::string(MLXR_SOURCE_DIR) + "/../shared/data";
}

inline std::string data_path(const std::string& rel) { return data_dir() + "/" + rel; }

}  // namespace mlxr::testing

#define MLXR_REQUIRE_DATA(rel)                                                             \
  do {                                                                                     \
    if (!std::filesystem::exists(::mlxr::testing::data_path(rel))) {                       \
      std::fprintf(stderr, "\n*** SKIPPED: test data %s not found (set MLXR_TEST_DATA) ***\n", \
                   ::mlxr::testing::data_path(rel).c_str());                               \
      GTEST_SKIP() << "test data missing: " << ::mlxr::testing::data_path(rel);           \
    }                                                                                      \
  } while (0)
