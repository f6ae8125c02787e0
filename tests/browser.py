"""Headless chromium for the dashboard's tests and bench (#18 item 5, B1): Debian's `chromium`
driven through Debian's `chromium-driver` by Selenium, pointed at /usr/bin/chromedriver so
Selenium Manager never downloads anything.

The browser reaches nothing but 127.0.0.1: every other http(s) request goes to a proxy on a
closed local port (only 127.0.0.1 bypasses it), host names other than 127.0.0.1 do not resolve,
and Chrome's own background traffic (updates, sync, safe browsing, metrics) is off. Its profile
lives in a directory of its own; `leftover_browsers` finds any process still using it, so a test
can prove it left no chromium behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import processes_naming

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def closed_port() -> int:
    """A local port nothing listens on (bound and released: the kernel will not hand it out
    again for a while)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leftover_browsers(profile: Path) -> list[int]:
    """Pids of processes whose command line names `profile` (chromium and its helpers)."""
    return processes_naming(str(profile).encode())


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Selenium Chrome driver on headless chromium; quit (and checked gone) on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="dockyard-chromium-", dir="/var/tmp"))
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root, in a container-less test host
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{closed_port()}",
        "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-pings",
        "--no-default-browser-check",
        "--safebrowsing-disable-auto-update",
        "--metrics-recording-only",
    ):
        opts.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        deadline = time.monotonic() + 10  # quit() returns before the helpers have all exited
        while (left := leftover_browsers(profile)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:  # only the processes this browser started: they name its profile
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        shutil.rmtree(profile, ignore_errors=True)
        if left:
            raise AssertionError(f"chromium processes left behind: {left}")
