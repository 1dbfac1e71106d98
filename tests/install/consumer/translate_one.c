/* Translates one sentence with the model given on the command line: what an app linking an
 * installed Tusk does (CMake package or pkg-config). */
#include <stdio.h>
#include <tusk/tusk.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  tusk_model_t *model = NULL;
  tusk_translator_t *tr = NULL;
  tusk_result_t *res = NULL;
  const char *in[] = {"A dog runs."};
  int rc = 1;
  if (tusk_model_open(argv[1], NULL, &model) != TUSK_OK) goto done;
  if (tusk_translator_create(model, NULL, &tr) != TUSK_OK) goto done;
  if (tusk_translate(tr, "en", "de", in, 1, &res) != TUSK_OK) goto done;
  printf("%s\n", tusk_result_text(res, 0));
  rc = 0;
done:
  if (rc != 0) fprintf(stderr, "error: %s\n", tusk_last_error());
  tusk_result_free(res);
  tusk_translator_destroy(tr);
  tusk_model_close(model);
  return rc;
}
