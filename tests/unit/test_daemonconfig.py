"""daemon.json for `dockyard daemon` (E5: registry mirrors and insecure registries from the file):
keys fill what no flag set, a key given both ways or unknown is refused in dockerd's words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard import daemon, daemonconfig


def _write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_file_fills_what_flags_left(tmp_path: Path) -> None:
    path = _write(tmp_path, {"registry-mirrors": ["http://127.0.0.1:5001"],
                             "insecure-registries": ["10.1.0.0/16"], "iptables": False,
                             "max-concurrent-downloads": 5,
                             "default-address-pools": [{"base": "10.99.0.0/16", "size": 24}]})  # fmt: skip
    ns = daemon.parse_args(["--config-file", path, "--bridge", "dyx0"])
    assert ns.registry_mirror == ["http://127.0.0.1:5001"]
    assert ns.insecure_registry == ["10.1.0.0/16"]
    assert (ns.iptables, ns.max_concurrent_downloads, ns.bridge) == ("false", 5, "dyx0")
    assert ns.default_address_pool == ["base=10.99.0.0/16,size=24"]


def test_a_directive_given_twice_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, {"registry-mirrors": ["http://a"]})
    with pytest.raises(daemonconfig.ConfigError, match="specified both as a flag and in the "
                       "configuration file: registry-mirrors"):  # fmt: skip
        daemon.parse_args(["--config-file", path, "--registry-mirror", "http://b"])


def test_unknown_directives_and_missing_files(tmp_path: Path) -> None:
    path = _write(tmp_path, {"no-such-option": 1})
    with pytest.raises(
        daemonconfig.ConfigError, match="don't match any configuration option: no-such-option"
    ):
        daemon.parse_args(["--config-file", path])
    with pytest.raises(daemonconfig.ConfigError, match="no such file or directory"):
        daemon.parse_args(["--config-file", str(tmp_path / "absent.json")])
    assert daemon.parse_args([]).registry_mirror == []  # an absent default file is no error


def test_the_daemon_tells_systemd_it_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#12: dockyard.service is Type=notify; the daemon sends READY=1 to $NOTIFY_SOCKET."""
    import socket

    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        daemon._notify_systemd(b"READY=1")
        assert s.recv(64) == b"READY=1"
    monkeypatch.delenv("NOTIFY_SOCKET")
    daemon._notify_systemd(b"READY=1")  # no service manager asked: nothing to do


def test_max_download_attempts_from_flag_or_file_and_refused_below_one(tmp_path: Path) -> None:
    """E5 (#13): --max-download-attempts (default 5) or daemon.json's `max-download-attempts`;
    0 or less stops the daemon with dockerd's words."""
    assert daemon.parse_args([]).max_download_attempts == 5
    assert daemon.parse_args(["--max-download-attempts", "2"]).max_download_attempts == 2
    path = _write(tmp_path, {"max-download-attempts": 3})
    assert daemon.parse_args(["--config-file", path]).max_download_attempts == 3
    with pytest.raises(daemonconfig.ConfigError, match="^invalid max download attempts: 0$"):
        daemon.parse_args(["--max-download-attempts", "0"])
    with pytest.raises(daemonconfig.ConfigError, match="^invalid max download attempts: -1$"):
        daemon.parse_args(["--config-file", _write(tmp_path, {"max-download-attempts": -1})])


def test_init_and_log_defaults_from_the_file_and_flags(tmp_path: Path) -> None:
    """E6: daemon.json's `init`, `init-path`, `log-driver` and `log-opts` as dockerd's; the same
    as flags (`--log-opt` repeated); an option the driver does not take stops the daemon."""
    path = _write(tmp_path, {"init": True, "init-path": "/usr/bin/tini-static",
                             "log-driver": "local", "log-opts": {"max-size": "5m", "max-file": "2"}})  # fmt: skip
    ns = daemon.parse_args(["--config-file", path])
    assert (ns.init, ns.init_path, ns.log_driver) == (True, "/usr/bin/tini-static", "local")
    assert ns.log_opts == (("max-size", "5m"), ("max-file", "2"))
    ns = daemon.parse_args(["--log-driver", "json-file", "--log-opt", "max-size=1m",
                            "--log-opt", "max-file=3"])  # fmt: skip
    assert (ns.init, ns.log_driver, ns.log_opts) == (
        False,
        "json-file",
        (("max-size", "1m"), ("max-file", "3")),
    )
    path = _write(tmp_path, {"log-driver": "local", "log-opts": {"bogus": "1"}})
    with pytest.raises(
        daemonconfig.ConfigError,
        match="failed to set log opts: unknown log opt 'bogus' for log driver local",
    ):
        daemon.parse_args(["--config-file", path])
    with pytest.raises(daemonconfig.ConfigError, match="specified both as a flag and in the "
                       "configuration file: log-driver"):  # fmt: skip
        daemon.parse_args(["--config-file", path, "--log-driver", "none"])
