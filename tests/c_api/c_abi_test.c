/*
 * c_abi_test.c - proves tusk.h is a C header and libtusk.so is usable from C alone.
 *
 * Compiled as C11 (not C++) and linked against libtusk.so only. Opens the model given as
 * argv[1] (or TUSK_TEST_MODEL), translates one English sentence to German and checks the
 * result's shape; checks that destroy functions accept NULL and that a failing call leaves a
 * message in tusk_last_error() and its out-parameter untouched.
 *
 *   c_abi_test [MODEL.tusk]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tusk/tusk.h>

static int failures = 0;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                           \
    }                                                                       \
  } while (0)

/* A status check that stops the test: later steps would only dereference NULL handles. */
#define REQUIRE_OK(call)                                                              \
  do {                                                                                \
    tusk_status_t st_ = (call);                                                       \
    if (st_ != TUSK_OK) {                                                             \
      fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call,       \
              tusk_status_name(st_), tusk_last_error());                              \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

static int check_version(void) {
  const char *v = tusk_version();
  char expected[32];
  CHECK(v != NULL);
  if (v == NULL) return 1;
  printf("tusk %s (header %d.%d.%d)\n", v, TUSK_VERSION_MAJOR, TUSK_VERSION_MINOR,
         TUSK_VERSION_PATCH);
  snprintf(expected, sizeof expected, "%d.%d.%d", TUSK_VERSION_MAJOR, TUSK_VERSION_MINOR,
           TUSK_VERSION_PATCH);
  CHECK(strcmp(v, expected) == 0);
  CHECK(tusk_version_number() ==
        (uint32_t)(TUSK_VERSION_MAJOR * 10000 + TUSK_VERSION_MINOR * 100 + TUSK_VERSION_PATCH));
  CHECK(tusk_status_name(TUSK_OK) != NULL);
  CHECK(strcmp(tusk_status_name(TUSK_ERROR_IO), "TUSK_ERROR_IO") == 0);
  CHECK(tusk_status_name((tusk_status_t)12345) != NULL); /* never NULL, even for unknown */
  return 0;
}

static void check_null_safety(void) {
  /* Destroy functions accept NULL. */
  tusk_options_destroy(NULL);
  tusk_model_close(NULL);
  tusk_translator_destroy(NULL);
  tusk_result_free(NULL);
  /* NULL handles are rejected with a message, never dereferenced. */
  CHECK(tusk_options_create(NULL) == TUSK_ERROR_INVALID_ARGUMENT);
  CHECK(tusk_last_error()[0] != '\0');
  CHECK(tusk_options_set_int(NULL, TUSK_OPT_BEAM_SIZE, 1) == TUSK_ERROR_INVALID_ARGUMENT);
  CHECK(tusk_translator_create(NULL, NULL, NULL) == TUSK_ERROR_INVALID_ARGUMENT);
  CHECK(tusk_result_count(NULL) == 0);
  CHECK(tusk_result_text(NULL, 0) == NULL);
}

static void check_failing_open(void) {
  tusk_model_t *sentinel = (tusk_model_t *)&failures; /* any non-NULL address */
  tusk_model_t *model = sentinel;
  tusk_status_t st = tusk_model_open("/nonexistent/dir/no-such-model.tusk", NULL, &model);
  CHECK(st == TUSK_ERROR_IO);
  CHECK(model == sentinel); /* out-parameter untouched on failure */
  CHECK(tusk_last_error() != NULL);
  CHECK(tusk_last_error()[0] != '\0');
  printf("expected failure: %s: %s\n", tusk_status_name(st), tusk_last_error());
}

int main(int argc, char **argv) {
  const char *model_path = argc > 1 ? argv[1] : NULL;
#ifdef TUSK_TEST_MODEL
  if (model_path == NULL) model_path = TUSK_TEST_MODEL;
#endif
  if (model_path == NULL) {
    fprintf(stderr, "usage: %s MODEL.tusk\n", argv[0]);
    return 2;
  }
  if (check_version() != 0) return 1;
  check_null_safety();
  check_failing_open();

  tusk_options_t *opt = NULL;
  tusk_model_t *model = NULL;
  tusk_translator_t *tr = NULL;
  tusk_result_t *res = NULL;
  int64_t beam = 0;
  REQUIRE_OK(tusk_options_create(&opt));
  REQUIRE_OK(tusk_options_get_int(opt, TUSK_OPT_BEAM_SIZE, &beam));
  CHECK(beam == 1);
  REQUIRE_OK(tusk_options_set_int(opt, TUSK_OPT_BEAM_SIZE, 1));
  REQUIRE_OK(tusk_model_open(model_path, opt, &model));
  CHECK(model != NULL);

  {
    int32_t n = 0, i, has_en = 0, has_de = 0;
    REQUIRE_OK(tusk_model_language_count(model, &n));
    CHECK(n >= 2);
    for (i = 0; i < n; ++i) {
      const char *code = NULL;
      REQUIRE_OK(tusk_model_language(model, i, &code));
      CHECK(code != NULL && code[0] != '\0');
      if (code != NULL && strcmp(code, "en") == 0) has_en = 1;
      if (code != NULL && strcmp(code, "de") == 0) has_de = 1;
    }
    CHECK(has_en && has_de);
  }

  REQUIRE_OK(tusk_translator_create(model, opt, &tr));
  CHECK(tr != NULL);
  {
    const char *in[] = {"A man rides a bike down the street."};
    const int32_t *ids = NULL;
    const float *logprobs = NULL;
    const char *text;
    size_t n_ids, n_lp, k;
    double sum = 0.0, score;
    REQUIRE_OK(tusk_translate(tr, "en", "de", in, 1, &res));
    CHECK(res != NULL);
    CHECK(tusk_result_count(res) == 1);
    text = tusk_result_text(res, 0);
    CHECK(text != NULL && text[0] != '\0');
    printf("en: %s\nde: %s\n", in[0], text ? text : "(null)");
    CHECK(tusk_result_text(res, 1) == NULL); /* out of range */

    n_ids = tusk_result_tokens(res, 0, &ids);
    CHECK(n_ids >= 2 && ids != NULL);
    if (n_ids >= 2 && ids != NULL) {
      CHECK(ids[0] != 2);          /* the target-language code, not eos */
      CHECK(ids[n_ids - 1] == 2);  /* eos last */
    }
    n_lp = tusk_result_token_logprobs(res, 0, &logprobs);
    CHECK(n_lp + 1 == n_ids && logprobs != NULL);
    if (logprobs != NULL) {
      for (k = 0; k < n_lp; ++k) {
        CHECK(logprobs[k] <= 0.0f);
        sum += logprobs[k];
      }
    }
    score = tusk_result_score(res, 0);
    CHECK(score <= 0.0);
    CHECK(score - sum < 1e-3 && sum - score < 1e-3);
    CHECK(tusk_result_truncated(res, 0) == 0);
    printf("tokens %zu, score %.4f\n", n_ids, score);
  }

  tusk_result_free(res);
  tusk_translator_destroy(tr);
  tusk_model_close(model);
  tusk_options_destroy(opt);

  if (failures != 0) {
    fprintf(stderr, "c_abi_test: %d check(s) failed\n", failures);
    return 1;
  }
  printf("c_abi_test: OK\n");
  return 0;
}
