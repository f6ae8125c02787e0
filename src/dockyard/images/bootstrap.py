"""Make `busybox:latest` offline from the host's static busybox (S7).

The layer looks like the official busybox image: /bin/busybox plus one hardlink per applet in /bin,
/etc/passwd and /etc/group with the same accounts, the usual empty top-level directories, /tmp
sticky. Every entry carries the busybox binary's mtime, root ownership and a fixed order, so one host
always builds the same bytes, hence the same diff id and image id: bootstrapping twice is a no-op.
"""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core import timefmt
from dockyard.core.types import Json
from dockyard.errors import Unavailable
from dockyard.images import config as image_config

log = logging.getLogger(__name__)

HOST_BUSYBOX = Path("/usr/bin/busybox")
REFERENCE = "docker.io/library/busybox:latest"

DIRS: tuple[tuple[str, int], ...] = (
    ("bin", 0o755),
    ("dev", 0o755),
    ("etc", 0o755),
    ("etc/network", 0o755),
    ("home", 0o755),
    ("proc", 0o755),
    ("root", 0o700),
    ("sys", 0o755),
    ("tmp", 0o1777),
    ("usr", 0o755),
    ("usr/sbin", 0o755),
    ("var", 0o755),
    ("var/spool", 0o755),
    ("var/spool/mail", 0o755),
    ("var/www", 0o755),
)

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""

GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""

SHADOW = "".join(f"{line.split(':')[0]}:*::0:::::\n" for line in PASSWD.splitlines())
FILES: tuple[tuple[str, str, int], ...] = (
    ("etc/group", GROUP, 0o644),
    ("etc/passwd", PASSWD, 0o644),
    ("etc/shadow", SHADOW, 0o600),
    ("etc/nsswitch.conf", "hosts: files dns\n", 0o644),
)


@dataclass(frozen=True)
class HostBusybox:
    path: Path
    applets: tuple[str, ...]
    version: str
    mtime: int


def probe(path: Path = HOST_BUSYBOX) -> HostBusybox:
    """Find the host busybox and its applets; Unavailable when it is missing or not static."""
    if not path.is_file():
        raise Unavailable(
            f"cannot bootstrap busybox: {path} not found (install the busybox-static package)"
        )
    try:
        listing = subprocess.run([str(path), "--list"], capture_output=True, check=True, timeout=10)
        banner = subprocess.run([str(path)], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable(f"cannot bootstrap busybox: {path} --list failed: {e}") from e
    applets = sorted(
        {a for a in listing.stdout.decode().split() if a and "/" not in a and a != "busybox"}
    )
    version = (banner.stdout or banner.stderr).decode(errors="replace").splitlines()[0:1]
    return HostBusybox(
        path, tuple(applets), version[0] if version else "BusyBox", int(path.stat().st_mtime)
    )


def _info(
    name: str, mtime: int, mode: int, kind: bytes = tarfile.REGTYPE, size: int = 0
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.size = size
    return ti


def write_layer(bb: HostBusybox, out: BinaryIO) -> None:
    """The layer tar, byte-for-byte the same for the same host binary."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, mode in DIRS:
            tar.addfile(_info(name + "/", bb.mtime, mode, tarfile.DIRTYPE))
        size = bb.path.stat().st_size
        with bb.path.open("rb") as f:
            tar.addfile(_info("bin/busybox", bb.mtime, 0o755, size=size), f)
        for applet in bb.applets:
            link = _info(f"bin/{applet}", bb.mtime, 0o755, tarfile.LNKTYPE)
            link.linkname = "bin/busybox"
            tar.addfile(link)
        for name, text, mode in FILES:
            data = text.encode()
            tar.addfile(_info(name, bb.mtime, mode, size=len(data)), io.BytesIO(data))


def image_doc(bb: HostBusybox, diff_id: str) -> Json:
    created = timefmt.rfc3339nano(bb.mtime * 1_000_000_000)
    cfg = image_config.empty_container_config()
    cfg["Env"] = [f"PATH={image_config.DEFAULT_PATH}"]
    cfg["Cmd"] = ["sh"]
    file_hash = diff_id.removeprefix("sha256:")
    doc = image_config.new_image(
        parent=None,
        config=cfg,
        diff_id=diff_id,
        history=image_config.history_entry(
            created,
            f"/bin/sh -c #(nop) ADD file:{file_hash} in / ",
            comment=f"dockyard bootstrap from {bb.path} ({bb.version})",
        ),
        created=created,
    )
    doc["history"].append(
        image_config.history_entry(created, '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer=True)
    )
    return doc


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
