"""Tests of the Python binding against the committed default model (unittest; CTest runs it as
binding_python_tests). Paths come from TUSK_TEST_MODEL and TUSK_LIBRARY (set by CTest)."""
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tusk  # noqa: E402

MODEL = os.environ.get("TUSK_TEST_MODEL", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                       "models", "multi30k-moe.tusk"))
SENTENCES = ["A man rides a bike down the street.", "Two dogs are playing in the snow.",
             "A little girl is climbing a tree.", "A woman is reading a book in the park."]


class ModelTest(unittest.TestCase):
    def test_open_describe_languages(self):
        with tusk.Model(MODEL) as model:
            self.assertEqual(sorted(model.languages), ["cs", "de", "en", "fr"])
            tokens = dict(zip(model.languages, model.language_tokens))
            self.assertEqual(tokens["en"], "eng_Latn")
            with tusk.Translator(model, threads=1) as tr:
                self.assertEqual(tr.translate(["A dog runs."], "eng_Latn", "deu_Latn"),
                                 tr.translate(["A dog runs."], "en", "de"))
            self.assertIn("nllb-moe", model.describe())
            self.assertIn("expert usage", model.describe())
            total, largest = model.expert_bytes
            self.assertGreater(total, largest)
            self.assertGreater(largest, 0)

    def test_missing_file_raises_with_status_and_message(self):
        with self.assertRaises(tusk.TuskError) as ctx:
            tusk.Model("/no/such/model.tusk")
        self.assertEqual(ctx.exception.status_name, "TUSK_ERROR_IO")
        self.assertIn("/no/such/model.tusk", str(ctx.exception))

    def test_use_after_close_raises(self):
        model = tusk.Model(MODEL)
        model.close()
        model.close()  # twice is fine
        with self.assertRaises(tusk.TuskError):
            model.languages
        with self.assertRaises(tusk.TuskError):
            tusk.Translator(model)

    def test_translator_use_after_close_raises(self):
        tr = tusk.Translator(MODEL, threads=1)
        tr.close()
        tr.close()
        for call in (lambda: tr.translate(SENTENCES, src="en", tgt="de"), tr.stats,
                     lambda: tr.warm_start("en", "de")):
            with self.assertRaises(tusk.TuskError):
                call()

    def test_model_refuses_to_close_under_a_translator(self):
        with tusk.Model(MODEL) as model:
            tr = tusk.Translator(model, threads=1)
            with self.assertRaises(tusk.TuskError):
                model.close()
            tr.close()

    def test_an_exception_leaving_a_model_block_is_not_hidden(self):
        with self.assertRaises(KeyError):
            with tusk.Model(MODEL) as model:
                tr = tusk.Translator(model, threads=1)
                raise KeyError("the caller's own error")
        tr.close()
        model.close()

    def test_a_closed_model_makes_no_translator(self):
        model = tusk.Model(MODEL)
        model.close()
        with self.assertRaises(tusk.TuskError):
            tusk.Translator(model)
        model.close()  # nothing was counted against it


class TranslatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = tusk.Model(MODEL)
        cls.tr = tusk.Translator(cls.model, threads=1)
        cls.reference = cls.tr.translate(SENTENCES, src="en", tgt="de")

    @classmethod
    def tearDownClass(cls):
        cls.tr.close()
        cls.model.close()

    def test_translates_in_order(self):
        self.assertEqual(len(self.reference), len(SENTENCES))
        self.assertTrue(all(self.reference))
        self.assertNotEqual(self.reference[0], SENTENCES[0])
        self.assertEqual(self.tr.translate(SENTENCES[1], src="en", tgt="de"), self.reference[1])
        self.assertEqual(self.tr.translate([], src="en", tgt="de"), [])
        self.assertEqual(self.tr.translate([""], src="en", tgt="de"), [""])

    def test_path_constructor_owns_its_model(self):
        with tusk.Translator(MODEL, threads=1) as tr:
            self.assertEqual(tr.translate(SENTENCES, src="en", tgt="de"), self.reference)

    def test_detailed(self):
        [t] = self.tr.translate_detailed(SENTENCES[:1], src="en", tgt="de")
        self.assertEqual(t.text, self.reference[0])
        self.assertLess(t.score, 0)
        self.assertEqual(len(t.logprobs), len(t.tokens) - 1)
        self.assertFalse(t.truncated)

    def test_text_mode_splits_and_keeps_the_spacing(self):
        text = " " + SENTENCES[0] + " " + SENTENCES[1] + "\n\n" + SENTENCES[2] + "\n"
        want = " " + self.reference[0] + " " + self.reference[1] + "\n\n" + self.reference[2] + "\n"
        self.assertEqual(self.tr.translate_text(text, src="en", tgt="de"), want)
        self.assertEqual(self.tr.translate_text([text, "  "], src="en", tgt="de"), [want, "  "])
        [long] = self.tr.translate_text_detailed(["house " * 400], src="en", tgt="de")
        self.assertTrue(long.truncated)  # one sentence over the model's limit: in pieces
        self.assertTrue(long.text)
        with self.assertRaises(tusk.UnknownLanguageError):
            self.tr.translate_text(text, src="en", tgt="xx")

    def test_stream_reports_the_tokens_and_can_cancel(self):
        events = []
        [t] = self.tr.translate_stream(SENTENCES[:1], "en", "de", events.append)
        self.assertEqual([e.token for e in events], t.tokens[1:])
        self.assertTrue(events[-1].finished and events[-1].text == t.text)
        with self.assertRaises(tusk.CancelledError):
            self.tr.translate_stream(SENTENCES, "en", "de", lambda e: False)
        with self.assertRaises(ZeroDivisionError):  # the callback's own exception comes back
            self.tr.translate_stream(SENTENCES, "en", "de", lambda e: 1 / 0)
        texts = []
        self.tr.translate_stream(["A dog runs. A cat sleeps."], "en", "de",
                                 lambda e: texts.append((e.sentence, e.text)) if e.finished else None, text_mode=True)
        self.assertEqual([s for s, _ in texts], [0, 1])
        self.tr.cancel()  # nothing running: later calls are unaffected
        self.assertEqual(self.tr.translate(SENTENCES, src="en", tgt="de"), self.reference)

    def test_text_with_a_nul_and_path_like_paths(self):
        with self.assertRaises(ValueError):
            self.tr.translate(["A dog\0 runs."], src="en", tgt="de")
        import pathlib
        with tusk.Translator(pathlib.Path(MODEL), threads=1) as tr:
            self.assertEqual(tr.translate(SENTENCES[:1], src="en", tgt="de"), self.reference[:1])
        with self.assertRaises(tusk.TuskError) as ctx:
            tusk.Translator(self.model, beam_size=300)
        self.assertIn("beam_size=300", str(ctx.exception))
        self.assertIn("TUSK_OPT_BEAM_SIZE", str(ctx.exception))

    def test_per_sentence_errors(self):
        with tusk.Translator(self.model, threads=1, per_sentence_errors=True) as tr:
            good, bad = tr.translate_detailed([SENTENCES[0], "house " * 400], src="en", tgt="de", )
            self.assertIsNone(good.error)
            self.assertEqual(good.text, self.reference[0])
            self.assertIsInstance(bad.error, tusk.InputTooLongError)
            self.assertEqual(bad.text, "")

    def test_n_best_and_target_prefix(self):
        with tusk.Translator(self.model, threads=1, beam_size=4, num_hypotheses=3) as tr:
            [t] = tr.translate_detailed(SENTENCES[:1], src="en", tgt="de")
            self.assertEqual(len(t.hypotheses), 3)
            self.assertEqual(t.hypotheses[0][0], t.text)
            self.assertGreaterEqual(t.hypotheses[0][1], t.hypotheses[1][1])
        [p, q] = self.tr.translate_detailed(SENTENCES[:2], src="en", tgt="de", target_prefixes=["Der Mann", None])
        self.assertTrue(p.text.startswith("Der Mann"), p.text)
        self.assertEqual(q.text, self.reference[1])
        with self.assertRaisesRegex(ValueError, "1 target prefixes for 0 texts"):
            self.tr.translate_detailed([], src="en", tgt="de", target_prefixes=["Der"])

    def test_a_list_call_refuses_one_str_rather_than_iterate_its_characters(self):
        for call in (self.tr.translate_detailed, self.tr.translate_text_detailed):
            with self.assertRaisesRegex(TypeError, "list of str"):
                call(SENTENCES[0], src="en", tgt="de")
        with self.assertRaisesRegex(TypeError, "list of str"):
            self.tr.translate_stream(SENTENCES[0], src="en", tgt="de", on_token=lambda e: None)

    def test_every_option_name_maps_to_tusk_h(self):
        with tusk.Translator(self.model, threads=1, device="cpu", device_index=0, compute_type="fp32",
                             device_expert_budget_bytes=0) as tr:
            self.assertEqual(tr.translate(SENTENCES[:1], src="en", tgt="de"), self.reference[:1])
        with self.assertRaises(tusk.TuskError) as ctx:
            tusk.Translator(self.model, compute_type="fp16")  # the CPU computes in fp32
        self.assertEqual(ctx.exception.status_name, "TUSK_ERROR_UNSUPPORTED")
        with self.assertRaises(ValueError):
            tusk.Translator(self.model, device="cuda:x")

    def test_errors(self):
        with self.assertRaises(tusk.UnknownLanguageError):
            self.tr.translate(SENTENCES, src="en", tgt="xx")
        with self.assertRaises(tusk.InputTooLongError):
            self.tr.translate(["word " * 400], src="en", tgt="de")
        with self.assertRaises(TypeError):
            self.tr.translate([b"bytes"], src="en", tgt="de")
        with self.assertRaises(TypeError):
            tusk.Translator(self.model, bogus=1)
        with self.assertRaises(tusk.TuskError) as ctx:
            tusk.Translator(self.model, beam_size=0)
        self.assertEqual(ctx.exception.status_name, "TUSK_ERROR_INVALID_ARGUMENT")
        with self.assertRaises(ValueError):
            tusk.Translator(self.model, expert_eviction="fifo")

    def test_every_option_is_reachable(self):
        total, _ = self.model.expert_bytes
        with tusk.Translator(self.model, threads=1, beam_size=2, max_decoding_length=64, max_batch_size=2,
                             max_batch_tokens=512, truncate_input=True, length_penalty=1.0,
                             expert_budget_bytes=total // 4, expert_eviction="lru", expert_prefetch=False,
                             expert_direct_io=True, device="cpu") as tr:
            out = tr.translate(SENTENCES, src="en", tgt="de")
            self.assertEqual(len(out), len(SENTENCES))
            stats = tr.stats()
            self.assertGreater(stats["misses"], 0)
            self.assertLessEqual(stats["peak_cache_bytes"], total // 4)

    def test_expert_budget_gives_the_same_output_and_warm_start(self):
        total, _ = self.model.expert_bytes
        with tusk.Translator(self.model, threads=1, expert_budget_bytes=total // 4) as tr:
            self.assertGreater(tr.warm_start("en", "de"), 0)
            self.assertEqual(tr.translate(SENTENCES, src="en", tgt="de"), self.reference)
            self.assertGreater(tr.stats()["warm_start_loaded"], 0)

    def test_eight_threads_on_one_translator(self):
        results = [None] * 8
        errors = []

        def work(i):
            try:
                results[i] = self.tr.translate(SENTENCES, src="en", tgt="de")
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(results, [self.reference] * 8)

    def test_several_translators_share_one_model(self):
        translators = [tusk.Translator(self.model, threads=1) for _ in range(3)]
        results = [None] * len(translators)
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(
            i, translators[i].translate(SENTENCES, src="en", tgt="de"))) for i in range(len(translators))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for tr in translators:
            tr.close()
        self.assertEqual(results, [self.reference] * len(translators))


class ConvertTest(unittest.TestCase):
    def test_bad_checkpoint_raises_and_progress_can_cancel(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(tusk.TuskError):
                tusk.convert_hf(os.path.join(d, "nothing"), os.path.join(d, "out.tusk"))
            with self.assertRaises(ValueError):
                tusk.convert_hf(d, os.path.join(d, "out.tusk"), experts="int3")

    def test_progress_returning_false_cancels(self):
        shared = os.environ.get("TUSK_SHARED_DIR", os.path.join(os.path.dirname(MODEL), "..", "..", "shared"))
        checkpoint = os.path.join(shared, "models", "multi30k-moe")
        if not os.path.isfile(os.path.join(checkpoint, "config.json")):
            self.skipTest(f"no checkpoint at {checkpoint}")
        seen = []
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.tusk")
            with self.assertRaises(tusk.CancelledError):
                tusk.convert_hf(checkpoint, out, experts="int4", dense="int8",
                                progress=lambda done, total, what: seen.append((done, total)) or False)
            self.assertFalse(os.path.exists(out))
            self.assertEqual(os.listdir(d), [])
        self.assertEqual(len(seen), 1)

    def test_an_exception_in_progress_is_raised_not_lost(self):
        shared = os.environ.get("TUSK_SHARED_DIR", os.path.join(os.path.dirname(MODEL), "..", "..", "shared"))
        checkpoint = os.path.join(shared, "models", "multi30k-moe")
        if not os.path.isfile(os.path.join(checkpoint, "config.json")):
            self.skipTest(f"no checkpoint at {checkpoint}")

        def boom(done, total, what):
            raise KeyError("from the callback")
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(KeyError):
                tusk.convert_hf(checkpoint, os.path.join(d, "out.tusk"), progress=boom)

    def test_tusk_library_may_name_a_folder(self):
        import subprocess
        import sys
        folder = os.path.dirname(tusk._lib.lib._name)
        env = dict(os.environ, TUSK_LIBRARY=folder)
        run = subprocess.run([sys.executable, "-c", "import tusk; print(tusk.version())"], env=env,
                             capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(tusk.__file__)))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.strip(), tusk.version())

    def test_version(self):
        self.assertRegex(tusk.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(tusk.__version__, tusk.version(), "the package and the library it loaded differ")


if __name__ == "__main__":
    unittest.main()
