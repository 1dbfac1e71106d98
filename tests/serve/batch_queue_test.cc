// The server's dynamic batching rules (samples/serve/batch_queue.h), without HTTP or a model.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "batch_queue.h"

namespace {

using tusk_serve::BatchLimits;
using tusk_serve::BatchQueue;
using tusk_serve::Job;
using tusk_serve::Seat;
using namespace std::chrono_literals;

std::shared_ptr<Job> job(const std::string& src, const std::string& tgt, size_t texts, size_t chars_each = 10) {
  auto j = std::make_shared<Job>();
  j->source = src;
  j->target = tgt;
  j->texts.assign(texts, std::string(chars_each, 'a'));
  j->chars = texts * chars_each;
  j->on_done = [](Job::Outcome) {};
  return j;
}

BatchLimits limits(size_t max_texts, std::chrono::microseconds wait, size_t capacity = 1024) {
  BatchLimits l;
  l.max_texts = max_texts;
  l.max_chars = 1 << 20;
  l.max_wait = wait;
  l.capacity_texts = capacity;
  return l;
}

TEST(BatchQueue, GroupsOneLanguagePairOldestFirstUpToTheLimit) {
  BatchQueue q(limits(4, 24h));
  auto a = job("en", "de", 1), b = job("en", "fr", 1), c = job("en", "de", 2), d = job("en", "de", 1),
       e = job("en", "de", 1);
  for (const auto& j : {a, b, c, d, e}) ASSERT_EQ(q.push(j), BatchQueue::Push::Accepted);
  // en-de has 5 texts queued: the limit (4) is reached, so the batch is due at once.
  const auto first = q.next_batch();
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0], a);
  EXPECT_EQ(first[1], c);
  EXPECT_EQ(first[2], d);
  EXPECT_EQ(q.queued_texts(), 2u);
  q.close();  // closing makes the rest due without waiting
  const auto second = q.next_batch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], b);  // the oldest left, then its pair
  EXPECT_EQ(q.next_batch(), std::vector<std::shared_ptr<Job>>{e});
  EXPECT_TRUE(q.next_batch().empty());  // closed and drained
}

TEST(BatchQueue, AJobLargerThanTheLimitGoesWholeAndAlone) {
  BatchQueue q(limits(4, 24h));
  auto big = job("en", "de", 9), small = job("en", "de", 1);
  q.push(big);
  q.push(small);
  EXPECT_EQ(q.next_batch(), std::vector<std::shared_ptr<Job>>{big});
}

TEST(BatchQueue, CharactersLimitTheBatchToo) {
  BatchLimits l = limits(100, 24h);
  l.max_chars = 25;
  BatchQueue q(l);
  auto a = job("en", "de", 1, 10), b = job("en", "de", 1, 10), c = job("en", "de", 1, 10);
  q.push(a);
  q.push(b);
  q.push(c);
  EXPECT_EQ(q.next_batch().size(), 2u);
}

// No clock is read in these tests: a wait that should not happen is a day long, so breaking
// the rule blocks the call until CTest's timeout fails the test.
TEST(BatchQueue, WithEveryTranslatorIdleARequestStartsAtOnce) {
  BatchQueue q(limits(32, 24h));
  q.push(job("en", "de", 1));
  EXPECT_EQ(q.next_batch().size(), 1u);
}

TEST(BatchQueue, WhileABatchRunsTheOldestWaitsAtMostMaxWait) {
  BatchQueue q(limits(32, 50ms));
  q.push(job("en", "fr", 1));
  ASSERT_EQ(q.next_batch().size(), 1u);  // in progress: the next request waits for company
  q.push(job("en", "de", 1));
  // Under the limit: due once the wait is over (that it does wait for company:
  // ARequestArrivingDuringTheWaitJoinsTheBatch).
  EXPECT_EQ(q.next_batch().size(), 1u);
}

TEST(BatchQueue, TheEndOfTheRunningBatchEndsTheWait) {
  BatchQueue q(limits(32, 24h));
  q.push(job("en", "fr", 1));
  ASSERT_EQ(q.next_batch().size(), 1u);
  q.push(job("en", "de", 1));
  std::thread finisher([&] {
    std::this_thread::sleep_for(20ms);
    q.batch_done();
  });
  EXPECT_EQ(q.next_batch().size(), 1u);  // due when the other batch is done, not after a day
  finisher.join();
}

TEST(BatchQueue, ARequestArrivingDuringTheWaitJoinsTheBatch) {
  BatchQueue q(limits(2, 24h));
  q.push(job("en", "fr", 1));
  ASSERT_EQ(q.next_batch().size(), 1u);  // keeps a batch in progress
  q.push(job("en", "de", 1));
  std::thread later([&] {
    std::this_thread::sleep_for(20ms);
    q.push(job("en", "de", 1));
  });
  EXPECT_EQ(q.next_batch().size(), 2u);  // the second filled the batch: due at once
  later.join();
}

TEST(BatchQueue, BatchingOffTakesOneJobPerCall) {
  BatchLimits l = limits(32, 24h);
  l.batching = false;
  BatchQueue q(l);
  q.push(job("en", "de", 1));
  q.push(job("en", "de", 1));
  EXPECT_EQ(q.next_batch().size(), 1u);
  EXPECT_EQ(q.next_batch().size(), 1u);
}

TEST(BatchQueue, AFullQueueRefusesAndAClosedOneToo) {
  BatchQueue q(limits(32, 24h, 3));
  EXPECT_EQ(q.push(job("en", "de", 5)), BatchQueue::Push::Accepted);  // alone: taken even if large
  EXPECT_EQ(q.push(job("en", "de", 1)), BatchQueue::Push::Full);
  q.close();
  EXPECT_EQ(q.push(job("en", "de", 1)), BatchQueue::Push::Closed);
  EXPECT_EQ(q.next_batch().size(), 1u);  // what was accepted still comes out
  EXPECT_TRUE(q.next_batch().empty());
}

TEST(BatchQueue, ManyProducersAndConsumersLoseNothing) {
  BatchQueue q(limits(8, 1ms, 1 << 20));
  std::atomic<size_t> taken{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < 3; ++c)
    consumers.emplace_back([&] {
      for (auto batch = q.next_batch(); !batch.empty(); batch = q.next_batch()) {
        for (const auto& j : batch) taken += j->texts.size();
        q.batch_done();
      }
    });
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < 500; ++i) ASSERT_EQ(q.push(job(p % 2 ? "en" : "de", "fr", 1 + i % 3)), BatchQueue::Push::Accepted);
    });
  for (auto& t : producers) t.join();
  q.close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(taken.load(), 4u * (167 * 1 + 167 * 2 + 166 * 3));
}

// A due batch is shared among the translators waiting for one: 8 requests, 2 idle
// translators, 4 each.
TEST(BatchQueue, IdleTranslatorsShareWhatIsDue) {
  BatchQueue q(limits(8, 24h));  // due only when 8 texts are queued
  q.push(job("en", "de", 1));
  q.push(job("en", "de", 1));
  ASSERT_EQ(q.next_batch().size(), 2u);  // the last batch not a single request: no "alone"
  q.batch_done();
  std::atomic<size_t> sizes[2] = {0, 0};
  std::vector<std::thread> translators;
  for (int t = 0; t < 2; ++t) translators.emplace_back([&, t] { sizes[t] = q.next_batch().size(); });
  // A thread that never got to wait would leave the other's share queued: close after a
  // while so that the test fails instead of hanging.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1000 && !finished; ++i) std::this_thread::sleep_for(10ms);
    q.close();
  });
  std::this_thread::sleep_for(100ms);  // both waiting
  for (int i = 0; i < 8; ++i) q.push(job("en", "de", 1));
  for (auto& t : translators) t.join();
  finished = true;
  watchdog.join();
  EXPECT_EQ(sizes[0].load(), 4u);
  EXPECT_EQ(sizes[1].load(), 4u);
}

BatchLimits with_lone_seat(BatchLimits l) {
  l.lone_seat = true;
  return l;
}

// A request alone goes to the Lone seat; the pool, waiting too, does not take it.
TEST(BatchQueue, ALoneRequestGoesToTheLoneSeat) {
  BatchQueue q(with_lone_seat(limits(32, 24h)));
  std::atomic<bool> pool_took{false};
  std::thread pool([&] {
    if (!q.next_batch(Seat::Pool).empty()) pool_took = true;
  });
  auto alone = job("en", "de", 1);
  q.push(alone);
  EXPECT_EQ(q.next_batch(Seat::Lone), std::vector<std::shared_ptr<Job>>{alone});
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(pool_took.load());
  q.batch_done(Seat::Lone);
  q.close();  // the pool's thread returns empty
  pool.join();
  EXPECT_FALSE(pool_took.load());
}

// While the Lone seat runs, requests wait (its threads hold the cores); when it is done, two
// or more queued requests are the pool's, as one batch.
TEST(BatchQueue, ThePoolWaitsForTheLoneSeatAndTakesWhatQueued) {
  BatchQueue q(with_lone_seat(limits(32, 1ms)));
  q.push(job("en", "de", 1));
  ASSERT_EQ(q.next_batch(Seat::Lone).size(), 1u);
  q.push(job("en", "de", 1));
  q.push(job("en", "de", 1));
  std::atomic<bool> lone_done{false};
  std::thread finisher([&] {
    std::this_thread::sleep_for(30ms);  // well past max_wait: only the Lone seat holds them back
    lone_done = true;
    q.batch_done(Seat::Lone);
  });
  EXPECT_EQ(q.next_batch(Seat::Pool).size(), 2u);
  EXPECT_TRUE(lone_done.load());
  finisher.join();
}

// While the pool runs, a request is not alone: the pool takes it (after the wait), never the
// Lone seat, whose threads would oversubscribe the cores.
TEST(BatchQueue, TheLoneSeatWaitsWhileThePoolRuns) {
  BatchQueue q(with_lone_seat(limits(32, 1ms)));
  q.push(job("en", "de", 1));
  q.push(job("en", "de", 1));
  ASSERT_EQ(q.next_batch(Seat::Pool).size(), 2u);  // two at once: not a lone request
  std::atomic<bool> lone_took{false};
  std::thread lone([&] {
    if (!q.next_batch(Seat::Lone).empty()) lone_took = true;
  });
  q.push(job("en", "de", 1));
  EXPECT_EQ(q.next_batch(Seat::Pool).size(), 1u);
  q.batch_done(Seat::Pool);
  q.batch_done(Seat::Pool);
  q.close();
  lone.join();
  EXPECT_FALSE(lone_took.load());
}

TEST(Job, OnlyTheFirstOutcomeCounts) {
  int calls = 0;
  Job j;
  j.on_done = [&](Job::Outcome) { ++calls; };
  j.complete({});
  j.complete({});
  EXPECT_EQ(calls, 1);
}

}  // namespace
