// Tests of the C# binding against the committed default model: a plain Main with its own checks.
// Usage: mono TuskTest.exe MODEL [all|threads]; exit code 1 on any failure.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Tusk;

class TuskTest {
  static readonly string[] Sentences = { "A man rides a bike down the street.", "Two dogs are playing in the snow.",
                                         "A little girl is climbing a tree.", "A woman is reading a book in the park." };
  static int passed, failed;

  static void Test(string name, Action body) {
    try {
      body();
      ++passed;
      Console.WriteLine("ok   " + name);
    } catch (Exception e) {
      ++failed;
      Console.WriteLine("FAIL " + name + ": " + e);
    }
  }

  static void Check(bool ok, string what) { if (!ok) throw new Exception("check failed: " + what); }

  static T Expect<T>(Action body) where T : Exception {
    try { body(); } catch (T e) { return e; } catch (Exception e) { throw new Exception("expected " + typeof(T).Name + ", got " + e); }
    throw new Exception("expected " + typeof(T).Name + ", nothing thrown");
  }

  static int Main(string[] args) {
    string path = args[0];
    string which = args.Length > 1 ? args[1] : "all";
    using (var model = new Model(path))
    using (var tr = new Translator(model, new TranslatorOptions { Threads = 1 })) {
      var reference = tr.Translate(Sentences, "en", "de");
      if (which == "all") {
        Test("model describes itself", () => {
          Check(model.Describe().Contains("nllb-moe"), "describe");
          Check(model.Languages.OrderBy(x => x).SequenceEqual(new[] { "cs", "de", "en", "fr" }), "languages");
          Check(model.LanguageTokens[model.Languages.IndexOf("en")] == "eng_Latn", "language tokens");
          Check(tr.Translate(Sentences[0], "eng_Latn", "deu_Latn") == reference[0], "full codes");
          Check(model.ExpertBytes > model.LargestExpertBytes, "expert bytes");
          Check(Model.Version.Split('.').Length == 3, "version");
          Check(typeof(Model).Assembly.GetName().Version.ToString() == Model.Version + ".0",
                "Tusk.dll's version " + typeof(Model).Assembly.GetName().Version + " is not the library's " + Model.Version);
        });
        Test("translates in order", () => {
          Check(reference.Count == Sentences.Length && reference.All(r => r.Length > 0), "results");
          Check(tr.Translate(Sentences[1], "en", "de") == reference[1], "single");
          Check(tr.Translate(new string[0], "en", "de").Count == 0, "empty list");
          Check(tr.Translate("", "en", "de") == "", "blank");
        });
        Test("streaming reports the tokens and can cancel", () => {
          var events = new List<TokenEvent>();
          var output = tr.TranslateStream(new[] { Sentences[0] }, "en", "de", false, e => { events.Add(e); return true; });
          Check(output[0] == reference[0], "streamed result");
          Check(events[events.Count - 1].Finished && events[events.Count - 1].Text == output[0], "last event");
          var ex = Expect<TuskException>(() => tr.TranslateStream(Sentences, "en", "de", false, e => false));
          Check(ex.Status == Status.Cancelled, ex.Message);
          Expect<InvalidOperationException>(() => tr.TranslateStream(Sentences, "en", "de", false,
                                                                    e => { throw new InvalidOperationException("listener"); }));
          tr.Cancel();  // nothing running: later calls run
          Check(tr.Translate(Sentences, "en", "de").SequenceEqual(reference), "after cancel");
        });
        Test("n-best, target prefixes and errors per sentence", () => {
          using (var nbest = new Translator(model, new TranslatorOptions { Threads = 1, BeamSize = 4, NumHypotheses = 3 })) {
            var t = nbest.TranslateDetailed(new[] { Sentences[0] }, "en", "de")[0];
            Check(t.Hypotheses.Count == 3 && t.Hypotheses[0] == t.Text, "n-best");
          }
          var p = tr.TranslateDetailed(new[] { Sentences[0] }, "en", "de", new[] { "Der Mann" })[0];
          Check(p.Text.StartsWith("Der Mann"), "prefix: " + p.Text);
          using (var each = new Translator(model, new TranslatorOptions { Threads = 1, PerSentenceErrors = true })) {
            var r = each.TranslateDetailed(new[] { Sentences[0], string.Concat(Enumerable.Repeat("word ", 400)) }, "en", "de");
            Check(r[0].Error == null && r[0].Text == reference[0], "the good one");
            Check(r[1].Error != null && r[1].Error.Status == Status.InputTooLong, "the bad one");
          }
        });
        Test("text mode splits sentences and keeps the spacing", () => {
          string text = " " + Sentences[0] + " " + Sentences[1] + "\n\n" + Sentences[2] + "\n";
          string want = " " + reference[0] + " " + reference[1] + "\n\n" + reference[2] + "\n";
          Check(tr.TranslateText(text, "en", "de") == want, "text: " + tr.TranslateText(text, "en", "de"));
          Check(tr.TranslateText(new[] { text, "  " }, "en", "de").SequenceEqual(new[] { want, "  " }), "texts");
          Check(tr.TranslateText(string.Concat(Enumerable.Repeat("word ", 400)), "en", "de").Length > 0, "any length");
        });
        Test("errors carry status and message", () => {
          var e = Expect<TuskException>(() => tr.Translate(Sentences, "en", "xx"));
          Check(e.Status == Status.UnknownLanguage && e.Message.Contains("xx"), e.Message);
          e = Expect<TuskException>(() => new Model("/no/such/model.tusk"));
          Check(e.Status == Status.Io && e.Message.Contains("/no/such"), e.Message);
          e = Expect<TuskException>(() => new Translator(model, new TranslatorOptions { BeamSize = 0 }));
          Check(e.Status == Status.InvalidArgument, e.Message);
          e = Expect<TuskException>(() => tr.Translate(string.Concat(Enumerable.Repeat("word ", 400)), "en", "de"));
          Check(e.Status == Status.InputTooLong, e.Message);
          Expect<ArgumentException>(() => new Translator(model, new TranslatorOptions { ExpertEviction = "fifo" }));
          Expect<ArgumentNullException>(() => tr.Translate(new string[] { null }, "en", "de"));
        });
        Test("use after dispose throws, never crashes", () => {
          var t = new Translator(model);
          t.Dispose();
          t.Dispose();
          Expect<ObjectDisposedException>(() => t.Translate(Sentences, "en", "de"));
          Expect<ObjectDisposedException>(() => t.Stats());
          var m = new Model(path);
          m.Dispose();
          Expect<ObjectDisposedException>(() => { var x = m.Languages; });
          Expect<ObjectDisposedException>(() => new Translator(m));
        });
        Test("a model disposed under a translator stays alive for it", () => {
          var m = new Model(path);
          var t = new Translator(m, new TranslatorOptions { Threads = 1 });
          m.Dispose();
          Check(t.Translate(Sentences, "en", "de").SequenceEqual(reference), "translation after the model's Dispose");
          t.Dispose();
        });
        Test("runaway guards are options", () => {
          const string runaway = "Hello.";
          using (var off = new Translator(model, new TranslatorOptions { Threads = 1, NoRepeatNgramSize = 0, MaxLengthRatio = 0.0,
                                                                        MaxLengthOffset = 0, RepetitionPenalty = 1.0 }))
          using (var penalised = new Translator(model, new TranslatorOptions { Threads = 1, NoRepeatNgramSize = 0,
                                                                              MaxLengthRatio = 0.0, RepetitionPenalty = 3.0 })) {
            Check(off.Translate(runaway, "en", "de").Length > tr.Translate(runaway, "en", "de").Length,
                  "the defaults' guards stop the runaway earlier");
            Check(penalised.Translate(runaway, "en", "de") != off.Translate(runaway, "en", "de"), "the penalty acts");
          }
          Expect<TuskException>(() => new Translator(model, new TranslatorOptions { RepetitionPenalty = 0.5 }));
        });
        Test("every option is reachable; paging keeps the output", () => {
          ulong budget = model.ExpertBytes / 4;
          var o = new TranslatorOptions { Threads = 1, BeamSize = 1, MaxDecodingLength = 200, MaxBatchSize = 2,
                                          MaxBatchTokens = 512, TruncateInput = false, LengthPenalty = 0.0,
                                          ExpertBudgetBytes = (long)budget, ExpertEviction = "lru",
                                          ExpertPrefetch = true, ExpertDirectIo = false, Device = "cpu" };
          using (var t = new Translator(model, o)) {
            Check(t.WarmStart("en", "de") > 0, "warm start");
            Check(t.Translate(Sentences, "en", "de").SequenceEqual(reference), "paged output differs");
            // With prefetch on, whether a load counts as a miss or a used prefetch is timing;
            // that the experts were paged is not: loads beyond warm start, and evictions.
            var s = t.Stats();
            Check(s["misses"] + s["prefetch_used"] > 0, "nothing paged in");
            Check(s["evictions"] > 0, "no evictions");
            Check(s["peak_cache_bytes"] <= budget, "over budget");
          }
        });
      }
      Test("eight threads on one translator", () => {
        var results = new IList<string>[8];
        var errors = new List<Exception>();
        var threads = Enumerable.Range(0, 8).Select(i => new Thread(() => {
          try { results[i] = tr.Translate(Sentences, "en", "de"); } catch (Exception e) { lock (errors) errors.Add(e); }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Check(errors.Count == 0, string.Join("; ", errors));
        Check(results.All(r => r.SequenceEqual(reference)), "a thread's output differs");
      });
      Test("translators share one model across threads", () => {
        var results = new IList<string>[3];
        var threads = Enumerable.Range(0, 3).Select(i => new Thread(() => {
          using (var t = new Translator(model, new TranslatorOptions { Threads = 1 })) results[i] = t.Translate(Sentences, "en", "de");
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Check(results.All(r => r != null && r.SequenceEqual(reference)), "a translator's output differs");
      });
    }
    Console.WriteLine(passed + " passed, " + failed + " failed");
    return failed == 0 ? 0 : 1;
  }
}
