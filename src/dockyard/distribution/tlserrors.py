"""A registry's TLS failures in the words dockerd's Go client uses (E5), which clients and users
match on: `x509: certificate signed by unknown authority`, `x509: certificate is valid for A,
not B`, `x509: cannot validate certificate for ADDR because it doesn't contain any IP SANs`,
`remote error: tls: bad certificate` (the registry wants a client certificate)...

OpenSSL judges the chain before the name; Go checks the name first, so a certificate that is
both untrusted and for another name is refused by dockerd for its name. To say the same, a
refused certificate is fetched again without verification (one more handshake, on failure only)
and its subjectAltName read here. OpenSSL still decides; this only chooses the words."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator

# OpenSSL's verify codes that mean "no trusted issuer" (X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
# DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
# UNABLE_TO_VERIFY_LEAF_SIGNATURE)
UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})
# OpenSSL's alert reasons -> Go's text for the alert a server sent
ALERTS = {
    "SSLV3_ALERT_BAD_CERTIFICATE": "bad certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "certificate required",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "unsupported certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "revoked certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "expired certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "unknown certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "unknown certificate authority",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "handshake failure",
    "TLSV1_ALERT_PROTOCOL_VERSION": "protocol version not supported",
}
_OID, _SAN = 0x06, bytes.fromhex("551d11")  # OBJECT IDENTIFIER 2.5.29.17: subjectAltName


def describe(e: ssl.SSLError, host: str, port: int) -> str:
    """What Go's client says for `e`, a failure talking TLS to host:port (host without
    brackets)."""
    if isinstance(e, ssl.SSLCertVerificationError):
        der = peer_certificate(host, port)
        named = name_mismatch(der, host) if der is not None else None
        if named:
            return named
        if e.verify_code in UNKNOWN_ISSUER:
            return "x509: certificate signed by unknown authority"
        return f"x509: {e.verify_message}"
    alert = ALERTS.get(e.reason or "")
    if alert:
        return f"remote error: tls: {alert}"
    return str(e.strerror or e)


def peer_certificate(host: str, port: int, timeout: float = 10.0) -> bytes | None:
    """The certificate host:port presents (DER), read without verifying it; None if it cannot
    be read."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as tls,
        ):
            return tls.getpeercert(binary_form=True)
    except (OSError, ValueError):
        return None


def name_mismatch(der: bytes, host: str) -> str | None:
    """Go's complaint when the certificate is not for `host`, None when it is (or cannot be
    read)."""
    try:
        dns, ips = subject_alt_names(der)
    except (IndexError, ValueError):
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if any(_matches(pattern, host) for pattern in dns):
            return None
        if not dns:
            return f"x509: certificate is not valid for any names, but wanted to match {host}"
        return f"x509: certificate is valid for {', '.join(dns)}, not {host}"
    if any(ipaddress.ip_address(a) == ip for a in ips):
        return None
    if not ips:
        return (
            f"x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
        )
    return f"x509: certificate is valid for {', '.join(ips)}, not {host}"


def _matches(pattern: str, host: str) -> bool:
    """A DNS name against a certificate's name: case-insensitive, a leading `*.` standing for
    exactly one label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def subject_alt_names(der: bytes) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of a DER certificate's subjectAltName extension, in order."""
    cert = _first(der, 0, len(der))
    tbs = _first(der, cert[1], cert[2])
    dns: list[str] = []
    ips: list[str] = []
    for tag, start, end in _children(der, tbs[1], tbs[2]):
        if tag != 0xA3:  # [3] extensions
            continue
        extensions = _first(der, start, end)
        for _, ext_start, ext_end in _children(der, extensions[1], extensions[2]):
            fields = list(_children(der, ext_start, ext_end))
            oid = fields[0]
            if oid[0] != _OID or der[oid[1] : oid[2]] != _SAN:
                continue
            value = fields[-1]  # OCTET STRING holding GeneralNames
            names = _first(der, value[1], value[2])
            for name_tag, n_start, n_end in _children(der, names[1], names[2]):
                if name_tag == 0x82:  # [2] dNSName
                    dns.append(der[n_start:n_end].decode("ascii"))
                elif name_tag == 0x87:  # [7] iPAddress
                    ips.append(str(ipaddress.ip_address(der[n_start:n_end])))
    return dns, ips


def _first(der: bytes, start: int, end: int) -> tuple[int, int, int]:
    for found in _children(der, start, end):
        return found
    raise ValueError("empty DER")


def _children(der: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The DER elements between start and end: (tag, content start, content end)."""
    pos = start
    while pos < end:
        tag, length = der[pos], der[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(der[pos : pos + count], "big")
            pos += count
        if pos + length > end:
            raise ValueError("truncated DER")
        yield tag, pos, pos + length
        pos += length
