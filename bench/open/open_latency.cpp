// Load generator for warm `open`: N client threads each open the same model repeatedly through
// libtimmclient and record, per open, the time from before connect (or before the request, with
// --reuse) until the first byte of the first tensor has been read from the mapping. Prints one
// JSON object with the latency distribution, the throughput and the per-phase medians.
//
// Usage: bench_open_latency --socket PATH --name MODEL [--clients 32] [--opens 200]
//          [--warmup 5] [--reuse] [--rate OPENS_PER_S] [--filter JSON] [--label TEXT]
//
// Without --rate every client starts its next open as soon as the previous one is done (closed
// loop), so N requests are in flight at all times. With --rate the clients together start that
// many opens per second on a fixed schedule, client i offset by i/rate seconds, and an open's
// latency counts from its scheduled start, so time spent behind schedule is included.
//
// Each open is closed before the next one starts: the mapping is unmapped and, with a fresh
// connection, the connection is closed, which ends the lease. With --reuse the lease is
// released by a `release` request. Neither step is inside the timed interval. It checks no
// limit, so it is not a test.
#include "client/timmd_client.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using timmd::client::Client;

struct Options {
  std::string socket;
  std::string name;
  int clients = 32;
  int opens = 200;
  int warmup = 5;
  bool reuse = false;
  double rate = 0; // opens per second over all clients; 0 runs a closed loop
  json filter = json::object();
  std::string label;
};

// Microseconds spent in each phase of one open.
struct Sample {
  double total = 0;
  double connect = 0; // socket connect and `hello`; 0 with --reuse
  double open = 0;    // `open` request, answer and descriptor, fstat, mmap, tensor table
  double touch = 0;   // reading the first byte of the first tensor (a page fault on first access)
};

// Result of one client thread.
struct ThreadResult {
  std::vector<Sample> samples;
  int errors = 0;
  std::string first_error;
  json first_info;
  std::size_t tensors = 0;
};

double microseconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::micro>(to - from).count();
}

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bench_open_latency: " << problem << "\n"
            << "usage: bench_open_latency --socket PATH --name MODEL [--clients N] [--opens N] [--warmup N]\n"
            << "         [--reuse] [--rate OPENS_PER_S] [--filter JSON] [--label TEXT]\n"
            << "  --clients  concurrent client threads (default 32)\n"
            << "  --opens    timed opens per client (default 200)\n"
            << "  --warmup   untimed opens per client before the timed ones (default 5)\n"
            << "  --reuse    keep one connection per client instead of connecting for every open\n"
            << "  --rate     opens per second over all clients on a fixed schedule (default: closed loop)\n"
            << "  --filter   the open request's filter object (default {})\n";
  std::exit(2);
}

int parse_count(const std::string& flag, const char* text, int minimum) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < minimum || value > 1'000'000) {
    usage(flag + " must be an integer of at least " + std::to_string(minimum) + ", not '" + text + "'");
  }
  return static_cast<int>(value);
}

Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--reuse") {
      options.reuse = true;
      continue;
    }
    if (i + 1 >= argc) {
      usage("missing value after " + flag);
    }
    const char* value = argv[++i];
    if (flag == "--socket") {
      options.socket = value;
    } else if (flag == "--name") {
      options.name = value;
    } else if (flag == "--clients") {
      options.clients = parse_count(flag, value, 1);
    } else if (flag == "--opens") {
      options.opens = parse_count(flag, value, 1);
    } else if (flag == "--warmup") {
      options.warmup = parse_count(flag, value, 0);
    } else if (flag == "--rate") {
      char* end = nullptr;
      options.rate = std::strtod(value, &end);
      if (end == value || *end != '\0' || !(options.rate > 0)) {
        usage(std::string("--rate must be a positive number of opens per second, not '") + value + "'");
      }
    } else if (flag == "--label") {
      options.label = value;
    } else if (flag == "--filter") {
      options.filter = json::parse(value, nullptr, false);
      if (options.filter.is_discarded() || !options.filter.is_object()) {
        usage(std::string("--filter must be a JSON object, not '") + value + "'");
      }
    } else {
      usage("unknown option " + flag);
    }
  }
  if (options.socket.empty() || options.name.empty()) {
    usage("--socket and --name are required");
  }
  return options;
}

void record_error(ThreadResult& result, const std::string& message) {
  if (result.errors++ == 0) {
    result.first_error = message;
  }
}

// One timed open, counted from `scheduled` when that is earlier than now. Returns nullopt after
// recording the error.
std::optional<Sample> open_once(const Options& options, std::optional<Client>& reused, ThreadResult& result,
                                std::optional<Clock::time_point> scheduled = std::nullopt) {
  Sample sample;
  const auto started = Clock::now();
  const auto counted_from = scheduled ? std::min(*scheduled, started) : started;

  std::optional<Client> fresh;
  Client* client = nullptr;
  if (options.reuse) {
    client = &*reused;
  } else {
    auto connected = Client::connect(options.socket);
    if (!connected) {
      record_error(result, "connect: " + connected.error().message);
      return std::nullopt;
    }
    fresh.emplace(std::move(*connected));
    client = &*fresh;
  }
  const auto connected_at = Clock::now();

  auto opened = client->open(options.name, options.filter);
  if (!opened) {
    record_error(result, "open: " + opened.error().message);
    return std::nullopt;
  }
  const auto opened_at = Clock::now();

  if (opened->tensors().empty() || opened->tensors().front().data.empty()) {
    record_error(result, "open returned no tensor data");
    return std::nullopt;
  }
  // The volatile read makes the compiler keep the access, which faults the page in.
  const volatile std::byte* first = opened->tensors().front().data.data();
  const std::byte value = *first;
  static_cast<void>(value);
  const auto touched_at = Clock::now();

  sample.total = microseconds(counted_from, touched_at);
  sample.connect = options.reuse ? 0.0 : microseconds(started, connected_at);
  sample.open = microseconds(connected_at, opened_at);
  sample.touch = microseconds(opened_at, touched_at);

  if (result.first_info.is_null()) {
    result.first_info = opened->info();
    result.tensors = opened->tensors().size();
  }
  if (options.reuse) {
    const auto lease = opened->info().value("lease", std::uint64_t{0});
    auto released = client->connection().request("release", {{"lease", lease}});
    if (!released) {
      record_error(result, "release: " + released.error().message);
    }
  }
  return sample;
}

void run_client(const Options& options, int index, std::barrier<>& start, ThreadResult& result) {
  std::optional<Client> reused;
  if (options.reuse) {
    auto connected = Client::connect(options.socket);
    if (!connected) {
      record_error(result, "connect: " + connected.error().message);
    } else {
      reused.emplace(std::move(*connected));
    }
  }
  for (int i = 0; i < options.warmup && (!options.reuse || reused); ++i) {
    static_cast<void>(open_once(options, reused, result));
  }
  result.errors = 0;
  result.first_error.clear();

  start.arrive_and_wait();
  if (options.reuse && !reused) {
    record_error(result, "no connection");
    return;
  }
  result.samples.reserve(static_cast<std::size_t>(options.opens));
  if (options.rate <= 0) {
    for (int i = 0; i < options.opens; ++i) {
      if (auto sample = open_once(options, reused, result)) {
        result.samples.push_back(*sample);
      }
    }
    return;
  }

  const auto interval = std::chrono::duration<double>(static_cast<double>(options.clients) / options.rate);
  const auto first = Clock::now() + std::chrono::duration_cast<Clock::duration>(interval * index / options.clients);
  for (int i = 0; i < options.opens; ++i) {
    const auto scheduled = first + std::chrono::duration_cast<Clock::duration>(interval * i);
    std::this_thread::sleep_until(scheduled);
    if (auto sample = open_once(options, reused, result, scheduled)) {
      result.samples.push_back(*sample);
    }
  }
}

// Nearest-rank percentile of sorted values, in milliseconds.
double percentile_ms(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) {
    return 0;
  }
  auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1] / 1000.0;
}

json distribution(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (const double value : values) {
    sum += value;
  }
  const double mean = values.empty() ? 0 : sum / static_cast<double>(values.size()) / 1000.0;
  return {{"median_ms", percentile_ms(values, 0.5)}, {"p90_ms", percentile_ms(values, 0.9)},
          {"p99_ms", percentile_ms(values, 0.99)},   {"max_ms", values.empty() ? 0 : values.back() / 1000.0},
          {"mean_ms", mean}};
}

double median_ms(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return percentile_ms(values, 0.5);
}

double cpu_seconds(const rusage& usage) {
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

} // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);

  std::vector<ThreadResult> results(static_cast<std::size_t>(options.clients));
  std::barrier<> start(options.clients + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < options.clients; ++i) {
    auto& result = results[static_cast<std::size_t>(i)];
    threads.emplace_back([&options, i, &start, &result] { run_client(options, i, start, result); });
  }

  start.arrive_and_wait();
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  const auto started = Clock::now();
  for (auto& thread : threads) {
    thread.join();
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - started).count();
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);

  std::vector<double> totals;
  std::vector<double> connects;
  std::vector<double> opens;
  std::vector<double> touches;
  int errors = 0;
  json first_error = nullptr;
  json info = nullptr;
  std::size_t tensors = 0;
  for (const auto& result : results) {
    for (const auto& sample : result.samples) {
      totals.push_back(sample.total);
      connects.push_back(sample.connect);
      opens.push_back(sample.open);
      touches.push_back(sample.touch);
    }
    errors += result.errors;
    if (first_error.is_null() && !result.first_error.empty()) {
      first_error = result.first_error;
    }
    if (info.is_null() && !result.first_info.is_null()) {
      info = result.first_info;
      tensors = result.tensors;
    }
  }

  const json report = {
      {"label", options.label},
      {"name", options.name},
      {"filter", options.filter},
      {"connection", options.reuse ? "reused" : "fresh"},
      {"rate", options.rate > 0 ? json(options.rate) : json("closed_loop")},
      {"clients", options.clients},
      {"opens", totals.size()},
      {"errors", errors},
      {"first_error", first_error},
      {"tensors", tensors},
      {"served", info.is_null() ? json(nullptr) : info.value("served", json(nullptr))},
      {"wall_s", wall_s},
      {"opens_per_s", wall_s > 0 ? static_cast<double>(totals.size()) / wall_s : 0.0},
      {"client_cpu_s", cpu_seconds(usage_after) - cpu_seconds(usage_before)},
      {"latency", distribution(totals)},
      {"phase_median_ms",
       {{"connect_hello", median_ms(connects)},
        {"open_request_map", median_ms(opens)},
        {"first_touch", median_ms(touches)}}}};
  std::cout << report.dump() << "\n";
  return errors == 0 ? 0 : 1;
}
