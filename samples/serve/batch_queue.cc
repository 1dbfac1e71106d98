#include "batch_queue.h"

#include <algorithm>
#include <utility>

namespace tusk_serve {

BatchQueue::Push BatchQueue::push(std::shared_ptr<Job> job) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Push::Closed;
    if (!jobs_.empty() && queued_texts_ + job->texts.size() > limits_.capacity_texts) return Push::Full;
    job->enqueued = Clock::now();
    queued_texts_ += job->texts.size();
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
  return Push::Accepted;
}

bool BatchQueue::limits_reached(const Job& oldest) const {
  size_t texts = 0, chars = 0;
  for (const auto& job : jobs_) {
    if (!same_pair(*job, oldest)) continue;
    texts += job->texts.size();
    chars += job->chars;
    if (texts >= limits_.max_texts || chars >= limits_.max_chars) return true;
  }
  return false;
}

std::vector<std::shared_ptr<Job>> BatchQueue::take(const Job& oldest, size_t share) {
  size_t max_texts = limits_.max_texts;
  if (share > 1) {
    size_t pair_texts = 0;
    for (const auto& job : jobs_)
      if (same_pair(*job, oldest)) pair_texts += job->texts.size();
    max_texts = std::min(max_texts, (pair_texts + share - 1) / share);
  }
  std::vector<std::shared_ptr<Job>> batch;
  size_t texts = 0, chars = 0;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    Job& job = **it;
    if (!same_pair(job, oldest)) {
      ++it;
      continue;
    }
    // The first job always goes; later ones only while they fit, and the batch stops at the
    // first that does not, so no request is overtaken twice by younger ones.
    if (!batch.empty() && (texts + job.texts.size() > max_texts || chars + job.chars > limits_.max_chars))
      break;
    texts += job.texts.size();
    chars += job.chars;
    queued_texts_ -= job.texts.size();
    batch.push_back(std::move(*it));
    it = jobs_.erase(it);
    if (!limits_.batching) break;
  }
  return batch;
}

bool BatchQueue::lone_request() const {
  return in_progress_ == 0 && last_batch_jobs_ <= 1 && jobs_.size() == 1;
}

std::vector<std::shared_ptr<Job>> BatchQueue::next_batch(Seat seat) {
  Lock lock(mutex_);
  // Counted while this Pool seat waits (under the lock): a due batch is shared among them.
  const size_t idle = seat == Seat::Pool ? 1 : 0;
  idle_pool_ += idle;
  for (;;) {
    if (jobs_.empty()) {
      if (closed_) {
        idle_pool_ -= idle;
        return {};
      }
      changed_.wait(lock);
      continue;
    }
    bool go = false;
    Clock::time_point due = Clock::time_point::max();
    if (seat == Seat::Lone) {
      go = lone_request();
    } else if (!lone_running_ && !(limits_.lone_seat && lone_request())) {
      const std::shared_ptr<Job>& oldest = jobs_.front();
      due = oldest->enqueued + limits_.max_wait;
      // Alone: nothing running and the last batch a single request, so nobody else is coming.
      const bool alone = in_progress_ == 0 && last_batch_jobs_ <= 1;
      go = !limits_.batching || alone || closed_ || limits_reached(*oldest) || Clock::now() >= due;
    }
    if (go) {
      const std::shared_ptr<Job> oldest = jobs_.front();
      std::vector<std::shared_ptr<Job>> batch = take(*oldest, seat == Seat::Pool ? idle_pool_ : 1);
      ++in_progress_;
      last_batch_jobs_ = batch.size();
      if (seat == Seat::Lone) lone_running_ = true;
      idle_pool_ -= idle;
      lock.unlock();
      changed_.notify_all();  // another translator may find the next pair's batch due
      return batch;
    }
    if (due == Clock::time_point::max())
      changed_.wait(lock);
    else
      changed_.wait_until(lock, due);
  }
}

void BatchQueue::batch_done(Seat seat) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    --in_progress_;
    if (seat == Seat::Lone) lone_running_ = false;
  }
  changed_.notify_all();  // an idle translator no longer needs to wait for company
}

std::shared_ptr<Job> BatchQueue::take_now() {
  std::shared_ptr<Job> job;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (jobs_.empty() || idle_pool_ > 0) return nullptr;
    job = std::move(jobs_.front());
    jobs_.pop_front();
    queued_texts_ -= job->texts.size();
  }
  changed_.notify_all();
  return job;
}

void BatchQueue::close() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

size_t BatchQueue::queued_texts() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return queued_texts_;
}

}  // namespace tusk_serve
