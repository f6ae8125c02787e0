"""Port publishing, daemon side (N1): PortBindings parsing, reservations, the Ports document."""

from __future__ import annotations

import socket

import pytest

from dockyard import errors
from dockyard.core.container import Published
from dockyard.network import ports
from dockyard.network.ports import Binding, PortReservations


def test_requested_bindings_and_publish_all() -> None:
    """N1: explicit bindings, ranges of host ports, -P for exposed ports not bound yet."""
    got = ports.requested(
        {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{"HostPort": ""}]},
        {"80/tcp": {}, "443/tcp": {}},
        True,
    )
    assert Binding("tcp", 80, "127.0.0.1", 8080, 8080) in got
    assert Binding("udp", 53, "", 0, 0) in got
    assert Binding("tcp", 443, "") in got
    assert len(got) == 3
    assert ports.requested({"80": [{"HostPort": "9000-9005"}]}, None, False) == [
        Binding("tcp", 80, "", 9000, 9005)
    ]


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"abc/tcp": []}, 'invalid port specification: "abc"'),
        ({"99999/tcp": []}, 'invalid port specification: "99999"'),
        ({"80/tcp": [{"HostPort": "x"}]}, 'invalid port specification: "x"'),
        ({"80/tcp": [{"HostPort": "9-1"}]}, 'invalid port specification: "9-1"'),
    ],
)
def test_bad_bindings_use_dockerd_wording(
    bindings: dict[str, list[dict[str, str]]], message: str
) -> None:
    """N1: malformed PortBindings are a 400 with dockerd's message."""
    with pytest.raises(errors.InvalidParameter) as e:
        ports.requested(bindings, None, False)
    assert e.value.message == message


def test_ports_doc_shape() -> None:
    """N1: NetworkSettings.Ports lists exposed ports as null, published ones as bindings."""
    doc = ports.ports_doc([Published("tcp", 80, "0.0.0.0", 8080)], {"80/tcp": {}, "81/udp": {}})
    assert doc == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "81/udp": None}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_reservation_conflicts_and_release() -> None:
    """N1: a port held by one container is "already allocated" for the next; a port held by
    another process is "address already in use"; release frees it; failures hold nothing."""
    r = PortReservations()
    port = _free_port()
    got = r.reserve("a", [Binding("tcp", 80, "127.0.0.1", port, port)])
    assert got == [Published("tcp", 80, "127.0.0.1", port)]
    with pytest.raises(
        errors.System, match=f"Bind for 0.0.0.0:{port} failed: port is already allocated"
    ):
        r.reserve("b", [Binding("tcp", 80, "", port, port)])
    # the host port is really taken, for everybody
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", port))
    r.release("a")
    other = socket.socket()
    other.bind(("127.0.0.1", port))
    try:
        second = _free_port()
        with pytest.raises(errors.System, match="address already in use"):
            r.reserve("b", [Binding("tcp", 1, "127.0.0.1", second, second),
                            Binding("tcp", 2, "127.0.0.1", port, port)])  # fmt: skip
        assert r.owners() == set()  # the first binding was given back
    finally:
        other.close()


def test_ephemeral_and_preferred_ports() -> None:
    """N1: ephemeral ports come from the range; a restart gets its previous port back."""
    r = PortReservations(ports.ephemeral_range())
    (p,) = r.reserve("a", [Binding("udp", 53, "127.0.0.1")])
    assert p.host_port in ports.ephemeral_range()
    r.release("a")
    (q,) = r.reserve("a", [Binding("udp", 53, "127.0.0.1")], {"53/udp": p.host_port})
    assert q.host_port == p.host_port
    r.release("a")


def test_ipv6_loopback_bindings_and_reservations() -> None:
    """D-dpy6-4: `[::1]` TCP publications are kept (the userland proxy forwards them), other
    IPv6 ones are not; a [::1] reservation listens (its proxy accepts there), does not clash
    with 0.0.0.0 on the same port, and a second [::1] one is "already allocated"."""
    wanted = ports.requested({"80/tcp": [{"HostIp": "::1", "HostPort": "8080"},
                                         {"HostIp": "fd00::1", "HostPort": "8081"}],
                              "53/udp": [{"HostIp": "::1", "HostPort": "5353"}]}, None, False)  # fmt: skip
    assert wanted == [Binding("tcp", 80, "::1", 8080, 8080)]
    r = PortReservations()
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    try:
        got = r.reserve("a", [Binding("tcp", 80, "::1", port, port)])
        assert got == [Published("tcp", 80, "::1", port)]
        with socket.create_connection(("::1", port), timeout=5):
            pass  # the backlog takes it: the socket listens
        r.reserve("b", [Binding("tcp", 80, "", port, port)])  # IPv4 wildcard: no clash
        with pytest.raises(errors.System, match="port is already allocated"):
            r.reserve("c", [Binding("tcp", 80, "::1", port, port)])
    finally:
        r.release("a")
        r.release("b")
    assert r.owners() == set()
