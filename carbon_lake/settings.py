"""One settings object, read from the environment, for every entry point.

The CLI's ``--lake`` and ``--broker`` options, the Dagster resources and the Streamlit app
all build a :class:`Settings` through :meth:`Settings.from_env`, so that a variable set once
(``CARBON_LAKE_HOME``) means the same lake everywhere.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_number(name: str, default: float, cast: type) -> Any:
    raw = _env(name, str(default))
    try:
        value = cast(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where the lake is, which broker to talk to, which factor release and site data to apply."""

    home: Path = Path("lake")
    broker_url: str = "mqtt://127.0.0.1:1883"
    mqtt_protocol: str = "5"
    factors_dir: Path = REPO_ROOT / "emission_factors"
    factor_release: str | None = None
    site_data_release: str | None = None  # instruments and chimneys (carbon_lake/site_data.py); None: the newest
    flush_seconds: float = 1.0
    flush_messages: int = 5000
    flush_bytes: int = 16 * 1024 * 1024  # with large gateway batches, bytes bound memory before the count does
    landing_client_id: str = "carbon-lake-landing"
    share_group: str | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)  # never printed with the settings
    mqtt_ca_file: Path | None = None  # the broker's CA, for mqtts:// URLs
    metrics_port: int | None = None
    microbatch_seconds: int = 30
    # Metric rows a stage holds in memory at once: a long range of days is processed in slices
    # of about this many rows, a busier day in pieces of it (about 1.6 GB of peak RSS at 250k,
    # measured in benchmarks/README.md; half the rows was no slower).
    chunk_rows: int = 250_000
    # Landing files decoded at once, one thread and one DuckDB decoder each (see bronze.parse_each).
    decode_workers: int = 2
    landing_freshness_seconds: int = 900  # older newest landing file: the stream has stalled
    chimney_max_gap_seconds: float = 60.0
    score_weights: str = "data_center=0.25,logistics=0.25,manufacturing=0.25,saas=0.25"
    alert_webhook_url: str | None = field(default=None, repr=False)  # chat webhooks carry their secret in the URL

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        """Settings from ``CARBON_LAKE_*`` variables; keyword overrides win when not None."""
        settings = cls(
            home=Path(_env("CARBON_LAKE_HOME", "lake")),
            broker_url=_env("CARBON_LAKE_BROKER", cls.broker_url),
            mqtt_protocol=_env("CARBON_LAKE_MQTT_PROTOCOL", cls.mqtt_protocol),
            factors_dir=Path(_env("CARBON_LAKE_FACTORS_DIR", str(cls.factors_dir))),
            factor_release=os.environ.get("CARBON_LAKE_FACTOR_RELEASE") or None,
            site_data_release=os.environ.get("CARBON_LAKE_SITE_DATA_RELEASE", "").strip() or None,
            flush_seconds=_env_number("CARBON_LAKE_FLUSH_SECONDS", cls.flush_seconds, float),
            flush_messages=_env_number("CARBON_LAKE_FLUSH_MESSAGES", cls.flush_messages, int),
            flush_bytes=_env_number("CARBON_LAKE_FLUSH_BYTES", cls.flush_bytes, int),
            landing_client_id=_env("CARBON_LAKE_LANDING_CLIENT_ID", cls.landing_client_id),
            share_group=os.environ.get("CARBON_LAKE_SHARE_GROUP") or None,
            mqtt_username=os.environ.get("CARBON_LAKE_MQTT_USERNAME") or None,
            mqtt_password=os.environ.get("CARBON_LAKE_MQTT_PASSWORD") or None,
            mqtt_ca_file=Path(os.environ["CARBON_LAKE_MQTT_CA_FILE"]) if os.environ.get("CARBON_LAKE_MQTT_CA_FILE")
            else None,
            metrics_port=_env_number("CARBON_LAKE_METRICS_PORT", 0, int) if os.environ.get("CARBON_LAKE_METRICS_PORT")
            else None,
            microbatch_seconds=_env_number(
                "CARBON_LAKE_MICROBATCH_SECONDS", cls.microbatch_seconds, int
            ),
            chunk_rows=_env_number("CARBON_LAKE_CHUNK_ROWS", cls.chunk_rows, int),
            decode_workers=_env_number("CARBON_LAKE_DECODE_WORKERS", cls.decode_workers, int),
            landing_freshness_seconds=_env_number(
                "CARBON_LAKE_LANDING_FRESHNESS_SECONDS", cls.landing_freshness_seconds, int
            ),
            chimney_max_gap_seconds=_env_number(
                "CARBON_LAKE_CHIMNEY_MAX_GAP_SECONDS", cls.chimney_max_gap_seconds, float
            ),
            score_weights=_env("CARBON_LAKE_SCORE_WEIGHTS", cls.score_weights),
            alert_webhook_url=os.environ.get("CARBON_LAKE_ALERT_WEBHOOK_URL") or None,
        )
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        if settings.mqtt_protocol not in ("5", "3.1.1"):
            raise ValueError(
                f"CARBON_LAKE_MQTT_PROTOCOL: expected '5' or '3.1.1', got {settings.mqtt_protocol!r}"
            )
        if settings.share_group is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", settings.share_group):
            raise ValueError(f"CARBON_LAKE_SHARE_GROUP: expected letters, digits and . _ - (no / + #), "
                             f"got {settings.share_group!r}")
        if settings.alert_webhook_url and not settings.alert_webhook_url.startswith(("http://", "https://")):
            raise ValueError(f"CARBON_LAKE_ALERT_WEBHOOK_URL: expected an http:// or https:// URL, "
                             f"got {settings.alert_webhook_url!r}")
        from carbon_lake.score_weights import parse_weights

        try:
            parse_weights(settings.score_weights)
        except ValueError as exc:
            raise ValueError(f"CARBON_LAKE_SCORE_WEIGHTS: {exc}") from None
        return replace(settings, home=Path(settings.home).absolute())

    def to_env(self) -> dict[str, str]:
        """The variables that make a child process see these same settings."""
        env = {
            "CARBON_LAKE_HOME": str(self.home),
            "CARBON_LAKE_BROKER": self.broker_url,
            "CARBON_LAKE_MQTT_PROTOCOL": self.mqtt_protocol,
            "CARBON_LAKE_FACTORS_DIR": str(self.factors_dir),
            "CARBON_LAKE_FLUSH_SECONDS": str(self.flush_seconds),
            "CARBON_LAKE_FLUSH_MESSAGES": str(self.flush_messages),
            "CARBON_LAKE_FLUSH_BYTES": str(self.flush_bytes),
            "CARBON_LAKE_LANDING_CLIENT_ID": self.landing_client_id,
            "CARBON_LAKE_MICROBATCH_SECONDS": str(self.microbatch_seconds),
            "CARBON_LAKE_CHUNK_ROWS": str(self.chunk_rows),
            "CARBON_LAKE_DECODE_WORKERS": str(self.decode_workers),
            "CARBON_LAKE_LANDING_FRESHNESS_SECONDS": str(self.landing_freshness_seconds),
            "CARBON_LAKE_CHIMNEY_MAX_GAP_SECONDS": str(self.chimney_max_gap_seconds),
            "CARBON_LAKE_SCORE_WEIGHTS": self.score_weights,
        }
        if self.factor_release:
            env["CARBON_LAKE_FACTOR_RELEASE"] = self.factor_release
        if self.site_data_release:
            env["CARBON_LAKE_SITE_DATA_RELEASE"] = self.site_data_release
        if self.share_group:
            env["CARBON_LAKE_SHARE_GROUP"] = self.share_group
        optional = {"CARBON_LAKE_MQTT_USERNAME": self.mqtt_username, "CARBON_LAKE_MQTT_PASSWORD": self.mqtt_password,
                    "CARBON_LAKE_MQTT_CA_FILE": self.mqtt_ca_file and str(self.mqtt_ca_file),
                    "CARBON_LAKE_ALERT_WEBHOOK_URL": self.alert_webhook_url}
        env.update({name: value for name, value in optional.items() if value})
        return env

    # The lake layout, in one place (ARCHITECTURE.md, "Lake layout").
    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def bronze_dir(self) -> Path:
        return self.home / "bronze"

    @property
    def silver_dir(self) -> Path:
        return self.home / "silver"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def auth_dir(self) -> Path:
        """Mosquitto password and ACL files written by ``carbon-lake devices``."""
        return self.home / "auth"

    @property
    def dagster_home(self) -> Path:
        return self.home / ".dagster"

    def ensure_dagster_home(self) -> Path:
        """Create the Dagster instance folder inside the lake (never committed, never shared)."""
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        config = self.dagster_home / "dagster.yaml"
        if not config.exists():
            config.write_text("telemetry:\n  enabled: false\n")
        return self.dagster_home


DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


def broker_address(broker_url: str) -> tuple[str, int]:
    """``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT`` (TLS) -> ``(host, port)``; ports default to 1883 and 8883."""
    parts = urlsplit(broker_url)
    try:
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        raise ValueError(f"broker URL: expected mqtt://HOST:PORT or mqtts://HOST:PORT, got {broker_url!r}")
    return parts.hostname, port


def broker_uses_tls(broker_url: str) -> bool:
    return urlsplit(broker_url).scheme == "mqtts"
