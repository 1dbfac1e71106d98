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
from __future__ import annotations

import ctypes
import os
import threading
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple, Type,
                    TypeVar, Union, overload)

from . import _lib
from ._version import __version__

# Type aliases of the annotations below (defined at run time too, for typing.get_type_hints).
# A path as the C ABI's file arguments take it (str or os.PathLike).
_StrPath = Union[str, "os.PathLike[str]"]
# progress(done, total, what) of convert_hf; returning False cancels.
_ProgressFn = Callable[[int, int, str], object]
# A hypothesis of Translation.hypotheses: (text, score, token ids).
_Hypothesis = Tuple[str, float, List[int]]
if TYPE_CHECKING:
    # One of the C translate calls, as _translate calls it.
    _TranslateCall = Callable[[ctypes.c_void_p, bytes, bytes, "ctypes.Array[ctypes.c_char_p]", int, Any], int]

_H = TypeVar("_H", bound="_Handle")

__all__ = ["TuskError", "UnknownLanguageError", "InputTooLongError", "CancelledError", "Model",
           "Translator", "Translation", "TokenEvent", "convert_hf", "version", "__version__"]


class TuskError(Exception):
    """A Tusk call failed. `status` is the tusk_status_t value, `status_name` its name.

    str(error) is "STATUS_NAME: message", the message from tusk_last_error()."""

    status: int
    status_name: str

    def __init__(self, status: int, message: str) -> None:
        """An error of tusk_status_t `status` (an int) with `message`."""
        self.status = status
        self.status_name = _lib.status_name(status)  # type: ignore[no-untyped-call]
        super().__init__(f"{self.status_name}: {message}")


class UnknownLanguageError(TuskError):
    """TUSK_ERROR_UNKNOWN_LANGUAGE: a language code or token is not in the model's language table."""

    pass


class InputTooLongError(TuskError):
    """TUSK_ERROR_INPUT_TOO_LONG: a sentence exceeds the model's maximum positions (and the
    translator's truncate_input is off)."""

    pass


class CancelledError(TuskError):
    """TUSK_ERROR_CANCELLED: a callback returned False, or Translator.cancel() was called."""

    pass


_SUBCLASSES: Dict[int, Type[TuskError]] = {5: UnknownLanguageError, 6: InputTooLongError, 8: CancelledError}


def _text_list(texts: Iterable[str]) -> List[str]:
    """The texts of a call that takes a list: one str is refused, never iterated by character."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of str here (translate() and translate_text() take one str)")
    return list(texts)


def _check(status: int, context: Optional[str] = None) -> None:
    if status != _lib.OK:
        message: str = _lib.last_error()  # type: ignore[no-untyped-call]
        raise _SUBCLASSES.get(status, TuskError)(status, f"{context}: {message}" if context else message)


def _utf8(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str, not {type(text).__name__}")
    if "\0" in text:  # C strings end there: the rest would be lost silently
        raise ValueError(f"{what} contains a NUL character at index {text.index(chr(0))}")
    return text.encode("utf-8")


def _path(path: _StrPath, what: str) -> bytes:
    """A str or os.PathLike path, as C wants it."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike path, not {type(path).__name__}")
    return _utf8(os.fsdecode(os.fspath(path)), what)


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH" (tusk_version)."""
    return _lib.lib.tusk_version().decode()  # type: ignore[no-any-return]


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
        "map_model": _lib.OPT_MAP_MODEL,
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

    def __init__(self, **options: Any) -> None:
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

    def close(self) -> None:
        if self.handle:
            _lib.lib.tusk_options_destroy(self.handle)
            self.handle = ctypes.c_void_p()

    def __enter__(self) -> _Options:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handle:
    """Owns one C handle; use after close() raises TuskError."""

    _kind = "handle"

    if TYPE_CHECKING:
        def close(self) -> None:
            """Each subclass defines it."""

    def __init__(self) -> None:
        self._handle = ctypes.c_void_p()

    def _live(self) -> ctypes.c_void_p:
        if not self._handle:
            raise TuskError(1, f"this {self._kind} is closed")
        return self._handle

    def __enter__(self: _H) -> _H:
        """Returns the handle itself; the with block closes it on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Closes the handle (see close())."""
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Model(_Handle):
    """An open .tusk model: immutable, shareable by translators on any thread. `path` is the
    path it was opened with.

    Options: verify_checksums (default True: check every weight checksum at open), map_model
    (default False: the dense weights are read into memory at open, so no change to the file can
    crash the process; True uses them from a read-only mapping, only for files never changed in
    place: see tusk_model_open in tusk.h)."""

    _kind = "model"

    def __init__(self, path: _StrPath, **options: Any) -> None:
        """Memory-maps and verifies the .tusk file at path (str or os.PathLike; tusk_model_open).
        Raises TuskError (TUSK_ERROR_IO: cannot be read; TUSK_ERROR_INVALID_MODEL: not a valid
        .tusk file), TypeError for an unknown option or a path of another type."""
        super().__init__()
        self.path = path
        self._translators = 0
        self._lock = threading.Lock()
        with _Options(**options) as o:
            _check(_lib.lib.tusk_model_open(_path(path, "path"), o.handle, ctypes.byref(self._handle)))

    def close(self) -> None:
        """Closes the model; closing it again does nothing. Refused (TuskError, the model stays
        open) while translators made from it are open."""
        with self._lock:
            if self._translators:
                raise TuskError(1, f"{self._translators} translator(s) of this model are still open")
            if self._handle:
                _lib.lib.tusk_model_close(self._handle)
                self._handle = ctypes.c_void_p()

    def describe(self, verbose: bool = False) -> str:
        """A human-readable description: architecture, parameter counts, languages, sections with
        their compression ratios. verbose=True adds the quantization summary and one line per
        tensor (tusk_model_describe_verbose). Raises TuskError once the model is closed."""
        out = ctypes.c_char_p()
        fn = _lib.lib.tusk_model_describe_verbose if verbose else _lib.lib.tusk_model_describe
        _check(fn(self._live(), ctypes.byref(out)))
        return out.value.decode("utf-8")  # type: ignore[union-attr]

    @property
    def languages(self) -> List[str]:
        """Short language codes ("en"; the full token where that would be ambiguous).
        Raises TuskError once the model is closed."""
        return self._language_strings(_lib.lib.tusk_model_language)

    @property
    def language_tokens(self) -> List[str]:
        """The languages' tokens ("eng_Latn"), in the order of `languages`; either form is
        accepted wherever a language is asked for. Raises TuskError once the model is closed."""
        return self._language_strings(_lib.lib.tusk_model_language_token)

    def _language_strings(self, fn: Any) -> List[str]:
        count = ctypes.c_int32()
        _check(_lib.lib.tusk_model_language_count(self._live(), ctypes.byref(count)))
        out = []
        for i in range(count.value):
            text = ctypes.c_char_p()
            _check(fn(self._handle, i, ctypes.byref(text)))
            out.append(text.value.decode())  # type: ignore[union-attr]
        return out

    @property
    def expert_bytes(self) -> Tuple[int, int]:
        """(total, largest): decoded bytes of all experts and of the largest one, which is the
        smallest expert_budget_bytes a Translator accepts. Raises TuskError once closed."""
        total, largest = ctypes.c_uint64(), ctypes.c_uint64()
        _check(_lib.lib.tusk_model_expert_bytes(self._live(), ctypes.byref(total), ctypes.byref(largest)))
        return total.value, largest.value

    def __exit__(self, *exc: object) -> None:
        """Closes the model (see close()). While an exception leaves the with block, a model that
        still has translators stays open rather than hide that exception."""
        if exc and exc[0] is not None and self._translators:
            return
        self.close()

    def _attach(self) -> None:
        """Counts a translator about to be created: refused once the model is closed, and done
        under the lock close() takes, so a close() on another thread cannot slip in between."""
        with self._lock:
            self._live()
            self._translators += 1

    def _detach(self) -> None:
        with self._lock:
            self._translators -= 1


class TokenEvent(NamedTuple):
    """A token chosen while translate_stream runs (see Translator.translate_stream): input (index
    of the call's text), sentence (of that text; 0 outside text mode), token (id, the end mark
    too), logprob, text (that sentence's translation so far) and finished (its last token)."""

    input: int
    sentence: int
    token: int
    logprob: float
    text: str
    finished: bool


class Translation:
    """One translated sentence: text, score (sum of token log-probabilities), token ids
    (target language code first), per-token log-probabilities, and whether the source was
    truncated; with per_sentence_errors=True, error: None, or the TuskError this input got (its
    text is then empty); hypotheses: (text, score, tokens) of the num_hypotheses best, best
    first."""

    __slots__ = ("text", "score", "tokens", "logprobs", "truncated", "error", "hypotheses")

    text: str
    score: float
    tokens: List[int]
    logprobs: List[float]
    truncated: bool
    error: Optional[TuskError]
    hypotheses: List[_Hypothesis]

    def __init__(self, text: str, score: float, tokens: List[int], logprobs: List[float], truncated: bool,
                 error: Optional[TuskError] = None, hypotheses: Iterable[_Hypothesis] = ()) -> None:
        """Holds the given values; hypotheses is copied into a list."""
        self.text, self.score, self.tokens, self.logprobs, self.truncated = text, score, tokens, logprobs, truncated
        self.error, self.hypotheses = error, list(hypotheses)

    def __repr__(self) -> str:
        return f"Translation({self.text!r}, score={self.score:.3f})"


class Translator(_Handle):
    """Translates with a Model (or a path: the translator then opens and owns its model, with
    default options); `model` is that Model.

    Options (tusk.h names in lower case; None leaves an option at its default; flags take bool):
      threads (0 = all cores, default), beam_size (1 = greedy, default), max_decoding_length
      (generated tokens per sentence, default 256; 0 = the model's limit), min_decoding_length
      (default 0), max_batch_size (sentences, default 32), max_batch_tokens (source tokens,
      default 4096), truncate_input (default False: over-long sentences raise InputTooLongError),
      length_penalty (float, default 0.0), max_length_ratio (float, default 2.0; 0 = no limit) and
      max_length_offset (default 10), no_repeat_ngram_size (default 4; 0 off), repetition_penalty
      (float, default 1.0: off), per_sentence_errors (default False; see Translation.error),
      num_hypotheses (default 1, at most beam_size; see Translation.hypotheses),
      expert_budget_bytes (default 0: every expert resident; else at least Model.expert_bytes[1]),
      expert_eviction ("lru", "layer-distance" (default), "none"), expert_prefetch (default True),
      expert_direct_io (default False), int8_activations (an approximation, default False),
      device ("cpu" (default), "cuda", "cuda:N"), device_index (default 0), compute_type ("fp32"
      (default), "fp16", "bf16": GPU only), device_expert_budget_bytes (default 0: no limit).
    Also accepted (they do nothing here): verify_checksums, and the converter's zstd_level,
    expert_weights, dense_weights, group_size."""

    _kind = "translator"

    def __init__(self, model: Union[Model, _StrPath], **options: Any) -> None:
        """Creates a translator (tusk_translator_create). Raises TypeError for an unknown option,
        a value of the wrong type or a model of another type; ValueError for an unknown named value;
        TuskError for a value out of range, a closed model, or a device this build cannot use."""
        super().__init__()
        self._owned = None
        if isinstance(model, (str, os.PathLike)):
            model_options = {k: options[k] for k in ("verify_checksums",) if k in options}
            model = self._owned = Model(model, **model_options)
        elif not isinstance(model, Model):
            raise TypeError("model must be a tusk.Model or a path (str or os.PathLike)")
        self.model = model
        model._attach()
        try:
            with _Options(**options) as o:
                _check(_lib.lib.tusk_translator_create(model._handle, o.handle, ctypes.byref(self._handle)))
        except BaseException:
            model._detach()
            if self._owned:
                self._owned.close()
            raise

    def close(self) -> None:
        """Destroys the translator (and closes the model it opened itself, if any); closing it
        again does nothing."""
        if self._handle:
            _lib.lib.tusk_translator_destroy(self._handle)
            self._handle = ctypes.c_void_p()
            self.model._detach()
            if self._owned:
                self._owned.close()

    @overload
    def translate(self, texts: str, src: str, tgt: str) -> str: ...  # type: ignore[overload-overlap]

    @overload
    def translate(self, texts: Iterable[str], src: str, tgt: str) -> List[str]: ...

    def translate(self, texts: Union[str, Iterable[str]], src: str, tgt: str) -> Union[str, List[str]]:
        """Translates a list of sentences (or one str) from src to tgt (codes or tokens, see
        Model.languages); returns a list of str (or one str). Raises UnknownLanguageError,
        InputTooLongError (unless truncate_input), CancelledError, TuskError, TypeError for a
        text that is no str, ValueError for a text with a NUL character."""
        single = isinstance(texts, str)
        results = self.translate_detailed([texts] if single else texts, src, tgt)  # type: ignore[list-item]
        return results[0].text if single else [r.text for r in results]

    @overload
    def translate_text(self, texts: str, src: str, tgt: str) -> str: ...  # type: ignore[overload-overlap]

    @overload
    def translate_text(self, texts: Iterable[str], src: str, tgt: str) -> List[str]: ...

    def translate_text(self, texts: Union[str, Iterable[str]], src: str, tgt: str) -> Union[str, List[str]]:
        """Translates text (one str, or a list): paragraphs or documents of any length, split
        into sentences by the library and put back with their spacing and line breaks
        (tusk_translate_text); returns str(s). Raises as translate, but never InputTooLongError."""
        single = isinstance(texts, str)
        results = self.translate_text_detailed([texts] if single else texts, src, tgt)  # type: ignore[list-item]
        return results[0].text if single else [r.text for r in results]

    def translate_detailed(self, texts: Iterable[str], src: str, tgt: str,
                           target_prefixes: Optional[Iterable[Optional[str]]] = None) -> List[Translation]:
        """Like translate, for a list (one str raises TypeError), returning Translation objects.
        target_prefixes: a list (one per text; "" or None for none) of what each translation must
        begin with; ValueError if their number differs from the texts'. Raises as translate."""
        texts = _text_list(texts)
        if target_prefixes is None:
            return self._translate(_lib.lib.tusk_translate, texts, src, tgt)
        prefixes = [_utf8(p or "", "each target prefix") for p in target_prefixes]
        if len(prefixes) != len(texts):
            raise ValueError(f"{len(prefixes)} target prefixes for {len(texts)} texts")
        array = (ctypes.c_char_p * len(prefixes))(*prefixes)

        def prefixed(translator: ctypes.c_void_p, src_b: bytes, tgt_b: bytes,
                     texts_array: ctypes.Array[ctypes.c_char_p], count: int, result: Any) -> int:
            return _lib.lib.tusk_translate_prefixed(  # type: ignore[no-any-return]
                translator, src_b, tgt_b, texts_array, array, count, result)
        return self._translate(prefixed, texts, src, tgt)

    def translate_text_detailed(self, texts: Iterable[str], src: str, tgt: str) -> List[Translation]:
        """Like translate_text, for a list (one str raises TypeError), returning Translation
        objects (truncated: a sentence was longer than the model takes and went in pieces)."""
        return self._translate(_lib.lib.tusk_translate_text, texts, src, tgt)

    def translate_stream(self, texts: Iterable[str], src: str, tgt: str, on_token: Callable[[TokenEvent], object],
                         text_mode: bool = False) -> List[Translation]:
        """Like translate_detailed (or translate_text_detailed with text_mode=True), calling
        on_token(event) as tokens are chosen: event.input, .sentence, .token, .logprob, .text
        (that sentence's translation so far) and .finished. Greedy search reports every step;
        beam search a sentence's tokens when its search ends. on_token returning False (only False:
        None or any other value goes on) cancels (CancelledError, no results); an exception it
        raises cancels and is raised here. Returns the Translation objects; raises as translate."""
        error: List[BaseException] = []

        def call(event: ctypes._Pointer[_lib.TokenEvent], _user: Optional[int]) -> int:
            e = event.contents
            try:
                go_on = on_token(TokenEvent(e.input, e.sentence, e.token, e.logprob,
                                            e.text.decode("utf-8", "replace"), bool(e.finished)))
                return 1 if go_on is False else 0
            except BaseException as exc:  # never let an exception unwind through C
                error.append(exc)
                return 1
        callback = _lib.TOKEN_CALLBACK(call)

        def stream(translator: ctypes.c_void_p, src_b: bytes, tgt_b: bytes,
                   array: ctypes.Array[ctypes.c_char_p], count: int, result: Any) -> int:
            return _lib.lib.tusk_translate_stream(  # type: ignore[no-any-return]
                translator, src_b, tgt_b, array, count, int(bool(text_mode)), callback, None, result)
        try:
            return self._translate(stream, texts, src, tgt)
        except CancelledError:
            if error:
                raise error[0]
            raise

    def cancel(self) -> None:
        """Cancels the calls running or waiting on this translator (from any thread): they
        raise CancelledError within one decoding step; later calls run. Raises TuskError once
        the translator is closed."""
        _check(_lib.lib.tusk_translator_cancel(self._live()))

    def _translate(self, call: _TranslateCall, texts: Iterable[str], src: str, tgt: str) -> List[Translation]:
        texts = _text_list(texts)
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
                hypotheses: List[_Hypothesis] = []
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

    def warm_start(self, src: str, tgt: str) -> int:
        """Preloads the pair's most used experts that fit half the expert budget (a calibrated
        model and expert_budget_bytes); returns how many were loaded (0 without a budget or usage
        for the pair). Raises UnknownLanguageError, or TuskError once closed."""
        loaded = ctypes.c_uint64()
        _check(_lib.lib.tusk_translator_warm_start(self._live(), _utf8(src, "src"), _utf8(tgt, "tgt"),
                                                   ctypes.byref(loaded)))
        return loaded.value

    def stats(self) -> Dict[str, Union[int, float]]:
        """Expert cache counters since creation (tusk_stats_t) as a dict: hits, misses, evictions,
        bytes_loaded, prefetch_issued, prefetch_used, peak_cache_bytes, warm_start_loaded (int)
        and stall_ms (float, milliseconds). Raises TuskError once the translator is closed."""
        s = _lib.Stats()
        s.struct_size = ctypes.sizeof(s)
        _check(_lib.lib.tusk_translator_stats(self._live(), ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in _lib.Stats._fields_  # type: ignore[misc]
                if name != "struct_size"}


def _progress_callback(progress: Optional[_ProgressFn]) -> Any:
    if progress is None:
        return _lib.PROGRESS()
    error: List[BaseException] = []

    def call(done: int, total: int, what: bytes, _user: Optional[int]) -> int:
        try:
            return 1 if progress(done, total, what.decode("utf-8", "replace")) is False else 0
        except BaseException as e:  # never let an exception unwind through C
            error.append(e)
            return 1
    callback = _lib.PROGRESS(call)
    callback.error = error  # type: ignore[attr-defined]
    return callback


def convert_hf(hf_dir: _StrPath, out_path: _StrPath, experts: str = "fp32", dense: str = "fp32",
               group_size: int = 0, zstd_level: int = 3, progress: Optional[_ProgressFn] = None) -> None:
    """Converts a Hugging Face NLLB-MoE or M2M100 (NLLB-200) checkpoint folder into one .tusk file.

    experts, dense: storage of the expert / dense weight matrices, "fp32", "fp16", "int8" or "int4"
    (ValueError otherwise); group_size: input columns per int8/int4 scale (0: one per output
    channel); zstd_level: for expert frames. progress(done, total, what) is called as tensors are
    written; returning False cancels (CancelledError, no file written), and an exception it raises
    is raised here. Raises TuskError (IO, INVALID_MODEL, UNSUPPORTED, INVALID_ARGUMENT); a failed
    conversion leaves no partial file."""
    callback = _progress_callback(progress)
    with _Options(expert_weights=experts, dense_weights=dense, group_size=group_size, zstd_level=zstd_level) as o:
        status = _lib.lib.tusk_convert_hf(_path(hf_dir, "hf_dir"), _path(out_path, "out_path"), o.handle,
                                          callback, None)
    if getattr(callback, "error", None):
        raise callback.error[0]
    _check(status)
