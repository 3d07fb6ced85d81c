"""Registry overrides, requirement derivation and lock staleness, on real files and real uv."""

import shlex
import textwrap

import pytest

from rolloutcheck.core import paths
from rolloutcheck.envs import locks
from rolloutcheck.envs import spec as envspec
from rolloutcheck.inputs import registry, usecases
from wheels import make_wheel


@pytest.fixture
def sklearn():
    return usecases.discover()["sklearn_elasticnet_wine"]


def test_shipped_labels():
    labels = registry.load_labels(paths.VERSIONS_FILE, override=None, environ={})
    assert list(labels) == ["1.2.SBD.0", "1.30.1", "2.22.5", "3.17.2"]
    assert labels["1.2.SBD.0"].mlflow == "mlflow==1.2.0"
    assert "protobuf<3.21" in labels["1.2.SBD.0"].constraints


def test_fork_pointed_at_internal_wheel_by_environment():
    environ = {"ROLLOUT_MLFLOW__1_2_SBD_0": "/wheels/mlflow-1.2.0+sbd.0-py3-none-any.whl"}
    labels = registry.load_labels(paths.VERSIONS_FILE, override=None, environ=environ)
    assert labels["1.2.SBD.0"].mlflow.endswith("mlflow-1.2.0+sbd.0-py3-none-any.whl")
    assert str(envspec.mlflow_version_of(labels["1.2.SBD.0"].mlflow)) == "1.2.0+sbd.0"
    assert labels["3.17.2"].mlflow == "mlflow==3.17.2"


def test_override_file_merges_and_adds_labels(tmp_path):
    override = tmp_path / "versions.local.yaml"
    override.write_text(
        textwrap.dedent("""
        labels:
          "1.2.SBD.0": {mlflow: "mlflow==1.2.0+sbd.0", index_url: "https://pypi.internal/simple"}
          "3.18.0": {mlflow: "mlflow==3.18.0"}
        """)
    )
    labels = registry.load_labels(paths.VERSIONS_FILE, override=override, environ={})
    assert labels["1.2.SBD.0"].index_url == "https://pypi.internal/simple"
    assert labels["1.2.SBD.0"].constraints  # kept from the committed file
    assert labels["3.18.0"].mlflow == "mlflow==3.18.0"


def test_label_without_mlflow_is_an_error(tmp_path):
    bad = tmp_path / "v.yaml"
    bad.write_text("labels:\n  x: {description: no requirement}\n")
    with pytest.raises(registry.RegistryError, match="key 'mlflow': missing"):
        registry.load_labels(file=bad, override=None, environ={})


def test_conda_yaml_to_pip(sklearn):
    label = registry.load_labels(paths.VERSIONS_FILE, override=None, environ={})["1.2.SBD.0"]
    inputs = envspec.lock_inputs(sklearn, label)
    assert inputs.python == "3.11"
    assert inputs.requirements == ("scikit-learn", "pandas", "numpy", "mlflow==1.2.0", "setuptools")
    names = {"py-xgboost": "xgboost", "python": None}
    assert envspec.conda_to_pip("py-xgboost=1.7", names) == "xgboost==1.7.*"
    assert envspec.conda_to_pip("numpy>=1.20", names) == "numpy>=1.20"
    assert envspec.conda_to_pip("python=3.11", names) is None


def test_committed_locks_are_fresh(sklearn):
    for label in registry.load_labels(paths.VERSIONS_FILE, override=None, environ={}).values():
        inputs = envspec.lock_inputs(sklearn, label)
        assert locks.state(inputs) is locks.LockState.FRESH, locks.refresh_command(label.name)


def test_changed_inputs_make_a_lock_stale(sklearn, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ENVS", tmp_path)
    label = registry.Label("t", "mlflow==3.17.2")
    inputs = envspec.lock_inputs(sklearn, label)
    assert locks.state(inputs) is locks.LockState.MISSING
    folder = paths.cell_env_dir(sklearn.name, "t")
    folder.mkdir(parents=True)
    (folder / "requirements.lock").write_text(f"# x\n{locks.DIGEST_PREFIX}{inputs.digest()}\nsix==1\n")
    assert locks.state(inputs) is locks.LockState.FRESH
    pinned = envspec.lock_inputs(sklearn, registry.Label("t", "mlflow==3.17.2", constraints=("pandas<3",)))
    assert locks.state(pinned) is locks.LockState.STALE


def test_unresolvable_version_is_reported_with_the_resolver_reason(sklearn, tmp_path, monkeypatch):
    """Real uv against PyPI, for a version that can never be published: a local version (PEP 440 `+...`,
    which PyPI refuses). A future release (3.18.0) was used before: it resolved the day it came out."""
    monkeypatch.setattr(paths, "ENVS", tmp_path / "envs")
    inputs = envspec.lock_inputs(sklearn, registry.Label("unpublished", "mlflow==3.17.2+unpublished"))
    with pytest.raises(locks.LockError) as error:
        locks.lock(inputs, tmp_path / "lock.log")
    assert error.value.reason.startswith("unresolvable: ")
    assert "no version of mlflow==3.17.2+unpublished" in error.value.reason, error.value.reason
    assert "\n" not in error.value.reason
    assert not (tmp_path / "envs").exists()  # nothing half-written under envs/


def test_resolver_reason_plain_output():
    output = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because there is no version of mlflow-skinny==3.18.0 and mlflow>=3.18.0 depends on "
        "mlflow-skinny==3.18.0, we can conclude that mlflow>=3.18.0 cannot be used.\n"
        "         And because you require mlflow==3.18.0, we can conclude that your requirements are unsatisfiable.\n"
    )
    assert locks.resolver_reason(output).startswith("Because there is no version of mlflow-skinny==3.18.0")


def test_resolver_reason_picks_the_because_sentence():
    output = (
        "  × No solution found when resolving dependencies:\n"
        "  ╰─▶ Because there is no version of mlflow-skinny==3.18.0 and mlflow==3.18.0 depends on\n"
        "      mlflow-skinny==3.18.0, we can conclude that mlflow==3.18.0 cannot be used.\n"
        "      And because you require mlflow==3.18.0, we can conclude that your requirements are unsatisfiable.\n"
    )
    reason = locks.resolver_reason(output)
    assert reason.startswith("Because there is no version of mlflow-skinny==3.18.0")
    assert reason.endswith("cannot be used.")


def test_one_uv_compile_helper_logs_its_command_quoted(tmp_path):
    """Real uv, offline (a local wheel, no dependencies): hashes on request, the command in the log shell-quoted."""
    folder = tmp_path / "with space"
    wheel = make_wheel(folder / "demo-1.0-py3-none-any.whl", "1")
    requirements, constraints = folder / "requirements.in", folder / "constraints.txt"
    requirements.write_text(f"{wheel}\n")
    constraints.write_text("")
    log = tmp_path / "logs" / "compile.log"
    done = locks.compile_requirements(requirements, constraints, "3.11", None, hashes=True, log=log)
    assert done.returncode == 0, done.stderr
    assert "--hash=sha256:" in done.stdout
    command = shlex.split(log.read_text().splitlines()[0].removeprefix("$ "))
    assert command[1:3] == ["pip", "compile"] and str(requirements) in command and "--generate-hashes" in command
    assert command[command.index("--python-platform") + 1] == locks.PLATFORM
    plain = locks.compile_requirements(requirements, constraints, "3.11", "https://pypi.org/simple", hashes=False)
    assert plain.returncode == 0 and "--hash" not in plain.stdout
    assert plain.args[-2:] == ["--extra-index-url", "https://pypi.org/simple"]


def test_a_pin_can_carry_its_reason_and_a_bad_entry_is_one_line(tmp_path):
    good = tmp_path / "versions.yaml"
    good.write_text('labels:\n  "9.9":\n    mlflow: mlflow==9.9\n    constraints:\n'
                    '      - {pin: "numpy<2", reason: "ABI of pandas 1.5"}\n      - pandas<2\n')  # fmt: skip
    label = registry.load_labels(good)["9.9"]
    assert label.constraints == ("numpy<2", "pandas<2") and label.reasons == {"numpy<2": "ABI of pandas 1.5"}
    bad = tmp_path / "bad.yaml"
    bad.write_text('labels:\n  "9.9":\n    mlflow: mlflow==9.9\n    constraints:\n      - {pin: "numpy<2", why: x}\n')
    with pytest.raises(registry.RegistryError) as error:
        registry.load_labels(bad)
    assert "unknown key 'why'" in str(error.value) and "constraints" in str(error.value)
