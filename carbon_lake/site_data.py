"""Site and contract data as sealed versions: ``emission_factors/site_data/<version>/``.

Market-based scope 2 depends on the contractual instruments a site holds (PPAs, RECs, GOs,
supplier tariffs: ``instruments.csv``) and measured chimney CO2 on each chimney's surveyed
geometry (``chimneys.csv``). Both move totals as surely as an emission factor does, so they are
published the same way as a factor release: a folder named for its version with the two files
and a ``release.json`` holding the sha256 of each, the description, the version it supersedes
and the date it was published. A published version is never edited (a new contract, a
corrected survey is a new version), loading refuses a file that no longer matches its seal, and
every row a version priced records it (``emissions.site_data_version`` on market rows,
``chimney_co2.site_data_version``), so a total can be traced to the contracts it assumed and
re-computed with them. The version applied is ``CARBON_LAKE_SITE_DATA_RELEASE``, by default the
newest.

Each deployment writes its own: :func:`publish_site_data` (``carbon-lake factors seal-site-data``)
validates a folder of draft files and seals them as a new version.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from carbon_lake.chimney import load_chimneys
from carbon_lake.contracts import ContractError
from carbon_lake.instruments import load_instruments
from carbon_lake.seal import VERSION, check_seal, list_versions, sha256_of, version_key

FILES = ("instruments.csv", "chimneys.csv")
FOLDER = "site_data"


@dataclass(frozen=True)
class SiteData:
    version: str
    description: str
    published: str
    supersedes: str | None
    instruments: pl.DataFrame  # instruments.SCHEMA
    chimneys: pl.DataFrame     # org, site, source_id, area_m2, pressure_pa


def list_site_data(factors_dir: Path) -> list[str]:
    """Site-data versions on disk, oldest first."""
    return list_versions(factors_dir / FOLDER)


def load_site_data(factors_dir: Path, version: str | None = None) -> SiteData:
    """The version ``version`` (default: the newest), checked against its seal and validated.

    Not cached: the files are a few rows, and a process that runs for weeks (``dagster dev``)
    must notice an edit made under it rather than keep pricing with what it read at start.
    """
    versions = list_site_data(factors_dir)
    if not versions:
        raise ContractError("factors_dir", str(factors_dir),
                            f"a folder with {FOLDER}/<version>/ holding {' and '.join(FILES)} and release.json "
                            "(carbon-lake factors seal-site-data makes one)")
    version = version or versions[-1]
    if version not in versions:
        raise ContractError("site_data_release", version, f"one of {', '.join(versions)}")
    folder = factors_dir / FOLDER / version
    meta_path = folder / "release.json"
    if not meta_path.is_file():
        raise ContractError(f"site data {version} release.json", None,
                            "the seal written when the version was published")
    meta = json.loads(meta_path.read_text())
    sealed = meta.get("files") or {}
    if sorted(sealed) != sorted(FILES):
        raise ContractError(f"site data {version} release.json files", sorted(sealed),
                            f"the sha256 of {', '.join(FILES)}")
    check_seal(folder, sealed, f"site data {version}", kind="version")
    return SiteData(version=version, description=meta.get("description", ""), published=meta.get("published", ""),
                    supersedes=meta.get("supersedes"), instruments=load_instruments(folder),
                    chimneys=load_chimneys(folder))


def publish_site_data(factors_dir: Path, version: str, source: Path, description: str,
                      published: date | None = None) -> Path:
    """Seal ``source``'s ``instruments.csv`` and ``chimneys.csv`` as ``version``, superseding the newest.

    The files are validated first, because a sealed file that does not load could only be
    replaced by yet another version. The version must be newer than every published one (the
    default is the newest, so an older number would never apply) and is never written over. The
    folder appears whole or not at all: it is assembled beside the others and renamed into place.
    """
    if not VERSION.match(version):
        raise ContractError("site data version", version, "YEAR.MINOR.PATCH, e.g. 2026.2.0")
    if not description.strip():
        raise ContractError("site data description", description, "a sentence on what this version changes and why")
    root = factors_dir / FOLDER
    existing = list_site_data(factors_dir)
    if (root / version).exists():
        raise ContractError("site data version", version,
                            "a version not published yet (a published version is never rewritten: publish a new one)")
    if existing and version_key(version) <= version_key(existing[-1]):
        raise ContractError("site data version", version, f"a version newer than {existing[-1]}, the newest")
    for name in FILES:
        if not (source / name).is_file():
            raise ContractError(f"site data {name}", str(source / name), "the file to seal")
    load_instruments(source)
    load_chimneys(source)
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{version}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        for name in FILES:
            shutil.copyfile(source / name, staging / name)
        meta = {"version": version, "published": (published or date.today()).isoformat(), "description": description,
                "supersedes": existing[-1] if existing else None,
                "files": {name: sha256_of(staging / name) for name in FILES}}
        (staging / "release.json").write_text(json.dumps(meta, indent=2) + "\n")
        os.replace(staging, root / version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root / version
