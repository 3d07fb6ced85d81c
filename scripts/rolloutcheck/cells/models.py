"""A models cell: one of production's own models, taken from a copy of its tracking store
(ROLLOUT_MODELS_FROM, selected by envs/models.yaml), checked across the move to a label.

Its stages are declared in spec/kinds.py (MODELS): production serves the model from its logged
requirements with the production label's mlflow and answers what the model can be asked (its logged
input example, the stored requests of the use case it is linked to): the as-logged answers. Then the
new label serves the same files as an upgrade cell serves its old model: in the model's environment
with mlflow moved (`local-`), in the environment the new CLI rebuilds (`model-env-`), speed side by
side, and library pins when it broke. A break there is a finding of the rollout decision, named by
the registered model (or run) it hits, with the remedy's result; a written-down upgrade break
(probes/_defaults/upgrade.yaml, the linked use case's upgrade.yaml) is that known break instead.
The copy is never written: the model's files are copied into the cell folder and served from there.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import yaml

from rolloutcheck.cells import lifecycle
from rolloutcheck.cells.stages import serve
from rolloutcheck.cells.stages.tracking import CheckReport
from rolloutcheck.cells.stages.upgrade import oldmodel
from rolloutcheck.cells.stages.upgrade.pin import model_libraries
from rolloutcheck.cells.upgrade import UpgradeCell
from rolloutcheck.cells.validate import make_context
from rolloutcheck.core import paths, versionmatch
from rolloutcheck.core.errors import ConfigError, NotChecked
from rolloutcheck.drivers.inenv.check_run import input_example  # plain Python: reads the model's files only
from rolloutcheck.envs import backends, interpreter
from rolloutcheck.envs.reader import ReaderError, reader_env
from rolloutcheck.inputs import modelselect, preflight, requirements, usecases
from rolloutcheck.inputs.preflight import CellConfig
from rolloutcheck.inputs.registry import Label
from rolloutcheck.spec.kinds import Side
from rolloutcheck.spec.results import StageResult
from rolloutcheck.stores import production

LINK_HOW = (f"link it to a use case whose stored requests it answers: tag its run `{modelselect.LINK_TAG}=<use case>` "
            "or add `usecase: <use case>` to its entry in envs/models.yaml")  # fmt: skip


def models_venv(label: Label, model_id: str, side: str) -> Path:
    """The cell's two environments, in nox's folder, reused while their lock is unchanged."""
    return paths.ROOT / ".nox" / f"models-{paths.slug(label.name)}-{model_id}-{side}"


def chosen(given: str | None, model_id: str, reader: Path | None = None) -> production.ProductionModel:
    """The model a cell is for, selected again from the copy or the live server (`reader`: production's
    mlflow that reads it); the noxfile listed it the same way."""
    if not given:
        raise ConfigError(modelselect.MODELS_FILE, "ROLLOUT_MODELS_FROM is not set: name a copy of production's "
                          "tracking store (a SQLite file or an mlruns/ folder) or its tracking server")  # fmt: skip
    try:
        found, _ = production.select(given, modelselect.load(), reader)
    except production.CopyError as error:
        if production.is_server(given):  # a server that does not answer: production's models not checked
            raise NotChecked(str(error)) from None
        raise ConfigError(modelselect.MODELS_FILE, str(error)) from None
    if not found:
        raise ConfigError(modelselect.MODELS_FILE, f"selects no model in {given} (registry and runs were read)")
    model = next((m for m in found if m.id == model_id), None)
    if model is None:
        raise ConfigError(modelselect.MODELS_FILE, f"selects no model {model_id} in {given} any more")
    if model.problem:  # production's model itself cannot be read: not checked, which never allows GO
        raise NotChecked(f"{model.shown}: {model.problem}")
    return model


def flavor_of(mlmodel: dict) -> str:
    flavors = [f for f in (mlmodel.get("flavors") or {}) if f != "python_function"]
    return flavors[0] if flavors else "python_function"


class ModelCell(UpgradeCell):
    """An upgrade cell whose *from* model is production's own (its state, sides and binding are the same)."""

    def __init__(self, started: lifecycle.Started):
        super().__init__(started)
        self.model: production.ProductionModel | None = None

    def title(self) -> str:
        return f"{self.request.source.name} -> {self.request.label.name} model {self.request.variant}"

    def what(self) -> str:
        return f"finding model {self.request.variant} in the copy of production's store"

    def configure(self, record: StageResult) -> None:
        request, started, state = self.request, self.started, self.state
        source, target, result = request.source, request.label, started.result
        given = request.settings.models_from
        reader = reader_env(source) if given and production.is_server(given) else None
        model = self.model = chosen(given, request.variant, reader)
        result.upgrade["model"] = {"id": model.id, "shown": model.shown, "run_id": model.run_id, "path": model.path,
                                   "registered": model.registered, "usecase": model.usecase,
                                   "copy": model.remote or str(model.model_dir)}  # fmt: skip
        model_dir = started.cell_dir / "model"
        if model.remote:  # production's live server, or the object store a copy names: downloaded with
            # production's client (its own variables: credentials, MLFLOW_S3_ENDPOINT_URL), the source only read
            try:
                reader = reader or reader_env(source, object_store=not production.is_server(given or ""))
                production.fetch(model, given or "", reader, model_dir)
            except (ReaderError, production.CopyError) as error:
                raise NotChecked(f"{model.shown}: {error.reason}") from None
        else:
            shutil.copytree(model.model_dir, model_dir)  # served from here: the copy itself is only read
        mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
        flavor = result.flavor = flavor_of(mlmodel)
        example = input_example(str(model_dir), mlmodel)
        askable = bool(example and "kind" in example)  # a logged example the tool can send
        if model.usecase:
            linked = preflight.check(source, model.usecase)  # a ConfigError (unknown use case) fails config
            usecase, probes = linked.usecase, linked.probes
        else:
            usecase, probes = usecases.UseCase(model.id, model_dir, flavor, {}, ()), ()
        if not probes and not askable:
            raise ConfigError(modelselect.MODELS_FILE, f"nothing can be asked of {model.shown}: it logged no input "
                              f"example the tool can send and no use case is linked; {LINK_HOW}")  # fmt: skip
        python = production.model_python(model_dir) or interpreter.DEFAULT
        to_version = requirements.mlflow_version_of(target.mlflow)
        moved = next((p for spec, p in usecase.python_by_mlflow.items()  # the linked use case moves Python
                      if to_version and versionmatch.matches(spec, to_version)), None)  # fmt: skip
        pythons = {Side.FROM: python, Side.TO: moved or python}
        common = dict(cell_dir=started.cell_dir, marker=started.marker, result=result, settings=request.settings,
                      reuse_models=False)  # fmt: skip
        uv = backends.UvBackend()  # the model's logged requirements are PyPI pins, whatever ENV_BACKEND says
        for side, label, prefix in ((Side.FROM, source, "from-"), (Side.TO, target, "to-")):
            found = interpreter.find(pythons[side])
            venv = models_venv(target, model.id, side)
            ctx = make_context(config=CellConfig(label, usecase, probes), venv=venv, log_prefix=prefix,
                               python=found.python, python_missing=found.missing, **common)  # fmt: skip
            self.contexts[side] = dataclasses.replace(ctx, backend=uv, backend_problem=None)
        result.env_backend = uv.name
        self.contexts[Side.TO_ALL] = dataclasses.replace(self.contexts[Side.TO], log_prefix="")
        self.contexts[Side.FROM_ALL] = self.contexts[Side.FROM]  # production's server: logs from-serve, from-probe
        report = CheckReport(flavor=flavor, flavors=(flavor,), model_dir=str(model_dir), input_example=example)
        for side_state, side in ((state.source, Side.FROM), (state.target, Side.TO)):
            side_state.report, side_state.python_version = report, pythons[side]
        breaks = preflight.upgrade_breaks(usecase)
        state.known = lambda stage: preflight.known_breaks(
            breaks, stage, state.source.result.mlflow_version, result.mlflow_version
        )
        result.run_id = model.run_id
        result.upgrade["model"] |= {"flavor": flavor, "input_example": askable,
                                    "requirements": model_libraries(model_dir),  # what the model logged it needs
                                    "python": {"from": pythons[Side.FROM], "to": pythons[Side.TO]}}  # fmt: skip
        if model.usecase:
            result.upgrade["usecase"] = model.usecase
        asked = [*(["its input example"] if askable else []),
                 *([f"{len(probes)} stored request(s) of {model.usecase}"] if probes else [])]  # fmt: skip
        record.reason = f"{model.shown}, {flavor}, Python {python}; asked {' and '.join(asked)}"

    def cleanup(self) -> None:  # no tracking check to stop; run id and flavor are the model's, set in configure
        state, result = self.state, self.started.result
        oldmodel.stop(state)
        serve.stop(state.source)
        result.upgrade.setdefault("from_mlflow", state.source.result.mlflow_version)
