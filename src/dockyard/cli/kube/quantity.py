"""Kubernetes resource quantities <-> Docker's byte and CPU numbers (#19, E7). Pure."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
_DECIMAL = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse(value: str | int | float) -> Decimal:
    """A quantity ("512Mi", "1.5", "250m", "1e3") as a Decimal in base units."""
    if isinstance(value, bool):
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(value.strip())
    if not match:
        raise QuantityError(f"quantities must match the regular expression: {value!r}")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation as exc:
        raise QuantityError(f"quantities must match the regular expression: {value!r}") from exc
    suffix = match.group(2) or ""
    if suffix == "m":
        return number / 1000
    return number * (_BINARY.get(suffix) or _DECIMAL.get(suffix) or 1)


def memory_bytes(value: str | int | float) -> int:
    """A memory quantity in whole bytes (Kubernetes rounds fractional bytes up)."""
    amount = parse(value)
    whole = int(amount)
    return whole + 1 if amount > whole else whole


def nano_cpus(value: str | int | float) -> int:
    """A CPU quantity ("1500m", "2") as Docker's NanoCpus."""
    return int(parse(value) * 1_000_000_000)


def format_memory(n: int) -> str:
    """Bytes as the shortest exact binary quantity ("256Mi"), else the plain number."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_cpu(nanos: int) -> str:
    """NanoCpus as whole CPUs ("2") or millicores ("1500m"); Kubernetes allows no finer unit."""
    milli = max(1, round(nanos / 1_000_000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def cpu_shares(nanos: int) -> int:
    """A CPU request as cgroup v1 cpu.shares, as the kubelet sets them (1024 per CPU, at least
    2); 0 (Docker's default) for no request."""
    return max(2, nanos * 1024 // 1_000_000_000) if nanos else 0


def cpu_request(shares: int) -> int:
    """cpu.shares back as NanoCpus (the inverse of cpu_shares, to the millicore)."""
    return round(shares * 1000 / 1024) * 1_000_000
