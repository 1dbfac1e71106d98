"""Helpers shared by the Python benchmarks in bench/ (quality.py, e2e_speed.py).

Standard library only. Finds the tusk CLI, reads the Multi30k test set, and turns a model
"variant" into a .tusk file. A variant is written LABEL=SOURCE on the command line, where SOURCE
is either the path of an existing .tusk file or the flags to give `tusk convert` (for example
`int4=--experts int4 --dense fp32`); an empty SOURCE (`fp32=`) converts with the converter's
defaults. Converted files go to a scratch folder: conversion of the Multi30k model takes well
under a second, so nothing is cached between runs.
"""
import gzip
import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("TUSK_SHARED_DIR", os.path.join(os.path.dirname(REPO), "shared"))
CHECKPOINT = os.path.join(SHARED, "models", "multi30k-moe")
DATA_DIR = os.path.join(SHARED, "data", "multi30k")
DEFAULT_TUSK = os.path.join(REPO, "build", "bin", "tusk")
DEFAULT_LIB = os.path.join(REPO, "build", "lib", "libtusk.so")


class BenchError(Exception):
    """A problem the user can fix (missing file, unsupported flag); printed without a traceback."""


class Unavailable(BenchError):
    """The variant needs a converter option this build of tusk does not have (yet)."""


def die(message, code=2):
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr)
    sys.exit(code)


def check_tusk(path):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BenchError(f"tusk CLI not found at {path} (build it: cmake --build build, or pass --tusk)")
    return path


def read_lines(lang, limit=None, split="test_2016_flickr"):
    """The first `limit` lines (all when None) of Multi30k's split in language `lang`."""
    path = os.path.join(DATA_DIR, f"{split}.{lang}.gz")
    if not os.path.isfile(path):
        raise BenchError(f"test data not found: {path} (set TUSK_SHARED_DIR to the shared folder)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:limit] if limit else lines


def converter_options(tusk):
    """The long options `tusk convert --help` lists, e.g. {'--from-hf', '--out', '--experts'}."""
    text = subprocess.run([tusk, "convert", "--help"], capture_output=True, text=True).stdout
    return {word.rstrip(",=") for word in text.split() if word.startswith("--")}


def default_fp32_flags(tusk):
    """Flags for an all-fp32 model: explicit once the converter has quantization options
    (the converter's default may become int4), none before that (fp32 was the only format)."""
    opts = converter_options(tusk)
    flags = []
    if "--experts" in opts:
        flags += ["--experts", "fp32"]
    if "--dense" in opts:
        flags += ["--dense", "fp32"]
    return " ".join(flags)


def parse_variant(text):
    """'LABEL=SOURCE' -> (label, source)."""
    label, sep, source = text.partition("=")
    if not sep or not label:
        raise BenchError(f"variant '{text}' is not LABEL=SOURCE (SOURCE: a .tusk file or convert flags)")
    return label.strip(), source.strip()


def materialize(label, source, tusk, workdir, checkpoint=CHECKPOINT):
    """Path of the .tusk file for a variant, converting the checkpoint when SOURCE is flags."""
    if source.endswith(".tusk"):
        if not os.path.isfile(source):
            raise BenchError(f"variant {label}: model file not found: {source}")
        return source
    flags = shlex.split(source)
    known = converter_options(tusk)
    missing = [f.split("=")[0] for f in flags if f.startswith("--") and f.split("=")[0] not in known]
    if missing:
        raise Unavailable(f"variant {label}: this tusk convert has no {', '.join(missing)}")
    if not os.path.isdir(checkpoint):
        raise BenchError(f"checkpoint not found: {checkpoint} (set TUSK_SHARED_DIR)")
    out = os.path.join(workdir, f"{label}.tusk".replace("/", "_"))
    cmd = [tusk, "convert", "--from-hf", checkpoint, "--out", out] + flags
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise BenchError(f"variant {label}: {shlex.join(cmd)} failed:\n{run.stderr.strip()}")
    return out
