"""One rule for version boundaries: a version is matched on its release (versionmatch.py)."""

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from rolloutcheck.core import versionmatch
from rolloutcheck.drivers.traits import Traits
from rolloutcheck.probes import expectations

# version -> whether it is inside `<2`, `>=2`, `<3`, `>=3`
SIDES = {
    "2.0.0rc0": (False, True, True, False),
    "2.0.0.dev1": (False, True, True, False),
    "3.0.0.dev1": (False, True, False, True),
    "3.0.0rc0": (False, True, False, True),
    "1.2.0+sbd.0": (True, False, True, False),
    "2.22.5": (False, True, True, False),
    "1.30.1": (True, False, True, False),
    "3.17.2": (False, True, False, True),
}
BOUNDARIES = ("<2", ">=2", "<3", ">=3")


@pytest.mark.parametrize(
    "version, spec, inside",
    [(v, spec, inside) for v, sides in SIDES.items() for spec, inside in zip(BOUNDARIES, sides, strict=True)],
)
def test_matches_on_the_release(version, spec, inside):
    assert versionmatch.matches(spec, version) is inside
    assert versionmatch.matches(SpecifierSet(spec), Version(version)) is inside  # str or parsed, same answer


@pytest.mark.parametrize("version", sorted(SIDES))
def test_every_version_is_on_exactly_one_side_of_a_boundary(version):
    for below, above in (("<2", ">=2"), ("<3", ">=3"), ("<1.25", ">=1.25")):
        assert versionmatch.matches(below, version) != versionmatch.matches(above, version)


@pytest.mark.parametrize(
    "version, base",
    [("2.0.0rc0", "2.0.0"), ("2.0.0.dev1", "2.0.0"), ("3.0.0.dev1", "3.0.0"), ("1.2.0+sbd.0", "1.2.0"),
     ("2.22.5.post1", "2.22.5"), ("3", "3.0.0"), ("1!2.0rc1", "1!2.0.0"), ("2.22.5", "2.22.5")],
)  # fmt: skip
def test_release(version, base):
    assert str(versionmatch.release(version)) == base
    assert versionmatch.release(Version(version)) == Version(base)


def test_malformed_input_is_a_value_error():
    with pytest.raises(ValueError):
        versionmatch.matches("<<2", "2.0.0")
    with pytest.raises(ValueError):
        versionmatch.matches("<2", "not-a-version")


@pytest.mark.parametrize("version", sorted(SIDES))
def test_expectation_files_and_traits_agree_on_the_boundary(tmp_path, version):
    path = tmp_path / "probe.expect.yaml"
    path.write_text('- mlflow: "<3"\n  status: 200\n- mlflow: ">=3"\n  status: 415\n')
    chosen = expectations.select(expectations.load(path), version)
    assert chosen is not None, version  # 2.0.0rc0 used to match neither `<2` nor `>=2`
    on_3 = versionmatch.matches(">=3", version)
    assert chosen.status == ((415,) if on_3 else (200,))
    assert Traits(Version(version)).store_kind == ("sqlite" if on_3 else "file")


@pytest.mark.parametrize("version, picked", [("2.0.0rc0", ">=2"), ("2.0.0.dev1", ">=2"), ("1.2.0+sbd.0", "<2")])
def test_prereleases_at_a_major_boundary_select_the_new_major(tmp_path, version, picked):
    path = tmp_path / "probe.expect.yaml"
    path.write_text('- mlflow: "<2"\n  status: 200\n- mlflow: ">=2"\n  status: 415\n')
    assert str(expectations.select(expectations.load(path), version).mlflow) == picked
