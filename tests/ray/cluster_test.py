"""CTest ray.cluster: the Ray Serve deployment (deploy/ray) on a two-node Ray cluster started here.

1. Starts a Ray head and a worker node on this machine (1 CPU each, so that the two translator
   replicas, 1 CPU each, land one per node), on loopback addresses and ports chosen here, no
   dashboard, in a temporary folder.
2. Deploys deploy/ray's application with 2 TuskTranslator replicas; checks /health, /languages,
   /translate (JSON, form-encoded with libretranslatepy, a list, several sentences, the error
   answers), each translation equal to the binding's own in this process.
3. Bounded load: 16 client threads send LOAD_REQUESTS requests, each with its own sentences (so a
   swapped answer is caught); after a sixth of them one translator replica is killed (SIGKILL).
   Every request must get the exact translation of its own input or an HTTP error; none may hang
   (each attempt has a CLIENT_TIMEOUT_S timeout). Client retry policy: a connection error or a 5xx
   answer is retried up to twice, RETRY_DELAY_S apart; a 4xx answer or a timeout is not retried.
4. Serve must recover: a new replica replaces the killed one and a request after the load succeeds.
Always tears the cluster down: every process of it (found by its temporary folder and its GCS
address, then their children) is ended by its PID. Not `ray stop`: that ends every Ray process
on the machine, other clusters included.

Environment: TUSK_LIBRARY (the library), TUSK_TEST_MODEL (the model), PYTHONPATH with the binding;
TUSK_SHARED_DIR (default: ../shared beside the repository) for the Multi30k sentences.
"""
import glob
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import psutil
import ray
from libretranslatepy import LibreTranslateAPI
from ray import serve

import tusk

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY_DIR = os.path.join(REPO, "deploy", "ray")
sys.path.insert(0, DEPLOY_DIR)
from tusk_serve_ray import build_app  # noqa: E402  (after the path is set)

NODE_IP = "127.0.0.2"  # loopback, but not 127.0.0.1, which Ray replaces by the machine's address
APP = "tusk"
TRANSLATOR_ACTOR = f"ServeReplica:{APP}:TuskTranslator"
TARGETS = ("de", "fr", "cs")
LOAD_REQUESTS = 320
LOAD_CLIENTS = 16
LIST_EVERY = 5            # every 5th load request sends q as a list of two sentences
KILL_AFTER = LOAD_REQUESTS // 6
CLIENT_TIMEOUT_S = 30
ATTEMPTS = 3
RETRY_DELAY_S = 0.5
LOAD_DEADLINE_S = 300     # the whole load, a bound on top of the per-attempt timeouts
RECOVERY_DEADLINE_S = 120


class Hang(Exception):
    """A request got no answer within CLIENT_TIMEOUT_S."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((NODE_IP, 0))
        return s.getsockname()[1]


def sentences(count: int) -> List[str]:
    shared = os.environ.get("TUSK_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
    path = os.path.join(shared, "data", "multi30k", "test_2016_flickr.en.gz")
    seen: Dict[str, None] = {}
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            seen.setdefault(line.strip(), None)
    out = [s for s in seen if s]
    if len(out) < count:
        raise RuntimeError(f"{path}: {len(out)} distinct sentences, {count} needed")
    return out[:count]


class Cluster:
    """A Ray head and one worker node, started with `ray start`, ended by the PIDs of their processes."""

    def __init__(self) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="tusk-ray-")  # short: Ray's socket paths must fit 107 bytes
        self.gcs_address = f"{NODE_IP}:{free_port()}"
        self.http_port = free_port()
        # Serve gives a new HTTP proxy 5 s to start by default, and serve.start fails when the
        # first one misses that: too short for a busy 2-core machine (as under ctest -j).
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S="60",
                        PYTHONPATH=os.pathsep.join([DEPLOY_DIR, os.environ.get("PYTHONPATH", "")]))
        self.ray = os.path.join(os.path.dirname(sys.executable), "ray")

    def start(self) -> None:
        common = ["--num-cpus=1", f"--node-ip-address={NODE_IP}", "--disable-usage-stats"]
        # Ports with fixed defaults are chosen here, so that two nodes (and other clusters) do not clash.
        self._ray_start(["--head", f"--port={self.gcs_address.split(':')[1]}", f"--temp-dir={self.temp_dir}",
                         "--include-dashboard=false", f"--ray-client-server-port={free_port()}",
                         f"--dashboard-agent-listen-port={free_port()}"] + common)
        self._ray_start([f"--address={self.gcs_address}", f"--dashboard-agent-listen-port={free_port()}"] + common)

    def _ray_start(self, args: List[str]) -> None:
        run = subprocess.run([self.ray, "start"] + args, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=120)
        if run.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{run.stdout}")

    def processes(self) -> List[psutil.Process]:
        """This cluster's processes: those naming its folder or GCS address, and their children."""
        found: Dict[int, psutil.Process] = {}
        for p in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(p.info["cmdline"] or [])
            if p.pid != os.getpid() and (self.temp_dir in cmdline or self.gcs_address in cmdline):
                found[p.pid] = p
                try:
                    found.update((c.pid, c) for c in p.children(recursive=True))
                except psutil.Error:
                    pass
        return list(found.values())

    def ingress_retries(self) -> int:
        """How often the ingress sent a request again because its replica died (from its log)."""
        logs = glob.glob(os.path.join(self.temp_dir, "session_latest", "logs", "serve", "*TuskIngress*.log"))
        return sum(open(path, encoding="utf-8", errors="replace").read().count("translator replica died")
                   for path in logs)

    def stop(self) -> None:
        processes = self.processes()
        for p in processes:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(processes, timeout=10)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=10)


class MemoryPeak(threading.Thread):
    """Samples the resident memory of the cluster's processes and this one every half second."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster, self.peak, self.done = cluster, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            total = 0
            for p in self.cluster.processes() + [psutil.Process()]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)


def post(url: str, payload: Dict[str, Any]) -> Tuple[int, Any]:
    """(HTTP status, decoded JSON answer) of a JSON POST; raises Hang on a timeout."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, body.decode("utf-8", "replace")
    except (socket.timeout, TimeoutError) as error:
        raise Hang(str(error))
    except urllib.error.URLError as error:
        if isinstance(error.reason, (socket.timeout, TimeoutError)):
            raise Hang(str(error))
        raise


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=CLIENT_TIMEOUT_S) as answer:
        return json.loads(answer.read())


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


def translator_replicas() -> List[Dict[str, Any]]:
    """The live TuskTranslator replica actors (PID, node). From the GCS's actor table: Ray's public
    state API (ray.util.state) needs the dashboard, which this cluster does not run."""
    return [a for a in ray._private.state.actors().values()
            if a["ActorClassName"] == TRANSLATOR_ACTOR and a["State"] == "ALIVE"]


def check_api(url: str, expected: Dict[Tuple[str, str], str], texts: List[str], paragraph: str) -> None:
    check(get(url + "/health") == {"status": "ok"}, "GET /health")
    languages = get(url + "/languages")
    check(sorted(l["code"] for l in languages) == ["cs", "de", "en", "fr"]
          and all(l["name"].endswith("_Latn") and l["code"] not in l["targets"] and len(l["targets"]) == 3
                  for l in languages), "GET /languages lists codes, NLLB tokens and targets")
    client = LibreTranslateAPI(url)
    check(len(client.languages()) == 4, "libretranslatepy languages() (a POST)")
    check(client.translate(texts[0], "en", "de") == expected[(texts[0], "de")],
          "libretranslatepy translate (form-encoded) equals the binding's translation")
    status, answer = post(url + "/translate", {"q": texts[1], "source": "en", "target": "fr", "format": "text"})
    check((status, answer) == (200, {"translatedText": expected[(texts[1], "fr")]}), "JSON q string")
    status, answer = post(url + "/translate", {"q": texts[2:5], "source": "en", "target": "cs"})
    check((status, answer) == (200, {"translatedText": [expected[(t, "cs")] for t in texts[2:5]]}),
          "JSON q list, in order")
    status, answer = post(url + "/translate", {"q": paragraph, "source": "en", "target": "de"})
    check((status, answer) == (200, {"translatedText": expected[(paragraph, "de")]}),
          "several sentences and paragraphs are split and put back as the binding's text mode")
    for payload, what in [({"q": "A dog.", "source": "en", "target": "xx"}, "an unknown target"),
                          ({"q": "A dog.", "source": "auto", "target": "de"}, "source auto"),
                          ({"q": "", "source": "en", "target": "de"}, "an empty q"),
                          ({"source": "en", "target": "de"}, "no q"),
                          ({"q": [], "source": "en", "target": "de"}, "an empty q list"),
                          ({"q": [1], "source": "en", "target": "de"}, "a q list of numbers"),
                          ({"q": "A dog.", "source": "en", "target": "de", "format": "html"}, "format html")]:
        status, answer = post(url + "/translate", payload)
        check(status == 400 and isinstance(answer, dict) and answer.get("error"), f"400 with an error for {what}")
    bad_json = urllib.request.Request(url + "/translate", data=b"{not json",
                                      headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(bad_json, timeout=CLIENT_TIMEOUT_S)
        check(False, "400 for bad JSON")
    except urllib.error.HTTPError as error:
        check(error.code == 400 and "error" in json.loads(error.read()), "400 with an error for bad JSON")
    try:
        get(url + "/nothing")
        check(False, "404 for an unknown route")
    except urllib.error.HTTPError as error:
        check(error.code == 404 and "error" in json.loads(error.read()), "404 with an error for an unknown route")


def run_load(url: str, requests: List[Tuple[List[str], bool, str]], expected: Dict[Tuple[str, str], str],
             on_progress: Any) -> Dict[str, int]:
    """Sends the requests from LOAD_CLIENTS threads; returns the count of each outcome."""
    counts = {"correct": 0, "error": 0, "wrong": 0, "hang": 0, "retried": 0}
    lock = threading.Lock()

    def one(request: Tuple[List[str], bool, str]) -> None:
        texts, single, target = request
        want = expected[(texts[0], target)] if single else [expected[(t, target)] for t in texts]
        outcome = "error"
        for attempt in range(ATTEMPTS):
            if attempt:
                with lock:
                    counts["retried"] += 1
                time.sleep(RETRY_DELAY_S)
            try:
                status, answer = post(url + "/translate",
                                      {"q": texts[0] if single else texts, "source": "en", "target": target})
            except Hang:
                outcome = "hang"
                break
            except (urllib.error.URLError, ConnectionError):
                continue
            if status == 200:
                outcome = "correct" if answer == {"translatedText": want} else "wrong"
                if outcome == "wrong":
                    print(f"WRONG: {texts} -> {target}: got {answer}, want {want}", flush=True)
                break
            if status < 500:
                break
        with lock:
            counts[outcome] += 1
            on_progress(sum(counts[k] for k in ("correct", "error", "wrong", "hang")))

    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        futures = [pool.submit(one, r) for r in requests]
        deadline = time.monotonic() + LOAD_DEADLINE_S
        for future in futures:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
    return counts


def wait_recovered(killed_pid: int) -> None:
    """Waits until Serve runs two TuskTranslator replicas again, neither the killed one."""
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while time.monotonic() < deadline:
        app = serve.status().applications.get(APP)
        replicas = translator_replicas()
        if (app and app.status == "RUNNING" and app.deployments["TuskTranslator"].replica_states.get("RUNNING") == 2
                and len(replicas) == 2 and killed_pid not in [r["Pid"] for r in replicas]):
            return
        time.sleep(1)
    raise AssertionError(f"Serve did not run two translator replicas again within {RECOVERY_DEADLINE_S} s")


def exit_on_sigterm() -> None:
    """A SIGTERM (ctest interrupted, a CI job cancelled) ends the test through main's finally
    block, which stops the cluster: its daemons are not this process's children."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def main() -> int:
    started = time.monotonic()
    model = os.environ.get("TUSK_TEST_MODEL") or os.path.join(REPO, "models", "multi30k-moe.tusk")
    # Sentences: 8 for the API checks, then the load's (each used once), one for after it.
    texts = sentences(8 + LOAD_REQUESTS * 2 + 1)
    api_texts, load_texts, last_text = texts[:8], texts[8:-1], texts[-1]
    requests: List[Tuple[List[str], bool, str]] = []
    for i in range(LOAD_REQUESTS):
        take = 2 if i % LIST_EVERY == LIST_EVERY - 1 else 1
        requests.append((load_texts[:take], take == 1, TARGETS[i % len(TARGETS)]))
        load_texts = load_texts[take:]
    # Sentences and paragraphs split and put back: two sentences, a blank line, a third.
    paragraph = f"{api_texts[5].rstrip('.')}. {api_texts[6]}\n\n{api_texts[7]}"
    # The binding's own translation of each text, one at a time, with the replicas' options.
    wanted = {(t, target) for t in api_texts + [last_text] for target in TARGETS} | {(paragraph, "de")}
    wanted |= {(t, target) for sent, _, target in requests for t in sent}
    with tusk.Translator(model, threads=1, beam_size=1) as translator:
        expected = {key: translator.translate_text(key[0], "en", key[1]) for key in sorted(wanted)}
    load_answers = [expected[(t, target)] for sent, _, target in requests for t in sent]
    print(f"{len(expected)} reference translations in {time.monotonic() - started:.1f} s; "
          f"{len(set(load_answers))} distinct among the load's {len(load_answers)}", flush=True)

    cluster = Cluster()
    memory = MemoryPeak(cluster)
    failed = True
    try:
        cluster.start()
        memory.start()
        print(f"cluster started in {time.monotonic() - started:.1f} s", flush=True)
        ray.init(address=cluster.gcs_address, _node_ip_address=NODE_IP, log_to_driver=False,
                 logging_level="WARNING")
        exit_on_sigterm()  # again: ray.init installs a handler that aborts the process
        check(len([n for n in ray.nodes() if n["Alive"]]) == 2, "the cluster has a head and a worker node")
        serve.start(proxy_location="HeadOnly", http_options={"host": NODE_IP, "port": cluster.http_port})
        serve.run(build_app({"model": model, "num_replicas": 2, "threads": 1}), name=APP, route_prefix="/")
        print(f"deployed at {time.monotonic() - started:.1f} s", flush=True)
        replicas = translator_replicas()
        check(len(replicas) == 2 and len({r["Address"]["NodeID"] for r in replicas}) == 2,
              "two translator replicas, one on each node")
        url = f"http://{NODE_IP}:{cluster.http_port}"
        check_api(url, expected, api_texts, paragraph)

        victim = replicas[0]["Pid"]
        killed_at: List[int] = []  # requests done when the replica was killed

        def kill_one(done: int) -> None:
            if done == KILL_AFTER:
                os.kill(victim, signal.SIGKILL)
                killed_at.append(done)
                print(f"killed translator replica PID {victim} after {done} of {LOAD_REQUESTS} requests", flush=True)

        load_started = time.monotonic()
        counts = run_load(url, requests, expected, kill_one)
        load_s = time.monotonic() - load_started
        print(f"load: {LOAD_REQUESTS} requests in {load_s:.1f} s: {counts}; the ingress called another "
              f"replica {cluster.ingress_retries()} time(s)", flush=True)
        check(killed_at == [KILL_AFTER], "a replica was killed during the load")
        check(counts["wrong"] == 0, "no request was answered with another's translation")
        check(counts["hang"] == 0, f"no request hung (each attempt times out after {CLIENT_TIMEOUT_S} s)")
        check(counts["correct"] + counts["error"] == LOAD_REQUESTS, "every request got its translation or an error")
        check(counts["correct"] > KILL_AFTER, "requests were translated after the kill")

        recovery_started = time.monotonic()
        wait_recovered(victim)
        print(f"recovered {time.monotonic() - recovery_started:.1f} s after the load", flush=True)
        status, answer = post(url + "/translate", {"q": last_text, "source": "en", "target": "fr"})
        check((status, answer) == (200, {"translatedText": expected[(last_text, "fr")]}),
              "a request after the load is translated")
        handle = serve.get_deployment_handle("TuskTranslator", app_name=APP)
        largest = max(handle.batching.remote().result()["largest"] for _ in range(8))
        check(largest > 1, f"Serve batched requests (largest batch: {largest} requests)")
        failed = False
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a SIGTERM now would cut the teardown short
        memory.done.set()
        ray.shutdown()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # again: ray.shutdown restores the handler of before ray.init
        cluster.stop()
        left = cluster.processes()
        if failed:
            print(f"FAILED; the cluster's logs are kept in {cluster.temp_dir}/session_latest/logs", flush=True)
        else:
            shutil.rmtree(cluster.temp_dir, ignore_errors=True)
        print(f"total {time.monotonic() - started:.1f} s; peak resident memory of the cluster and this "
              f"process: {memory.peak / 2**20:.0f} MiB; processes left: {len(left)}", flush=True)
    check(not left, "the cluster is torn down")
    return 0


if __name__ == "__main__":
    exit_on_sigterm()
    sys.exit(main())
