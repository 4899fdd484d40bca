"""The seal of published data folders: factor releases and site-data versions.

A published folder is never edited; a correction is a new version, so that a number computed
last year can be computed again from the same inputs. Its ``release.json`` records the sha256 of
each data file at publication and every reader checks them before trusting a row: an edit made
afterwards (by hand, a merge, a sync tool) is refused, naming the file and both digests, instead
of silently moving totals. Versions are ``YEAR.MINOR.PATCH`` and sort by number, so that
``2026.10.0`` is newer than ``2026.9.0``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

from carbon_lake.contracts import ContractError

VERSION = re.compile(r"^\d{4}\.\d+\.\d+$")


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def list_versions(root: Path) -> list[str]:
    """The version folders under ``root``, oldest first (anything else there is ignored)."""
    found = [p.name for p in root.iterdir() if p.is_dir() and VERSION.match(p.name)] if root.exists() else []
    return sorted(found, key=version_key)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_seal(folder: Path, sealed: Mapping[str, str | None], what: str, kind: str = "release") -> None:
    """Refuse the first file of ``sealed`` (name -> published sha256) whose bytes in ``folder`` no
    longer match; ``what`` names the folder in the message (``release 2026.1.0``), ``kind`` what
    a correction is published as."""
    for name, published in sealed.items():
        path = folder / name
        if not path.is_file():
            raise ContractError(f"{what} {name}", None, f"the file sealed in release.json (sha256 {published})")
        digest = sha256_of(path)
        if digest != published:
            raise ContractError(f"{what} {name} sha256", digest,
                                f"{published} as published in release.json (a published {kind} is never edited: "
                                f"publish a correction as a new {kind})")
