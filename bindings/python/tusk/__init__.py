"""Tusk for Python: a thin ctypes layer over the C ABI (tusk.h), no compiled extension.

    import tusk
    with tusk.Translator("models/multi30k-moe.tusk") as tr:
        print(tr.translate(["A man rides a bike down the street."], src="en", tgt="de"))

Errors raise tusk.TuskError (status code and the library's message); UnknownLanguageError and
InputTooLongError are its subclasses for the two a caller most often handles. Handles close
with `close()` or a `with` block; a closed handle raises TuskError, never crashes.

Threads: a Model may be shared by any number of Translators; one Translator may be used from
several threads (its calls are serialised; the GIL is released while Tusk works).
"""
import collections
import ctypes
import os
import threading

from . import _lib

__all__ = ["TuskError", "UnknownLanguageError", "InputTooLongError", "CancelledError", "Model",
           "Translator", "Translation", "convert_hf", "version"]


class TuskError(Exception):
    """A Tusk call failed. `status` is the tusk_status_t value, `status_name` its name."""

    def __init__(self, status, message):
        self.status = status
        self.status_name = _lib.status_name(status)
        super().__init__(f"{self.status_name}: {message}")


class UnknownLanguageError(TuskError):
    pass


class InputTooLongError(TuskError):
    pass


class CancelledError(TuskError):
    pass


_SUBCLASSES = {5: UnknownLanguageError, 6: InputTooLongError, 8: CancelledError}


def _check(status, context=None):
    if status != _lib.OK:
        message = _lib.last_error()
        raise _SUBCLASSES.get(status, TuskError)(status, f"{context}: {message}" if context else message)


def _utf8(text, what):
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    if "\0" in text:  # C strings end there: the rest would be lost silently
        raise ValueError(f"{what} contains a NUL character at index {text.index(chr(0))}")
    return text.encode("utf-8")


def _path(path, what):
    """A str or os.PathLike path, as C wants it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike path, not {type(path).__name__}")
    return _utf8(os.fsdecode(os.fspath(path)), what)


def version():
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.lib.tusk_version().decode()


class _Options:
    """A tusk_options_t filled from keyword arguments (names as in tusk.h, lower case)."""

    _INT = {
        "threads": _lib.OPT_THREADS,
        "beam_size": _lib.OPT_BEAM_SIZE,
        "max_decoding_length": _lib.OPT_MAX_DECODING_LENGTH,
        "min_decoding_length": _lib.OPT_MIN_DECODING_LENGTH,
        "int8_activations": _lib.OPT_INT8_ACTIVATIONS,
        "max_batch_size": _lib.OPT_MAX_BATCH_SIZE,
        "max_batch_tokens": _lib.OPT_MAX_BATCH_TOKENS,
        "truncate_input": _lib.OPT_TRUNCATE_INPUT,
        "verify_checksums": _lib.OPT_VERIFY_CHECKSUMS,
        "expert_budget_bytes": _lib.OPT_EXPERT_BUDGET_BYTES,
        "device": _lib.OPT_DEVICE,
        "device_index": _lib.OPT_DEVICE_INDEX,
        "compute_type": _lib.OPT_COMPUTE_TYPE,
        "device_expert_budget_bytes": _lib.OPT_DEVICE_EXPERT_BUDGET_BYTES,
        "no_repeat_ngram_size": _lib.OPT_NO_REPEAT_NGRAM_SIZE,
        "max_length_offset": _lib.OPT_MAX_LENGTH_OFFSET,
        "per_sentence_errors": _lib.OPT_PER_SENTENCE_ERRORS,
        "num_hypotheses": _lib.OPT_NUM_HYPOTHESES,
        "zstd_level": _lib.OPT_ZSTD_LEVEL,
        "expert_weights": _lib.OPT_EXPERT_WEIGHTS,
        "dense_weights": _lib.OPT_DENSE_WEIGHTS,
        "group_size": _lib.OPT_GROUP_SIZE,
        "expert_eviction": _lib.OPT_EXPERT_EVICTION,
        "expert_prefetch": _lib.OPT_EXPERT_PREFETCH,
        "expert_direct_io": _lib.OPT_EXPERT_DIRECT_IO,
    }
    _FLOAT = {"length_penalty": _lib.OPT_LENGTH_PENALTY, "max_length_ratio": _lib.OPT_MAX_LENGTH_RATIO,
              "repetition_penalty": _lib.OPT_REPETITION_PENALTY}
    _NAMED = {"device": _lib.DEVICES, "compute_type": _lib.COMPUTE_TYPES, "expert_eviction": _lib.EVICTIONS,
              "expert_weights": _lib.WEIGHT_TYPES, "dense_weights": _lib.WEIGHT_TYPES}

    def __init__(self, **options):
        self.handle = ctypes.c_void_p()
        _check(_lib.lib.tusk_options_create(ctypes.byref(self.handle)))
        try:
            device = options.get("device")
            if isinstance(device, str) and device.startswith("cuda:"):  # "cuda:N"
                index = device[len("cuda:"):]
                if not index.isdigit():
                    raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
                options = dict(options, device="cuda", device_index=int(index))
            for name, value in options.items():
                if value is None:
                    continue
                if name in self._FLOAT:
                    _check(_lib.lib.tusk_options_set_float(self.handle, self._FLOAT[name], float(value)),
                           f"option {name}={value!r}")
                    continue
                if name not in self._INT:
                    raise TypeError(f"unknown option {name!r}")
                if name in self._NAMED and isinstance(value, str):
                    if value not in self._NAMED[name]:
                        raise ValueError(f"{name} must be one of {sorted(self._NAMED[name])}, not {value!r}")
                    value = self._NAMED[name][value]
                if isinstance(value, bool):
                    value = int(value)
                if not isinstance(value, int):
                    raise TypeError(f"option {name} takes an int, not {type(value).__name__}")
                _check(_lib.lib.tusk_options_set_int(self.handle, self._INT[name], value), f"option {name}={value!r}")
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.handle:
            _lib.lib.tusk_options_destroy(self.handle)
            self.handle = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Handle:
    """Owns one C handle; use after close() raises TuskError."""

    _kind = "handle"

    def __init__(self):
        self._handle = ctypes.c_void_p()

    def _live(self):
        if not self._handle:
            raise TuskError(1, f"this {self._kind} is closed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Model(_Handle):
    """An open .tusk model: immutable, shareable by translators on any thread.

    Options: verify_checksums (default True)."""

    _kind = "model"

    def __init__(self, path, **options):
        super().__init__()
        self.path = path
        self._translators = 0
        self._lock = threading.Lock()
        with _Options(**options) as o:
            _check(_lib.lib.tusk_model_open(_path(path, "path"), o.handle, ctypes.byref(self._handle)))

    def close(self):
        """Closes the model. Refused (TuskError) while translators made from it are open."""
        with self._lock:
            if self._translators:
                raise TuskError(1, f"{self._translators} translator(s) of this model are still open")
            if self._handle:
                _lib.lib.tusk_model_close(self._handle)
                self._handle = ctypes.c_void_p()

    def describe(self, verbose=False):
        out = ctypes.c_char_p()
        fn = _lib.lib.tusk_model_describe_verbose if verbose else _lib.lib.tusk_model_describe
        _check(fn(self._live(), ctypes.byref(out)))
        return out.value.decode("utf-8")

    @property
    def languages(self):
        """Short language codes ("en"; the full token where that would be ambiguous)."""
        return self._language_strings(_lib.lib.tusk_model_language)

    @property
    def language_tokens(self):
        """The languages' tokens ("eng_Latn"), in the order of `languages`; either form is
        accepted wherever a language is asked for."""
        return self._language_strings(_lib.lib.tusk_model_language_token)

    def _language_strings(self, fn):
        count = ctypes.c_int32()
        _check(_lib.lib.tusk_model_language_count(self._live(), ctypes.byref(count)))
        out = []
        for i in range(count.value):
            text = ctypes.c_char_p()
            _check(fn(self._handle, i, ctypes.byref(text)))
            out.append(text.value.decode())
        return out

    @property
    def expert_bytes(self):
        """(total, largest) decoded expert bytes; the smallest budget is `largest`."""
        total, largest = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.lib.tusk_model_expert_bytes(self._live(), ctypes.byref(total), ctypes.byref(largest)))
        return total.value, largest.value

    def _attach(self, delta):
        with self._lock:
            self._translators += delta


TokenEvent = collections.namedtuple("TokenEvent", "input sentence token logprob text finished")
TokenEvent.__doc__ = "A token chosen while translate_stream runs (see Translator.translate_stream)."


class Translation:
    """One translated sentence: text, score (sum of token log-probabilities), token ids
    (target language code first), per-token log-probabilities, and whether the source was
    truncated; with per_sentence_errors=True, error: None, or the TuskError this input got (its
    text is then empty); hypotheses: (text, score, tokens) of the num_hypotheses best, best
    first."""

    __slots__ = ("text", "score", "tokens", "logprobs", "truncated", "error", "hypotheses")

    def __init__(self, text, score, tokens, logprobs, truncated, error=None, hypotheses=()):
        self.text, self.score, self.tokens, self.logprobs, self.truncated = text, score, tokens, logprobs, truncated
        self.error, self.hypotheses = error, list(hypotheses)

    def __repr__(self):
        return f"Translation({self.text!r}, score={self.score:.3f})"


class Translator(_Handle):
    """Translates with a Model (or a path: the translator then opens and owns its model).

    Options (tusk.h names in lower case): threads, beam_size, max_decoding_length,
    min_decoding_length, max_batch_size, max_batch_tokens, truncate_input, length_penalty, expert_budget_bytes,
    expert_eviction ("lru", "layer-distance", "none"), expert_prefetch, expert_direct_io,
    int8_activations (an approximation, off by default), device ("cpu", "cuda", "cuda:N"), compute_type ("fp32", "fp16", "bf16": GPU only)."""

    _kind = "translator"

    def __init__(self, model, **options):
        super().__init__()
        self._owned = None
        if isinstance(model, (str, os.PathLike)):
            model = self._owned = Model(model)
        elif not isinstance(model, Model):
            raise TypeError("model must be a tusk.Model or a path (str or os.PathLike)")
        self.model = model
        try:
            with _Options(**options) as o:
                _check(_lib.lib.tusk_translator_create(model._live(), o.handle, ctypes.byref(self._handle)))
        except BaseException:
            if self._owned:
                self._owned.close()
            raise
        model._attach(+1)

    def close(self):
        if self._handle:
            _lib.lib.tusk_translator_destroy(self._handle)
            self._handle = ctypes.c_void_p()
            self.model._attach(-1)
            if self._owned:
                self._owned.close()

    def translate(self, texts, src, tgt):
        """Translates a list of sentences (or one str) from src to tgt; returns str(s)."""
        single = isinstance(texts, str)
        results = self.translate_detailed([texts] if single else texts, src, tgt)
        return results[0].text if single else [r.text for r in results]

    def translate_text(self, texts, src, tgt):
        """Translates text (one str, or a list): paragraphs or documents of any length, split
        into sentences by the library and put back with their spacing and line breaks
        (tusk_translate_text); returns str(s)."""
        single = isinstance(texts, str)
        results = self.translate_text_detailed([texts] if single else texts, src, tgt)
        return results[0].text if single else [r.text for r in results]

    def translate_detailed(self, texts, src, tgt, target_prefixes=None):
        """Like translate, for a list, returning Translation objects. target_prefixes: a list
        (one per text; "" or None for none) of what each translation must begin with."""
        if target_prefixes is None:
            return self._translate(_lib.lib.tusk_translate, texts, src, tgt)
        prefixes = [_utf8(p or "", "each target prefix") for p in target_prefixes]
        array = (ctypes.c_char_p * len(prefixes))(*prefixes)

        def prefixed(translator, src_b, tgt_b, texts_array, count, result):
            if count != len(prefixes):
                raise ValueError(f"{len(prefixes)} target prefixes for {count} texts")
            return _lib.lib.tusk_translate_prefixed(translator, src_b, tgt_b, texts_array, array, count, result)
        return self._translate(prefixed, texts, src, tgt)

    def translate_text_detailed(self, texts, src, tgt):
        """Like translate_text, for a list, returning Translation objects (truncated: a
        sentence was longer than the model takes and went in pieces)."""
        return self._translate(_lib.lib.tusk_translate_text, texts, src, tgt)

    def translate_stream(self, texts, src, tgt, on_token, text_mode=False):
        """Like translate_detailed (or translate_text_detailed with text_mode=True), calling
        on_token(event) as tokens are chosen: event.input, .sentence, .token, .logprob, .text
        (that sentence's translation so far) and .finished. Greedy search reports every step;
        beam search a sentence's tokens when its search ends. on_token returning False cancels
        (CancelledError, no results); an exception it raises cancels and is raised here."""
        error = []

        def call(event, _user):
            e = event.contents
            try:
                go_on = on_token(TokenEvent(e.input, e.sentence, e.token, e.logprob,
                                            e.text.decode("utf-8", "replace"), bool(e.finished)))
                return 1 if go_on is False else 0
            except BaseException as exc:  # never let an exception unwind through C
                error.append(exc)
                return 1
        callback = _lib.TOKEN_CALLBACK(call)

        def stream(translator, src_b, tgt_b, array, count, result):
            return _lib.lib.tusk_translate_stream(translator, src_b, tgt_b, array, count, int(bool(text_mode)),
                                                  callback, None, result)
        try:
            return self._translate(stream, texts, src, tgt)
        except CancelledError:
            if error:
                raise error[0]
            raise

    def cancel(self):
        """Cancels the calls running or waiting on this translator (from any thread): they
        raise CancelledError; later calls run."""
        _check(_lib.lib.tusk_translator_cancel(self._live()))

    def _translate(self, call, texts, src, tgt):
        texts = list(texts)
        if not texts:
            return []
        encoded = [_utf8(t, "each text") for t in texts]
        array = (ctypes.c_char_p * len(encoded))(*encoded)
        result = ctypes.c_void_p()
        _check(call(self._live(), _utf8(src, "src"), _utf8(tgt, "tgt"), array, len(encoded), ctypes.byref(result)))
        try:
            out = []
            for i in range(_lib.lib.tusk_result_count(result)):
                ids = _lib.c_int32_p()
                n = _lib.lib.tusk_result_tokens(result, i, ctypes.byref(ids))
                lps = _lib.c_float_p()
                m = _lib.lib.tusk_result_token_logprobs(result, i, ctypes.byref(lps))
                status = _lib.lib.tusk_result_status(result, i)
                error = None if status == _lib.OK else _SUBCLASSES.get(status, TuskError)(
                    status, _lib.lib.tusk_result_error(result, i).decode("utf-8", "replace"))
                hypotheses = []
                for h in range(_lib.lib.tusk_result_hypothesis_count(result, i)):
                    hids = _lib.c_int32_p()
                    k = _lib.lib.tusk_result_hypothesis_tokens(result, i, h, ctypes.byref(hids))
                    hypotheses.append((_lib.lib.tusk_result_hypothesis_text(result, i, h).decode("utf-8"),
                                       _lib.lib.tusk_result_hypothesis_score(result, i, h),
                                       [hids[j] for j in range(k)]))
                out.append(Translation(_lib.lib.tusk_result_text(result, i).decode("utf-8"),
                                       _lib.lib.tusk_result_score(result, i), [ids[j] for j in range(n)],
                                       [lps[j] for j in range(m)], bool(_lib.lib.tusk_result_truncated(result, i)),
                                       error, hypotheses))
            return out
        finally:
            _lib.lib.tusk_result_free(result)

    def warm_start(self, src, tgt):
        """Preloads the pair's most used experts (with an expert budget); returns how many."""
        loaded = ctypes.c_uint64()
        _check(_lib.lib.tusk_translator_warm_start(self._live(), _utf8(src, "src"), _utf8(tgt, "tgt"),
                                                   ctypes.byref(loaded)))
        return loaded.value

    def stats(self):
        """Expert cache counters (tusk_stats_t) as a dict."""
        s = _lib.Stats()
        s.struct_size = ctypes.sizeof(s)
        _check(_lib.lib.tusk_translator_stats(self._live(), ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in _lib.Stats._fields_ if name != "struct_size"}


def _progress_callback(progress):
    if progress is None:
        return _lib.PROGRESS()
    error = []

    def call(done, total, what, _user):
        try:
            return 1 if progress(done, total, what.decode("utf-8", "replace")) is False else 0
        except BaseException as e:  # never let an exception unwind through C
            error.append(e)
            return 1
    callback = _lib.PROGRESS(call)
    callback.error = error
    return callback


def convert_hf(hf_dir, out_path, experts="fp32", dense="fp32", group_size=0, zstd_level=3, progress=None):
    """Converts a Hugging Face NLLB-MoE checkpoint folder into one .tusk file.

    progress(done, total, what) is called as tensors are written; returning False cancels
    (CancelledError, no file written)."""
    callback = _progress_callback(progress)
    with _Options(expert_weights=experts, dense_weights=dense, group_size=group_size, zstd_level=zstd_level) as o:
        status = _lib.lib.tusk_convert_hf(_path(hf_dir, "hf_dir"), _path(out_path, "out_path"), o.handle,
                                          callback, None)
    if getattr(callback, "error", None):
        raise callback.error[0]
    _check(status)
