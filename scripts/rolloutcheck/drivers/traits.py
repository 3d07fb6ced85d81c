"""What differs between mlflow versions, decided from the version actually installed.

Versions are compared on their release (versionmatch.release): a `3.0.0rc0` already has 3.0's traits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from rolloutcheck.core.versionmatch import release

ENV_MANAGER_SINCE = Version("1.25")  # `--env-manager` replaced `--no-conda`
SQLITE_DEFAULT_SINCE = Version("3.0")  # 3.x defaults to sqlite; its file store is deprecated


@dataclass(frozen=True)
class Traits:
    version: Version

    @property
    def release(self) -> Version:
        """The release this version is matched as (pre/dev/post/local parts dropped)."""
        return release(self.version)

    @property
    def local_env_flags(self) -> list[str]:
        """Flags that make `mlflow run` / `models serve` use the current environment."""
        return ["--env-manager", "local"] if self.release >= ENV_MANAGER_SINCE else ["--no-conda"]

    @property
    def store_kind(self) -> str:
        return "sqlite" if self.release >= SQLITE_DEFAULT_SINCE else "file"

    def tracking_uri(self, cell_dir: Path) -> str:
        """A tracking store private to one cell."""
        if self.store_kind == "sqlite":
            return f"sqlite:///{cell_dir / 'mlflow.db'}"
        return str(cell_dir / "mlruns")
