"""Network state in SQLite: the networks (the predefined `bridge`, `host`, `none` rows today;
user-defined ones slot in beside them) and one endpoint row per attached container, which is
what holds an IP address: the address is allocated in the same transaction that stores it."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from dockyard import errors
from dockyard.state.db import Cursor, Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,
    created TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    container_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks(id),
    endpoint_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    veth TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (container_id, network_id),
    UNIQUE (network_id, ip)
)
"""


@dataclass
class NetworkRow:
    id: str
    name: str
    driver: str
    created: str
    doc: dict[str, Any] = field(default_factory=dict)  # IPAM, Options, bridge device


@dataclass(frozen=True)
class EndpointRow:
    container_id: str
    network_id: str
    endpoint_id: str
    ip: str
    mac: str
    veth: str
    doc: dict[str, Any]  # published ports, netns path


class NetworkRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _net(self, row: Any) -> NetworkRow:
        return NetworkRow(
            row["id"], row["name"], row["driver"], row["created"], json.loads(row["doc"])
        )

    def all(self) -> list[NetworkRow]:
        return [
            self._net(r) for r in self.db.query("SELECT * FROM networks ORDER BY created, name")
        ]

    def by_name(self, name: str) -> NetworkRow | None:
        row = self.db.query_one("SELECT * FROM networks WHERE name = ?", (name,))
        return self._net(row) if row else None

    def ensure(self, name: str, driver: str, created: str, doc: dict[str, Any]) -> NetworkRow:
        """The row named `name`, created with a fresh id if missing; its doc replaced."""
        with self.db.tx() as c:
            row = c.query_one("SELECT * FROM networks WHERE name = ?", (name,))
            if row is None:
                net = NetworkRow(secrets.token_hex(32), name, driver, created, doc)
                c.execute(
                    "INSERT INTO networks (id, name, driver, created, doc) VALUES (?, ?, ?, ?, ?)",
                    (net.id, name, driver, created, json.dumps(doc)),
                )
                return net
            c.execute("UPDATE networks SET doc = ? WHERE id = ?", (json.dumps(doc), row["id"]))
            return NetworkRow(row["id"], name, row["driver"], row["created"], doc)

    def find(self, ref: str) -> NetworkRow:
        """A network by full id, name, then unique id prefix (dockerd's order), with dockerd's
        errors for none (404) and several (400)."""
        rows = self.all()
        match = [r for r in rows if r.id == ref] or [r for r in rows if r.name == ref]
        if not match and ref:
            match = [r for r in rows if r.id.startswith(ref)]
        if len(match) > 1:
            raise errors.InvalidParameter(
                f"network {ref} is ambiguous ({len(match)} matches found based on ID prefix)"
            )
        if not match:
            raise errors.NotFound(f"network {ref} not found")
        return match[0]

    def by_id(self, network_id: str) -> NetworkRow | None:
        row = self.db.query_one("SELECT * FROM networks WHERE id = ?", (network_id,))
        return self._net(row) if row else None

    def insert(self, net: NetworkRow) -> None:
        """One transaction; the UNIQUE name makes concurrent creates of one name fail here."""
        with self.db.tx() as c:
            c.execute(
                "INSERT INTO networks (id, name, driver, created, doc) VALUES (?, ?, ?, ?, ?)",
                (net.id, net.name, net.driver, net.created, json.dumps(net.doc)),
            )

    def delete(self, network_id: str) -> bool:
        """False when endpoints appeared meanwhile (the row stays)."""
        with self.db.tx() as c:
            if c.query_one("SELECT 1 FROM endpoints WHERE network_id = ?", (network_id,)):
                return False
            c.execute("DELETE FROM networks WHERE id = ?", (network_id,))
            return True

    # ---- endpoints -----------------------------------------------------------------------

    @staticmethod
    def _ep(row: Any) -> EndpointRow:
        return EndpointRow(
            row["container_id"], row["network_id"], row["endpoint_id"], row["ip"], row["mac"],
            row["veth"], json.loads(row["doc"]),
        )  # fmt: skip

    def endpoints(self, network_id: str | None = None) -> list[EndpointRow]:
        if network_id is None:
            return [self._ep(r) for r in self.db.query("SELECT * FROM endpoints")]
        rows = self.db.query("SELECT * FROM endpoints WHERE network_id = ?", (network_id,))
        return [self._ep(r) for r in rows]

    def endpoints_of(self, container_id: str) -> list[EndpointRow]:
        rows = self.db.query("SELECT * FROM endpoints WHERE container_id = ?", (container_id,))
        return [self._ep(r) for r in rows]

    def endpoint(self, container_id: str, network_id: str) -> EndpointRow | None:
        row = self.db.query_one(
            "SELECT * FROM endpoints WHERE container_id = ? AND network_id = ?",
            (container_id, network_id),
        )
        return self._ep(row) if row else None

    def used_ips(self, c: Cursor, network_id: str) -> list[str]:
        return [
            r["ip"] for r in c.query("SELECT ip FROM endpoints WHERE network_id = ?", (network_id,))
        ]

    def used_ip6s(self, c: Cursor, network_id: str) -> list[str]:
        rows = c.query("SELECT doc FROM endpoints WHERE network_id = ?", (network_id,))
        return [str(json.loads(r["doc"]).get("ip6") or "") for r in rows]

    def insert_endpoint(self, c: Cursor, ep: EndpointRow) -> None:
        c.execute(
            "INSERT INTO endpoints (container_id, network_id, endpoint_id, ip, mac, veth, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ep.container_id, ep.network_id, ep.endpoint_id, ep.ip, ep.mac, ep.veth,
             json.dumps(ep.doc)),
        )  # fmt: skip

    def delete_endpoint(self, container_id: str, network_id: str) -> None:
        with self.db.tx() as c:
            c.execute(
                "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?",
                (container_id, network_id),
            )

    def update_endpoint_doc(self, container_id: str, network_id: str, doc: dict[str, Any]) -> None:
        """The published ports moved to or from this endpoint (the gateway one changed)."""
        with self.db.tx() as c:
            c.execute(
                "UPDATE endpoints SET doc = ? WHERE container_id = ? AND network_id = ?",
                (json.dumps(doc), container_id, network_id),
            )
