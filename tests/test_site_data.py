"""Site and contract data (instruments, chimney geometry) are sealed versions, like factor releases,
and every row they price says which version it used."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timezone

import polars as pl
import pytest
from click.testing import CliRunner

from carbon_lake_cli.cli import main
from carbon_lake.contracts import ContractError
from carbon_lake.emissions import apply_factors
from carbon_lake.factors import load_release
from carbon_lake.settings import REPO_ROOT, Settings
from carbon_lake.site_data import list_site_data, load_site_data, publish_site_data
from carbon_lake.silver import to_silver
from tests.conftest import cli

FACTORS_DIR = Settings().factors_dir
FIRST = "2026.1.0"
PPA = "nimbus-ai-lon-dc1-ppa-2025"


def _copy(tmp_path) -> object:
    target = tmp_path / "emission_factors"
    shutil.copytree(FACTORS_DIR, target)
    return target


def _draft(tmp_path, share: str) -> object:
    """The first version's files, with the lon-dc1 PPA covering ``share`` instead of 0.6."""
    draft = tmp_path / "draft"
    shutil.copytree(FACTORS_DIR / "site_data" / FIRST, draft, ignore=shutil.ignore_patterns("release.json"))
    path = draft / "instruments.csv"
    declared = f"{PPA},nimbus-ai,lon-dc1,ppa,2025-01-01,,"
    path.write_text(path.read_text().replace(f"{declared}0.6,", f"{declared}{share},"))
    assert share in path.read_text()
    return draft


def _lon_dc1_electricity(factors_dir) -> pl.DataFrame:
    ts = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    bronze = pl.DataFrame([{
        "landing_file": "landing/date=2026-03-01/x.parquet", "landing_offset": 0, "received_at": ts, "org": "nimbus-ai",
        "site": "lon-dc1", "device_id": "d", "source_id": "meter-1", "event_id": "1", "ts": ts,
        "vertical": "ai_data_center", "region": "GB", "metric": "energy_kwh", "value": 1000.0, "unit": None,
        "tags": "{}"}])
    silver, rejected, _ = to_silver(bronze, factors_dir)
    assert rejected.is_empty()
    return silver


def test_the_shipped_site_data_is_sealed_and_holds_the_instruments_and_chimneys():
    assert list_site_data(FACTORS_DIR) == [FIRST]
    site = load_site_data(FACTORS_DIR)
    assert site.version == FIRST and site.supersedes is None and site.published
    assert site.instruments["instrument_id"].to_list() == [PPA]
    assert sorted(site.chimneys["site"]) == ["chinga", "gitugi", "kangaita"]
    assert not (FACTORS_DIR / "instruments.csv").exists() and not (FACTORS_DIR / "chimneys.csv").exists(), \
        "an unsealed copy beside the versions would invite editing the wrong file"


@pytest.mark.parametrize("name, edit", [
    ("instruments.csv", lambda text: text.replace(",0.6,", ",0.9,", 1)),
    ("chimneys.csv", lambda text: text.replace(",0.6,", ",0.65,", 1)),
])
def test_an_edited_site_data_file_is_refused_naming_the_file_and_both_digests(tmp_path, name, edit):
    copy = _copy(tmp_path)
    folder = copy / "site_data" / FIRST
    sealed = json.loads((folder / "release.json").read_text())["files"][name]
    path = folder / name
    path.write_text(edit(path.read_text()))
    import hashlib

    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ContractError) as refused:
        load_site_data(copy, FIRST)
    message = str(refused.value)
    assert message.startswith(f"site data {FIRST} {name} sha256: expected {sealed}") and actual in message
    assert "never edited" in message
    # Pricing refuses too: the edit cannot move market totals silently.
    with pytest.raises(ContractError, match=f"{name} sha256"):
        apply_factors(_lon_dc1_electricity(copy), load_release(copy), copy)


def test_a_new_version_with_another_ppa_share_moves_market_totals_and_rows_carry_it(tmp_path, monkeypatch):
    copy = _copy(tmp_path)
    folder = publish_site_data(copy, "2026.2.0", _draft(tmp_path, "0.8"), "The lon-dc1 PPA extended to 80%.")
    meta = json.loads((folder / "release.json").read_text())
    assert (meta["version"], meta["supersedes"]) == ("2026.2.0", FIRST) and set(meta["files"]) == {
        "instruments.csv", "chimneys.csv"}
    assert list_site_data(copy) == [FIRST, "2026.2.0"]
    silver, release = _lon_dc1_electricity(copy), load_release(copy)

    def market(site_data=None) -> dict:
        out = apply_factors(silver, release, copy, site_data=site_data).emissions
        rows = out.filter(method="market")
        assert rows.height == 2
        others = out.filter(pl.col("method").is_null() | (pl.col("method") != "market"))
        assert others.height == 2 and others["site_data_version"].is_null().all(), "only market rows depend on it"
        covered = rows.filter(factor_id=PPA).row(0, named=True)
        return {"versions": set(rows["site_data_version"]), "covered_kwh": covered["quantity"],
                "co2e_kg": rows["co2e_kg"].sum()}

    # desnz2024-electricity-uk-kwh 0.20705 kg/kWh for the part the PPA (0 kg/kWh) does not cover.
    newest = market()  # the default is the newest version
    assert newest == {"versions": {"2026.2.0"}, "covered_kwh": pytest.approx(800), "co2e_kg": pytest.approx(200 * 0.20705)}
    pinned = market(load_site_data(copy, FIRST))
    assert pinned == {"versions": {FIRST}, "covered_kwh": pytest.approx(600), "co2e_kg": pytest.approx(400 * 0.20705)}
    monkeypatch.setenv("CARBON_LAKE_SITE_DATA_RELEASE", FIRST)
    settings = Settings.from_env(factors_dir=copy)
    assert settings.site_data_release == FIRST and settings.to_env()["CARBON_LAKE_SITE_DATA_RELEASE"] == FIRST
    assert load_site_data(copy, settings.site_data_release).version == FIRST


def test_versions_sort_by_number_and_a_published_version_is_never_rewritten(tmp_path):
    copy = _copy(tmp_path)
    publish_site_data(copy, "2026.9.0", _draft(tmp_path, "0.7"), "nine")
    publish_site_data(copy, "2026.10.0", _draft(tmp_path / "b", "0.75"), "ten")
    assert list_site_data(copy) == [FIRST, "2026.9.0", "2026.10.0"]
    assert load_site_data(copy).version == "2026.10.0"
    before = (copy / "site_data" / "2026.9.0" / "release.json").read_bytes()
    with pytest.raises(ContractError, match="never rewritten"):
        publish_site_data(copy, "2026.9.0", _draft(tmp_path / "c", "0.1"), "again")
    with pytest.raises(ContractError, match="a version newer than 2026.10.0"):
        publish_site_data(copy, "2026.3.0", _draft(tmp_path / "d", "0.1"), "older")
    assert (copy / "site_data" / "2026.9.0" / "release.json").read_bytes() == before


def _append_copy_of_line(path, line: int, edit=lambda text: text) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines + [edit(lines[line - 1])]))


def test_an_invalid_draft_is_refused_with_its_line_before_it_is_sealed(tmp_path):
    copy = _copy(tmp_path)
    with pytest.raises(ContractError, match="instruments.csv line 2: share"):
        publish_site_data(copy, "2026.2.0", _draft(tmp_path / "a", "1.5"), "a share above 1")
    draft = _draft(tmp_path / "b", "0.6")
    _append_copy_of_line(draft / "instruments.csv", 2, lambda line: line.replace("2025-01-01", "2030-01-01"))
    with pytest.raises(ContractError, match="instruments.csv line 3: instrument_id: expected an id not used before"):
        publish_site_data(copy, "2026.2.0", draft, "the same id twice")
    draft = _draft(tmp_path / "c", "0.6")
    _append_copy_of_line(draft / "chimneys.csv", 2)
    with pytest.raises(ContractError, match="chimneys.csv line 5: source_id: expected one geometry per"):
        publish_site_data(copy, "2026.2.0", draft, "a chimney twice, which would count its CO2 twice")
    assert list_site_data(copy) == [FIRST] and [p.name for p in (copy / "site_data").iterdir()] == [FIRST]


def test_factors_diff_shows_the_instrument_change_and_restates_market_totals(settings, tmp_path, monkeypatch):
    copy = _copy(tmp_path)
    monkeypatch.setenv("CARBON_LAKE_FACTORS_DIR", str(copy))
    runner = CliRunner()
    sealed = runner.invoke(main, ["factors", "seal-site-data", "2026.2.0", str(_draft(tmp_path, "0.8")),
                                  "--description", "The lon-dc1 PPA extended to 80%."])
    assert sealed.exit_code == 0, sealed.output
    assert "site data 2026.2.0 sealed" in sealed.output
    reading = {"source_id": "meter-1", "event_id": "1", "ts": "2025-06-01T10:00:00Z", "vertical": "ai_data_center",
               "metrics": {"energy_kwh": 1000}, "tags": {"site": "lon-dc1", "region": "GB"}}
    (tmp_path / "lon.jsonl").write_text(json.dumps(reading) + "\n")
    assert runner.invoke(main, ["ingest", "--org", "nimbus-ai", str(tmp_path / "lon.jsonl")]).exit_code == 0
    boiler = [{"source_id": "boiler-1", "event_id": str(i), "ts": f"2025-06-01T10:00:0{5 * i}Z",
               "metrics": {"co2_ppm": 81250, "flue_velocity_m_s": 3.1, "flue_temp_c": 182.4},
               "tags": {"site": "kangaita", "region": "KE"}} for i in (0, 1)]
    (tmp_path / "boiler.jsonl").write_text("".join(json.dumps(r) + "\n" for r in boiler))
    assert runner.invoke(main, ["ingest", "--org", "ktda", str(tmp_path / "boiler.jsonl")]).exit_code == 0
    subprocess.run(cli("materialize"), check=True, cwd=REPO_ROOT, timeout=300)
    measured = json.loads(runner.invoke(main, ["sql", "SELECT site, site_data_version FROM chimney_co2",
                                               "--format", "json"]).output)
    assert measured == [{"site": "kangaita", "site_data_version": "2026.2.0"}], "the geometry's version is on the row"
    stored = json.loads(runner.invoke(main, ["sql", "SELECT method, site_data_version, sum(co2e_kg) AS kg FROM emissions "
                                                    "GROUP BY ALL ORDER BY ALL", "--format", "json"]).output)
    assert [(r["method"], r["site_data_version"]) for r in stored] == [("location", None), ("market", "2026.2.0"),
                                                                        (None, None)]

    result = runner.invoke(main, ["factors", "diff", "--site-data", FIRST, "2026.2.0"])
    assert result.exit_code == 0, result.output
    assert f"site data {FIRST} -> 2026.2.0: instruments 1 changed; chimneys unchanged" in result.output
    assert PPA in result.output and "share: 0.6 -> 0.8" in result.output
    assert "restatement preview: 2025 totals" in result.output
    # Market: 400 kWh -> 200 kWh at desnz2024-electricity-uk-kwh 0.20705 kg/kWh; location stays 207.05.
    assert "82.820000" in result.output and "41.410000" in result.output and "207.050000" in result.output
    refused = runner.invoke(main, ["factors", "diff"])
    assert refused.exit_code == 2 and "RELEASE_A RELEASE_B, --site-data V1 V2, or both" in refused.output


def test_the_emissions_contract_refuses_a_market_row_without_its_site_data_version():
    from carbon_lake.validation import EMISSIONS_CONTRACT, violations

    emissions = apply_factors(_lon_dc1_electricity(FACTORS_DIR), load_release(FACTORS_DIR), FACTORS_DIR).emissions
    assert violations(EMISSIONS_CONTRACT, emissions).is_empty()
    stripped = emissions.with_columns(pl.lit(None, pl.Utf8).alias("site_data_version"))
    assert violations(EMISSIONS_CONTRACT, stripped)["check"].to_list() == [
        "expected site_data_version on every market row"]
