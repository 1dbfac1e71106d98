#!/usr/bin/env python3
"""Load on `tusk serve` over loopback: throughput and latency with batching on and off.

What it measures: two `tusk serve` processes on free loopback ports, one with dynamic batching
on, one with it off (one request per library call, the one-request-at-a-time baseline); for
each client count (default 1, 8, 32) that many client threads, each with its own keep-alive
HTTP connection, sending POST /translate requests of one sentence each (JSON, en->de, Multi30k
test_2016_flickr.en, every client its own sentences) back to back until --requests requests
are answered or --seconds have passed. Rows alternate between the two servers, --repeat times
(default 3), and each row keeps its best run (the machine is shared and noisy). Timed per request: from sending to
the whole answer read. Reported per row: sentences/s (answered requests / wall time of the
row), p50 and p99 latency, the server's mean texts per library call (from /metrics), errors.
Every answer is checked against the CLI's translation of the same sentence; a wrong one fails
the run. Ratios: batching on / off at the same client count, from this run.

Each mode runs as it serves best on this machine's C cores. Off, one request at a time: one
translator with --threads C. On: a translator per core (--translators C --threads 1) and one
more with every core for a request that arrives alone (--lone-request-threads C), so one
client is served as fast as off serves it, and concurrent clients' batches run on every core
without intra-op synchronisation. --same-pool runs on with off's pool instead (batching
alone, one translator with C threads). --server-flag adds flags to both (default wait 5 ms).
Loopback only; bounded in count and time.

  /usr/bin/python3 bench/serve_load.py                        # 1, 8, 32 clients, on and off
  /usr/bin/python3 bench/serve_load.py --clients 32 --repeat 1 --same-pool
"""
import argparse
import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def start_server(cli, model, flags):
    proc = subprocess.Popen([cli, "serve", "--model", model, "--port", "0", *flags], stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not match:
        proc.kill()
        sys.exit("tusk serve did not start: " + line + proc.stderr.read())
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its pipe drained
    return proc, match.group(1), int(match.group(2))


def metric(host, port, name):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    m = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
    return float(m.group(1)) if m else 0.0


def run_row(host, port, clients, sentences, expected, max_requests, max_seconds):
    latencies, errors, wrong = [], [], []
    lock = threading.Lock()
    next_request = [0]
    deadline = time.monotonic() + max_seconds

    def client(c):
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                i = next_request[0]
                if i >= max_requests:
                    break
                next_request[0] += 1
            # Client c's sentences are its own slice of the list, so concurrent requests differ.
            k = (c * max_requests + i) % len(sentences)
            body = json.dumps({"q": sentences[k], "source": "en", "target": "de"}).encode()
            start = time.perf_counter()
            conn.request("POST", "/translate", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            answer = response.read().decode()
            elapsed = time.perf_counter() - start
            with lock:
                if response.status != 200:
                    errors.append(response.status)
                    continue
                latencies.append(elapsed)
                if json.loads(answer)["translatedText"] != expected[k]:
                    wrong.append(k)
        conn.close()

    calls_before = metric(host, port, "tusk_batch_texts_count")
    texts_before = metric(host, port, "tusk_batch_texts_sum")
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    calls = metric(host, port, "tusk_batch_texts_count") - calls_before
    texts = metric(host, port, "tusk_batch_texts_sum") - texts_before
    if wrong:
        sys.exit("%d answers differ from the CLI's translation (sentences %s)" % (len(wrong), wrong[:5]))
    return {"done": len(latencies), "rate": len(latencies) / wall, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "per_call": texts / calls if calls else 0.0, "errors": len(errors)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build/bin/tusk"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/multi30k-moe.tusk"))
    ap.add_argument("--sentences", default=os.path.join(ROOT, "../shared/data/multi30k/test_2016_flickr.en.gz"))
    ap.add_argument("--clients", default="1,8,32", help="comma-separated client counts")
    ap.add_argument("--requests", type=int, default=640, help="requests per row (at most)")
    ap.add_argument("--seconds", type=float, default=60.0, help="time per row (at most)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="C above (default: this machine's)")
    ap.add_argument("--same-pool", action="store_true", help="batching on with off's pool (one translator)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; the best is kept")
    ap.add_argument("--distinct", type=int, default=1000, help="distinct sentences (the CLI translates each first)")
    ap.add_argument("--server-flag", action="append", default=[], help="extra `tusk serve` flag (repeatable)")
    args = ap.parse_args()

    with gzip.open(args.sentences, "rt", encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f][:args.distinct]
    expected = subprocess.run([args.cli, "translate", "--model", args.model, "--src", "en", "--tgt", "de"],
                              input="\n".join(sentences) + "\n", capture_output=True, text=True,
                              check=True).stdout.split("\n")[:-1]
    assert len(expected) == len(sentences)
    client_counts = [int(c) for c in args.clients.split(",")]
    cores = str(args.cores)
    one_translator = ["--translators", "1", "--threads", cores]
    flags = {"off": one_translator + ["--batching", "off"],
             "on": (one_translator if args.same_pool else
                    ["--translators", cores, "--threads", "1", "--lone-request-threads", cores]) + ["--batching", "on"]}
    for mode in flags:
        flags[mode] += args.server_flag
    print("tusk serve load: %d sentences per row at most, %.0f s at most, best of %d; load average %s" %
          (args.requests, args.seconds, args.repeat, " ".join("%.2f" % x for x in os.getloadavg())))
    for mode in ("on", "off"):
        print("  batching %-3s server flags: %s" % (mode, " ".join(flags[mode])))

    # Both servers run side by side; rows alternate between them, --repeat times, and each row
    # keeps its best run, so a burst of outside load does not land on one mode only.
    servers = {}
    results = {}
    try:
        for mode in ("on", "off"):  # (in the try: a server that fails to start stops the other)
            servers[mode] = start_server(args.cli, args.model, flags[mode])
        for _, host, port in servers.values():
            run_row(host, port, 1, sentences, expected, 4, 30)  # warm-up, untimed
        for _ in range(args.repeat):
            for clients in client_counts:
                for mode, (_, host, port) in servers.items():
                    r = run_row(host, port, clients, sentences, expected, args.requests, args.seconds)
                    if (mode, clients) not in results or r["rate"] > results[mode, clients]["rate"]:
                        results[mode, clients] = r
    finally:
        for proc, _, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)

    print("%-9s %7s %9s %10s %10s %10s %11s %7s" %
          ("batching", "clients", "requests", "sent/s", "p50 ms", "p99 ms", "texts/call", "errors"))
    for mode in ("on", "off"):
        for clients in client_counts:
            r = results[mode, clients]
            print("%-9s %7d %9d %10.1f %10.1f %10.1f %11.2f %7d" % (mode, clients, r["done"], r["rate"],
                                                                   1000 * r["p50"], 1000 * r["p99"],
                                                                   r["per_call"], r["errors"]))
    for clients in client_counts:
        on, off = results["on", clients], results["off", clients]
        print("%2d clients: batching on / off = %.2fx sentences/s, p99 %.1f ms vs %.1f ms" %
              (clients, on["rate"] / off["rate"], 1000 * on["p99"], 1000 * off["p99"]))


if __name__ == "__main__":
    main()
