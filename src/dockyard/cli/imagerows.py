"""Rows of `images` and `history` as docker-cli's formatter computes them from the API's JSON
(an image yields one row per repository tag or digest)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.cli.format import HEADERS, ellipsis, rfc3339, since, truncate_id, unix_string
from dockyard.units import human_size

IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_DIGEST_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)
HISTORY_TABLE = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

IMAGE_HEADERS = {**HEADERS, "ID": "IMAGE ID"}
HISTORY_HEADERS = {**HEADERS, "ID": "IMAGE"}


class ImageRow:
    """One `images` row: an image can yield several (one per repository tag or digest)."""

    def __init__(
        self,
        img: Mapping[str, Any],
        repo: str,
        tag: str,
        digest: str,
        trunc: bool,
        now: float | None,
    ) -> None:
        self.img, self.repo, self.tag, self.digest = img, repo, tag, digest
        self.trunc, self.now = trunc, now

    def ID(self) -> str:
        iid = str(self.img.get("Id", ""))
        return truncate_id(iid) if self.trunc else iid

    def Repository(self) -> str:
        return self.repo

    def Tag(self) -> str:
        return self.tag

    def Digest(self) -> str:
        return self.digest

    def CreatedSince(self) -> str:
        created = float(self.img.get("Created") or 0)
        return since(created, self.now) if created > 0 else "N/A"

    def CreatedAt(self) -> str:
        return unix_string(float(self.img.get("Created") or 0))

    def Size(self) -> str:
        return human_size(int(self.img.get("Size") or 0))

    def Containers(self) -> str:
        n = int(self.img.get("Containers", -1))
        return "N/A" if n == -1 else str(n)

    def VirtualSize(self) -> str:
        return human_size(int(self.img.get("VirtualSize") or self.img.get("Size") or 0), 4)

    def as_json(self) -> dict[str, str]:
        keys = ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository"]
        out = {k: getattr(self, k)() for k in keys}
        out["SharedSize"] = "N/A"
        out.update(
            Size=self.Size(), Tag=self.Tag(), UniqueSize="N/A", VirtualSize=self.VirtualSize()
        )
        return out


def _split_ref(ref: str, sep: str) -> tuple[str, str]:
    slash = ref.rfind("/")
    idx = ref.rfind(sep)
    if idx <= slash:
        return ref, ""
    return ref[:idx], ref[idx + 1 :]


def image_rows(
    images: Iterable[Mapping[str, Any]], digests: bool, trunc: bool, now: float | None = None
) -> list[ImageRow]:
    rows: list[ImageRow] = []
    for img in images:
        tags: dict[str, list[str]] = {}
        dgsts: dict[str, list[str]] = {}
        for ref in img.get("RepoTags") or []:
            if ref == "<none>:<none>":
                continue
            repo, tag = _split_ref(ref, ":")
            tags.setdefault(repo, []).append(tag)
        for ref in img.get("RepoDigests") or []:
            if ref == "<none>@<none>":
                continue
            repo, dg = _split_ref(ref, "@")
            dgsts.setdefault(repo, []).append(dg)
        before = len(rows)
        for repo, repo_tags in tags.items():
            repo_digests = dgsts.pop(repo, [])
            if not digests:
                repo_digests = []
            for tag in repo_tags:
                for dg in repo_digests or ["<none>"]:
                    rows.append(ImageRow(img, repo, tag, dg, trunc, now))
        for repo, repo_digests in dgsts.items():
            for dg in repo_digests if digests else ["<none>"]:
                rows.append(ImageRow(img, repo, "<none>", dg, trunc, now))
        if len(rows) == before:
            rows.append(ImageRow(img, "<none>", "<none>", "<none>", trunc, now))
    return rows


class HistoryRow:
    """One `history` row from GET /images/{name}/history."""

    def __init__(self, h: Mapping[str, Any], trunc: bool, human: bool, now: float | None) -> None:
        self.h, self.trunc, self.human, self.now = h, trunc, human, now

    def ID(self) -> str:
        hid = str(self.h.get("Id", ""))
        return truncate_id(hid) if self.trunc and hid.startswith("sha256:") else hid

    def CreatedSince(self) -> str:
        created = float(self.h.get("Created") or 0)
        return since(created, self.now) if self.human else rfc3339(created)

    def CreatedAt(self) -> str:
        return rfc3339(float(self.h.get("Created") or 0))

    def CreatedBy(self) -> str:
        by = str(self.h.get("CreatedBy", "")).replace("\t", " ")
        return ellipsis(by, 45) if self.trunc else by

    def Size(self) -> str:
        size = int(self.h.get("Size") or 0)
        return human_size(size) if self.human else str(size)

    def Comment(self) -> str:
        return str(self.h.get("Comment", ""))

    def as_json(self) -> dict[str, str]:
        keys = ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"]
        return {k: getattr(self, k)() for k in keys}
