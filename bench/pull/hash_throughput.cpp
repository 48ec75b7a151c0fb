// Measures the SHA-256 throughput of timmd's verification code on one file: `hash_file_into`
// with a SHA-256 Hasher, the call the daemon makes when it finishes a download (1 MiB reads).
// Usage: bench_hash_throughput FILE [RUNS]   (default 3 runs)
// Prints one JSON line per run and then the median, with wall and CPU seconds and MB/s
// (10^6 bytes per second). The page cache state is whatever the caller left: run.sh reads the
// file once before, so the runs measure hashing from memory, as the daemon does right after
// writing the file.
#include "daemon/store/digest.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using timmd::store::Hasher;

struct Run {
  double wall_s = 0;
  double cpu_s = 0;
  std::string digest;
};

double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

// Hashes the file once as the daemon's verification does; exits with status 1 on an I/O error.
Run hash_once(const std::filesystem::path& file) {
  auto sha256 = Hasher::sha256();
  const std::array<Hasher*, 1> hashers{&sha256};
  const auto wall_start = Clock::now();
  const double cpu_start = process_cpu_seconds();

  if (auto hashed = timmd::store::hash_file_into(file, hashers); !hashed) {
    std::fprintf(stderr, "bench_hash_throughput: %s\n", hashed.error().message.c_str());
    std::exit(1);
  }

  Run run;
  run.cpu_s = process_cpu_seconds() - cpu_start;
  run.wall_s = std::chrono::duration<double>(Clock::now() - wall_start).count();
  run.digest = sha256.final_hex();
  return run;
}

void print_run(const char* label, const Run& run, std::uintmax_t size) {
  std::printf("{\"run\": \"%s\", \"bytes\": %ju, \"wall_s\": %.3f, \"cpu_s\": %.3f, \"mb_per_s\": %.1f, "
              "\"sha256\": \"%s\"}\n",
              label, size, run.wall_s, run.cpu_s, static_cast<double>(size) / run.wall_s / 1e6,
              run.digest.c_str());
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: bench_hash_throughput FILE [RUNS]\n");
    return 2;
  }
  const std::filesystem::path file = argv[1];
  const int runs = argc == 3 ? std::atoi(argv[2]) : 3;
  if (runs < 1) {
    std::fprintf(stderr, "bench_hash_throughput: RUNS must be a positive integer, got '%s'\n", argv[2]);
    return 2;
  }
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (error) {
    std::fprintf(stderr, "bench_hash_throughput: failed to read the size of %s: %s\n", file.c_str(),
                 error.message().c_str());
    return 1;
  }

  std::vector<Run> results;
  for (int i = 0; i < runs; ++i) {
    results.push_back(hash_once(file));
    print_run(std::to_string(i + 1).c_str(), results.back(), size);
  }

  std::sort(results.begin(), results.end(), [](const Run& a, const Run& b) { return a.wall_s < b.wall_s; });
  print_run("median", results[results.size() / 2], size);
  return 0;
}
