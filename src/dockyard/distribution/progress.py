"""dockerd's JSON progress stream for pull and push (E5), message for message, so the docker
CLI draws its bars unchanged: a layer is known by the first 12 hex digits of its digest, and a
transfer's message carries progressDetail {current, total} plus the rendered bar dockerd sends."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from dockyard.units import human_size

Message = dict[str, Any]
BAR = 50  # dockerd's bar is 50 characters wide (its JSON messages assume a 200-column terminal)


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def status(text: str, id: str | None = None) -> Message:
    """A message without progress ("Pulling from x" with the tag as id, "Digest: ...")."""
    return {"status": text, "id": id} if id is not None else {"status": text}


def layer(text: str, id: str) -> Message:
    """A layer's state change ("Pulling fs layer", "Waiting", "Pull complete"...)."""
    return {"status": text, "progressDetail": {}, "id": id}


def bar(current: int, total: int, started: float | None = None) -> str:
    """jsonmessage's JSONProgress.String() for a wide terminal."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current, 4):>8}"
    filled = min(int(current / total * 100) // 2, BAR)
    box = "[" + "=" * filled + ">" + " " * (BAR - filled) + "] "
    numbers = f"{human_size(current, 4):>8}/{human_size(total, 4)}" if current <= total else ""
    left = ""
    if started is not None and current > 0 and filled < BAR:
        elapsed = time.monotonic() - started
        remaining = int(elapsed / current * (total - current))
        left = f" {remaining}s" if remaining < 60 else f" {remaining // 60}m{remaining % 60}s"
    return box + numbers + left


def transfer(text: str, id: str, current: int, total: int, started: float | None) -> Message:
    """ "Downloading", "Extracting", "Pushing" with their counters and bar."""
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": bar(current, total, started),
        "id": id,
    }


def encode(msg: Message) -> bytes:
    """One line of the stream, as dockerd's encoder ends them."""
    return json.dumps(msg).encode() + b"\r\n"


def error(text: str) -> Message:
    return {"errorDetail": {"message": text}, "error": text}


class Relay:
    """A job's messages, emitted by its worker threads, yielded by the one thread that reads
    the stream: `run(work)` starts `work` on a thread and yields what is emitted until it
    returns (or raises, which is raised here). A reader that stops early sets `cancelled`,
    which workers check between chunks, and waits for `work` to end."""

    _DONE = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self.cancelled = threading.Event()

    def emit(self, msg: Message) -> None:
        self._queue.put(msg)

    def run(self, work: Callable[[], None], name: str) -> Iterator[Message]:
        def target() -> None:
            try:
                work()
                self._queue.put(self._DONE)
            except BaseException as e:  # noqa: BLE001 (raised in the reading thread)
                self.cancelled.set()
                self._queue.put(e)

        worker = threading.Thread(target=target, name=name, daemon=True)
        worker.start()
        try:
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.cancelled.set()
            worker.join()


class Throttle:
    """At most one progress message per layer every `interval` seconds (the CLI redraws at
    about that rate), and always the first and the last."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._last = 0.0

    def due(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.interval:
            self._last = now
            return True
        return False
