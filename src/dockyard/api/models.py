"""The Engine API's request bodies as typed models (msgspec Structs), shaped as the Go structs
dockerd decodes them into, so a wrong type is refused with dockerd's own words (api/gojson.py).

Every field may be null (Go leaves the zero value) and unknown fields are ignored, as Go's
encoding/json does. Each Struct names its Go type in `__go__`; a field whose Go type is not the
plain reading of its Python type (int64, uint16, strslice.StrSlice, ...) is an Annotated alias
naming it.
A Struct field whose Go field is embedded (Config in ContainerConfigWrapper, Resources in
HostConfig) is flattened into the outer Struct, as Go reports it.
"""

from typing import Annotated, Any, ClassVar

import msgspec

GO = "go"
WHOLE = "whole"  # a custom Go unmarshaler: any error is reported for the field as a whole

INT64 = (-(2**63), 2**63 - 1)
RANGES = {
    "int": INT64,
    "int64": INT64,
    "time.Duration": INT64,
    "int32": (-(2**31), 2**31 - 1),
    "uint": (0, 2**63 - 1),  # msgspec bounds stop at int64 (Go takes up to 2**64-1)
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**63 - 1),
    "fs.FileMode": (0, 2**32 - 1),
}


def _go(go_type: str, whole: bool = False) -> msgspec.Meta:
    return msgspec.Meta(extra={GO: go_type, WHOLE: whole})


def _range(go_type: str) -> msgspec.Meta:
    low, high = RANGES[go_type]
    return msgspec.Meta(ge=low, le=high, extra={GO: go_type})


Int = Annotated[int, _range("int")]
Int64 = Annotated[int, _range("int64")]
Uint = Annotated[int, _range("uint")]
Uint16 = Annotated[int, _range("uint16")]
Uint64 = Annotated[int, _range("uint64")]
Duration = Annotated[int, _range("time.Duration")]
FileMode = Annotated[int, _range("fs.FileMode")]
# strslice.StrSlice: a string or a list of strings; its UnmarshalJSON reports "of type string"
StrSlice = Annotated[str | list[str], _go("string", whole=True)]
StrMap = dict[str, str]
Empty = Annotated[dict[str, Any], _go("struct {}")]  # map values of PortSet and Volumes

PropagationMode = Annotated[str, _go("mount.Propagation")]
MountType = Annotated[str, _go("mount.Type")]
ConsistencyMode = Annotated[str, _go("mount.Consistency")]
NetworkModeT = Annotated[str, _go("container.NetworkMode")]
ConsoleSizeT = Annotated[list[Uint], _go("[2]uint")]
CgroupnsModeT = Annotated[str, _go("container.CgroupnsMode")]
IpcModeT = Annotated[str, _go("container.IpcMode")]
CgroupSpecT = Annotated[str, _go("container.CgroupSpec")]
PidModeT = Annotated[str, _go("container.PidMode")]
UTSModeT = Annotated[str, _go("container.UTSMode")]
UsernsModeT = Annotated[str, _go("container.UsernsMode")]
IsolationMode = Annotated[str, _go("container.Isolation")]
PortSet = Annotated[dict[str, Empty], _go("nat.PortSet")]
MapStringStruct = Annotated[dict[str, Empty], _go("map[string]struct {}")]
ConsoleSizePtr = Annotated[list[Uint], _go("*[2]uint")]


class Model(msgspec.Struct, omit_defaults=True):
    __go__: ClassVar[str] = ""  # the Go type, package-qualified

    @classmethod
    def go_struct(cls) -> str:
        """The name Go's errors give the struct a field sits in."""
        return cls.__go__.rpartition(".")[2]


# -- containers/create (and commit's config): runconfig.ContainerConfigWrapper ---------------


class HealthConfig(Model):
    __go__ = "container.HealthConfig"
    Test: list[str] | None = None
    Interval: Duration | None = None
    Timeout: Duration | None = None
    StartPeriod: Duration | None = None
    StartInterval: Duration | None = None
    Retries: Int | None = None


class PortBinding(Model):
    __go__ = "nat.PortBinding"
    HostIp: str | None = None
    HostPort: str | None = None


PortMap = Annotated[dict[str, list[PortBinding] | None], _go("nat.PortMap")]


class Restart(Model):
    __go__ = "container.RestartPolicy"
    Name: str | None = None
    MaximumRetryCount: Int | None = None


class LogConf(Model):
    __go__ = "container.LogConfig"
    Type: str | None = None
    Config: StrMap | None = None


class WeightDevice(Model):
    __go__ = "blkiodev.WeightDevice"
    Path: str | None = None
    Weight: Uint16 | None = None


WeightDevicePtrs = Annotated[list[WeightDevice], _go("[]*blkiodev.WeightDevice")]


class ThrottleDevice(Model):
    __go__ = "blkiodev.ThrottleDevice"
    Path: str | None = None
    Rate: Uint64 | None = None


ThrottleDevicePtrs = Annotated[list[ThrottleDevice], _go("[]*blkiodev.ThrottleDevice")]


class DeviceMapping(Model):
    __go__ = "container.DeviceMapping"
    PathOnHost: str | None = None
    PathInContainer: str | None = None
    CgroupPermissions: str | None = None


class DeviceRequest(Model):
    __go__ = "container.DeviceRequest"
    Driver: str | None = None
    Count: Int | None = None
    DeviceIDs: list[str] | None = None
    Capabilities: list[list[str]] | None = None
    Options: StrMap | None = None


class Ulimit(Model):
    __go__ = "units.Ulimit"
    Name: str | None = None
    Hard: Int64 | None = None
    Soft: Int64 | None = None


UlimitPtrs = Annotated[list[Ulimit], _go("[]*units.Ulimit")]


class BindOpts(Model):
    __go__ = "mount.BindOptions"
    Propagation: PropagationMode | None = None
    NonRecursive: bool | None = None


class Driver(Model):
    __go__ = "mount.Driver"
    Name: str | None = None
    Options: StrMap | None = None


class VolumeOpts(Model):
    __go__ = "mount.VolumeOptions"
    NoCopy: bool | None = None
    Labels: StrMap | None = None
    DriverConfig: Driver | None = None


class TmpfsOpts(Model):
    __go__ = "mount.TmpfsOptions"
    SizeBytes: Int64 | None = None
    Mode: FileMode | None = None


class Mount(Model):
    __go__ = "mount.Mount"
    Type: MountType | None = None
    Source: str | None = None
    Target: str | None = None
    ReadOnly: bool | None = None
    Consistency: ConsistencyMode | None = None
    BindOptions: BindOpts | None = None
    VolumeOptions: VolumeOpts | None = None
    TmpfsOptions: TmpfsOpts | None = None


class Resources(Model):
    """container.Resources: embedded in HostConfig and UpdateConfig (fields listed once here,
    copied into both)."""

    __go__ = "container.Resources"
    CpuShares: Int64 | None = None
    Memory: Int64 | None = None
    NanoCpus: Int64 | None = None
    CgroupParent: str | None = None
    BlkioWeight: Uint16 | None = None
    BlkioWeightDevice: WeightDevicePtrs | None = None
    BlkioDeviceReadBps: ThrottleDevicePtrs | None = None
    BlkioDeviceWriteBps: ThrottleDevicePtrs | None = None
    BlkioDeviceReadIOps: ThrottleDevicePtrs | None = None
    BlkioDeviceWriteIOps: ThrottleDevicePtrs | None = None
    CpuPeriod: Int64 | None = None
    CpuQuota: Int64 | None = None
    CpuRealtimePeriod: Int64 | None = None
    CpuRealtimeRuntime: Int64 | None = None
    CpusetCpus: str | None = None
    CpusetMems: str | None = None
    Devices: list[DeviceMapping] | None = None
    DeviceCgroupRules: list[str] | None = None
    DeviceRequests: list[DeviceRequest] | None = None
    KernelMemory: Int64 | None = None
    KernelMemoryTCP: Int64 | None = None
    MemoryReservation: Int64 | None = None
    MemorySwap: Int64 | None = None
    MemorySwappiness: Int64 | None = None
    OomKillDisable: bool | None = None
    PidsLimit: Int64 | None = None
    Ulimits: UlimitPtrs | None = None
    CpuCount: Int64 | None = None
    CpuPercent: Int64 | None = None
    IOMaximumIOps: Uint64 | None = None
    IOMaximumBandwidth: Uint64 | None = None


class HostConf(Resources):
    __go__ = "container.HostConfig"
    Binds: list[str] | None = None
    ContainerIDFile: str | None = None
    LogConfig: LogConf | None = None
    NetworkMode: NetworkModeT | None = None
    PortBindings: PortMap | None = None
    RestartPolicy: Restart | None = None
    AutoRemove: bool | None = None
    VolumeDriver: str | None = None
    VolumesFrom: list[str] | None = None
    ConsoleSize: ConsoleSizeT | None = None
    Annotations: StrMap | None = None
    CapAdd: StrSlice | None = None
    CapDrop: StrSlice | None = None
    CgroupnsMode: CgroupnsModeT | None = None
    Dns: list[str] | None = None
    DnsOptions: list[str] | None = None
    DnsSearch: list[str] | None = None
    ExtraHosts: list[str] | None = None
    GroupAdd: list[str] | None = None
    IpcMode: IpcModeT | None = None
    Cgroup: CgroupSpecT | None = None
    Links: list[str] | None = None
    OomScoreAdj: Int | None = None
    PidMode: PidModeT | None = None
    Privileged: bool | None = None
    PublishAllPorts: bool | None = None
    ReadonlyRootfs: bool | None = None
    SecurityOpt: list[str] | None = None
    StorageOpt: StrMap | None = None
    Tmpfs: StrMap | None = None
    UTSMode: UTSModeT | None = None
    UsernsMode: UsernsModeT | None = None
    ShmSize: Int64 | None = None
    Sysctls: StrMap | None = None
    Runtime: str | None = None
    Isolation: IsolationMode | None = None
    Mounts: list[Mount] | None = None
    MaskedPaths: list[str] | None = None
    ReadonlyPaths: list[str] | None = None
    Init: bool | None = None


class EndpointIPAMConfig(Model):
    __go__ = "network.EndpointIPAMConfig"
    IPv4Address: str | None = None
    IPv6Address: str | None = None
    LinkLocalIPs: list[str] | None = None


class EndpointSettings(Model):
    __go__ = "network.EndpointSettings"
    IPAMConfig: EndpointIPAMConfig | None = None
    Links: list[str] | None = None
    Aliases: list[str] | None = None
    MacAddress: str | None = None
    DriverOpts: StrMap | None = None
    NetworkID: str | None = None
    EndpointID: str | None = None
    Gateway: str | None = None
    IPAddress: str | None = None
    IPPrefixLen: Int | None = None
    IPv6Gateway: str | None = None
    GlobalIPv6Address: str | None = None
    GlobalIPv6PrefixLen: Int | None = None
    DNSNames: list[str] | None = None


EndpointsMap = Annotated[
    dict[str, EndpointSettings | None], _go("map[string]*network.EndpointSettings")
]


class NetworkingConf(Model):
    __go__ = "network.NetworkingConfig"
    EndpointsConfig: EndpointsMap | None = None  # fmt: skip


class ContainerConfig(Model):
    """runconfig.ContainerConfigWrapper: container.Config embedded, plus the two configs."""

    __go__ = "runconfig.ContainerConfigWrapper"
    Hostname: str | None = None
    Domainname: str | None = None
    User: str | None = None
    AttachStdin: bool | None = None
    AttachStdout: bool | None = None
    AttachStderr: bool | None = None
    ExposedPorts: PortSet | None = None
    Tty: bool | None = None
    OpenStdin: bool | None = None
    StdinOnce: bool | None = None
    Env: list[str] | None = None
    Cmd: StrSlice | None = None
    Healthcheck: HealthConfig | None = None
    ArgsEscaped: bool | None = None
    Image: str | None = None
    Volumes: MapStringStruct | None = None
    WorkingDir: str | None = None
    Entrypoint: StrSlice | None = None
    NetworkDisabled: bool | None = None
    MacAddress: str | None = None
    OnBuild: list[str] | None = None
    Labels: StrMap | None = None
    StopSignal: str | None = None
    StopTimeout: Int | None = None
    Shell: StrSlice | None = None
    HostConfig: HostConf | None = None
    NetworkingConfig: NetworkingConf | None = None


# -- the other bodies ------------------------------------------------------------------------


class UpdateConfig(Resources):
    __go__ = "container.UpdateConfig"
    RestartPolicy: Restart | None = None


class ExecConfig(Model):
    __go__ = "types.ExecConfig"
    User: str | None = None
    Privileged: bool | None = None
    Tty: bool | None = None
    ConsoleSize: ConsoleSizePtr | None = None
    AttachStdin: bool | None = None
    AttachStderr: bool | None = None
    AttachStdout: bool | None = None
    Detach: bool | None = None
    DetachKeys: str | None = None
    Env: list[str] | None = None
    WorkingDir: str | None = None
    Cmd: list[str] | None = None


class ExecStartCheck(Model):
    __go__ = "types.ExecStartCheck"
    Detach: bool | None = None
    Tty: bool | None = None
    ConsoleSize: ConsoleSizePtr | None = None


class IPAMConfig(Model):
    __go__ = "network.IPAMConfig"
    Subnet: str | None = None
    IPRange: str | None = None
    Gateway: str | None = None
    AuxiliaryAddresses: StrMap | None = None


class Ipam(Model):
    __go__ = "network.IPAM"
    Driver: str | None = None
    Options: StrMap | None = None
    Config: list[IPAMConfig] | None = None


class ConfigReference(Model):
    __go__ = "network.ConfigReference"
    Network: str | None = None


class NetworkCreate(Model):
    __go__ = "types.NetworkCreateRequest"
    Name: str | None = None
    CheckDuplicate: bool | None = None
    Driver: str | None = None
    Scope: str | None = None
    EnableIPv6: bool | None = None
    IPAM: Ipam | None = None
    Internal: bool | None = None
    Attachable: bool | None = None
    Ingress: bool | None = None
    ConfigOnly: bool | None = None
    ConfigFrom: ConfigReference | None = None
    Options: StrMap | None = None
    Labels: StrMap | None = None


class NetworkConnect(Model):
    __go__ = "types.NetworkConnect"
    Container: str | None = None
    EndpointConfig: EndpointSettings | None = None


class NetworkDisconnect(Model):
    __go__ = "types.NetworkDisconnect"
    Container: str | None = None
    Force: bool | None = None


class VolumeCreate(Model):
    __go__ = "volume.VolumeCreateBody"
    Name: str | None = None
    Driver: str | None = None
    DriverOpts: StrMap | None = None
    Labels: StrMap | None = None


# -- bodies dockerd reads without CheckForJSON ------------------------------------------------


class AuthConfig(Model):
    """POST /auth (Go's JSON names are lower case here)."""

    __go__ = "types.AuthConfig"
    username: str | None = None
    password: str | None = None
    auth: str | None = None
    email: str | None = None
    serveraddress: str | None = None
    identitytoken: str | None = None
    registrytoken: str | None = None


Uint32 = Annotated[int, _range("uint32")]


class SwarmInit(Model):
    __go__ = "swarm.InitRequest"
    ListenAddr: str | None = None
    AdvertiseAddr: str | None = None
    DataPathAddr: str | None = None
    DataPathPort: Uint32 | None = None
    ForceNewCluster: bool | None = None
    AutoLockManagers: bool | None = None
    Availability: Annotated[str, _go("swarm.NodeAvailability")] | None = None
    DefaultAddrPool: list[str] | None = None
    SubnetSize: Uint32 | None = None


class SwarmJoin(Model):
    __go__ = "swarm.JoinRequest"
    ListenAddr: str | None = None
    AdvertiseAddr: str | None = None
    DataPathAddr: str | None = None
    RemoteAddrs: list[str] | None = None
    JoinToken: str | None = None
    Availability: Annotated[str, _go("swarm.NodeAvailability")] | None = None
