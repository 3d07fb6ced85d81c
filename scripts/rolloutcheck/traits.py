"""What differs between mlflow versions, decided from the version actually installed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

ENV_MANAGER_SINCE = Version("1.25")  # `--env-manager` replaced `--no-conda`
SQLITE_DEFAULT_SINCE = Version("3.0")  # 3.x defaults to sqlite; its file store is deprecated


@dataclass(frozen=True)
class Traits:
    version: Version

    @property
    def local_env_flags(self) -> list[str]:
        """Flags that make `mlflow run` / `models serve` use the current environment."""
        return ["--env-manager", "local"] if self.version >= ENV_MANAGER_SINCE else ["--no-conda"]

    @property
    def store_kind(self) -> str:
        return "sqlite" if self.version >= SQLITE_DEFAULT_SINCE else "file"

    def tracking_uri(self, cell_dir: Path) -> str:
        """A tracking store private to one cell."""
        if self.store_kind == "sqlite":
            return f"sqlite:///{cell_dir / 'mlflow.db'}"
        return str(cell_dir / "mlruns")
