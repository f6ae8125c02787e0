"""Named crash points (R1, #17): `crashpoint("commit.after-diff")` kills the daemon on the spot
(SIGKILL to itself, as `kill -9` would) when it was started with the test-only environment
setting DOCKYARD_CRASH_AT naming that point (several: comma-separated). Otherwise a lookup in
an empty frozenset: nothing else runs. tests/integration/test_crash_matrix.py drives every
point listed in POINTS and checks what a restart finds."""

from __future__ import annotations

import os
import signal

ENV = "DOCKYARD_CRASH_AT"
_ARMED = frozenset(p for p in os.environ.get(ENV, "").split(",") if p)

# Every point, in the order its operation passes them (the matrix runs each).
POINTS = (
    "create.after-layer",  # the writable layer exists, the record does not
    "create.after-record",  # recorded, not yet answered
    "start.after-mount",  # rootfs mounted, no network or process yet
    "start.after-network",  # veth and nft rules made, no process yet
    "start.after-runc-start",  # running, the record still says created
    "commit.after-pause",  # the source is frozen
    "commit.after-diff",  # the diff is a blob nothing names
    "commit.after-layer",  # the layer is registered, no image holds it
    "commit.after-image",  # the image is stored, the source still frozen
    "build.after-context",  # the context unpacked in the temp dir, no step run
    "build.after-step-container",  # a RUN step's container exists
    "build.after-step-commit",  # a step's image is stored, the build goes on
    "build.after-source-mount",  # COPY --from: the other stage's image mounted
    "build.after-copy-tar",  # COPY: the step's layer tar written, no layer yet
    "build.before-tag",  # the last step's image stored, the -t name not given
    "layer.after-extract",  # a pulled layer's files are in place, its row is not
    "pull.after-layer",  # a layer registered, the image not yet stored
    "pull.before-image",  # every layer and the config stored, no image record
    "push.after-blob",  # a layer blob uploaded, no manifest yet
    "rmi.after-layers",  # the image's record and its layers gone, its blobs not yet
    "cp.after-write",  # a file written under its temp name, not yet renamed in
    "volume.after-create",  # the volume's directory made, no record
    "volume.mid-populate",  # a volume half copied from the image
    "network.after-bridge",  # the bridge exists, the network record does not
    "network.after-endpoint",  # a connect's veth exists, the record does not know it
)


def crashpoint(name: str, parent: bool = False) -> None:
    """`parent`: a helper process the daemon started (the cp extractor) kills the daemon first,
    then itself, as a host crash would end both."""
    if name in _ARMED:
        if parent:
            os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
