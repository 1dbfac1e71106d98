#include "server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <thread>

#include <httplib.h>

#include "metrics.h"
#include "translator_pool.h"

namespace tusk_serve {

namespace {

constexpr const char* kJson = "application/json";

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The body is read here, through a content reader, rather than by httplib: httplib refuses
// form bodies over 8 KiB (413, whatever --max-body-bytes says) and checks only Content-Length
// against its limit, not a chunked body's length. Throws ApiError 413 past `limit` bytes.
RequestFields read_fields(const httplib::Request& req, const httplib::Response& res,
                          const httplib::ContentReader& read, size_t limit) {
  RequestFields fields;
  size_t total = 0;
  const auto fits = [&](size_t n) { return (total += n) <= limit; };
  // As LibreTranslate (Flask's is_json): a JSON media type means a JSON body; anything else is
  // read as form fields, from the body (urlencoded or multipart) and the query string.
  const std::string type = req.get_header_value("Content-Type");
  const std::string media = type.substr(0, type.find(';'));
  fields.is_json = media == kJson || (media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0);
  bool complete = true;
  if (req.is_multipart_form_data()) {
    std::vector<httplib::MultipartFormData> parts;
    complete = read(
        [&](const httplib::MultipartFormData& header) {
          parts.push_back(header);
          return true;
        },
        [&](const char* data, size_t n) {
          if (!fits(n) || parts.empty()) return false;
          parts.back().content.append(data, n);
          return true;
        });
    for (const auto& part : parts) fields.values.emplace(part.name, part.content);
  } else {
    std::string body;
    complete = read([&](const char* data, size_t n) {
      if (!fits(n)) return false;
      body.append(data, n);
      return true;
    });
    if (fields.is_json) {
      fields.body = std::move(body);
    } else if (media.empty() || media == "application/x-www-form-urlencoded") {
      httplib::detail::parse_query_text(body, fields.values);
    }
  }
  // Past the limit: counted here, or by httplib while it decoded a chunked body (it then sets
  // the status to 413 before giving up).
  if (total > limit || (!complete && res.status == 413))
    throw ApiError{413, "the request body is larger than this server's limit of " + std::to_string(limit) + " bytes"};
  if (!complete) throw ApiError{400, "the request body could not be read (cut short or malformed)"};
  fields.values.insert(req.params.begin(), req.params.end());  // the query string's
  return fields;
}

// Everything the handlers share.
struct State {
  const ServerConfig& config;
  Languages languages;
  BatchQueue queue;
  Metrics metrics;
  std::atomic<bool> stopping{false};

  State(const ServerConfig& c, const tusk_model_t* model) : config(c), languages(model), queue(c.batch) {}
};

void answer_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(error_json(message), kJson);
}

void handle_translate(State& state, const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& read) {
  const Clock::time_point start = Clock::now();
  if (state.stopping) {
    answer_error(res, 503, "the server is shutting down");
  } else {
    try {
      TranslateRequest request =
          parse_translate(read_fields(req, res, read, state.config.max_body_bytes), state.languages,
                          state.config.request);
      auto job = std::make_shared<Job>();
      job->source = std::move(request.source);
      job->target = std::move(request.target);
      job->texts = std::move(request.texts);
      job->chars = request.chars;
      auto promise = std::make_shared<std::promise<Job::Outcome>>();
      std::future<Job::Outcome> answer = promise->get_future();
      job->on_done = [promise](Job::Outcome outcome) { promise->set_value(std::move(outcome)); };
      switch (state.queue.push(job)) {
        case BatchQueue::Push::Full:
          res.set_header("Retry-After", std::to_string(state.config.retry_after_seconds));
          answer_error(res, 503, "the server is busy: " + std::to_string(state.queue.queued_texts()) +
                                     " texts are queued; retry later");
          break;
        case BatchQueue::Push::Closed:
          answer_error(res, 503, "the server is shutting down");
          break;
        case BatchQueue::Push::Accepted: {
          const Job::Outcome outcome = answer.get();
          if (outcome.ok) {
            res.status = 200;
            res.set_content(translated_json(outcome.texts, request.q_is_list), kJson);
          } else {
            answer_error(res, outcome.http_status, outcome.error);
          }
          break;
        }
      }
    } catch (const ApiError& e) {
      answer_error(res, e.status, e.message);
    }
  }
  state.metrics.request_done("/translate", res.status, seconds_since(start));
}

}  // namespace

void block_shutdown_signals() {
  const sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int serve(const tusk_model_t* model, std::vector<tusk_translator_t*> translators, tusk_translator_t* lone,
          const ServerConfig& config) {
  ServerConfig with_seats = config;
  with_seats.batch.lone_seat = lone != nullptr;
  State state(with_seats, model);
  const size_t translator_count = translators.size();
  TranslatorPool pool(std::move(translators), lone, state.queue, state.metrics);

  httplib::Server server;
  const size_t http_threads = config.http_threads;
  server.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  server.set_payload_max_length(config.max_body_bytes);
  // Answers go out in more than one write; with Nagle's algorithm the last one waits for the
  // client's delayed ACK (40 ms on Linux), longer than translating a sentence.
  server.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default; the reconnects of many
  // clients then overflow its listen backlog (5), and a dropped SYN costs a client 1 s.
  server.set_keep_alive_max_count(100000);
  // An idle keep-alive connection holds an HTTP thread: give it back soon.
  server.set_keep_alive_timeout(2);

  server.Post("/translate", httplib::Server::HandlerWithContentReader(
                               [&state](const httplib::Request& req, httplib::Response& res,
                                        const httplib::ContentReader& read) { handle_translate(state, req, res, read); }));
  // GET or POST, as LibreTranslate (its Python client posts).
  const httplib::Server::Handler languages = [&state](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(state.languages.json(), kJson);
    state.metrics.request_done("/languages", res.status, -1);
  };
  server.Get("/languages", languages);
  server.Post("/languages", languages);
  server.Post("/detect", [&state](const httplib::Request&, httplib::Response& res) {
    answer_error(res, 400, "language detection is not supported by this server: give 'source'");
    state.metrics.request_done("/detect", res.status, -1);
  });
  server.Get("/health", [&state](const httplib::Request&, httplib::Response& res) {
    // 503 while shutting down, so that a load balancer stops sending requests here.
    if (state.stopping) {
      answer_error(res, 503, "shutting down");
    } else {
      res.status = 200;
      res.set_content("{\"status\":\"ok\"}", kJson);
    }
    state.metrics.request_done("/health", res.status, -1);
  });
  server.Get("/metrics", [&state, &pool](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(state.metrics.render(state.queue.queued_texts(), state.config.batch.capacity_texts, pool.stats()),
                    "text/plain; version=0.0.4");
    state.metrics.request_done("/metrics", res.status, -1);
  });
  // Errors without a body of their own (unknown route, wrong method, body too large) get one.
  const httplib::Server::HandlerWithResponse on_error = [&state](const httplib::Request& req,
                                                                 httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "HTTP status " + std::to_string(res.status);
    if (res.status == 413)
      message = "the request body is larger than this server's limit of " +
                std::to_string(state.config.max_body_bytes) + " bytes";
    if (res.status == 404) message = "no such endpoint: " + req.method + " " + req.path;
    answer_error(res, res.status, message);
    state.metrics.request_done("other", res.status, -1);
    return httplib::Server::HandlerResponse::Handled;
  };
  server.set_error_handler(on_error);
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    answer_error(res, 500, "internal server error");
  });

  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a
  // port in use would start and silently share it instead of failing.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });
  int port = config.port;
  if (port == 0) {
    port = server.bind_to_any_port(config.host);
  } else if (!server.bind_to_port(config.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    std::fprintf(stderr, "tusk: error: cannot listen on %s:%d: %s\n", config.host.c_str(), config.port,
                 std::strerror(errno));
    return 1;
  }
  // httplib listens with a backlog of 5: a burst of new connections then overflows it, and
  // the kernel drops handshakes (clients wait or are reset). Listening again raises it.
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);

  // The watcher turns SIGTERM/SIGINT into a stop: no new connections, then listen returns
  // once the HTTP threads have answered every connection already accepted.
  std::atomic<bool> listening_done{false};
  std::thread watcher([&] {
    const sigset_t set = shutdown_signals();
    int signal = 0;
    sigwait(&set, &signal);
    if (listening_done) return;
    state.stopping = true;
    std::fprintf(stderr, "tusk serve: %s received: finishing %zu queued texts and the requests in progress\n",
                 signal == SIGINT ? "SIGINT" : "SIGTERM", state.queue.queued_texts());
    while (!server.is_running() && !listening_done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    server.stop();
  });

  std::fprintf(stderr, "tusk serve: listening on http://%s:%d (%zu translator%s%s, batching %s)\n",
               config.host.c_str(), port, translator_count, translator_count == 1 ? "" : "s",
               lone != nullptr ? " and one for lone requests" : "",
               !config.batch.batching ? "off" : config.batch.continuous ? "continuous" : "on");
  for (const std::string& note : config.startup_notes) std::fprintf(stderr, "tusk serve: %s\n", note.c_str());
  bool ok = false;
  try {
    ok = server.listen_after_bind();
  } catch (const std::exception& e) {  // e.g. no threads left for the HTTP pool
    std::fprintf(stderr, "tusk: error: the server failed: %s\n", e.what());
  }
  listening_done = true;
  pthread_kill(watcher.native_handle(), SIGTERM);  // wakes it if no signal came
  watcher.join();
  std::fprintf(stderr, "tusk serve: stopped\n");
  return ok || state.stopping ? 0 : 1;
}

}  // namespace tusk_serve
