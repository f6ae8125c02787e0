"""Detach keys (`--detach-keys`, `detachKeys`): Docker's key list and an escape matcher for stdin.

A list is comma-separated; each item is one character, `ctrl-@`, `ctrl-a` .. `ctrl-z`, `ctrl-[`,
`ctrl-\\`, `ctrl-]`, `ctrl-^`, `ctrl-_` or `DEL`, as in moby/term. The default is ctrl-p ctrl-q.
"""

from __future__ import annotations

DEFAULT = b"\x10\x11"  # ctrl-p, ctrl-q

_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse(keys: str) -> bytes:
    """The bytes a key list stands for; ValueError("Unknown character: 'x'") for a bad item."""
    codes = bytearray()
    for key in keys.split(","):
        raw = key.encode("utf-8", "surrogateescape")
        if len(raw) == 1:  # one byte, as Go counts a string's length
            codes += raw
        elif key == "DEL":
            codes.append(127)
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            codes.append(_CTRL.index(key[5]))
        else:
            raise ValueError(f"Unknown character: '{key}'")
    return bytes(codes)


class EscapeMatcher:
    """Watches stdin for the detach sequence across reads. Bytes that may start the sequence
    are held back until they match or fail to; a failed match passes them on unchanged."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys or DEFAULT
        self._held = 0  # how many of keys[] the bytes seen so far end with

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(what to pass to the process, whether the sequence is complete); after a complete
        sequence the rest of `data` is dropped, as the session ends."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self._held]:
                self._held += 1
                if self._held == len(self.keys):
                    self._held = 0
                    return bytes(out), True
                continue
            if self._held:
                out += self.keys[: self._held]
                self._held = 0
                if byte == self.keys[0]:
                    self._held = 1
                    continue
            out.append(byte)
        return bytes(out), False
