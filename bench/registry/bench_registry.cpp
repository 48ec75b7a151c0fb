// Measures registry load (parse, merge and index) and 100,000 resolutions of a mix of names on
// one thread. Usage: bench_registry [REGISTRY_DIR]; the default is the source tree's
// config/registry. Prints wall time and the thread's CPU time: on a shared machine the CPU time
// is the cost of the work itself, the wall time includes waiting for a core. It checks no
// limit, so it is not a test.
#include "daemon/registry/registry.hpp"
#include "daemon/registry/resolver.hpp"

#include <spdlog/spdlog.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using timmd::registry::Registry;

constexpr int k_load_rounds = 10;
constexpr std::size_t k_resolutions = 100'000;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time this thread has used, in milliseconds.
double thread_cpu_milliseconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// Wall and CPU milliseconds of one timed section.
struct Timing {
  double wall = 0;
  double cpu = 0;
};

template <class Work> Timing time_section(Work&& work) {
  const auto wall_start = Clock::now();
  const double cpu_start = thread_cpu_milliseconds();
  work();
  return {milliseconds_since(wall_start), thread_cpu_milliseconds() - cpu_start};
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; });
  return text;
}

struct Mix {
  std::vector<std::string> names;
  std::vector<std::string> kinds;
};

// Builds the workload: per 100 names, 40 `arch.tag`, 20 bare `arch`, 10 deprecated names,
// 10 `hf-hub:` repositories, 5 with upper case and whitespace, 5 unverified tags, 5 aliases and
// 5 typos that end in not_found with suggestions (the slowest path).
Mix build_mix(const Registry& registry) {
  std::vector<std::string> tagged;
  std::vector<std::string> bare;
  std::vector<std::string> repos;
  for (const auto& arch : registry.architectures()) {
    bare.push_back(arch.name);
    for (const auto& record : arch.tags) {
      tagged.push_back(arch.canonical_name(record));
      if (record.hf_hub_id) {
        repos.push_back("hf-hub:" + *record.hf_hub_id + (repos.size() % 2 == 0 ? "@main" : ""));
      }
    }
  }
  std::vector<std::string> deprecated;
  for (const auto& [name, deprecation] : registry.deprecations()) {
    deprecated.push_back(name);
  }

  std::mt19937 random(42);
  const auto pick = [&random](const std::vector<std::string>& from) -> const std::string& {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(random)];
  };

  Mix mix;
  const auto add = [&mix](std::string name, const char* kind) {
    mix.names.push_back(std::move(name));
    mix.kinds.emplace_back(kind);
  };
  while (mix.names.size() < k_resolutions) {
    for (int i = 0; i < 40; ++i) {
      add(pick(tagged), "arch.tag");
    }
    for (int i = 0; i < 20; ++i) {
      add(pick(bare), "arch");
    }
    for (int i = 0; i < 10; ++i) {
      add(pick(deprecated), "deprecated");
      add(pick(repos), "hf-hub");
    }
    for (int i = 0; i < 5; ++i) {
      add("  " + upper(pick(tagged)) + "\n", "case+space");
      add(pick(bare) + ".newer_tag_" + std::to_string(i), "unverified");
      add(i % 2 == 0 ? "my-backbone" : "lab-detector", "alias");
      auto typo = pick(bare);
      typo[typo.size() / 2] = 'q';
      add(typo + "x", "typo");
    }
  }
  mix.names.resize(k_resolutions);
  mix.kinds.resize(k_resolutions);
  return mix;
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const std::filesystem::path dir = argc > 1 ? argv[1] : std::filesystem::path(TIMMD_SOURCE_DIR) / "config/registry";
  const auto files = timmd::registry::bundled_registry_files(dir);

  std::vector<Timing> load_times;
  std::shared_ptr<const Registry> registry;
  for (int round = 0; round < k_load_rounds; ++round) {
    timmd::proto::Result<std::shared_ptr<const Registry>> loaded = std::shared_ptr<const Registry>();
    load_times.push_back(time_section([&] { loaded = Registry::load(files); }));
    if (!loaded) {
      std::fprintf(stderr, "bench_registry: %s\n", loaded.error().message.c_str());
      return 1;
    }
    registry = *loaded;
  }
  std::sort(load_times.begin(), load_times.end(), [](const Timing& a, const Timing& b) { return a.cpu < b.cpu; });
  std::printf("load + index of %zu architectures, %zu tags (%d rounds): CPU min %.1f ms, median %.1f ms, max %.1f ms; "
              "wall median %.1f ms\n",
              registry->architectures().size(), registry->tag_count(), k_load_rounds, load_times.front().cpu,
              load_times[load_times.size() / 2].cpu, load_times.back().cpu, load_times[load_times.size() / 2].wall);

  auto aliases = timmd::registry::UserAliases::from_json(
      {{"my-backbone", "convnext_tiny.fb_in22k_ft_in1k"}, {"lab-detector", "hf-hub:mylab/detector@v3"}});
  if (!aliases) {
    std::fprintf(stderr, "bench_registry: %s\n", aliases.error().message.c_str());
    return 1;
  }
  const auto mix = build_mix(*registry);

  std::size_t resolved = 0;
  std::size_t failed = 0;
  const auto total = time_section([&] {
    for (const auto& name : mix.names) {
      const auto resolution = timmd::registry::resolve(*registry, name, *aliases);
      resolution ? ++resolved : ++failed;
    }
  });
  std::printf("%zu resolutions on one thread: CPU %.1f ms (%.2f us each), wall %.1f ms; %zu resolved, %zu not found\n",
              mix.names.size(), total.cpu, 1000.0 * total.cpu / static_cast<double>(mix.names.size()), total.wall,
              resolved, failed);

  for (const auto* kind : {"arch.tag", "arch", "deprecated", "hf-hub", "case+space", "unverified", "alias", "typo"}) {
    std::size_t count = 0;
    const auto section = time_section([&] {
      for (std::size_t i = 0; i < mix.names.size(); ++i) {
        if (mix.kinds[i] == kind) {
          (void)timmd::registry::resolve(*registry, mix.names[i], *aliases);
          ++count;
        }
      }
    });
    std::printf("  %-11s %6zu names, CPU %.2f us each\n", kind, count,
                1000.0 * section.cpu / static_cast<double>(count));
  }
  return 0;
}
