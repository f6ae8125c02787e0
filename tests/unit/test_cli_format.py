"""`ps`/`images`/`history` rows and go-units arithmetic as docker-cli prints them (MISSION E2,
S5 for the size column)."""

from __future__ import annotations

import pytest

from dockyard.cli.diskusage import summary
from dockyard.cli.format import (
    PS_TABLE,
    ContainerRow,
    display_ports,
    go_quote,
    render,
    truncate_id,
)
from dockyard.cli.imagerows import (
    HISTORY_HEADERS,
    HISTORY_TABLE,
    IMAGE_HEADERS,
    IMAGES_TABLE,
    HistoryRow,
    image_rows,
)
from dockyard.core.timefmt import api_timestamp, go_duration
from dockyard.units import human_duration, human_size, ram_in_bytes

NOW = 1_800_000_000.0
CID = "6ce2d32782872dc63b11d000c5dc1be1598a4f9cee29fa8339a092bcf44badf1"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (2 * 3600, "2 hours"),
        (47 * 3600, "47 hours"),
        (3 * 86400, "3 days"),
        (15 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1000, "1kB"),
        (1234, "1.23kB"),
        (1982298, "1.98MB"),
        (4_260_000, "4.26MB"),
        (1_240_000, "1.24MB"),
        (999_999, "1e+03kB"),
        (5 * 10**9, "5GB"),
    ],
)
def test_human_size_three_significant_digits(size: int, text: str) -> None:
    assert human_size(size) == text


def test_human_size_precision_four() -> None:
    assert human_size(1982298, 4) == "1.982MB"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("512m", 512 << 20),
        ("1g", 1 << 30),
        ("1024", 1024),
        ("1.5GiB", int(1.5 * (1 << 30))),
        ("64k", 64 << 10),
        ("10 MB", 10 << 20),
    ],
)
def test_ram_in_bytes(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize("text", ["x", "", "1q", "-1m", "1.2.x"])
def test_ram_in_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=f"invalid size: '{text}'"):
        ram_in_bytes(text)


def test_durations_and_timestamps() -> None:
    assert go_duration("1h30m") == 5400
    assert go_duration("10s") == 10
    assert go_duration("abc") is None
    assert api_timestamp("10m", NOW) == f"{NOW - 600:.9f}"
    assert api_timestamp("1700000000", NOW) == "1700000000"
    assert api_timestamp("2026-01-01T00:00:00Z", NOW) == "1767225600.000000000"
    with pytest.raises(ValueError):
        api_timestamp("yesterday", NOW)


def _container(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Id": CID,
        "Names": ["/t1"],
        "Image": "busybox",
        "ImageID": "sha256:fd848e16b5fa1ee485dc4706a84aad447f8513a00a5495c1dff6cf52dff85ee9",
        "Command": "sleep 1000",
        "Created": NOW - 125,
        "Ports": [],
        "Labels": {},
        "State": "running",
        "Status": "Up 2 minutes",
    }
    base.update(extra)
    return base


def test_ps_table_matches_docker() -> None:
    row = ContainerRow(_container(), now=NOW)
    assert render([row], PS_TABLE) == (
        "CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS     NAMES\n"
        '6ce2d3278287   busybox   "sleep 1000"   2 minutes ago   Up 2 minutes             t1\n'
    )


def test_ps_empty_table_is_just_the_header() -> None:
    assert render([], PS_TABLE) == (
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    )


def test_ps_command_truncated_with_ellipsis_and_quoted() -> None:
    row = ContainerRow(_container(Command="sh -c 'echo started; sleep 5'"), now=NOW)
    assert row.Command() == '"sh -c \'echo started…"'
    assert ContainerRow(_container(Command='a "b"'), now=NOW).Command() == '"a \\"b\\""'
    full = ContainerRow(_container(Command="sh -c 'echo started; sleep 5'"), trunc=False)
    assert full.Command() == "\"sh -c 'echo started; sleep 5'\""


def test_ps_size_column() -> None:
    row = ContainerRow(_container(SizeRw=0, SizeRootFs=1_240_000), now=NOW)
    assert row.Size() == "0B (virtual 1.24MB)"
    assert ContainerRow(_container(SizeRw=12), now=NOW).Size() == "12B"


def test_ps_names_hide_links_and_ids_truncate() -> None:
    row = ContainerRow(_container(Names=["/web/db", "/db"]), now=NOW)
    assert row.Names() == "db"
    assert row.ID() == "6ce2d3278287"
    assert ContainerRow(_container(), trunc=False).ID() == CID
    assert ContainerRow(_container(Image="sha256:" + "a" * 64)).Image() == "a" * 12
    assert ContainerRow(_container(Image="")).Image() == "<no image>"


def test_ps_ports() -> None:
    ports = [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]
    assert display_ports(ports) == "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 53/udp"


def test_ps_json_escapes_like_go() -> None:
    row = ContainerRow(_container(Command="a<b"), now=NOW)
    out = render([row], "json")
    assert '"Command":"\\"a\\u003cb\\""' in out
    assert out.index('"Names"') < out.index('"Platform"') < out.index('"Ports"')


def test_images_rows_per_tag_and_digest() -> None:
    img = {
        "Id": "sha256:" + "b" * 64,
        "RepoTags": ["busybox:latest", "busybox:1", "other:x"],
        "RepoDigests": ["busybox@sha256:" + "c" * 64],
        "Created": NOW - 30,
        "Size": 1982298,
    }
    rows = image_rows([img], digests=False, trunc=True, now=NOW)
    assert [(r.Repository(), r.Tag(), r.Digest()) for r in rows] == [
        ("busybox", "latest", "<none>"),
        ("busybox", "1", "<none>"),
        ("other", "x", "<none>"),
    ]
    assert render(rows[:1], IMAGES_TABLE, IMAGE_HEADERS) == (
        "REPOSITORY   TAG       IMAGE ID       CREATED          SIZE\n"
        "busybox      latest    bbbbbbbbbbbb   30 seconds ago   1.98MB\n"
    )
    with_digests = image_rows([img], digests=True, trunc=True, now=NOW)
    assert with_digests[0].Digest() == "sha256:" + "c" * 64


def test_images_dangling_and_registry_port() -> None:
    dangling = {"Id": "sha256:" + "d" * 64, "RepoTags": [], "RepoDigests": [], "Created": 0}
    row = image_rows([dangling], False, True, NOW)[0]
    assert (row.Repository(), row.Tag(), row.CreatedSince()) == ("<none>", "<none>", "N/A")
    ported = {"Id": "sha256:" + "e" * 64, "RepoTags": ["localhost:5000/app"], "Created": NOW}
    row = image_rows([ported], False, True, NOW)[0]
    assert (row.Repository(), row.Tag()) == ("localhost:5000/app", "")


def test_history_rows() -> None:
    hist = [
        {
            "Id": "sha256:" + "a" * 64,
            "Created": NOW - 3,
            "CreatedBy": '/bin/sh -c\t#(nop) CMD ["sh"] and much more text here',
            "Size": 0,
            "Comment": "msg",
        },
        {"Id": "<missing>", "Created": NOW - 7200, "CreatedBy": "", "Size": 1982298, "Comment": ""},
    ]
    rows = [HistoryRow(h, True, True, NOW) for h in hist]
    assert rows[0].CreatedBy() == '/bin/sh -c #(nop) CMD ["sh"] and much more t…'
    assert rows[1].ID() == "<missing>"
    out = render(rows, HISTORY_TABLE, HISTORY_HEADERS)
    assert (
        out.splitlines()[0]
        == "IMAGE          CREATED         CREATED BY                                      SIZE      COMMENT"
    )
    assert HistoryRow(hist[1], True, False, NOW).Size() == "1982298"


def test_custom_format_without_table_has_no_header() -> None:
    rows = [ContainerRow(_container(), now=NOW)]
    assert render(rows, "{{.Names}}\\t{{.State}}") == "t1\trunning\n"
    assert render(rows, "table {{.Names}}") == "NAMES\nt1\n"


def test_truncate_id() -> None:
    assert truncate_id("sha256:" + "f" * 64) == "f" * 12
    assert go_quote("a\tb") == '"a\\tb"'


def test_system_df_summary_counts_shared_layers_once() -> None:
    df = {
        "LayersSize": 3_000_000,
        "Images": [
            {"Size": 2_000_000, "SharedSize": 1_000_000, "Containers": 1},
            {"Size": 2_000_000, "SharedSize": 1_000_000, "Containers": 0},
        ],
        "Containers": [
            {"SizeRw": 100, "State": "running"},
            {"SizeRw": 50, "State": "exited"},
        ],
        "Volumes": [{"UsageData": {"Size": 10, "RefCount": 0}}],
        "BuildCache": [],
    }
    rows = summary(df)
    assert rows[0] == {
        "Type": "Images",
        "TotalCount": "2",
        "Active": "1",
        "Size": "3MB",
        "Reclaimable": "2MB (66%)",
    }
    assert rows[1]["Size"] == "150B" and rows[1]["Reclaimable"] == "50B (33%)"
    assert rows[2]["Reclaimable"] == "10B (100%)"
