"""The cluster-wide rules' pod index at 50,000 pods: its memory, its build (relist) and update cost, and the
admission p99 at 300 requests/s over HTTPS with the index full, against the same server with an empty index.

The server is the real app (`create_app`, uvicorn with `netweave serve`'s TLS and limits, one worker) with the
index filled from 50,000 pod objects shaped like the captured pod `009-create-pod-samplepod.json`, each selecting
one of 16 NADs with one static IP; the reviews ask for 1, 4 or 16 networks, each with a free static IP, so every
admission looks each address up in the index (static-ip-conflict). Loopback only; bounded by --duration.

    .venv/bin/python benchmarks/webhook_podindex.py [--pods 50000] [--duration 10] [--rate 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processes import publish, stop  # noqa: E402
from webhook_load import (  # noqa: E402
    CAPTURED,
    NAMESPACE,
    NETWORK_COUNTS,
    check_response,
    free_port,
    nad,
    paced_client,
    run_clients,
    server_buckets,
    server_quantiles,
    summary,
    wait_ready,
)

from certs.rotation import dev_certificates  # noqa: E402
from webhook.podindex import PodIndex, pod_entry, pod_key  # noqa: E402

NADS = 16


def pod_text(i: int) -> str:
    """Pod i as the API server would send it (the captured pod, renamed, one NAD with one static IP)."""
    doc: dict[str, Any] = json.loads(CAPTURED.read_text())["request"]["object"]
    net = i % NADS
    k = i // NADS
    ip = f"10.{100 + net}.{1 + k // 250}.{1 + k % 250}"  # never x.0.250, which the reviews ask for
    doc["metadata"].update(name=f"pod-{i}", namespace=NAMESPACE, resourceVersion=str(1000 + i))
    doc["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = json.dumps(
        [{"name": f"bench-net-{net}", "ips": [f"{ip}/16"]}])
    doc["status"] = {"phase": "Running", "podIP": f"10.244.{k % 250}.{i % 250}"}
    return json.dumps(doc)


def fill(index: PodIndex, pods: int) -> float:
    """Parse and index `pods` pod objects one at a time, as a relist page or a watch event does; seconds."""
    template = pod_text(0)
    started = time.perf_counter()
    for i in range(pods):
        text = template if i == 0 else pod_text_fast(template, i)
        obj = json.loads(text)
        index.put(pod_key(obj), pod_entry(obj))
    return time.perf_counter() - started


def pod_text_fast(template: str, i: int) -> str:
    net, k = i % NADS, i // NADS
    ip = f"10.{100 + net}.{1 + k // 250}.{1 + k % 250}"
    return (template.replace('"pod-0"', f'"pod-{i}"')
            .replace("bench-net-0", f"bench-net-{net}").replace("10.100.1.1/16", f"{ip}/16"))


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def measure_index(pods: int) -> dict[str, Any]:
    """Memory (tracemalloc: the bytes the index holds) and the cost of filling and updating it."""
    gc.collect()
    rss_before = rss_kib()
    tracemalloc.start()
    index = PodIndex(max_pods=max(pods, 1))
    seconds = fill(index, pods)
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    timed = PodIndex(max_pods=max(pods, 1))
    fill_seconds = fill(timed, pods)  # without tracemalloc's overhead
    template = pod_text(0)
    started = time.perf_counter()
    for i in range(10_000):  # MODIFIED events (a status change): parse, replace
        obj = json.loads(pod_text_fast(template, i))
        timed.put(pod_key(obj), pod_entry(obj))
    update_us = (time.perf_counter() - started) / 10_000 * 1e6
    started = time.perf_counter()
    for i in range(100_000):
        timed.holders(f"{NAMESPACE}/bench-net-{i % NADS}", "10.100.0.250")
    lookup_ns = (time.perf_counter() - started) / 100_000 * 1e9
    return {"pods": len(index), "index_mib": round(held / 2**20, 1), "bytes_per_pod": round(held / max(pods, 1)),
            "peak_mib_while_filling": round(peak / 2**20, 1),
            "rss_growth_mib": round((rss_kib() - rss_before) / 1024, 1),
            "fill_seconds": round(fill_seconds, 2), "fill_seconds_traced": round(seconds, 2),
            "update_us_per_event": round(update_us, 1), "lookup_ns": round(lookup_ns)}


def admission_cost(index: PodIndex, bodies: dict[int, bytes], nads: Path, rounds: int = 2000) -> dict[int, float]:
    """Median microseconds of decode + admit + response for each body: the CPU floor, without HTTP or TLS."""
    import statistics

    from webhook.admission import admit
    from webhook.manifests import read_catalog
    from webhook.policy import Policy
    from webhook.review import build_response, decode_review

    catalog, policy = read_catalog(str(nads)), Policy()
    out: dict[int, float] = {}
    for n, body in bodies.items():
        times: list[float] = []
        for _ in range(rounds):
            started = time.perf_counter()
            review = decode_review(body)
            result = admit(review, catalog=catalog, policy=policy, mutate=True, pods=index)
            json.dumps(build_response(review.uid, result.decision))
            times.append(time.perf_counter() - started)
        assert result.decision.allowed, result.decision
        out[n] = round(statistics.median(times) * 1e6, 1)
    return out


def review_body(networks: int) -> bytes:
    """The captured Pod CREATE review asking for `networks` NADs, each with a free static IP."""
    doc: dict[str, Any] = json.loads(CAPTURED.read_text())
    request = doc["request"]
    request["uid"] = f"00000000-0000-0000-0000-{networks:012d}"
    request["namespace"] = request["object"]["metadata"]["namespace"] = NAMESPACE
    request["object"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = json.dumps(
        [{"name": f"bench-net-{i}", "ips": [f"10.{100 + i}.0.250/24"]} for i in range(networks)])
    return json.dumps(doc).encode()


def serve(args: argparse.Namespace) -> int:
    """The server side (a child process): the real app with a pre-filled pod index, uvicorn as `serve` runs it."""
    import uvicorn

    from webhook.app import StaticCatalog, create_app
    from webhook.manifests import read_catalog
    from webhook.policy import Policy
    from webhook.serve import tune_interpreter, uvicorn_config
    from webhook.settings import Settings

    class Filled:
        """Fills the index from a thread once the app has started, as PodWatch does (so, like in production,
        after the lifespan's gc.freeze), then leaves a marker file for the load generator."""

        def __init__(self, pods: int, marker: Path) -> None:
            self.index = PodIndex(max_pods=max(pods, 1))
            self._pods, self._marker = pods, marker

        def start(self) -> None:
            threading.Thread(target=self._fill, daemon=True).start()

        def _fill(self) -> None:
            fill(self.index, self._pods)
            self._marker.write_text(str(len(self.index)))

        def stop(self) -> None:
            return None

    tune_interpreter()
    settings = Settings(listen=f"127.0.0.1:{args.port}", tls_cert=args.cert, tls_key=args.key, log_level="warning")
    app = create_app(catalog=StaticCatalog(read_catalog(str(args.nads))), policy=Policy(),
                     pods=Filled(args.pods, args.nads.parent / f"filled-{args.pods}"))
    uvicorn.Server(uvicorn_config(settings, app)).run()
    return 0


@contextmanager
def server(workdir: Path, pods: int) -> Iterator[tuple[int, int]]:
    cert, key = dev_certificates(workdir / "certs")
    port = free_port()
    cmd = [sys.executable, __file__, "--serve", "--port", str(port), "--cert", str(cert), "--key", str(key),
           "--nads", str(workdir / "nads"), "--pods", str(pods)]
    log = (workdir / f"serve-{pods}.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    marker = workdir / f"filled-{pods}"
    try:
        wait_ready(port, proc)
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        if not marker.exists():
            raise RuntimeError(f"the server did not fill its pod index (see {log.name})")
        yield port, proc.pid
    finally:
        stop(proc)
        log.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=50_000, help="pods in the index (default 50,000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument("--rate", type=float, default=300.0, help="fixed rate (default 300/s)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cert", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--nads", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    if not 1 <= args.duration <= 120 or not 0 <= args.pods <= 1_000_000:
        parser.error("--duration must be 1-120 seconds and --pods 0-1,000,000")
    results: dict[str, Any] = {"cpus": os.cpu_count(), "rate": args.rate, "duration_s": args.duration,
                               "load_average_before": os.getloadavg(), "index": measure_index(args.pods),
                               "fixed_rate_one_worker": {}}
    print(f"index: {results['index']}", flush=True)
    bodies = {n: review_body(n) for n in NETWORK_COUNTS}
    with tempfile.TemporaryDirectory(prefix="netweave-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "nads").mkdir()
        (workdir / "nads" / "bench.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": [nad(i) for i in range(NADS)]}))
        full = PodIndex(max_pods=max(args.pods, 1))
        fill(full, args.pods)
        results["in_process_us"] = {f"{pods} pods": admission_cost(index, bodies, workdir / "nads")
                                    for pods, index in ((0, PodIndex()), (args.pods, full))}
        print(f"in-process median us/admission: {results['in_process_us']}", flush=True)
        del full
        for pods in (0, args.pods):
            with server(workdir, pods) as (port, pid):
                rss = rss_kib(pid)
                for n in NETWORK_COUNTS:
                    check_response(port, bodies[n], n)
                    before = server_buckets(port)
                    latencies, late, service = run_clients(paced_client, (port, bodies[n], args.rate / 2,
                                                                          args.duration), 2)
                    row = {**summary(latencies, args.duration), "late_sends": late,
                           "from_send_p99_ms": summary(service, args.duration)["p99_ms"],
                           **server_quantiles(before, server_buckets(port)), "server_rss_mib": round(rss / 1024, 1)}
                    results["fixed_rate_one_worker"][f"{pods} pods/{n}"] = row
                    print(f"{pods} pods indexed, {args.rate:.0f}/s, {n:2d} networks: {row}", flush=True)
    publish(results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
