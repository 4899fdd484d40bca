"""Device credentials for Mosquitto: a password file and an ACL in which each device may publish
only under its own topic.

The registry (``devices.csv`` in the auth folder) is the source of truth; the ACL is rewritten
from it on every change, so it never drifts from what was registered. Passwords are hashed by
Mosquitto's own ``mosquitto_passwd`` (PBKDF2-SHA512), never stored in clear, and shown once.
Ids become topics and file lines, so they are validated as identifiers first: no ``/``, ``+``,
``#``, spaces or newlines can reach either.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import subprocess
from pathlib import Path

from carbon_lake.contracts import TOPIC_FILTER, check_identifier, telemetry_topic

REGISTRY, PASSWORDS, ACL = "devices.csv", "passwd", "acl"
COLUMNS = ["username", "role", "org", "site"]


def _passwd_tool() -> str:
    tool = shutil.which("mosquitto_passwd") or ("/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists()
                                                else None)
    if tool is None:
        raise FileNotFoundError("mosquitto_passwd is missing: apt-get install mosquitto")
    return tool


def _registry(auth_dir: Path) -> list[dict[str, str]]:
    path = auth_dir / REGISTRY
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _set_password(auth_dir: Path, username: str) -> str:
    password = secrets.token_urlsafe(24)
    passwords = auth_dir / PASSWORDS
    create = [] if passwords.exists() else ["-c"]
    subprocess.run([_passwd_tool(), *create, "-b", str(passwords), username, password], check=True,
                   capture_output=True, timeout=30)
    passwords.chmod(0o600)
    return password


def acl_text(entries: list[dict[str, str]]) -> str:
    """The Mosquitto ACL: the landing services read everything, each device writes its own topic."""
    lines = ["# Written by `carbon-lake devices` from devices.csv; edit through the command, not by hand.", ""]
    for entry in entries:
        lines.append(f"user {entry['username']}")
        if entry["role"] == "landing":
            lines.append(f"topic read {TOPIC_FILTER}")
        else:
            lines.append(f"topic write {telemetry_topic(entry['org'], entry['site'], entry['username'], '#')}")
        lines.append("")
    return "\n".join(lines)


def register(auth_dir: Path, username: str, role: str, org: str = "", site: str = "") -> str:
    """Add (or re-key) a user and rewrite the ACL; returns the new password, shown only this once."""
    check_identifier("device_id" if role == "device" else "username", username)
    if role == "device":
        check_identifier("org", org)
        check_identifier("site", site)
    auth_dir.mkdir(parents=True, exist_ok=True)
    entries = [e for e in _registry(auth_dir) if e["username"] != username]
    entries.append({"username": username, "role": role, "org": org, "site": site})
    password = _set_password(auth_dir, username)
    with open(auth_dir / REGISTRY, "w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(entries)
    (auth_dir / ACL).write_text(acl_text(entries))
    return password


def broker_config(auth_dir: Path) -> str:
    """The mosquitto.conf lines that switch the broker to these files."""
    return (f"allow_anonymous false\npassword_file {auth_dir / PASSWORDS}\nacl_file {auth_dir / ACL}\n")
