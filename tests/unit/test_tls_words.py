"""E5 (#13): a registry's TLS failures in the words of dockerd's Go client
(distribution/tlserrors.py), on certificates made by openssl: the subjectAltName read from DER,
the name checked before the chain as Go does, a server's alert named as Go names it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from dockyard.distribution import tlserrors
from tests import registry as R


def der(tmp_path: Path, san: str | None) -> bytes:
    """A certificate from a new test CA for `san` (None: a client certificate, no SAN at all)."""
    ca = R.make_ca(tmp_path / "ca")
    if san is None:
        crt, _ = R.make_client_cert(tmp_path, ca)
    else:
        crt, _ = R.make_server_cert(tmp_path, ca, san=san)
    return ssl.PEM_cert_to_DER_cert(crt.read_text())


def test_subject_alt_names_in_order(tmp_path: Path) -> None:
    cert = der(tmp_path, "IP:198.18.0.5,DNS:reg.example,DNS:*.wild.example,IP:::1")
    assert tlserrors.subject_alt_names(cert) == (
        ["reg.example", "*.wild.example"],
        ["198.18.0.5", "::1"],
    )


def test_name_mismatch_in_gos_words(tmp_path: Path) -> None:
    cert = der(tmp_path, "IP:198.18.0.5,DNS:reg.example,DNS:*.wild.example,IP:::1")
    assert tlserrors.name_mismatch(cert, "198.18.0.5") is None
    assert tlserrors.name_mismatch(cert, "::1") is None
    assert tlserrors.name_mismatch(cert, "REG.example") is None
    assert tlserrors.name_mismatch(cert, "a.wild.example") is None
    assert (
        tlserrors.name_mismatch(cert, "198.18.0.6")
        == "x509: certificate is valid for 198.18.0.5, ::1, not 198.18.0.6"
    )
    assert (
        tlserrors.name_mismatch(cert, "b.a.wild.example")
        == "x509: certificate is valid for reg.example, *.wild.example, not b.a.wild.example"
    )
    names_only = der(tmp_path / "dns", "DNS:registry.invalid")
    assert tlserrors.name_mismatch(names_only, "198.18.0.5") == (
        "x509: cannot validate certificate for 198.18.0.5 because it doesn't contain any IP SANs"
    )
    no_san = der(tmp_path / "client", None)
    assert tlserrors.name_mismatch(no_san, "reg.example") == (
        "x509: certificate is not valid for any names, but wanted to match reg.example"
    )
    assert tlserrors.name_mismatch(b"\x30\x05junk", "reg.example") is None


def test_describe_chain_and_alerts() -> None:
    """Without a certificate to read (nothing listens on the port), an unknown issuer is Go's
    "unknown authority"; other verify failures keep OpenSSL's reason; a server's alert is Go's
    `remote error: tls: ...`."""
    port = R.free_port()
    unknown = ssl.SSLCertVerificationError(1, "certificate verify failed")
    unknown.verify_code, unknown.verify_message = 20, "unable to get local issuer certificate"
    assert tlserrors.describe(unknown, "127.0.0.1", port) == (
        "x509: certificate signed by unknown authority"
    )
    expired = ssl.SSLCertVerificationError(1, "certificate verify failed")
    expired.verify_code, expired.verify_message = 10, "certificate has expired"
    assert tlserrors.describe(expired, "127.0.0.1", port) == "x509: certificate has expired"
    alert = ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate")
    alert.reason = "SSLV3_ALERT_BAD_CERTIFICATE"
    assert tlserrors.describe(alert, "127.0.0.1", port) == "remote error: tls: bad certificate"
    other = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    other.reason = "WRONG_VERSION_NUMBER"
    assert tlserrors.describe(other, "127.0.0.1", port) == other.strerror


@pytest.mark.parametrize("bad", [b"", b"\x30", b"\x30\x82\x10\x00abc"])
def test_truncated_der_is_no_name(bad: bytes) -> None:
    assert tlserrors.name_mismatch(bad, "198.18.0.5") is None
