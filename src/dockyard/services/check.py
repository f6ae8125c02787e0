"""`system check [--repair]` (R1, #17; as `podman system check`): the one face composing the
checkers of each store, run while no pull, push, build, commit, load or import is under way
(the image service's activity gate, D-crash-1) so that nothing in flight reads as damage:
    storage/check.py                  layer references, chains, directories
    images/check.py                   blobs against digests, image -> layer links, unnamed
                                      blobs, temp files
    services/containers/consistency   writable layers, mounts, record vs runc vs freezer
Repairs are the stores' own start-up steps; an image or container is never removed."""

from __future__ import annotations

import logging
from collections.abc import Callable

from dockyard.core.findings import Finding, report
from dockyard.core.types import Json
from dockyard.errors import NotFound
from dockyard.images import check as image_check
from dockyard.services.images import Images
from dockyard.storage import check as layer_check
from dockyard.storage.layers import Layers

log = logging.getLogger(__name__)

QUIET_WAIT = 30.0  # seconds to wait for running transfers before answering 409


class SystemCheck:
    def __init__(
        self, images: Images, layers: Layers, containers: Callable[[bool], list[Finding]]
    ) -> None:
        self.images = images
        self.layers = layers
        self.containers = containers

    def _layer_exists(self, chain_id: str) -> bool:
        try:
            self.layers.get(chain_id)
        except NotFound:
            return False
        return True

    def run(self, repair: bool, quick: bool) -> Json:
        with self.images.activity.exclusive(QUIET_WAIT):
            records = self.images.repo.all()
            tops = [r.top_chain_id for r in records if r.top_chain_id]
            found = image_check.image_findings(records, self.images.content.get, self._layer_exists)
            found += layer_check.check_layers(self.layers, tops, repair)
            diff_ids = {layer.diff_id for layer in self.layers.layers()}
            found += image_check.check_content(
                self.images.content, self.images.writer.refs, diff_ids, quick, repair
            )
            found += self.containers(repair)
        for f in found:
            log.warning(
                "system check: %s %s: %s%s", f.kind, f.target, f.problem,
                " (repaired)" if f.repaired else "",
            )  # fmt: skip
        return report(found)
