"""An environment several cells share (the store cells of a label, `make -j2`) is made by one at a time:
real `uv venv` from four processes at once, each as the env stage calls it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from rolloutcheck.envs import install
from rolloutcheck.envs.backends import UvBackend


def _create(args: tuple[str, str]) -> str:
    venv, log = map(Path, args)
    try:
        with install.exclusive(venv):
            UvBackend().create(venv, "3.11", log)
    except install.EnvError as error:
        return error.reason
    return "ok"


def test_four_cells_creating_one_environment_at_once_all_get_it(tmp_path):
    venv = tmp_path / ".nox" / "stores-3-17-2"
    jobs = [(str(venv), str(tmp_path / f"env{n}.log")) for n in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_create, jobs) == ["ok"] * 4
    assert (venv / "bin" / "python").exists()
    made = [log for _, log in jobs if Path(log).is_file() and "Creating virtual environment" in Path(log).read_text()]
    assert len(made) == 1  # by one of them; the others found it made
