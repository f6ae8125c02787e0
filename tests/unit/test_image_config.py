"""Image config documents, `--change` lines, ids, history rows and list filters (S1, S6, E3)."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.errors import InvalidParameter
from dockyard.images import changes, compression, views
from dockyard.images import config as image_config
from dockyard.state.images import ImageRecord


def apply(*lines: str, base: Json | None = None) -> Json:
    return image_config.apply_changes(base or image_config.empty_container_config(), list(lines))


def test_cmd_entrypoint_forms() -> None:
    """S6: JSON form kept, shell form wrapped in /bin/sh -c; ENTRYPOINT drops an inherited CMD."""
    assert apply('CMD ["a", "b"]')["Cmd"] == ["a", "b"]
    assert apply("CMD echo hi")["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    base = {**image_config.empty_container_config(), "Cmd": ["sh"]}
    assert apply('ENTRYPOINT ["/e"]', base=base)["Cmd"] is None
    both = apply('CMD ["x"]', 'ENTRYPOINT ["/e"]', base=base)
    assert both["Cmd"] == ["x"] and both["Entrypoint"] == ["/e"]


def test_env_label_expose_volume_workdir() -> None:
    cfg = apply(
        'ENV A=1 B="two words"',
        "ENV A 3",
        "LABEL com.x=y 'k k'=v",
        "EXPOSE 80 53/udp 8000-8001",
        'VOLUME ["/data"]',
        "VOLUME /a /b",
        "WORKDIR /srv",
        "WORKDIR app",
        "USER nobody",
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN make",
    )
    assert cfg["Env"] == ["A=3", "B=two words"]
    assert cfg["Labels"] == {"com.x": "y", "k k": "v"}
    assert set(cfg["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert set(cfg["Volumes"]) == {"/data", "/a", "/b"}
    assert cfg["WorkingDir"] == "/srv/app" and cfg["User"] == "nobody"
    assert cfg["StopSignal"] == "SIGINT" and cfg["OnBuild"] == ["RUN make"]


def test_invalid_change() -> None:
    with pytest.raises(InvalidParameter, match="^RUN is not a valid change command$"):
        apply("RUN echo")
    with pytest.raises(InvalidParameter):
        apply("EXPOSE notaport")


def test_healthcheck() -> None:
    hc = apply("HEALTHCHECK --interval=5s --retries=2 CMD curl -f x")["Healthcheck"]
    assert hc == {"Interval": 5_000_000_000, "Retries": 2, "Test": ["CMD-SHELL", "curl -f x"]}
    assert apply("HEALTHCHECK NONE")["Healthcheck"] == {"Test": ["NONE"]}
    assert changes.duration_ns("1m30s") == 90_000_000_000


def test_commit_merge_prefers_request_fields() -> None:
    merged = image_config.merge_commit_config(
        {"Cmd": ["sh"], "Env": ["A=1"], "Labels": {"a": "1"}},
        {"Cmd": ["top"], "Env": ["B=2"], "Labels": {"b": "2"}, "User": ""},
    )
    assert merged["Cmd"] == ["top"] and merged["Env"] == ["A=1", "B=2"]
    assert merged["Labels"] == {"a": "1", "b": "2"}


def test_new_image_and_id() -> None:
    """S1: a child adds one diff id and one history entry; the id hashes the stored bytes."""
    base = image_config.new_image(
        parent=None,
        config={"Cmd": ["sh"]},
        diff_id="sha256:" + "1" * 64,
        history=image_config.history_entry("2024-01-01T00:00:00Z", "ADD x"),
        created="2024-01-01T00:00:00Z",
    )
    child = image_config.new_image(
        parent=base,
        config={"Cmd": ["sh"]},
        diff_id=None,
        history=image_config.history_entry("2024-01-02T00:00:00Z", "CMD", empty_layer=True),
        created="2024-01-02T00:00:00Z",
    )
    assert image_config.diff_ids(child) == ["sha256:" + "1" * 64]
    assert [e.get("empty_layer", False) for e in child["history"]] == [False, True]
    raw = image_config.canonical_bytes(child)
    assert image_config.image_id(raw) == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert image_config.parse(raw) == child
    with pytest.raises(InvalidParameter):
        image_config.parse(b'{"rootfs": {"type": "nope"}}')


def test_times() -> None:
    assert timefmt.rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert timefmt.rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert timefmt.parse_rfc3339("2023-11-14T22:13:20.5Z") == 1_700_000_000.5
    assert timefmt.parse_rfc3339("2023-11-14T23:13:20+01:00") == 1_700_000_000
    assert timefmt.parse_rfc3339("0001-01-01T00:00:00Z") < 0


def test_history_rows_newest_first() -> None:
    """S1: one row per history entry; empty_layer rows have size 0; only known images get ids."""
    doc = {
        "rootfs": {"type": "layers", "diff_ids": ["sha256:a", "sha256:b"]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "ADD"},
            {"created": "2024-01-01T00:00:01Z", "created_by": "CMD", "empty_layer": True},
            {"created": "2024-01-01T00:00:02Z", "created_by": "RUN", "comment": "c"},
        ],
    }
    rows = views.history(doc, {"sha256:a": 10, "sha256:b": 20}, {2: ("sha256:top", ["x:1"])})
    assert [(r["Id"], r["CreatedBy"], r["Size"]) for r in rows] == [
        ("sha256:top", "RUN", 20),
        ("<missing>", "CMD", 0),
        ("<missing>", "ADD", 10),
    ]
    assert rows[0]["Tags"] == ["x:1"] and rows[1]["Tags"] is None and rows[0]["Comment"] == "c"


def test_list_row_and_filters() -> None:
    rec = ImageRecord("sha256:" + "a" * 64, "sha256:" + "a" * 64, None, None, "", 5.0, 7)
    row = views.summary(rec, {"config": {"Labels": {"a": "b"}}}, ["docker.io/library/x:1"])
    assert row["RepoTags"] == ["x:1"] and row["Created"] == 5 and row["VirtualSize"] == 7
    assert views.reference_matches(["x:*"], "docker.io/library/x:1")
    assert views.reference_matches(["x"], "docker.io/library/x:1")
    assert not views.reference_matches(["*"], "docker.io/foo/x:1")  # * never crosses "/"
    with pytest.raises(InvalidParameter, match="invalid filter 'dangling=maybe'"):
        views.validate_filters({"dangling": ["maybe"]})


@pytest.mark.parametrize(
    "compress",
    [
        lambda b: b,
        __import__("gzip").compress,
        __import__("bz2").compress,
        __import__("lzma").compress,
    ],
)
def test_decompression_by_magic(compress: object) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("f")
        ti.size = 1
        tf.addfile(ti, io.BytesIO(b"x"))
    raw = buf.getvalue()
    assert compression.decompressed(io.BytesIO(compress(raw))).read() == raw  # type: ignore[operator]


class _ReadOnlyBody:
    """Like a request body: read(n) and nothing else."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)


def test_decompression_of_plain_readers() -> None:
    data = __import__("gzip").compress(b"x" * 100_000)
    assert compression.decompressed(_ReadOnlyBody(data)).read() == b"x" * 100_000  # type: ignore[arg-type]


def test_zstd_streams_through_the_cli() -> None:
    """E3: zstd layers are decompressed while being read (more than a pipe buffer each way,
    so a non-streaming implementation would deadlock or buffer); a corrupt stream is a 400."""
    import subprocess

    from dockyard.errors import InvalidParameter

    raw = bytes(range(256)) * 16384 + b"tail"  # 4 MiB
    packed = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True)
    reader = compression.decompressed(io.BytesIO(packed.stdout))
    assert reader.read() == raw
    bad = compression.decompressed(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"garbage" * 100))
    with pytest.raises(InvalidParameter, match="invalid zstd stream"):
        bad.read()
