"""Smoke test of the PyInstaller bundle, run alone in a clean environment (no venv, no PYTHONPATH).

Skipped unless ``SEGVIEWER_BUNDLE`` names an unpacked bundle (or a tarball), or
``bash packaging/build_bundle.sh`` has left a tarball in dist/: building it takes minutes, so CI
does not. ``python -m benchmarks.run --only packaging`` builds it when missing and runs the same
checks (benchmarks.bench_packaging.smoke_test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.bench_packaging import newest_tarball, picture_spread, run_clean, smoke_test, unpack

pytestmark = [pytest.mark.slow, pytest.mark.gui]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    chosen = os.environ.get("SEGVIEWER_BUNDLE")
    source = Path(chosen) if chosen else newest_tarball()
    if source is None:
        pytest.skip("no bundle: set SEGVIEWER_BUNDLE or run bash packaging/build_bundle.sh")
    if source.is_dir():
        return source
    return unpack(source, tmp_path_factory.mktemp("bundle"))


def test_bundle_holds_the_app_demo_model_and_licences(bundle):
    assert os.access(bundle / "segviewer", os.X_OK)
    assert (bundle / "demo" / "spleen_ct.nii.gz").is_file() and (bundle / "demo" / "ATTRIBUTION.md").is_file()
    assert (bundle / "models" / "hippocampus_unet.pt").is_file()
    summary = (bundle / "licenses" / "SUMMARY.txt").read_text()
    assert "PyMaxflow" in summary and "torch" in summary
    # PyMaxflow's wheel has no licence file: the bundle carries the GPL-3.0 text for it and itself.
    assert "GNU GENERAL PUBLIC LICENSE" in (bundle / "licenses" / "PyMaxflow" / "GPL-3.0.txt").read_text()
    assert (bundle / "licenses" / "GPL-3.0.txt").is_file()
    assert "GPL-3.0" in (bundle / "README.txt").read_text()


def test_bundle_info_and_screenshot_of_the_demo_without_python(bundle, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("the screenshot needs an X display (run under xvfb-run)")
    figures = smoke_test(bundle, tmp_path)  # raises with the bundle's stderr when a command fails
    assert figures["pixel_std"] > 10, "the screenshot is blank"
    assert picture_spread(tmp_path / "bundle-screenshot.png") == figures["pixel_std"]


def test_bundle_runs_its_bundled_unet_and_the_graph_cut(bundle, tmp_path):
    executable, demo = str(bundle / "segviewer"), str(bundle / "demo" / "spleen_ct.nii.gz")
    # The bundled model is found inside the bundle, and torch imports and runs there.
    unet = run_clean([executable, "segment", demo, "--method", "unet", "-o", str(tmp_path / "unet.nii.gz")])
    assert unet.returncode == 0 and (tmp_path / "unet.nii.gz").is_file(), unet.stderr
    # PyMaxflow's native solver and SimpleITK's writers work from the bundle.
    scribbles = tmp_path / "scribbles.nii.gz"
    simulate = run_clean([executable, "simulate", str(bundle / "demo" / "spleen_ct_label.nii.gz"),
                          "-o", str(scribbles)])
    assert simulate.returncode == 0, simulate.stderr
    segment = run_clean([executable, "segment", demo, "--method", "graphcut", "--scribbles", str(scribbles),
                         "-o", str(tmp_path / "graphcut.nii.gz")])
    assert segment.returncode == 0 and (tmp_path / "graphcut.nii.gz").is_file(), segment.stderr


def test_bundle_desktop_install_launches_the_bundle(bundle, tmp_path):
    data_home = tmp_path / "share"
    data_home.mkdir()
    install = run_clean([str(bundle / "segviewer"), "desktop-install", "--user"], XDG_DATA_HOME=str(data_home))
    assert install.returncode == 0, install.stderr
    entry = (data_home / "applications" / "segviewer.desktop").read_text()
    assert f"Exec={(bundle / 'segviewer').resolve()} %f" in entry.splitlines()
    uninstall = run_clean([str(bundle / "segviewer"), "desktop-uninstall", "--user"], XDG_DATA_HOME=str(data_home))
    assert uninstall.returncode == 0 and not any(data_home.iterdir()), uninstall.stderr
