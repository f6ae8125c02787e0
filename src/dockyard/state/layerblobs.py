"""Which compressed blobs a layer came as (E5), dockerd's v2 metadata: a pulled layer is kept
as the blob the registry served (content store, under the blob's own digest), and a row ties its
diff ID to that blob, its media type and the repository it came from. `save` decompresses it,
and a push of the layer reuses the registry's blob (HEAD, or a cross-repository mount), so an
image pulled and pushed again keeps its manifest digest."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.state.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS layer_blobs (
    diff_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (diff_id, digest, source)
);
CREATE INDEX IF NOT EXISTS layer_blobs_digest ON layer_blobs(digest)
"""


@dataclass(frozen=True)
class LayerBlob:
    diff_id: str
    digest: str  # the compressed blob's digest
    media_type: str
    size: int
    source: str  # the repository it was pulled from or pushed to: "127.0.0.1:5000/app"


class LayerBlobRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, blob: LayerBlob) -> None:
        with self.db.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO layer_blobs (diff_id, digest, media_type, size, source)"
                " VALUES (?, ?, ?, ?, ?)",
                (blob.diff_id, blob.digest, blob.media_type, blob.size, blob.source),
            )

    def of(self, diff_id: str) -> list[LayerBlob]:
        rows = self.db.query(
            "SELECT diff_id, digest, media_type, size, source FROM layer_blobs WHERE diff_id = ?"
            " ORDER BY rowid",
            (diff_id,),
        )
        return [LayerBlob(r["diff_id"], r["digest"], r["media_type"], r["size"], r["source"])
                for r in rows]  # fmt: skip

    def digests(self, within: set[str] | None = None) -> set[str]:
        """Every compressed blob a row names (`within`: only the rows of these diff IDs)."""
        rows = self.db.query("SELECT DISTINCT diff_id, digest FROM layer_blobs")
        return {str(r["digest"]) for r in rows if within is None or r["diff_id"] in within}

    def diff_ids(self) -> set[str]:
        """Every layer a row is about."""
        rows = self.db.query("SELECT DISTINCT diff_id FROM layer_blobs")
        return {str(r["diff_id"]) for r in rows}

    def remove(self, blob: LayerBlob) -> bool:
        """Drop one row; True while another row still names the same blob."""
        with self.db.tx() as c:
            c.execute(
                "DELETE FROM layer_blobs WHERE diff_id = ? AND digest = ? AND source = ?",
                (blob.diff_id, blob.digest, blob.source),
            )
            left = c.query("SELECT 1 FROM layer_blobs WHERE digest = ? LIMIT 1", (blob.digest,))
        return bool(left)

    def forget(self, diff_ids: list[str]) -> list[str]:
        """Drop the rows of these layers; returns the blob digests no other layer uses."""
        with self.db.tx() as c:
            digests = set()
            for diff_id in diff_ids:
                for r in c.query("SELECT digest FROM layer_blobs WHERE diff_id = ?", (diff_id,)):
                    digests.add(str(r["digest"]))
                c.execute("DELETE FROM layer_blobs WHERE diff_id = ?", (diff_id,))
            still = {str(r["digest"]) for r in c.query("SELECT DISTINCT digest FROM layer_blobs")}
        return sorted(digests - still)

    def forget_blob(self, digest: str) -> None:
        """Drop every row naming this compressed blob (a corrupt one: the layers it was stay)."""
        with self.db.tx() as c:
            c.execute("DELETE FROM layer_blobs WHERE digest = ?", (digest,))
