"""Tusk on Ray Serve: the LibreTranslate /translate API, served by N replicas of a Tusk model.

Two deployments make one Serve application:

- TuskTranslator (num_replicas of them): each replica opens the model file once, on its own node,
  and holds one tusk.Translator. Its requests go through Ray Serve's request batching
  (@serve.batch); a batch is translated with one library call per (source, target) pair in it.
- TuskIngress (HTTP, route prefix "/"): parses and checks requests, answers malformed ones itself
  (400), and sends the texts to a TuskTranslator replica. When that replica dies mid-request (killed,
  out of memory, node lost), it sends them again: Serve routes the new call to a live replica,
  and translating is idempotent, so a retry can only give the answer the first call would have.

Run it with Serve's CLI (see README.md):

    serve run --app-dir deploy/ray --working-dir deploy/ray tusk_serve_ray:build_app num_replicas=2

API (as LibreTranslate's): POST /translate with JSON or form-encoded fields q (a string, or a
list of strings), source, target, format ("text" only); answer {"translatedText": ...} (a list
when q was one). Errors: 400 {"error": ...} for a bad request, 500 for a failed translation, 503
when no replica answered. GET (or POST, as libretranslatepy sends it) /languages; GET /health.
"""
import asyncio
import json
import logging
import os
import urllib.parse
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Tuple

from fastapi import FastAPI
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

# The model committed in this repository, used when neither the configuration nor $TUSK_MODEL
# names one (as the tusk CLI does).
BUNDLED_MODEL = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "..", "..", "models", "multi30k-moe.tusk"))

logger = logging.getLogger("ray.serve")  # Serve's logger: each replica's log file

# Calls of one request to TuskTranslator replicas, first one included, before it is answered 503:
# one retry covers a single replica's death; the third covers a second death during the retry.
CALL_ATTEMPTS = 3
RETRY_DELAY_S = 0.2


def _default_model() -> str:
    return os.environ.get("TUSK_MODEL") or BUNDLED_MODEL


@dataclass
class Config:
    """The application's settings: build_app's arguments (strings from `serve run key=value`,
    or typed values from Python). The model path is resolved where the application is built and
    must name the same file on every node (a local copy or shared storage)."""

    model: str = field(default_factory=_default_model)
    num_replicas: int = 1          # TuskTranslator replicas, each with its own translator
    ingress_replicas: int = 1      # TuskIngress replicas (cheap: no model)
    threads: int = 1               # intra-op threads per replica, also the CPUs it reserves from Ray
    beam_size: int = 1             # 1 = greedy, as the library's and the CLI's default
    expert_budget_bytes: int = 0   # 0: every expert resident; else the replica's expert cache size
    device: str = "cpu"            # "cpu" or "cuda" (the GPU Ray assigns the replica)
    num_gpus: float = 0.0          # GPUs per replica with device "cuda" (0 means 1; 0.5 packs two)
    max_batch_size: int = 16       # requests per @serve.batch batch
    batch_wait_timeout_s: float = 0.01  # how long a batch waits to fill

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            # Not "cuda:N": Ray gives each replica its own GPUs (CUDA_VISIBLE_DEVICES), so a
            # replica's GPU is always its device 0.
            raise ValueError(f"device must be 'cpu' or 'cuda', not {self.device!r}")
        if self.device == "cuda" and self.num_gpus <= 0:
            self.num_gpus = 1.0
        if self.device == "cpu" and self.num_gpus:
            raise ValueError("num_gpus is for device 'cuda'")
        for name in ("num_replicas", "ingress_replicas", "threads", "beam_size", "max_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.expert_budget_bytes < 0 or self.batch_wait_timeout_s < 0:
            raise ValueError("expert_budget_bytes and batch_wait_timeout_s must not be negative")

    @classmethod
    def from_args(cls, args: Dict[str, Any]) -> "Config":
        """A Config from build_app's arguments, each converted to its field's type."""
        types = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(args) - set(types))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; known: {sorted(types)}")
        return cls(**{name: types[name](value) for name, value in args.items()})

    def translator_options(self) -> Dict[str, Any]:
        """tusk.Translator's options (per_sentence_errors: one bad text of a batch fails alone)."""
        return {"threads": self.threads, "beam_size": self.beam_size,
                "expert_budget_bytes": self.expert_budget_bytes, "device": self.device,
                "per_sentence_errors": True}


# What TuskTranslator.translate returns: {"texts": [...]} or {"error": message, "status": HTTP
# status}. A value rather than an exception, so that a refused or failed translation reaches the
# ingress as such, and only a dead replica raises there.
Outcome = Dict[str, Any]


@serve.deployment
class TuskTranslator:
    """One replica: the model file opened once, one translator, Serve's request batching."""

    def __init__(self, config: Config) -> None:
        import tusk  # here, not at the top: only the replicas need the library
        self._tusk = tusk
        self._model = tusk.Model(config.model)
        self._translator = tusk.Translator(self._model, **config.translator_options())
        self._languages = list(zip(self._model.languages, self._model.language_tokens))
        self._known = {name for pair in self._languages for name in pair}  # codes and tokens
        self._translate_batch.set_max_batch_size(config.max_batch_size)
        self._translate_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        self._batches = self._largest_batch = 0

    def languages(self) -> List[Tuple[str, str]]:
        """(code, token) of each language of the model."""
        return self._languages

    async def translate(self, texts: List[str], source: str, target: str) -> Outcome:
        """Translates texts in text mode (each split into sentences and put back, as the CLI)."""
        for language in (source, target):
            if language not in self._known:
                return {"error": f"{language} is not supported; known: {sorted(self._known)}", "status": 400}
        return await self._translate_batch((texts, source, target))

    def batching(self) -> Dict[str, int]:
        """Batches run by this replica and the most requests one held (Serve's batching at work)."""
        return {"batches": self._batches, "largest": self._largest_batch}

    @serve.batch
    async def _translate_batch(self, requests: List[Tuple[List[str], str, str]]) -> List[Outcome]:
        self._batches += 1
        self._largest_batch = max(self._largest_batch, len(requests))
        by_pair: Dict[Tuple[str, str], List[int]] = {}
        for index, (_, source, target) in enumerate(requests):
            by_pair.setdefault((source, target), []).append(index)
        outcomes: List[Outcome] = [{} for _ in requests]
        for (source, target), members in by_pair.items():
            texts = [text for index in members for text in requests[index][0]]
            try:
                # In a thread: the event loop goes on taking requests (the next batch) and
                # answering Serve's health checks while the library works (it releases the GIL).
                results = await asyncio.to_thread(self._translator.translate_text_detailed, texts, source, target)
            except self._tusk.TuskError as error:
                for index in members:
                    outcomes[index] = {"error": f"translation failed: {error}", "status": 500}
                continue
            start = 0
            for index in members:
                mine = results[start:start + len(requests[index][0])]
                start += len(mine)
                errors = [f"translation failed: {r.error}" for r in mine if r.error is not None]
                outcomes[index] = {"error": errors[0], "status": 500} if errors else {"texts": [r.text for r in mine]}
        return outcomes


class BadRequest(Exception):
    """A request the API refuses (HTTP 400); the message is the answer's "error"."""


def parse_translate_request(content_type: str, body: bytes) -> Tuple[List[str], bool, str, str]:
    """(texts, whether q was a single string, source, target) of a /translate body, JSON or
    form-encoded (what libretranslatepy sends). The languages are checked by the replica."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8")
        # A field given once is a string; q given several times is a list of texts.
        request_fields: Dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
    else:
        try:
            request_fields = json.loads(body)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadRequest(f"the body is not valid JSON: {error}")
        if not isinstance(request_fields, dict):
            raise BadRequest("the body must be a JSON object")
    q = request_fields.get("q")
    single = isinstance(q, str)
    texts = [q] if single else q
    if not texts or not isinstance(texts, list) or (single and not q):
        raise BadRequest("missing q: a non-empty string or list of strings")
    if not all(isinstance(t, str) for t in texts):
        raise BadRequest("q must be a string or a list of strings")
    if any("\0" in t for t in texts):
        raise BadRequest("q contains a NUL character")
    source, target = request_fields.get("source"), request_fields.get("target")
    if not isinstance(source, str) or not source:
        raise BadRequest("missing source language")
    if not isinstance(target, str) or not target:
        raise BadRequest("missing target language")
    if source == "auto":
        raise BadRequest("source 'auto' (language detection) is not supported: name the source language")
    text_format = request_fields.get("format") or "text"  # absent or null: text, as LibreTranslate
    if text_format != "text":
        raise BadRequest(f"format {text_format!r} is not supported: only 'text'")
    return texts, single, source, target


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


app = FastAPI(title="Tusk translation (Ray Serve)")


@app.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """An unknown route or method answers {"error": ...} too, as every error of this API."""
    return _error(error.status_code, str(error.detail))


@serve.deployment
@serve.ingress(app)
class TuskIngress:
    """The HTTP API in front of the TuskTranslator replicas."""

    def __init__(self, translator: DeploymentHandle) -> None:
        self._translator = translator

    async def _call(self, method: str, *args: Any) -> Any:
        """translator.method(*args) on a replica, again on another while replicas die."""
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                return await getattr(self._translator, method).remote(*args)
            except RayActorError as error:
                if attempt == CALL_ATTEMPTS:
                    raise
                logger.warning("translator replica died during %s (call %d of %d), calling another: %s",
                               method, attempt, CALL_ATTEMPTS, error)
                await asyncio.sleep(RETRY_DELAY_S)

    @app.get("/health")
    async def health(self) -> Dict[str, str]:
        return {"status": "ok"}

    # POST too: libretranslatepy's languages() posts.
    @app.api_route("/languages", methods=["GET", "POST"])
    async def languages(self) -> Any:
        try:
            table = await self._call("languages")
        except RayActorError as error:
            return _error(503, f"no translator replica answered: {error}")
        return [{"code": code, "name": token, "targets": [c for c, _ in table if c != code]}
                for code, token in table]

    @app.post("/translate")
    async def translate(self, request: Request) -> JSONResponse:
        try:
            texts, single, source, target = parse_translate_request(request.headers.get("content-type", ""),
                                                                     await request.body())
            outcome = await self._call("translate", texts, source, target)
        except BadRequest as error:
            return _error(400, str(error))
        except RayActorError as error:
            return _error(503, f"no translator replica answered: {error}")
        if "error" in outcome:
            return _error(outcome["status"], outcome["error"])
        return JSONResponse({"translatedText": outcome["texts"][0] if single else outcome["texts"]})


def build_app(args: Dict[str, Any]) -> serve.Application:
    """The Serve application for `serve run tusk_serve_ray:build_app key=value ...` (keys: the
    fields of Config) or serve.run(build_app({...}))."""
    config = Config.from_args(args)
    translator = TuskTranslator.options(
        num_replicas=config.num_replicas,
        ray_actor_options={"num_cpus": config.threads, "num_gpus": config.num_gpus},
    ).bind(config)
    # The ingress reserves no CPU: it only parses requests and waits on the replicas.
    return TuskIngress.options(num_replicas=config.ingress_replicas,
                               ray_actor_options={"num_cpus": 0}).bind(translator)
