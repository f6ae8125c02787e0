"""Map elements added straight over nf_tables netlink, for the one change made per container
start that libnftables makes slow: its `add element` first dumps every chain of every table on
the host (625 netlink messages, 25 ms, beside 600 containers' ingress chains), where a `delete
element`, an `add chain` or an `add rule` reads a few (D-scale-4). One batch (begin, NEWSETELEM,
end), applied atomically by the kernel like any `nft -f` batch; the element carries the same
comment (`dockyard:<owner>`) nft would give it, so `nft list` shows it the same way."""

from __future__ import annotations

import errno
import os
import socket
import struct

from dockyard import errors

_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_NFTABLES = 10
_NFNL_MSG_BATCH_BEGIN = 0x10
_NFNL_MSG_BATCH_END = 0x11
_NFT_MSG_NEWSETELEM = 12
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_CREATE = 0x1, 0x4, 0x400
_NLMSG_ERROR = 2
_NLA_F_NESTED = 0x8000
_NFPROTO = {"inet": 1, "ip": 2, "netdev": 5, "ip6": 10}
# nf_tables.h attribute numbers
_LIST_TABLE, _LIST_SET, _LIST_ELEMENTS = 1, 2, 3
_LIST_ELEM = 1
_ELEM_KEY, _ELEM_DATA, _ELEM_USERDATA = 1, 2, 6
_DATA_VALUE = 1
_UDATA_COMMENT = 0  # libnftnl's NFTNL_UDATA_SET_ELEM_COMMENT
_SEQ = 1  # a socket per batch: begin, the element and end are 1, 2 and 3


def _attr(kind: int, payload: bytes) -> bytes:
    head = struct.pack("=HH", 4 + len(payload), kind)
    return head + payload + b"\0" * (-len(payload) % 4)


def _nested(kind: int, *attrs: bytes) -> bytes:
    return _attr(kind | _NLA_F_NESTED, b"".join(attrs))


def _message(kind: int, flags: int, seq: int, family: int, res_id: int, body: bytes) -> bytes:
    payload = struct.pack("=BBH", family, 0, socket.htons(res_id)) + body
    return struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, 0) + payload


def set_element(family: str, table: str, set_name: str, key: bytes, data: bytes,
                comment: str, seq: int) -> bytes:  # fmt: skip
    """The NEWSETELEM message adding key -> data, NLM_F_CREATE without EXCL as nft's `add
    element` (the same element again is no error)."""
    element = _nested(_LIST_ELEM,
                      _nested(_ELEM_KEY, _attr(_DATA_VALUE, key)),
                      _nested(_ELEM_DATA, _attr(_DATA_VALUE, data)),
                      _attr(_ELEM_USERDATA, bytes([_UDATA_COMMENT, len(comment) + 1])
                            + comment.encode() + b"\0"))  # fmt: skip
    body = (_attr(_LIST_TABLE, table.encode() + b"\0") + _attr(_LIST_SET, set_name.encode() + b"\0")
            + _nested(_LIST_ELEMENTS, element))  # fmt: skip
    return _message((_NFNL_SUBSYS_NFTABLES << 8) | _NFT_MSG_NEWSETELEM,
                    _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE, seq, _NFPROTO[family], 0, body)  # fmt: skip


def batch(*messages: bytes, seq: int) -> bytes:
    begin = _message(_NFNL_MSG_BATCH_BEGIN, _NLM_F_REQUEST, seq, 0, _NFNL_SUBSYS_NFTABLES, b"")
    end = _message(_NFNL_MSG_BATCH_END, _NLM_F_REQUEST, seq + 1 + len(messages), 0,
                   _NFNL_SUBSYS_NFTABLES, b"")  # fmt: skip
    return begin + b"".join(messages) + end


def add_interface_element(family: str, table: str, set_name: str, mac: str, ifname: str,
                          comment: str) -> None:  # fmt: skip
    """`add element <family> <table> <set> { <mac> comment "<comment>" : "<ifname>" }` for a
    map of type ether_addr : iface_index. Raises errors.System with nft's wording."""
    key = bytes.fromhex(mac.replace(":", ""))
    try:
        data = struct.pack("=I", socket.if_nametoindex(ifname))
    except OSError as e:
        raise errors.System(f"nftables: Interface does not exist: {ifname}") from e
    msg = set_element(family, table, set_name, key, data, comment, _SEQ + 1)
    _send(batch(msg, seq=_SEQ), _SEQ + 1)


def _send(data: bytes, ack_seq: int) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       _NETLINK_NETFILTER) as sock:  # fmt: skip
        sock.bind((0, 0))
        sock.sendall(data)
        while True:
            reply = sock.recv(65536)
            offset = 0
            while offset + 16 <= len(reply):
                length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", reply, offset)
                if kind == _NLMSG_ERROR and seq == ack_seq:
                    (code,) = struct.unpack_from("=i", reply, offset + 16)
                    if code == 0:
                        return
                    raise errors.System(f"nftables: {os.strerror(-code)}"
                                        + (" (no such table or map)" if -code == errno.ENOENT else ""))  # fmt: skip
                offset += max(length, 16) + (-length % 4)
