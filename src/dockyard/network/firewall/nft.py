"""nftables: the only place dockyard talks to it. Every change is one batch in `nft -f` syntax,
which the kernel applies atomically or not at all. The batch goes through libnftables (the
library `nft` itself is built on) when it loads, saving a fork+exec (about 2.5 ms) per change;
otherwise through the `nft -f -` command."""

from __future__ import annotations

import ctypes
import logging
import shutil
import subprocess
import threading
import time

from dockyard import errors, fds, heap

log = logging.getLogger(__name__)


class _Lib:
    """One libnftables context, serialized: a context is not thread-safe."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.ctx: int | None = None
        self.used_at = 0.0
        self.lock = threading.Lock()
        heap.on_idle(self.release_if_idle)

    def _open(self) -> None:
        self.ctx = self.lib.nft_ctx_new(0)
        if not self.ctx:
            raise OSError("nft_ctx_new failed")
        self.lib.nft_ctx_buffer_output(self.ctx)
        self.lib.nft_ctx_buffer_error(self.ctx)

    def run(self, batch: str) -> tuple[int, str] | None:
        """The batch's (rc, errors); None when no context can be opened safely: its netlink
        socket would be numbered too high for the select() libnftables waits with (fds.py)."""
        with self.lock:
            if self.ctx is None:
                if not fds.low_number_free():
                    return None
                self._open()
            self.used_at = time.monotonic()
            rc = self.lib.nft_run_cmd_from_buffer(self.ctx, batch.encode())
            err = self.lib.nft_ctx_get_error_buffer(self.ctx) or b""
        return (0 if rc == 0 else 1), err.decode(errors="replace")

    def release_if_idle(self, idle: float = 30.0) -> None:
        """A context keeps its ruleset cache (~8 MiB resident); free it when no batch ran for
        `idle` seconds. The next batch opens a new one (+15 ms once)."""
        with self.lock:
            if self.ctx is not None and time.monotonic() - self.used_at >= idle:
                self.lib.nft_ctx_free(self.ctx)
                self.ctx = None


_lib: _Lib | None = None
_lib_tried = False
_lib_guard = threading.Lock()


def _library() -> _Lib | None:
    global _lib, _lib_tried
    with _lib_guard:
        if not _lib_tried:
            _lib_tried = True
            try:
                _lib = _Lib()
            except OSError as e:
                log.info("libnftables unavailable (%s): using the nft command", e)
        return _lib


def _command(batch: str) -> tuple[int, str]:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    proc = subprocess.run(
        [nft, "-f", "-"], input=batch, capture_output=True, text=True, check=False
    )
    return proc.returncode, proc.stderr


def apply(batch: str) -> None:
    if not batch:
        return
    t0 = time.monotonic()
    lib = _library()
    done = lib.run(batch) if lib is not None else None
    rc, err = done if done is not None else _command(batch)
    log.debug("nft batch rc=%d (%.1f ms)", rc, (time.monotonic() - t0) * 1e3)
    if rc != 0:
        log.debug("failed nft batch:\n%s", batch)
        raise errors.System(f"nftables: {err.strip()}")
