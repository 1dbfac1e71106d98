/*
 * c_threads_test.c - the thread-safety statement of tusk.h, exercised from plain C (C11 and
 * POSIX threads): eight threads translate concurrently on one translator, then three threads
 * each with its own translator share one model. Every output must equal the single-threaded
 * output of the same sentences.
 *
 *   c_threads_test MODEL.tusk
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tusk/tusk.h>

#define SENTENCES 4
#define SHARED_THREADS 8
#define OWN_THREADS 3
#define ROUNDS 3

static const char *const kSentences[SENTENCES] = {
    "A man rides a bike down the street.", "Two dogs are playing in the snow.",
    "A little girl is climbing a tree.", "A woman is reading a book in the park."};
static const char *const kPairs[][2] = {{"en", "de"}, {"en", "fr"}, {"en", "cs"}};

static tusk_model_t *g_model;
static tusk_translator_t *g_shared;
static char g_expected[3][SENTENCES][512]; /* per pair, single-threaded */

/* Translates all sentences of pair p with tr into out; returns 0 on success. */
static int translate_pair(tusk_translator_t *tr, int p, char out[SENTENCES][512]) {
  tusk_result_t *res = NULL;
  if (tusk_translate(tr, kPairs[p][0], kPairs[p][1], kSentences, SENTENCES, &res) != TUSK_OK) {
    fprintf(stderr, "tusk_translate: %s\n", tusk_last_error());
    return 1;
  }
  for (size_t i = 0; i < SENTENCES; ++i) {
    const char *text = tusk_result_text(res, i);
    snprintf(out[i], 512, "%s", text ? text : "(null)");
  }
  tusk_result_free(res);
  return 0;
}

static int compare(int p, char got[SENTENCES][512], const char *who) {
  int bad = 0;
  for (int i = 0; i < SENTENCES; ++i)
    if (strcmp(got[i], g_expected[p][i]) != 0) {
      fprintf(stderr, "%s, %s-%s sentence %d: \"%s\" != \"%s\"\n", who, kPairs[p][0], kPairs[p][1], i,
              got[i], g_expected[p][i]);
      bad = 1;
    }
  return bad;
}

static void *shared_worker(void *arg) {
  const int t = (int)(size_t)arg;
  long failures = 0;
  char got[SENTENCES][512];
  for (int r = 0; r < ROUNDS; ++r) {
    const int p = (t + r) % 3;
    char who[64];
    snprintf(who, sizeof who, "shared translator, thread %d round %d", t, r);
    failures += translate_pair(g_shared, p, got) || compare(p, got, who);
  }
  return (void *)failures;
}

static void *own_worker(void *arg) {
  const int t = (int)(size_t)arg;
  long failures = 0;
  tusk_options_t *opt = NULL; /* options belong to one thread at a time */
  tusk_translator_t *tr = NULL;
  char got[SENTENCES][512];
  if (tusk_options_create(&opt) != TUSK_OK || tusk_options_set_int(opt, TUSK_OPT_THREADS, 1) != TUSK_OK ||
      tusk_translator_create(g_model, opt, &tr) != TUSK_OK) {
    fprintf(stderr, "thread %d: %s\n", t, tusk_last_error());
    failures = 1;
  } else {
    for (int r = 0; r < ROUNDS; ++r) {
      const int p = (t + r) % 3;
      char who[64];
      snprintf(who, sizeof who, "own translator, thread %d round %d", t, r);
      failures += translate_pair(tr, p, got) || compare(p, got, who);
    }
  }
  tusk_translator_destroy(tr);
  tusk_options_destroy(opt);
  return (void *)failures;
}

static long run(void *(*worker)(void *), int count) {
  pthread_t threads[SHARED_THREADS];
  long failures = 0;
  for (int t = 0; t < count; ++t)
    if (pthread_create(&threads[t], NULL, worker, (void *)(size_t)t) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      return 1;
    }
  for (int t = 0; t < count; ++t) {
    void *result = NULL;
    pthread_join(threads[t], &result);
    failures += (long)result;
  }
  return failures;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: c_threads_test MODEL.tusk\n");
    return 2;
  }
  tusk_options_t *opt = NULL;
  if (tusk_options_create(&opt) != TUSK_OK || tusk_options_set_int(opt, TUSK_OPT_THREADS, 1) != TUSK_OK ||
      tusk_model_open(argv[1], opt, &g_model) != TUSK_OK ||
      tusk_translator_create(g_model, opt, &g_shared) != TUSK_OK) {
    fprintf(stderr, "setup: %s\n", tusk_last_error());
    return 1;
  }
  for (int p = 0; p < 3; ++p)
    if (translate_pair(g_shared, p, g_expected[p])) return 1;

  const long shared = run(shared_worker, SHARED_THREADS);
  const long own = run(own_worker, OWN_THREADS);
  printf("%d threads on one translator: %ld failures\n", SHARED_THREADS, shared);
  printf("%d translators sharing one model: %ld failures\n", OWN_THREADS, own);

  tusk_translator_destroy(g_shared);
  tusk_model_close(g_model);
  tusk_options_destroy(opt);
  printf("%d passed, %d failed\n", (shared == 0) + (own == 0), (shared != 0) + (own != 0));
  return shared == 0 && own == 0 ? 0 : 1;
}
