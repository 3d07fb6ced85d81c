"""An environment several cells share (the store cells of a label, `make -j2`, two runs or test workers
asking for one session) is made by one at a time: real `uv venv` from four processes at once, each as the
env stage calls it; nox makes no environment itself (it would `uv venv --clear` one being filled)."""

from __future__ import annotations

import multiprocessing
import runpy
from pathlib import Path

import nox

from rolloutcheck.core import paths
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


def test_a_broken_environment_folder_is_made_again(tmp_path):
    venv = tmp_path / ".nox" / "validate-3-17-2-h2o_wine"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "gone")  # an interrupted create, a removed Python
    UvBackend().create(venv, "3.11", tmp_path / "env.log")
    assert (venv / "bin" / "python").exists()


def test_no_session_has_nox_make_an_environment(monkeypatch):
    """Cells' environments are made by their env stage, under the lock, where nox would have put them."""
    monkeypatch.setattr(nox.registry, "_REGISTRY", type(nox.registry._REGISTRY)())
    runpy.run_path(str(paths.ROOT / "noxfile.py"))
    registered = nox.registry.get()
    assert "validate-1.2.SBD.0" in registered and "upgrade-3.17.2" in registered
    assert {name: f.venv_backend for name, f in registered.items() if f.venv_backend != "none"} == {}
    assert paths.cell_venv("validate", "1.2.SBD.0", "h2o_wine") == paths.ROOT / ".nox" / "validate-1-2-sbd-0-h2o_wine"
