"""N5: the bridge driver options Docker documents, parsed with dockerd 20.10's wording."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.network import spec

P = "com.docker.network."


def test_defaults_when_no_option_is_given() -> None:
    o = spec.BridgeOptions.of({})
    assert (o.mtu, o.icc, o.masquerade, o.host_ip, o.iface_prefix) == (None, True, True, "", "eth")


def test_every_documented_option_is_typed() -> None:
    o = spec.BridgeOptions.of(
        {
            P + "driver.mtu": "9000",
            P + "bridge.enable_icc": "false",
            P + "bridge.enable_ip_masquerade": "0",
            P + "bridge.host_binding_ipv4": "127.0.0.2",
            P + "container_iface_prefix": "foo",
        }
    )
    assert (o.mtu, o.icc, o.masquerade, o.host_ip, o.iface_prefix) == (
        9000,
        False,
        False,
        "127.0.0.2",
        "foo",
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "driver.mtu",
            "abc",
            'failed to parse com.docker.network.driver.mtu value: abc (strconv.Atoi: parsing "abc": invalid syntax)',
        ),
        (
            "bridge.enable_icc",
            "maybe",
            'failed to parse com.docker.network.bridge.enable_icc value: maybe (strconv.ParseBool: parsing "maybe": invalid syntax)',
        ),
        (
            "bridge.host_binding_ipv4",
            "nope",
            "failed to parse com.docker.network.bridge.host_binding_ipv4 value: nope (nil ip)",
        ),
    ],
)
def test_bad_values_fail_as_dockerd(key: str, value: str, message: str) -> None:
    with pytest.raises(errors.DockyardError) as exc:
        spec.BridgeOptions.of({P + key: value})
    assert exc.value.message == message and exc.value.status == 500


def test_unknown_options_are_kept_as_docker_does() -> None:
    body = {"Name": "n", "Options": {"foo.bar": "1", P + "driver.mtu": "1400"}}
    assert spec.parse(body).options == {"foo.bar": "1", P + "driver.mtu": "1400"}
