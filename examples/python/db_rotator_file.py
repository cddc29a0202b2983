"""Follow a db-rotator file target from Python (any driver; psycopg shown).

The rotator writes one directory per credential in the Kubernetes secret
volume layout: ``..data`` is a symlink to a timestamped directory holding
``credential.json`` (version, engine, host, port, database, username,
password), swapped atomically by rename. Read through ``..data`` once per
read and you always get one whole version.

Rules that make a rotation invisible to the application:
  * re-read the file often (every second is cheap: one readlink + one small
    read) or on an authentication failure;
  * open NEW connections with the newest version; let connections opened
    with the old one finish their current work, then close them. The old
    login stays valid for the rotation's grace period.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Credential:
    version: int
    host: str
    port: int
    database: str | None
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"Credential(version={self.version}, username={self.username!r})"

    def conninfo(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.username,
            "password": self.password,
        }


class CredentialFile:
    """The current credential of a file-target directory (or a plain credential.json)."""

    def __init__(self, path: str, min_interval: float = 0.5):
        self.path = path
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._cached: Credential | None = None
        self._read_at = 0.0

    def _read(self) -> Credential:
        if os.path.isdir(self.path):
            data = os.path.join(self.path, os.readlink(os.path.join(self.path, "..data")))
            file = os.path.join(data, "credential.json")
        else:
            file = self.path
        with open(file, encoding="utf-8") as f:
            c = json.load(f)
        version = c.get("version", c.get("rotatorVersion"))
        return Credential(
            int(version),
            c["host"],
            int(c["port"]),
            c.get("database", c.get("dbname")),
            c["username"],
            c["password"],
        )

    def current(self, max_age: float = 1.0) -> Credential:
        """The newest credential, re-read when the cached one is older than max_age seconds."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._read_at >= max(max_age, self.min_interval):
                for attempt in range(5):
                    try:
                        self._cached = self._read()
                        break
                    except FileNotFoundError:
                        # a version directory pruned between readlink and open: read again
                        if attempt == 4:
                            raise
                        time.sleep(0.01)
                self._read_at = now
            return self._cached

    def refresh(self) -> Credential:
        return self.current(max_age=0)


AUTH_SQLSTATES = {"28P01", "28000"}


def is_auth_error(err: BaseException) -> bool:
    return getattr(err, "sqlstate", None) in AUTH_SQLSTATES or "authentication failed" in str(err)
