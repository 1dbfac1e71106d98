"""ctypes declarations of tusk.h: loading libtusk, the status -> exception mapping, and the
signatures of every function the binding calls. Nothing here knows about models or sentences.

The library is found, in order:
1. $TUSK_LIBRARY: the library file, or a folder holding libtusk.so.0 (or libtusk.so);
2. the copy bundled in this package (tusk/lib/libtusk.so.0, in a wheel built with one);
3. the install prefix this package was installed into by `cmake --install` (tusk/_layout.py,
   written then, names the library folder relative to the package);
4. the build tree this package sits in, for a source checkout (<repo>/build/lib/libtusk.so);
5. the system's search path (ldconfig: libtusk.so.0).
"""
import ctypes
import ctypes.util
import os

c_int32_p = ctypes.POINTER(ctypes.c_int32)
c_float_p = ctypes.POINTER(ctypes.c_float)

# tusk_status_t
OK = 0
_STATUS_NAMES = {
    1: "TUSK_ERROR_INVALID_ARGUMENT",
    2: "TUSK_ERROR_IO",
    3: "TUSK_ERROR_INVALID_MODEL",
    4: "TUSK_ERROR_UNSUPPORTED",
    5: "TUSK_ERROR_UNKNOWN_LANGUAGE",
    6: "TUSK_ERROR_INPUT_TOO_LONG",
    7: "TUSK_ERROR_OUT_OF_MEMORY",
    8: "TUSK_ERROR_CANCELLED",
    9: "TUSK_ERROR_INTERNAL",
}

# tusk_option_t
OPT_THREADS = 1
OPT_BEAM_SIZE = 2
OPT_MAX_DECODING_LENGTH = 3
OPT_MAX_BATCH_SIZE = 4
OPT_MAX_BATCH_TOKENS = 5
OPT_TRUNCATE_INPUT = 6
OPT_VERIFY_CHECKSUMS = 7
OPT_EXPERT_BUDGET_BYTES = 8
OPT_DEVICE = 9
OPT_ZSTD_LEVEL = 10
OPT_EXPERT_WEIGHTS = 11
OPT_DENSE_WEIGHTS = 12
OPT_GROUP_SIZE = 13
OPT_EXPERT_EVICTION = 14
OPT_EXPERT_PREFETCH = 15
OPT_EXPERT_DIRECT_IO = 16
OPT_MIN_DECODING_LENGTH = 17
OPT_INT8_ACTIVATIONS = 18
OPT_DEVICE_INDEX = 19
OPT_COMPUTE_TYPE = 20
OPT_DEVICE_EXPERT_BUDGET_BYTES = 21
OPT_NO_REPEAT_NGRAM_SIZE = 22
OPT_MAX_LENGTH_OFFSET = 23
OPT_PER_SENTENCE_ERRORS = 24
OPT_NUM_HYPOTHESES = 25
OPT_MAP_MODEL = 26
OPT_LENGTH_PENALTY = 100
OPT_MAX_LENGTH_RATIO = 101
OPT_REPETITION_PENALTY = 102

EVICTIONS = {"lru": 0, "layer-distance": 1, "none": 2}
DEVICES = {"cpu": 0, "cuda": 1}
COMPUTE_TYPES = {"fp32": 0, "fp16": 1, "bf16": 2}
WEIGHT_TYPES = {"fp32": 0, "fp16": 1, "int8": 2, "int4": 3}

PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p, ctypes.c_void_p)


class TokenEvent(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("input", ctypes.c_size_t), ("sentence", ctypes.c_size_t),
                ("token", ctypes.c_int32), ("logprob", ctypes.c_float), ("text", ctypes.c_char_p),
                ("finished", ctypes.c_int32)]


TOKEN_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(TokenEvent), ctypes.c_void_p)


class Stats(ctypes.Structure):
    """tusk_stats_t: grows only at the end; every field is 8 bytes."""
    _fields_ = [
        ("struct_size", ctypes.c_uint64),
        ("hits", ctypes.c_uint64),
        ("misses", ctypes.c_uint64),
        ("evictions", ctypes.c_uint64),
        ("bytes_loaded", ctypes.c_uint64),
        ("prefetch_issued", ctypes.c_uint64),
        ("prefetch_used", ctypes.c_uint64),
        ("peak_cache_bytes", ctypes.c_uint64),
        ("stall_ms", ctypes.c_double),
        ("warm_start_loaded", ctypes.c_uint64),
    ]


class CalibrationText(ctypes.Structure):
    _fields_ = [
        ("src", ctypes.c_char_p),
        ("tgt", ctypes.c_char_p),
        ("sentences", ctypes.POINTER(ctypes.c_char_p)),
        ("count", ctypes.c_size_t),
    ]


def _in_folder(folder):
    for name in ("libtusk.so.0", "libtusk.so"):
        yield os.path.join(folder, name)


def _candidates():
    env = os.environ.get("TUSK_LIBRARY")
    if env:
        yield from (_in_folder(env) if os.path.isdir(env) else [env])
        return
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = os.path.join(here, "lib", "libtusk.so.0")
    if os.path.exists(bundled):
        yield bundled
    try:
        from . import _layout  # written by `cmake --install` only
        yield from _in_folder(os.path.normpath(os.path.join(here, _layout.LIBRARY_DIR)))
    except ImportError:
        pass
    if os.path.exists(os.path.join(here, "..", "pyproject.toml")):  # bindings/python of a checkout
        yield os.path.normpath(os.path.join(here, "..", "..", "..", "build", "lib", "libtusk.so"))
    found = ctypes.util.find_library("tusk")
    if found:
        yield found
    yield "libtusk.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("cannot load libtusk (set TUSK_LIBRARY to the library file or its folder): " +
                      "; ".join(errors))


lib = _load()

_P = ctypes.c_void_p
_S = ctypes.c_int  # tusk_status_t


def _declare(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_declare("tusk_last_error", ctypes.c_char_p)
_declare("tusk_status_name", ctypes.c_char_p, _S)
_declare("tusk_version", ctypes.c_char_p)
_declare("tusk_options_create", _S, ctypes.POINTER(_P))
_declare("tusk_options_destroy", None, _P)
_declare("tusk_options_set_int", _S, _P, ctypes.c_int, ctypes.c_int64)
_declare("tusk_options_set_float", _S, _P, ctypes.c_int, ctypes.c_double)
_declare("tusk_model_open", _S, ctypes.c_char_p, _P, ctypes.POINTER(_P))
_declare("tusk_model_close", None, _P)
_declare("tusk_model_describe", _S, _P, ctypes.POINTER(ctypes.c_char_p))
_declare("tusk_model_describe_verbose", _S, _P, ctypes.POINTER(ctypes.c_char_p))
_declare("tusk_model_expert_bytes", _S, _P, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64))
_declare("tusk_model_language_count", _S, _P, c_int32_p)
_declare("tusk_model_language", _S, _P, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p))
_declare("tusk_model_language_token", _S, _P, ctypes.c_int32, ctypes.POINTER(ctypes.c_char_p))
_declare("tusk_convert_hf", _S, ctypes.c_char_p, ctypes.c_char_p, _P, PROGRESS, ctypes.c_void_p)
_declare("tusk_model_calibrate", _S, ctypes.c_char_p, ctypes.POINTER(CalibrationText), ctypes.c_size_t, _P,
         ctypes.c_char_p, PROGRESS, ctypes.c_void_p)
_declare("tusk_model_import_expert_usage", _S, ctypes.c_char_p, ctypes.c_char_p)
_declare("tusk_translator_create", _S, _P, _P, ctypes.POINTER(_P))
_declare("tusk_translator_destroy", None, _P)
_declare("tusk_translate", _S, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
         ctypes.c_size_t, ctypes.POINTER(_P))
_declare("tusk_translate_text", _S, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
         ctypes.c_size_t, ctypes.POINTER(_P))
_declare("tusk_translate_prefixed", _S, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
         ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ctypes.POINTER(_P))
_declare("tusk_translate_stream", _S, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
         ctypes.c_size_t, ctypes.c_int32, TOKEN_CALLBACK, _P, ctypes.POINTER(_P))
_declare("tusk_translator_cancel", _S, _P)
_declare("tusk_translator_warm_start", _S, _P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint64))
_declare("tusk_translator_stats", _S, _P, ctypes.POINTER(Stats))
_declare("tusk_result_count", ctypes.c_size_t, _P)
_declare("tusk_result_text", ctypes.c_char_p, _P, ctypes.c_size_t)
_declare("tusk_result_score", ctypes.c_double, _P, ctypes.c_size_t)
_declare("tusk_result_tokens", ctypes.c_size_t, _P, ctypes.c_size_t, ctypes.POINTER(c_int32_p))
_declare("tusk_result_token_logprobs", ctypes.c_size_t, _P, ctypes.c_size_t, ctypes.POINTER(c_float_p))
_declare("tusk_result_truncated", ctypes.c_int32, _P, ctypes.c_size_t)
_declare("tusk_result_status", _S, _P, ctypes.c_size_t)
_declare("tusk_result_error", ctypes.c_char_p, _P, ctypes.c_size_t)
_declare("tusk_result_hypothesis_count", ctypes.c_size_t, _P, ctypes.c_size_t)
_declare("tusk_result_hypothesis_text", ctypes.c_char_p, _P, ctypes.c_size_t, ctypes.c_size_t)
_declare("tusk_result_hypothesis_score", ctypes.c_double, _P, ctypes.c_size_t, ctypes.c_size_t)
_declare("tusk_result_hypothesis_tokens", ctypes.c_size_t, _P, ctypes.c_size_t, ctypes.c_size_t,
         ctypes.POINTER(c_int32_p))
_declare("tusk_result_free", None, _P)


def status_name(status):
    return lib.tusk_status_name(status).decode("utf-8", "replace")


def last_error():
    return lib.tusk_last_error().decode("utf-8", "replace")
