"""examples/python/ray_batch.py on a local Ray with two CPU actors (num_gpus=0): every file written
as `radpipe window` / `radpipe segment` writes it."""

import importlib.util
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="pip install ray to run the Ray example's test")


@pytest.fixture(scope="module")
def ray_batch(repo):
    spec = importlib.util.spec_from_file_location("ray_batch",
                                                  repo / "examples" / "python" / "ray_batch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield mod
    ray.shutdown()


def test_window_folder_with_two_actors(ray_batch, repo, cli, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    names = ["ct_small.dcm", "cr_mono1.dcm", "mr_small.dcm", "emri_multiframe.dcm", "vlut.dcm"]
    for n in names:
        shutil.copy(repo / "tests" / "data" / "dicom" / n, src / n)
    out = tmp_path / "out"
    report = ray_batch.run(str(src), str(out), "window", actors=2, gpus_per_actor=0)
    assert len(report) == len(names) and not [e for e in report if e.get("error")]
    assert {e["actor"] for e in report} == {0, 1}
    for n in names:
        expected = tmp_path / f"cli_{n}.png"
        subprocess.run([cli, "window", str(src / n), "-o", str(expected)], check=True,
                       capture_output=True)
        got = cv2.imread(str(out / n.replace(".dcm", ".png")), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(got, cv2.imread(str(expected), cv2.IMREAD_UNCHANGED))
    assert len(json.loads((out / "report.json").read_text())["adapters"]) == 2


def test_segment_folder_with_two_actors(ray_batch, repo, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(repo / "data" / "demo" / "brain_mid_sagittal.png", src / "a.png")
    shutil.copy(repo / "data" / "demo" / "icbm152_mid_sagittal.png", src / "b.png")
    out = tmp_path / "out"
    report = ray_batch.run(str(src), str(out), "segment", actors=2, gpus_per_actor=0)
    assert [e.get("error") for e in report] == [None, None]
    assert (out / "a_mask.png").is_file() and (out / "b_mask.png").is_file()
    assert len(json.loads((out / "segment.json").read_text())) == 2
