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

#include <deque>
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

enum class ChunkOutcome { ok, ranges_ignored, failed };

struct Download {
  Download(HubClient& hub_, ConnectionLimiter& limiter_, asio::any_io_executor blocking_, DownloadSink& sink_,
           const FileDownloadRequest& request_, ProgressCallback progress_, asio::any_io_executor io)
      : hub(hub_), limiter(limiter_), blocking(std::move(blocking_)), sink(sink_), request(request_),
        on_progress(std::move(progress_)), all_done(io) {}

  HubClient& hub;
  ConnectionLimiter& limiter;
  asio::any_io_executor blocking;
  DownloadSink& sink;
  const FileDownloadRequest& request;
  ProgressCallback on_progress;

  std::deque<std::size_t> queue;
  std::optional<proto::Error> error;
  bool ranges_ignored = false;
  bool stopping = false;
  std::uint64_t bytes_done = 0;
  int running = 0;
  asio::steady_timer all_done;
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;

  void add_progress(std::uint64_t bytes) {
    bytes_done += bytes;
    if (on_progress) {
      on_progress(bytes_done);
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

asio::awaitable<ChunkOutcome> fetch_chunk(Download& d, std::size_t chunk) {
  const auto begin = d.sink.chunk_begin(chunk);
  const auto end = d.sink.chunk_end(chunk);
  std::uint64_t received = 0;
  int failures = 0;
  int attempts = 0;
  int redirects = 0;
  std::string url = d.request.url;
  asio::steady_timer timer(co_await asio::this_coro::executor);

  while (true) {
    std::uint64_t got = 0;
    bool ignored_range = false;
    bool overflow = false;
    std::optional<proto::Error> write_error;

    auto http = make_get(d, url);
    http.range = std::make_pair(begin + received, end - 1);
    http.on_body = [&](long status, std::span<const std::byte> data) {
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
      d.add_progress(data.size());
      return true;
    };

    const auto response = co_await perform_http(d.hub.multi(), http);
    received += got;

    if (write_error) {
      d.fail(*write_error);
      co_return ChunkOutcome::failed;
    }
    if (ignored_range) {
      co_return ChunkOutcome::ranges_ignored;
    }
    const bool body_status = response.status == 200 || response.status == 206;
    if (response.transport_ok() && body_status && received == end - begin) {
      co_return ChunkOutcome::ok;
    }
    if (response.curl_code == CURLE_ABORTED_BY_CALLBACK && d.stopping) {
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
    if (response.transport_ok() && !body_status && !RetryPolicy::is_retryable(response)) {
      d.fail(hub_error(response, d.context()));
      co_return ChunkOutcome::failed;
    }

    // A transport failure, a short or overlong body, or a transient status: retry the rest.
    // Real progress resets the failure count, but a server that trickles a few bytes per
    // attempt must not keep the chunk alive forever, hence the threshold and the hard cap.
    const bool progressed = got >= k_progress_reset_bytes;
    failures = progressed ? 1 : failures + 1;
    ++attempts;
    const auto& retry = d.hub.settings().retry;
    if (failures >= retry.max_attempts || attempts >= retry.max_attempts * k_attempt_cap_factor) {
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

asio::awaitable<void> run_worker(std::shared_ptr<Download> d) {
  while (!d->stopping && !d->queue.empty()) {
    const auto chunk = d->queue.front();
    d->queue.pop_front();

    auto permit = co_await d->limiter.acquire();
    const auto outcome = co_await fetch_chunk(*d, chunk);
    permit = {};

    if (outcome == ChunkOutcome::ranges_ignored) {
      d->ranges_ignored = true;
      d->queue.push_front(chunk);
      d->stop_all();
      co_return;
    }
    if (outcome == ChunkOutcome::failed) {
      co_return;
    }

    auto complete = [d, chunk] { return d->sink.complete_chunk(chunk); };
    auto completed = co_await util::offload(d->blocking, std::move(complete));
    if (!completed) {
      d->fail(completed.error());
      co_return;
    }
  }
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
    if (response.transport_ok() && response.status != 200 && !RetryPolicy::is_retryable(response)) {
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

asio::awaitable<proto::Result<void>> download_file(HubClient& hub, ConnectionLimiter& limiter,
                                                   asio::any_io_executor blocking, DownloadSink& sink,
                                                   const FileDownloadRequest& request, ProgressCallback on_progress) {
  const auto io = co_await asio::this_coro::executor;
  auto d = std::make_shared<Download>(hub, limiter, blocking, sink, request, std::move(on_progress), io);

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

  const auto workers =
      std::min<std::size_t>(static_cast<std::size_t>(std::max(request.connections, 1)), d->queue.size());
  for (std::size_t i = 0; i < workers; ++i) {
    d->signals.push_back(std::make_unique<asio::cancellation_signal>());
    ++d->running;
    asio::co_spawn(
        io, run_worker(d), asio::bind_cancellation_slot(d->signals.back()->slot(), [d](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const boost::system::system_error& error) {
              if (error.code() != asio::error::operation_aborted) {
                d->fail(proto::make_error(Errc::internal, std::string("download worker failed: ") + error.what()));
              }
            } catch (const std::exception& error) {
              d->fail(proto::make_error(Errc::internal, std::string("download worker failed: ") + error.what()));
            }
          }
          if (--d->running == 0) {
            d->all_done.cancel();
          }
        }));
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
