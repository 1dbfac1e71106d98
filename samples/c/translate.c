/* The smallest complete C program using Tusk: open the model, translate two sentences from
 * English to German, print them, free everything. Usage: translate [MODEL.tusk] */
#include <stdio.h>
#include <tusk/tusk.h>

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "models/multi30k-moe.tusk";
  const char *in[] = {"A man rides a bike down the street.", "Two dogs play in the snow."};
  tusk_options_t *opt = NULL;
  tusk_model_t *model = NULL;
  tusk_translator_t *tr = NULL;
  tusk_result_t *res = NULL;
  int rc = 1;

  if (tusk_options_create(&opt) != TUSK_OK) goto done;
  if (tusk_options_set_int(opt, TUSK_OPT_BEAM_SIZE, 4) != TUSK_OK) goto done;
  if (tusk_model_open(path, opt, &model) != TUSK_OK) goto done;
  if (tusk_translator_create(model, opt, &tr) != TUSK_OK) goto done;
  if (tusk_translate(tr, "en", "de", in, 2, &res) != TUSK_OK) goto done;
  for (size_t i = 0; i < tusk_result_count(res); ++i) puts(tusk_result_text(res, i));
  rc = 0;
done:
  if (rc != 0) fprintf(stderr, "error: %s\n", tusk_last_error());
  tusk_result_free(res); /* every destroy/free/close accepts NULL */
  tusk_translator_destroy(tr);
  tusk_model_close(model);
  tusk_options_destroy(opt);
  return rc;
}
