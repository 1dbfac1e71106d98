// Tests of the Java binding against the committed default model: a plain main() with its own
// checks (no test framework to install). Usage: TuskTest MODEL [all|threads]; exit 1 on failure.
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import tusk.Model;
import tusk.Translator;
import tusk.TuskException;

public class TuskTest {
  static final List<String> SENTENCES = List.of("A man rides a bike down the street.",
      "Two dogs are playing in the snow.", "A little girl is climbing a tree.",
      "A woman is reading a book in the park.");
  static int failures = 0, passed = 0;

  interface Body { void run() throws Exception; }

  static void test(String name, Body body) {
    try {
      body.run();
      ++passed;
      System.out.println("ok   " + name);
    } catch (Throwable t) {
      ++failures;
      System.out.println("FAIL " + name + ": " + t);
    }
  }

  static void check(boolean ok, String what) { if (!ok) throw new AssertionError(what); }

  interface Work { Object run() throws Exception; }

  // Runs work on n threads at once; each result, or what it threw, in the order they finished.
  static List<Object> inThreads(int n, Work work) throws InterruptedException {
    List<Thread> threads = new ArrayList<>();
    List<Object> results = Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < n; ++i) {
      Thread th = new Thread(() -> {
        try {
          results.add(work.run());
        } catch (Throwable t) {
          results.add(t);
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) th.join();
    return results;
  }

  static <T extends Throwable> T expect(Class<T> type, Body body) throws Exception {
    try {
      body.run();
    } catch (Throwable t) {
      if (type.isInstance(t)) return type.cast(t);
      throw new AssertionError("expected " + type.getSimpleName() + ", got " + t);
    }
    throw new AssertionError("expected " + type.getSimpleName() + ", nothing thrown");
  }

  public static void main(String[] args) throws Exception {
    String path = args[0];
    String which = args.length > 1 ? args[1] : "all";
    try (Model model = new Model(path); Translator tr = new Translator(model, new Translator.Settings().threads(1))) {
      List<String> reference = tr.translate(SENTENCES, "en", "de");
      if (which.equals("all")) {
        test("model describes itself", () -> {
          check(model.describe().contains("nllb-moe"), "describe");
          List<String> langs = new ArrayList<>(model.languages());
          Collections.sort(langs);
          check(langs.equals(List.of("cs", "de", "en", "fr")), "languages " + langs);
          int en = model.languages().indexOf("en");
          check(model.languageTokens().get(en).equals("eng_Latn"), "language tokens");
          check(tr.translate(SENTENCES.get(0), "eng_Latn", "deu_Latn").equals(reference.get(0)), "full codes");
          check(model.expertBytes() > model.largestExpertBytes(), "expert bytes");
        });
        test("translates in order", () -> {
          check(reference.size() == SENTENCES.size(), "count");
          for (String r : reference) check(!r.isEmpty(), "empty translation");
          check(tr.translate(SENTENCES.get(1), "en", "de").equals(reference.get(1)), "single");
          check(tr.translate(List.of(), "en", "de").isEmpty(), "empty list");
          check(tr.translate("", "en", "de").isEmpty(), "blank");
        });
        test("streaming reports the tokens and can cancel", () -> {
          List<Translator.TokenEvent> events = new java.util.ArrayList<>();
          List<String> out = tr.translateStream(SENTENCES.subList(0, 1), "en", "de", false, e -> events.add(e));
          check(out.get(0).equals(reference.get(0)), "streamed result");
          check(events.get(events.size() - 1).finished && events.get(events.size() - 1).text.equals(out.get(0)), "last event");
          TuskException e = expect(TuskException.class, () -> tr.translateStream(SENTENCES, "en", "de", false, ev -> false));
          check(e.statusName().equals("TUSK_ERROR_CANCELLED"), e.getMessage());
          expect(IllegalStateException.class, () -> tr.translateStream(SENTENCES, "en", "de", false, ev -> {
            throw new IllegalStateException("from the listener");
          }));
          tr.cancel();  // nothing running: later calls run
          check(tr.translate(SENTENCES, "en", "de").equals(reference), "after cancel");
        });
        test("n-best, target prefixes and errors per sentence", () -> {
          try (Translator nbest = new Translator(model, new Translator.Settings().threads(1).beamSize(4).numHypotheses(3))) {
            Translator.Translation t = nbest.translateDetailed(SENTENCES.subList(0, 1), "en", "de", null).get(0);
            check(t.hypotheses.size() == 3 && t.hypotheses.get(0).equals(t.text), "n-best " + t.hypotheses);
          }
          Translator.Translation p = tr.translateDetailed(SENTENCES.subList(0, 1), "en", "de", List.of("Der Mann")).get(0);
          check(p.text.startsWith("Der Mann"), "prefix: " + p.text);
          try (Translator each = new Translator(model, new Translator.Settings().threads(1).perSentenceErrors(true))) {
            List<Translator.Translation> r = each.translateDetailed(List.of(SENTENCES.get(0), "word ".repeat(400)), "en", "de", null);
            check(r.get(0).error == null && r.get(0).text.equals(reference.get(0)), "the good one");
            check(r.get(1).error != null && r.get(1).error.startsWith("TUSK_ERROR_INPUT_TOO_LONG"), "the bad one: " + r.get(1).error);
          }
        });
        test("text mode splits sentences and keeps the spacing", () -> {
          String text = " " + SENTENCES.get(0) + " " + SENTENCES.get(1) + "\n\n" + SENTENCES.get(2) + "\n";
          String want = " " + reference.get(0) + " " + reference.get(1) + "\n\n" + reference.get(2) + "\n";
          check(tr.translateText(text, "en", "de").equals(want), "text: " + tr.translateText(text, "en", "de"));
          check(tr.translateText(List.of(text, "  "), "en", "de").equals(List.of(want, "  ")), "texts");
          check(!tr.translateText("word ".repeat(400), "en", "de").isEmpty(), "any length");
        });
        test("errors carry status and message", () -> {
          TuskException e = expect(TuskException.class, () -> tr.translate(SENTENCES, "en", "xx"));
          check(e.status() == 5 && e.statusName().equals("TUSK_ERROR_UNKNOWN_LANGUAGE"), e.getMessage());
          e = expect(TuskException.class, () -> new Model("/no/such/model.tusk"));
          check(e.statusName().equals("TUSK_ERROR_IO") && e.getMessage().contains("/no/such"), e.getMessage());
          e = expect(TuskException.class, () -> new Translator(model, new Translator.Settings().beamSize(0)));
          check(e.statusName().equals("TUSK_ERROR_INVALID_ARGUMENT"), e.getMessage());
          expect(TuskException.class, () -> tr.translate("word ".repeat(400), "en", "de"));
          expect(IllegalArgumentException.class, () -> new Translator.Settings().expertEviction("fifo"));
        });
        test("use after close throws, never crashes", () -> {
          Translator t = new Translator(model);
          t.close();
          t.close();
          expect(IllegalStateException.class, () -> t.translate(SENTENCES, "en", "de"));
          expect(IllegalStateException.class, t::stats);
          Model m = new Model(path);
          m.close();
          expect(IllegalStateException.class, m::languages);
          expect(IllegalStateException.class, () -> new Translator(m));
        });
        test("a model refuses to close under a translator", () -> {
          Model m = new Model(path);
          Translator t = new Translator(m);
          expect(IllegalStateException.class, m::close);
          t.close();
          m.close();
          check(m.isClosed(), "closed");
        });
        test("runaway guards are options", () -> {
          String runaway = "Hello.";
          try (Translator off = new Translator(model, new Translator.Settings().threads(1).noRepeatNgramSize(0)
                   .maxLengthRatio(0.0).maxLengthOffset(0).repetitionPenalty(1.0));
               Translator penalised = new Translator(model, new Translator.Settings().threads(1).noRepeatNgramSize(0)
                   .maxLengthRatio(0.0).repetitionPenalty(3.0))) {
            check(off.translate(runaway, "en", "de").length() > tr.translate(runaway, "en", "de").length(),
                "the defaults' guards stop the runaway earlier");
            check(!penalised.translate(runaway, "en", "de").equals(off.translate(runaway, "en", "de")), "the penalty acts");
          }
          expect(TuskException.class, () -> new Translator(model, new Translator.Settings().repetitionPenalty(0.5)));
        });
        test("every option is reachable; paging keeps the output", () -> {
          long budget = model.expertBytes() / 4;
          try (Translator t = new Translator(model, new Translator.Settings().threads(1).beamSize(1)
                   .maxDecodingLength(200).maxBatchSize(2).maxBatchTokens(512).truncateInput(false)
                   .lengthPenalty(0.0).expertBudgetBytes(budget).expertEviction("lru")
                   .expertPrefetch(true).expertDirectIo(false).device("cpu"))) {
            check(t.warmStart("en", "de") > 0, "warm start");
            check(t.translate(SENTENCES, "en", "de").equals(reference), "paged output differs");
            // With prefetch on, whether a load counts as a miss or a used prefetch is timing;
            // that the experts were paged is not: loads beyond warm start, and evictions.
            Map<String, Number> s = t.stats();
            check(s.get("misses").longValue() + s.get("prefetch_used").longValue() > 0, "nothing paged in");
            check(s.get("evictions").longValue() > 0, "no evictions");
            check(s.get("peak_cache_bytes").longValue() <= budget, "over budget");
          }
        });
      }
      test("eight threads on one translator", () -> {
        List<Object> results = inThreads(8, () -> tr.translate(SENTENCES, "en", "de"));
        check(results.size() == 8, "results");
        for (Object r : results) check(reference.equals(r), "differs: " + r);
      });
      test("translators share one model across threads", () -> {
        List<Object> results = inThreads(3, () -> {
          try (Translator t = new Translator(model, new Translator.Settings().threads(1))) {
            return t.translate(SENTENCES, "en", "de");
          }
        });
        for (Object r : results) check(reference.equals(r), "differs: " + r);
      });
    }
    System.out.println(passed + " passed, " + failures + " failed");
    System.exit(failures == 0 ? 0 : 1);
  }
}
