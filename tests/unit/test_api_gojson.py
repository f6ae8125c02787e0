"""E1, R1 (#17): request bodies checked against the typed models of the Engine API, refused in
the words dockerd 20.10 answers (each expected message below was read from the oracle dockerd,
tests/oracle.py), Content-Type checked as dockerd's CheckForJSON, bodies bounded."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from multidict import CIMultiDict

from dockyard.api import models
from dockyard.api.body import MAX_BODY, BodyTooLarge, check_content_type, media_type, read_body
from dockyard.api.gojson import decode
from dockyard.errors import InvalidParameter

CC, HOST = models.ContainerConfig, "HostConfig.HostConfig"


@pytest.mark.parametrize(
    ("raw", "model", "message"),
    [
        ('{"Cmd":5}', CC, "number into Go struct field ContainerConfigWrapper.Cmd of type string"),
        ('{"Cmd":[1]}', CC, "array into Go struct field ContainerConfigWrapper.Cmd of type string"),
        ('{"Env":{"A":"1"}}', CC, "object into Go struct field ContainerConfigWrapper.Env of type []string"),
        ('{"Image":5}', CC, "number into Go struct field ContainerConfigWrapper.Image of type string"),
        ('{"Tty":"yes"}', CC, "string into Go struct field ContainerConfigWrapper.Tty of type bool"),
        ('{"ExposedPorts":[1]}', CC, "array into Go struct field ContainerConfigWrapper.ExposedPorts of type nat.PortSet"),
        ('{"Labels":{"a":"b","c":1}}', CC, "number into Go struct field ContainerConfigWrapper.Labels of type string"),
        ('{"Volumes":["/x"]}', CC, "array into Go struct field ContainerConfigWrapper.Volumes of type map[string]struct {}"),
        ('{"StopTimeout":"x"}', CC, "string into Go struct field ContainerConfigWrapper.StopTimeout of type int"),
        ('{"Entrypoint":{"a":1}}', CC, "object into Go struct field ContainerConfigWrapper.Entrypoint of type string"),
        ('{"Healthcheck":{"Interval":"1s"}}', CC, "string into Go struct field HealthConfig.Healthcheck.Interval of type time.Duration"),
        ('{"HostConfig":{"Memory":"x"}}', CC, f"string into Go struct field {HOST}.Memory of type int64"),
        ('{"HostConfig":{"Memory":1.5}}', CC, f"number 1.5 into Go struct field {HOST}.Memory of type int64"),
        ('{"HostConfig":{"Memory":-1e99}}', CC, f"number -1e99 into Go struct field {HOST}.Memory of type int64"),
        ('{"HostConfig":{"CpuShares":99999999999999999999}}', CC, f"number 99999999999999999999 into Go struct field {HOST}.CpuShares of type int64"),
        ('{"HostConfig":{"Binds":"x"}}', CC, f"string into Go struct field {HOST}.Binds of type []string"),
        ('{"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":80}]}}}', CC, "number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
        ('{"HostConfig":{"RestartPolicy":{"MaximumRetryCount":"x"}}}', CC, "string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int"),
        ('{"NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":"x"}}}}', CC, "string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string"),
        ("[1]", CC, "array into Go value of type runconfig.ContainerConfigWrapper"),
        ("5", CC, "number into Go value of type runconfig.ContainerConfigWrapper"),
        ('{"Name":"n","Labels":5}', models.NetworkCreate, "number into Go struct field NetworkCreateRequest.Labels of type map[string]string"),
        ('{"IPAM":{"Config":[{"Subnet":5}]}}', models.NetworkCreate, "number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
        ('{"Options":{"a":true}}', models.NetworkCreate, "bool into Go struct field NetworkCreateRequest.Options of type string"),
        ("[]", models.NetworkCreate, "array into Go value of type types.NetworkCreateRequest"),
        ('{"Name":5}', models.VolumeCreate, "number into Go struct field VolumeCreateBody.Name of type string"),
        ('{"DriverOpts":{"a":1}}', models.VolumeCreate, "number into Go struct field VolumeCreateBody.DriverOpts of type string"),
        ('{"Cmd":5}', models.ExecConfig, "number into Go struct field ExecConfig.Cmd of type []string"),
        ('{"Cmd":["true"],"Tty":1}', models.ExecConfig, "number into Go struct field ExecConfig.Tty of type bool"),
        ('{"Detach":"x"}', models.ExecStartCheck, "string into Go struct field ExecStartCheck.Detach of type bool"),
        ('{"Memory":"x"}', models.UpdateConfig, "string into Go struct field UpdateConfig.Memory of type int64"),
        ('{"CpuShares":1.5}', models.UpdateConfig, "number 1.5 into Go struct field UpdateConfig.CpuShares of type int64"),
        ('{"RestartPolicy":{"Name":5}}', models.UpdateConfig, "number into Go struct field RestartPolicy.RestartPolicy.Name of type string"),
        ('{"Container":5}', models.NetworkConnect, "number into Go struct field NetworkConnect.Container of type string"),
        ('{"Container":"x","EndpointConfig":{"Aliases":"x"}}', models.NetworkConnect, "string into Go struct field EndpointSettings.EndpointConfig.Aliases of type []string"),
        ('{"Container":"x","Force":"x"}', models.NetworkDisconnect, "string into Go struct field NetworkDisconnect.Force of type bool"),
        ('{"HostConfig":{"Mounts":[{"Type":5}]}}', CC, "number into Go struct field Mount.HostConfig.Mounts.Type of type mount.Type"),
        ('{"HostConfig":{"Ulimits":[{"Soft":"x"}]}}', CC, "string into Go struct field Ulimit.HostConfig.Ulimits.Soft of type int64"),
        ('{"HostConfig":{"ConsoleSize":[-1]}}', CC, f"number -1 into Go struct field {HOST}.ConsoleSize of type uint"),
        ('{"HostConfig":{"BlkioWeight":70000}}', CC, f"number 70000 into Go struct field {HOST}.BlkioWeight of type uint16"),
        ('{"HostConfig":{"NetworkMode":5}}', CC, f"number into Go struct field {HOST}.NetworkMode of type container.NetworkMode"),
        ('{"HostConfig":{"BlkioWeightDevice":"x"}}', CC, f"string into Go struct field {HOST}.BlkioWeightDevice of type []*blkiodev.WeightDevice"),
        ('{"HostConfig":{"BlkioWeightDevice":[5]}}', CC, f"number into Go struct field {HOST}.BlkioWeightDevice of type blkiodev.WeightDevice"),
        ('{"HostConfig":{"CapAdd":5}}', CC, f"number into Go struct field {HOST}.CapAdd of type string"),
        ('{"HostConfig":{"Mounts":[{"TmpfsOptions":{"Mode":-1}}]}}', CC, "number -1 into Go struct field TmpfsOptions.HostConfig.Mounts.TmpfsOptions.Mode of type fs.FileMode"),
        ('{"ExposedPorts":{"80/tcp":5}}', CC, "number into Go struct field ContainerConfigWrapper.ExposedPorts of type struct {}"),
        ('{"NetworkingConfig":{"EndpointsConfig":5}}', CC, "number into Go struct field NetworkingConfig.NetworkingConfig.EndpointsConfig of type map[string]*network.EndpointSettings"),
        ('{"HostConfig":5}', CC, "number into Go struct field ContainerConfigWrapper.HostConfig of type container.HostConfig"),
        ('{"username":5}', models.AuthConfig, "number into Go struct field AuthConfig.username of type string"),
        ("[1]", models.AuthConfig, "array into Go value of type types.AuthConfig"),
        ('{"ListenAddr":5}', models.SwarmInit, "number into Go struct field InitRequest.ListenAddr of type string"),
        ('{"RemoteAddrs":"x"}', models.SwarmJoin, "string into Go struct field JoinRequest.RemoteAddrs of type []string"),
    ],
)  # fmt: skip
def test_type_errors_in_dockerds_words(raw: str, model: type[models.Model], message: str) -> None:
    """E1, R1: a wrong type anywhere in a body is a 400 worded as dockerd 20.10's."""
    with pytest.raises(InvalidParameter) as info:
        decode(raw.encode(), model)
    assert info.value.message == f"json: cannot unmarshal {message}"
    assert info.value.status == 400


def test_good_bodies_pass_unchanged() -> None:
    """E1: what passes is the body as sent (services take the same dict as before); null is
    Go's zero value, unknown fields are ignored, as Go's decoder does."""
    raw = (b'{"Image":"busybox","Cmd":"echo hi","Env":["A=1"],"Healthcheck":null,"Future":{"x":1},'
           b'"HostConfig":{"Memory":1048576,"PortBindings":{"80/tcp":null},"CapAdd":"NET_ADMIN"},'
           b'"Volumes":{"/v":{}},"ExposedPorts":{"80/tcp":{}}}')  # fmt: skip
    body = decode(raw, CC)
    expected = msgspec.json.decode(raw)
    del expected["Healthcheck"]  # null: absent, as in Go
    assert body == expected
    assert decode(b"  \n", CC) is None
    assert decode(b"null", CC) is None  # Go: no change; the docker CLI's commit sends it


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "unexpected EOF"),
        (b'{"Image":', "unexpected EOF"),
        (b"{a}", "invalid character 'a' looking for beginning of object key string"),
        (b'{"a":NaN}', "invalid character 'N' looking for beginning of value"),
        (b"\xff", "invalid character in request body: not UTF-8"),
    ],
)
def test_syntax_errors(raw: bytes, message: str) -> None:
    """E1: malformed JSON is a 400 in Go's words, never Python's."""
    with pytest.raises(InvalidParameter) as info:
        decode(raw, CC)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "has_body", "ok"),
    [
        ("application/json", True, True),
        ("application/json; charset=utf-8", True, True),
        ("Application/JSON", True, True),
        ("application/json;", True, True),
        ("", False, True),
        ("", True, False),
        ("text/plain", True, False),
        ("text/plain", False, False),
        ("application/jsonx", True, False),
        ("application/json;;", True, False),
        ("application/json; charset", True, False),
    ],
)
def test_content_type_as_check_for_json(value: str, has_body: bool, ok: bool) -> None:
    """E1, R1: dockerd's CheckForJSON: without a Content-Type only an empty body passes; a
    Content-Type must parse and be application/json (oracle: 'Content-Type specified (...)')."""
    if ok:
        check_content_type(value, has_body)
        return
    with pytest.raises(InvalidParameter) as info:
        check_content_type(value, has_body)
    assert info.value.message == f"Content-Type specified ({value}) must be 'application/json'"


def test_media_type_parse() -> None:
    assert media_type('application/json; a="b;c"') == "application/json"
    assert media_type("application") is None


class _Stream:
    def __init__(self, total: int) -> None:
        self.left, self.reads = total, 0

    async def read(self, n: int) -> bytes:
        self.reads += 1
        take = min(n, self.left)
        self.left -= take
        return b" " * take


class _Request:
    def __init__(self, headers: dict[str, str], total: int) -> None:
        self.headers = CIMultiDict(headers)
        self.content = _Stream(total)


def test_body_limit_reads_no_more_than_the_limit() -> None:
    """R1: a declared length over the limit is refused before any read; a chunked body is read
    only until it passes the limit (memory stays bounded), then refused with 413."""
    declared = _Request({"Content-Type": "application/json",
                         "Content-Length": str(MAX_BODY + 1)}, MAX_BODY + 1)  # fmt: skip
    with pytest.raises(BodyTooLarge) as info:
        asyncio.run(read_body(declared, CC))  # type: ignore[arg-type]
    assert info.value.status == 413 and declared.content.reads == 0
    chunked = _Request({"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                       50 * MAX_BODY)  # fmt: skip
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(chunked, CC))  # type: ignore[arg-type]
    assert chunked.content.left >= 48 * MAX_BODY  # the rest was never read


def test_every_model_names_its_go_type() -> None:
    """Every Struct says which Go type it stands for (the messages need it)."""
    for value in vars(models).values():
        if (
            isinstance(value, type)
            and issubclass(value, models.Model)
            and value is not models.Model
        ):
            assert "." in value.__go__, value


def test_null_fields_are_absent_as_in_go() -> None:
    """E1: `"Field": null` is Go's zero value: the services get the body without such fields,
    inside nested structs and lists of structs too; map and list elements stay."""
    raw = (b'{"Image":"busybox","Cmd":null,"Labels":{"a":"b"},"HostConfig":{"NanoCpus":null,'
           b'"Memory":5,"PortBindings":{"80/tcp":null},"LogConfig":null,"Ulimits":[{"Name":"n","Soft":null}]},'
           b'"NetworkingConfig":{"EndpointsConfig":{"n":{"Aliases":null,"Links":["a"]},"m":null}}}')  # fmt: skip
    assert decode(raw, CC) == {
        "Image": "busybox",
        "Labels": {"a": "b"},
        "HostConfig": {"Memory": 5, "PortBindings": {"80/tcp": None}, "Ulimits": [{"Name": "n"}]},
        "NetworkingConfig": {"EndpointsConfig": {"n": {"Links": ["a"]}, "m": None}},
    }


def test_null_strings_in_lists_and_maps_are_empty_as_in_go() -> None:
    """E1: Go decodes a null element of []string or map[string]string as "" (dockerd then
    refuses `"Env": [null]` as `invalid environment variable: `, and keeps `"a": ""` labels)."""
    raw = b'{"Env":[null,"A=1"],"Labels":{"a":null},"Cmd":[null],"HostConfig":{"Dns":[null]}}'
    assert decode(raw, CC) == {"Env": ["", "A=1"], "Labels": {"a": ""}, "Cmd": [""],
                               "HostConfig": {"Dns": [""]}}  # fmt: skip


def test_keys_match_whatever_their_case() -> None:
    """E1: Go matches JSON keys to fields case-insensitively (docker-py sends
    `CPURealtimePeriod`): they are checked under the field's name and handed on under it; an
    exact key wins."""
    body = decode(
        b'{"image":"busybox","HostConfig":{"CPURealtimePeriod":1000,"memory":5,"Memory":6}}', CC
    )
    assert body == {"Image": "busybox", "HostConfig": {"CpuRealtimePeriod": 1000, "Memory": 6}}
    with pytest.raises(InvalidParameter) as info:
        decode(b'{"hostconfig":{"memory":"x"}}', CC)
    assert info.value.message == (
        f"json: cannot unmarshal string into Go struct field {HOST}.Memory of type int64"
    )
