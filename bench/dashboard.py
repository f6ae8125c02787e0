"""Dashboard benchmark (#18, B1): the page's first paint with 100 containers.

    .venv/bin/python bench/dashboard.py [--rounds N] [--many N]

Starts a private dockyard daemon, runs `--many` busybox `sleep` containers (`--network none`, as
the other benches), starts its dashboard and loads the page in headless chromium (Debian's,
reaching nothing but 127.0.0.1: tests/browser.py) `--rounds` times. From the browser's own
performance timing, since navigation start: the HTML's arrival (responseEnd), the first
contentful paint, `containers-painted` (the page's mark once the container table holds every
row: the target is under 1 s) and `all panels` (images and layer stacks, volumes and the network
graph drawn too). Then the daemon's CPU while the page stays open (it asks for every running
container's stats every 3 s) and after it is closed (nothing is asked). Prints medians; dockerd
has no dashboard to compare with. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import Engine, finish, run_d_many, start_daemon  # noqa: E402
from bench.stats import cpu_seconds  # noqa: E402
from tests import browser  # noqa: E402

TIMING = """
const nav = performance.getEntriesByType("navigation")[0];
const fcp = performance.getEntriesByName("first-contentful-paint")[0];
const mark = performance.getEntriesByName("containers-painted")[0];
return {html: nav.responseEnd, fcp: fcp ? fcp.startTime : null, containers: mark.startTime,
        rows: document.querySelectorAll("#containers tbody tr").length};
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--many", type=int, default=100)
    ap.add_argument("--idle", type=float, default=15.0, help="seconds of each CPU measurement")
    args = ap.parse_args()
    from selenium.webdriver.support.ui import WebDriverWait

    d = start_daemon("dockyard-bench-dashboard")
    stack = contextlib.ExitStack()
    dy = Engine("dockyard", d.env())
    made: list[str] = []
    try:
        t0 = time.perf_counter()
        made = run_d_many(dy, args.many)
        print(f"{args.many} containers started in {time.perf_counter() - t0:.1f} s")
        status, info = d.api("POST", "/dockyard/dashboard")
        assert status == 200, info
        results: dict[str, list[float]] = {}
        with browser.chromium() as driver:
            for i in range(args.rounds + 1):  # the first load warms the daemon's caches
                driver.get("about:blank")
                t = time.perf_counter()
                driver.get(info["URL"])
                wait = WebDriverWait(driver, 60, poll_frequency=0.01)
                wait.until(lambda drv: drv.execute_script("return document.body.dataset.ready"))
                timing = driver.execute_script(TIMING)
                wait.until(
                    lambda drv: drv.execute_script("return document.body.dataset.ready") == "all"
                )
                every = (time.perf_counter() - t) * 1000
                if timing["rows"] != args.many:
                    raise RuntimeError(f"{timing['rows']} rows, want {args.many}")
                if i == 0:
                    continue
                for key, value in (("html (responseEnd)", timing["html"]),
                                   ("first contentful paint", timing["fcp"]),
                                   ("containers painted", timing["containers"]),
                                   ("all panels (wall clock)", every)):  # fmt: skip
                    results.setdefault(key, []).append(float(value or 0))
            assert d.proc is not None
            cpu = {}
            for state in ("page open", "page closed"):
                if state == "page closed":
                    driver.get("about:blank")
                time.sleep(1)
                before = cpu_seconds(d.proc.pid)
                time.sleep(args.idle)
                cpu[state] = (cpu_seconds(d.proc.pid) - before) / args.idle * 100
        print(
            f"{'case':28} {'median ms':>10} {'max ms':>8}  ({args.rounds} loads, {args.many} containers)"
        )
        for key, values in results.items():
            print(f"{key:28} {statistics.median(values):10.1f} {max(values):8.1f}")
        for state, percent in cpu.items():
            print(f"daemon CPU, {state:16} {percent:10.1f} %  (over {args.idle:.0f} s)")
    finally:
        if made:  # running containers outlive their daemon (live-restore): remove them first
            dy.docker("rm", "-f", *made)
        finish(d, stack, d.root)


if __name__ == "__main__":
    main()
