"""The one resource every asset receives: where the lake is and which factor release and site data to apply."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from carbon_lake.settings import Settings


class LakeResource(dg.ConfigurableResource):
    """The lake root, factor release and site-data version; tests swap in one pointing at a temporary folder."""

    home: str
    factors_dir: str
    factor_release: str | None = None
    site_data_release: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "LakeResource":
        return cls(home=str(settings.home), factors_dir=str(settings.factors_dir),
                   factor_release=settings.factor_release, site_data_release=settings.site_data_release)

    def settings(self) -> Settings:
        return Settings.from_env(home=Path(self.home), factors_dir=Path(self.factors_dir),
                                 factor_release=self.factor_release, site_data_release=self.site_data_release)
