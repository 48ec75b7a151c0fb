#include "daemon/hub/file_download.hpp"

#include "daemon/hub/hub_url.hpp"
#include "daemon/util/offload.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

namespace asio = boost::asio;

namespace timmd::hub {
namespace {

using proto::Errc;

constexpr int k_max_get_redirects = 5;
// An attempt that brought at least this much counts as progress and resets the failure count.
constexpr std::uint64_t k_progress_reset_bytes = 256 * 1024;
// Whatever the progress, a chunk gets at most this many times the retry budget in attempts.
constexpr int k_attempt_cap_factor = 4;
// A chunk is worth a second request at the end of the file only with this much left.
constexpr std::uint64_t k_min_hedge_bytes = 256 * 1024;
// ... and only when its request runs this much slower than the file's finished chunks did,
constexpr double k_hedge_slowness = 2.0;
// ... measured over at least this long.
constexpr auto k_min_hedge_age = std::chrono::seconds(1);
// A worker with nothing to fetch looks for a straggler this often.
constexpr auto k_straggler_poll = std::chrono::milliseconds(200);
// After the server asked to slow down, connections are added back no sooner than this.
constexpr auto k_back_off_hold = std::chrono::seconds(5);
// The throughput is measured over windows of this length, and each window may change the
// connection count.
constexpr auto k_probe_window = std::chrono::milliseconds(500);
// A doubling of the connections is kept up only when the next window was this much faster.
constexpr double k_min_gain = 1.25;
// New connections ramp up (connect, TLS, TCP slow start), so the window after a change starts
// this long after it.
constexpr auto k_settle_time = std::chrono::milliseconds(250);

enum class ChunkOutcome { ok, ranges_ignored, failed, superseded };

// A chunk being fetched. Its first request (the primary) covers the whole chunk. Near the end of
// the file an idle worker may add a second request (a hedge) for the rest the primary has not
// fetched. Both write the same bytes at the same offsets, so the first to reach the end
// completes the chunk and the other is abandoned.
struct InFlight {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t primary_position = 0; // next byte the primary writes
  std::uint64_t hedge_position = 0;   // next byte the hedge writes; 0 while there is none
  std::uint64_t counted = 0;          // bytes of the chunk reported as progress
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool hedged = false;
  bool done = false;
};

struct Download;
void spawn_worker(const std::shared_ptr<Download>& d);

struct Download : std::enable_shared_from_this<Download> {
  Download(HubClient& hub_, ConnectionLimits& limits_, asio::any_io_executor blocking_, DownloadSink& sink_,
           const FileDownloadRequest& request_, ProgressCallback progress_, asio::any_io_executor io)
      : hub(hub_), limits(limits_), blocking(std::move(blocking_)), sink(sink_), request(request_),
        on_progress(std::move(progress_)), all_done(io) {}

  HubClient& hub;
  ConnectionLimits& limits;
  asio::any_io_executor blocking;
  DownloadSink& sink;
  const FileDownloadRequest& request;
  ProgressCallback on_progress;

  std::deque<std::size_t> queue;
  std::map<std::size_t, std::shared_ptr<InFlight>> in_flight;
  std::optional<proto::Error> error;
  bool ranges_ignored = false;
  bool stopping = false;
  std::uint64_t bytes_done = 0;
  // Throughput of the primaries that finished, for spotting slow ones.
  std::uint64_t finished_bytes = 0;
  double finished_seconds = 0;
  int running = 0; // workers and chunk completions not yet ended, for all_done
  // Connection count: `active` workers take chunks, at most `target`. The target doubles after
  // each probe window, up to `max_workers`, as long as every doubling made the next window
  // k_min_gain faster. The first doubling without that gain is undone and ends the probing.
  // A 429 or 503 halves the target. After k_back_off_hold it grows back by one per window,
  // without the gain test, because the server rather than the link set the limit.
  int active = 0;
  int target = 0;
  int max_workers = 0;
  bool doubling = true;
  bool backed_off = false;
  std::chrono::steady_clock::time_point last_back_off{};
  std::chrono::steady_clock::time_point window_start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point settled_at{}; // bytes before this do not count
  std::uint64_t window_bytes = 0;
  double rate_before = 0; // bytes/s of the window before the last doubling
  int target_before = 0;  // the target before the last doubling
  asio::steady_timer all_done;
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;

  void add_progress(std::uint64_t bytes) {
    bytes_done += bytes;
    window_bytes += bytes;
    if (on_progress) {
      on_progress(bytes_done);
    }
    probe();
  }

  // Ends the current probe window once it is k_probe_window long and lets it change the target.
  void probe() {
    const auto now = std::chrono::steady_clock::now();
    if (now < settled_at) {
      window_start = now;
      window_bytes = 0;
      return;
    }
    const auto elapsed = now - window_start;
    if (elapsed < k_probe_window) {
      return;
    }
    const double rate = static_cast<double>(window_bytes) / std::chrono::duration<double>(elapsed).count();
    window_start = now;
    window_bytes = 0;

    // A window with idle or waiting connections cannot show what more connections would bring.
    // That is a window whose connections were not all started, one after a back-off, and one
    // at the end of the file, where the queue is empty and connections fall idle.
    if (stopping || active < target || queue.empty() || now - last_back_off < k_back_off_hold) {
      return;
    }
    const int before = target;
    if (backed_off) {
      if (target >= max_workers) {
        return;
      }
      target = before + 1;
    } else if (!doubling) {
      return;
    } else if (rate_before > 0 && rate < rate_before * k_min_gain) {
      // Workers above the target leave after their current chunk.
      doubling = false;
      target = target_before;
      spdlog::info("{}/{}: {} connections were not {:.0f}% faster than {} ({:.1f} against {:.1f} MB/s); keeping {}",
                   request.repo, request.path, before, (k_min_gain - 1) * 100, target, rate / 1e6, rate_before / 1e6,
                   target);
      return;
    } else if (target >= max_workers) {
      doubling = false; // the last doubling paid off and reached the limit
      return;
    } else {
      rate_before = rate;
      target_before = before;
      target = std::min(max_workers, before * 2);
    }
    spdlog::info("{}/{}: widening from {} to {} connections at {:.1f} MB/s", request.repo, request.path, before,
                 target, rate / 1e6);
    settled_at = now + k_settle_time;
    // This runs inside a curl write callback. That is safe because CurlMulti::perform() adds
    // the new workers' handles only after a trip through the executor's queue.
    const auto extra = std::min<std::size_t>(static_cast<std::size_t>(target - active), queue.size());
    for (std::size_t i = 0; i < extra; ++i) {
      spawn_worker(shared_from_this());
    }
  }

  // Reports the bytes of `chunk` that the union of its requests now covers.
  void count_progress(InFlight& chunk) {
    const auto covered = std::max(chunk.primary_position, chunk.hedge_position) - chunk.begin;
    if (covered > chunk.counted) {
      add_progress(covered - chunk.counted);
      chunk.counted = covered;
    }
  }

  void fail(proto::Error e) {
    if (!error) {
      error = std::move(e);
    }
    stop_all();
  }

  void stop_all() {
    stopping = true;
    for (auto& signal : signals) {
      signal->emit(asio::cancellation_type::terminal);
    }
  }

  void back_off(long status) {
    const auto now = std::chrono::steady_clock::now();
    if (target <= 1 || now - last_back_off < std::chrono::seconds(1)) {
      last_back_off = now;
      return;
    }
    last_back_off = now;
    backed_off = true;
    const int before = target;
    target = std::max(1, target / 2);
    spdlog::warn("HTTP {} for {}/{}: fetching it on {} connections instead of {}", status, request.repo,
                 request.path, target, before);
  }

  // The in-flight chunk that most needs a second request: the one with the most bytes left
  // among those whose primary runs at under 1/k_hedge_slowness of the file's average rate.
  std::optional<std::size_t> straggler() const {
    if (finished_seconds <= 0) {
      return std::nullopt;
    }
    const double average_rate = static_cast<double>(finished_bytes) / finished_seconds;
    const auto now = std::chrono::steady_clock::now();
    std::optional<std::size_t> chosen;
    std::uint64_t most_left = 0;
    for (const auto& [chunk, state] : in_flight) {
      const auto left = state->end - state->primary_position;
      if (state->hedged || state->done || left < k_min_hedge_bytes || left <= most_left) {
        continue;
      }
      if (now - state->started < k_min_hedge_age) {
        continue;
      }
      const double elapsed = std::chrono::duration<double>(now - state->started).count();
      const double rate = static_cast<double>(state->primary_position - state->begin) / elapsed;
      if (rate * k_hedge_slowness < average_rate) {
        chosen = chunk;
        most_left = left;
      }
    }
    return chosen;
  }

  HubRequestContext context() const { return {hub.settings().endpoint, request.repo, request.commit, request.path, 1}; }

  std::string describe_chunk(std::size_t chunk) const {
    return "chunk " + std::to_string(chunk) + " (bytes " + std::to_string(sink.chunk_begin(chunk)) + "-" +
           std::to_string(sink.chunk_end(chunk)) + ") of " + request.repo + "/" + request.path;
  }
};

HttpRequest make_get(const Download& d, const std::string& url) {
  HttpRequest http;
  http.url = url;
  http.headers = d.hub.auth_headers_for(url);
  http.connect_timeout = d.hub.settings().connect_timeout;
  http.stall_timeout = d.hub.settings().stall_timeout;
  http.user_agent = d.hub.settings().user_agent;
  http.multiplex = false;
  return http;
}

std::string failure_reason(const HttpResponse& response) {
  return response.transport_ok() ? "HTTP " + std::to_string(response.status) : response.curl_error;
}

// Follows a redirect of a GET; the token goes only where auth_headers_for() allows.
std::optional<std::string> redirect_target(const std::string& url, const HttpResponse& response) {
  const auto location = response.header("location");
  if (location.empty()) {
    return std::nullopt;
  }
  if (is_relative_location(location)) {
    return join_location(url, location);
  }
  return parse_origin(location) ? std::optional<std::string>(location) : std::nullopt;
}

// Fetches [from, state.end) of `chunk`, retrying from the last byte received. The primary
// (from == state.begin) retries transient failures; a hedge makes one attempt and leaves any
// failure to the primary. Either returns `superseded` once the other completed the chunk.
asio::awaitable<ChunkOutcome> fetch_range(Download& d, std::size_t chunk, std::shared_ptr<InFlight> state,
                                          bool is_hedge) {
  const auto begin = is_hedge ? state->primary_position : state->begin;
  const auto end = state->end;
  auto& position = is_hedge ? state->hedge_position : state->primary_position;
  position = begin;
  std::uint64_t received = 0;
  int failures = 0;
  int stalls = 0;
  int attempts = 0;
  int redirects = 0;
  bool fresh_connection = false;
  std::string url = d.request.url;
  asio::steady_timer timer(co_await asio::this_coro::executor);

  while (true) {
    std::uint64_t got = 0;
    bool ignored_range = false;
    bool overflow = false;
    std::optional<proto::Error> write_error;

    auto http = make_get(d, url);
    http.range = std::make_pair(begin + received, end - 1);
    http.fresh_connection = std::exchange(fresh_connection, false);
    http.abandon = [state] { return state->done; };
    http.on_body = [&](long status, std::span<const std::byte> data) {
      if (state->done) {
        return false;
      }
      if (status == 200) {
        // A 200 is the whole file from byte 0; usable only when that is exactly this range.
        if (begin + received != 0 || end != d.sink.size()) {
          ignored_range = true;
          return false;
        }
      } else if (status != 206) {
        return true; // an error body; the status decides below
      }
      const auto offset = begin + received + got;
      // NOTE: the write runs on the I/O thread. pwrite copies into the page cache and blocks
      // only under memory pressure or on a stalled disk; fsync runs on the worker pool.
      if (offset + data.size() > end) {
        overflow = true;
        return false;
      }
      if (auto written = d.sink.write(offset, data); !written) {
        write_error = written.error();
        return false;
      }
      got += data.size();
      position = offset + data.size();
      d.count_progress(*state);
      return true;
    };

    const auto response = co_await perform_http(d.hub.multi(), http);
    received += got;

    if (write_error) {
      d.fail(*write_error);
      co_return ChunkOutcome::failed;
    }
    if (state->done) {
      co_return ChunkOutcome::superseded;
    }
    if (ignored_range) {
      co_return is_hedge ? ChunkOutcome::superseded : ChunkOutcome::ranges_ignored;
    }
    // Every byte of the range arrived, so a transport error after them (a server that declared
    // more than it sent, then closed) loses nothing, and the hash checks the content.
    const bool body_status = response.status == 200 || response.status == 206;
    if (body_status && received == end - begin) {
      co_return ChunkOutcome::ok;
    }
    if (response.curl_code == CURLE_ABORTED_BY_CALLBACK && d.stopping) {
      co_return ChunkOutcome::failed;
    }
    if (response.shutdown) {
      d.fail(hub_error(response, d.context()));
      co_return ChunkOutcome::failed;
    }
    if (response.transport_ok() && response.status >= 300 && response.status < 400) {
      auto next = redirect_target(url, response);
      if (!next || ++redirects > k_max_get_redirects) {
        d.fail(proto::make_error(Errc::upstream_unavailable, "cannot follow the redirects of " + redact_url(url) +
                                                                 " for " + d.describe_chunk(chunk)));
        co_return ChunkOutcome::failed;
      }
      url = *next;
      continue;
    }
    if (is_hedge) {
      spdlog::debug("second request for {} gave up at byte {}: {}", d.describe_chunk(chunk), begin + received,
                    failure_reason(response));
      co_return ChunkOutcome::superseded;
    }
    if (response.transport_ok() && !body_status && !RetryPolicy::is_retryable(response)) {
      d.fail(hub_error(response, d.context()));
      co_return ChunkOutcome::failed;
    }

    if (response.transport_ok() && (response.status == 429 || response.status == 503)) {
      d.back_off(response.status);
    }

    // A stall is a fault of the connection, not a response of the server, so the rest is
    // requested again at once on a new connection. That spends no retry, but the number of
    // stalls is bounded by the retry budget too.
    const auto& retry = d.hub.settings().retry;
    ++attempts;
    if (response.stalled && ++stalls <= retry.max_attempts && attempts < retry.max_attempts * k_attempt_cap_factor) {
      spdlog::warn("{} stalled at byte {}: {}; asking again on a new connection", d.describe_chunk(chunk),
                   begin + received, response.curl_error);
      fresh_connection = true;
      continue;
    }

    // A transport failure, a short or overlong body, or a transient status: retry the rest.
    // Real progress resets the failure count, but a server that trickles a few bytes per
    // attempt must not keep the chunk alive forever, hence the threshold and the hard cap.
    const bool progressed = got >= k_progress_reset_bytes;
    failures = progressed ? 1 : failures + 1;
    if (failures >= retry.max_attempts || attempts >= retry.max_attempts * k_attempt_cap_factor ||
        stalls > retry.max_attempts) {
      auto context = d.context();
      context.attempts = attempts;
      auto error = response.transport_ok() && body_status
                       ? proto::make_error(Errc::upstream_unavailable, "the server kept ending " +
                                                                           d.describe_chunk(chunk) + " early after " +
                                                                           std::to_string(attempts) + " attempts")
                       : hub_error(response, context);
      d.fail(std::move(error));
      co_return ChunkOutcome::failed;
    }
    const auto delay = progressed ? std::chrono::milliseconds(0) : retry.delay_after(failures, response);
    spdlog::warn("retrying {} from byte {} in {} ms: {}{}", d.describe_chunk(chunk), begin + received, delay.count(),
                 overflow ? "more bytes than requested" : failure_reason(response),
                 response.transport_ok() && body_status && !overflow ? " (body ended early)" : "");
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// Takes the next chunk from the queue, or else a straggler to hedge; waits while chunks are
// in flight that may still become stragglers. nullopt: nothing left for this worker.
asio::awaitable<std::optional<std::pair<std::size_t, bool>>> next_work(Download& d) {
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (!d.stopping) {
    if (!d.queue.empty()) {
      const auto chunk = d.queue.front();
      d.queue.pop_front();
      co_return std::make_pair(chunk, false);
    }
    if (d.in_flight.empty()) {
      co_return std::nullopt;
    }
    if (const auto chunk = d.straggler()) {
      co_return std::make_pair(*chunk, true);
    }
    poll.expires_after(k_straggler_poll);
    co_await poll.async_wait(asio::use_awaitable);
  }
  co_return std::nullopt;
}

// A chunk completion on the worker pool. `finished` covers a wait that starts after the end.
struct Completion {
  explicit Completion(asio::any_io_executor executor) : ended(std::move(executor)) {
    ended.expires_at(asio::steady_timer::time_point::max());
  }
  asio::steady_timer ended; // cancelled when the completion ends
  bool finished = false;
};

std::shared_ptr<Completion> complete_in_background(const std::shared_ptr<Download>& d, std::size_t chunk);

asio::awaitable<void> run_worker(std::shared_ptr<Download> d) {
  struct Leave {
    Download& d;
    ~Leave() { --d.active; }
  } leave{*d};
  std::shared_ptr<Completion> pending;

  while (true) {
    if (d->active > d->target) {
      co_return; // the connection count was lowered
    }
    const auto work = co_await next_work(*d);
    if (!work) {
      co_return;
    }
    const auto [chunk, is_hedge] = *work;

    std::shared_ptr<InFlight> state;
    if (is_hedge) {
      state = d->in_flight.at(chunk);
      state->hedged = true;
      spdlog::info("{} is slow; fetching its last {} bytes on a second connection", d->describe_chunk(chunk),
                   state->end - state->primary_position);
    } else {
      state = std::make_shared<InFlight>();
      state->begin = state->primary_position = d->sink.chunk_begin(chunk);
      state->end = d->sink.chunk_end(chunk);
      d->in_flight[chunk] = state;
    }

    auto permits = co_await d->limits.acquire(d->request.url);
    if (!is_hedge) {
      state->started = std::chrono::steady_clock::now(); // the wait for a permit is not slowness
    }
    auto outcome = co_await fetch_range(*d, chunk, state, is_hedge);
    permits = {};

    if (outcome == ChunkOutcome::ok && state->done) {
      outcome = ChunkOutcome::superseded; // both requests ended together; the other completes it
    }
    if (outcome == ChunkOutcome::ok) {
      state->done = true;
      if (!is_hedge) {
        d->finished_bytes += state->end - state->begin;
        d->finished_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - state->started).count();
      }
    }
    if (outcome != ChunkOutcome::superseded && !(is_hedge && outcome != ChunkOutcome::ok)) {
      d->in_flight.erase(chunk);
    }
    if (outcome == ChunkOutcome::superseded) {
      continue;
    }
    if (outcome == ChunkOutcome::ranges_ignored) {
      d->ranges_ignored = true;
      d->queue.push_front(chunk);
      d->stop_all();
      co_return;
    }
    if (outcome == ChunkOutcome::failed) {
      co_return;
    }

    // A connection fetches its next chunk while the last one completes, but it never has two
    // completions pending. So a crash costs at most two chunks per connection: the one in
    // flight and the one whose fdatasync had not returned.
    if (pending && !pending->finished) {
      co_await pending->ended.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    pending = complete_in_background(d, chunk);
  }
}

// Makes the chunk durable and records it (fdatasync and an index write) on the worker pool
// while this connection already fetches the next chunk. The download counts it as running, so
// download_file() returns only after every completion.
std::shared_ptr<Completion> complete_in_background(const std::shared_ptr<Download>& d, std::size_t chunk) {
  auto completion = std::make_shared<Completion>(d->all_done.get_executor());
  ++d->running;
  auto task = [d, chunk]() -> asio::awaitable<void> {
    auto complete = [d, chunk] { return d->sink.complete_chunk(chunk); };
    auto completed = co_await util::offload(d->blocking, std::move(complete));
    if (!completed) {
      d->fail(completed.error());
    }
  };
  asio::co_spawn(d->all_done.get_executor(), std::move(task), [d, completion](std::exception_ptr e) {
    if (e) {
      d->fail(proto::make_error(Errc::internal, "completing a chunk failed with an exception"));
    }
    completion->finished = true;
    completion->ended.cancel();
    if (--d->running == 0) {
      d->all_done.cancel();
    }
  });
  return completion;
}

void spawn_worker(const std::shared_ptr<Download>& d) {
  d->signals.push_back(std::make_unique<asio::cancellation_signal>());
  ++d->running;
  ++d->active;
  asio::co_spawn(d->all_done.get_executor(), run_worker(d),
                 asio::bind_cancellation_slot(d->signals.back()->slot(), [d](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const boost::system::system_error& error) {
                       if (error.code() != asio::error::operation_aborted) {
                         d->fail(proto::make_error(Errc::internal,
                                                   std::string("download worker failed: ") + error.what()));
                       }
                     } catch (const std::exception& error) {
                       d->fail(proto::make_error(Errc::internal,
                                                 std::string("download worker failed: ") + error.what()));
                     }
                   }
                   if (--d->running == 0) {
                     d->all_done.cancel();
                   }
                 }));
}

// The server ignores Range: fetch the whole file in one stream, from byte 0, and complete
// every chunk at the end.
asio::awaitable<proto::Result<void>> stream_whole_file(Download& d) {
  spdlog::warn("the server ignores Range requests for {}/{}; downloading it as one stream", d.request.repo,
               d.request.path);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto& retry = d.hub.settings().retry;

  for (int attempt = 1;; ++attempt) {
    std::uint64_t position = 0;
    std::optional<proto::Error> write_error;
    d.bytes_done = 0;

    auto http = make_get(d, d.request.url);
    http.on_body = [&](long status, std::span<const std::byte> data) {
      if (status != 200) {
        return true;
      }
      if (position + data.size() > d.sink.size()) {
        return false;
      }
      if (auto written = d.sink.write(position, data); !written) {
        write_error = written.error();
        return false;
      }
      position += data.size();
      d.add_progress(data.size());
      return true;
    };
    const auto response = co_await perform_http(d.hub.multi(), http);
    if (write_error) {
      co_return *write_error;
    }
    if (response.transport_ok() && response.status == 200 && position == d.sink.size()) {
      break;
    }
    if (response.shutdown ||
        (response.transport_ok() && response.status != 200 && !RetryPolicy::is_retryable(response))) {
      co_return hub_error(response, d.context());
    }
    if (attempt >= retry.max_attempts) {
      auto context = d.context();
      context.attempts = attempt;
      co_return response.transport_ok() && response.status == 200
          ? proto::make_error(Errc::upstream_unavailable, "the server sent " + std::to_string(position) + " of " +
                                                              std::to_string(d.sink.size()) + " bytes of " +
                                                              d.request.path + " in each of " +
                                                              std::to_string(attempt) + " attempts")
          : hub_error(response, context);
    }
    const auto delay = retry.delay_after(attempt, response);
    spdlog::warn("retrying the full download of {}/{} in {} ms: {}", d.request.repo, d.request.path, delay.count(),
                 failure_reason(response));
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
  }

  for (std::size_t chunk = 0; chunk < d.sink.chunk_count(); ++chunk) {
    if (d.sink.chunk_done(chunk)) {
      continue;
    }
    auto complete = [&d, chunk] { return d.sink.complete_chunk(chunk); };
    auto completed = co_await util::offload(d.blocking, std::move(complete));
    if (!completed) {
      co_return completed.error();
    }
  }
  co_return proto::Result<void>{};
}

} // namespace

asio::awaitable<proto::Result<void>> download_file(HubClient& hub, ConnectionLimits& limits,
                                                   asio::any_io_executor blocking, DownloadSink& sink,
                                                   const FileDownloadRequest& request, ProgressCallback on_progress) {
  const auto io = co_await asio::this_coro::executor;
  auto d = std::make_shared<Download>(hub, limits, blocking, sink, request, std::move(on_progress), io);

  for (std::size_t chunk = 0; chunk < sink.chunk_count(); ++chunk) {
    if (sink.chunk_done(chunk)) {
      d->bytes_done += sink.chunk_end(chunk) - sink.chunk_begin(chunk);
    } else {
      d->queue.push_back(chunk);
    }
  }
  if (d->on_progress) {
    d->on_progress(d->bytes_done);
  }

  // The timer doubles as the whole-file deadline: it fires unless the last worker cancels it.
  if (request.deadline.count() > 0) {
    d->all_done.expires_after(request.deadline);
  } else {
    d->all_done.expires_at(asio::steady_timer::time_point::max());
  }

  d->max_workers = std::max(request.connections, 1);
  d->target = std::clamp(request.initial_connections, 1, d->max_workers);
  d->doubling = d->target < d->max_workers;
  d->settled_at = std::chrono::steady_clock::now() + k_settle_time;
  const auto workers = std::min<std::size_t>(static_cast<std::size_t>(d->target), d->queue.size());
  for (std::size_t i = 0; i < workers; ++i) {
    spawn_worker(d);
  }

  bool cancelled = false;
  if (d->running > 0) {
    auto [ec] = co_await d->all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    if (d->running > 0) {
      // The deadline passed or our caller cancelled us: stop the workers and wait for them,
      // because they use the sink that the caller owns.
      cancelled = ec == asio::error::operation_aborted;
      if (!cancelled) {
        d->fail(proto::make_error(Errc::timeout, "downloading " + request.repo + "/" + request.path +
                                                     " took longer than " + std::to_string(request.deadline.count()) +
                                                     " s; raise download.file_deadline_s"));
      }
      d->stop_all();
      co_await asio::this_coro::reset_cancellation_state();
      while (d->running > 0) {
        d->all_done.expires_at(asio::steady_timer::time_point::max());
        co_await d->all_done.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
  }

  if (cancelled) {
    co_return proto::make_error(Errc::busy, "the download of " + request.repo + "/" + request.path + " was cancelled");
  }
  if (d->error) {
    co_return *d->error;
  }
  if (d->ranges_ignored) {
    co_return co_await stream_whole_file(*d);
  }
  co_return proto::Result<void>{};
}

} // namespace timmd::hub
