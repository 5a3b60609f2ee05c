"""stitch() and segment() equal `radpipe stitch` and `radpipe segment` on the demo data."""

import json
import subprocess

import cv2
import numpy as np
import pydicom

import radpipe


def test_stitch_equals_the_cli(engine, cli, repo, tmp_path):
    stations = [repo / "data" / "demo" / f"stitch_station{i}.dcm" for i in (1, 2, 3)]
    out, report = tmp_path / "cli.tif", tmp_path / "cli.json"
    subprocess.run([cli, "stitch", *map(str, stations), "-o", str(out), "--refine", "--report",
                    str(report)], check=True, capture_output=True)
    expected = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    canvas, rep = radpipe.stitch([str(s) for s in stations], refine=True, engine=engine)
    assert canvas.dtype == expected.dtype
    np.testing.assert_array_equal(canvas, expected)
    assert rep == json.loads(report.read_text())

    # Datasets stitch the same; the report names each dataset's file.
    canvas_ds, rep_ds = radpipe.stitch([pydicom.dcmread(s) for s in stations], refine=True,
                                       engine=engine)
    np.testing.assert_array_equal(canvas_ds, expected)
    assert [s["file"] for s in rep_ds["stations"]] == [str(s) for s in stations]


def test_stitch_arrays_with_offsets(engine, rng):
    base = rng.integers(0, 4000, size=(80, 60), dtype=np.uint16)
    a, b = np.ascontiguousarray(base[:50]), np.ascontiguousarray(base[30:])
    canvas, rep = radpipe.stitch([a, b], offsets=[(0, 0), (0, 30)], compensate="none",
                                 engine=engine)
    assert canvas.shape == (80, 60) and canvas.dtype == np.uint16
    np.testing.assert_array_equal(canvas, base)
    assert [s["file"] for s in rep["stations"]] == ["station1", "station2"]


def test_segment_equals_the_cli(engine, cli, repo, tmp_path):
    src = repo / "data" / "demo" / "brain_mid_sagittal.png"
    report = tmp_path / "seg.json"
    subprocess.run([cli, "segment", str(src), "-o", str(tmp_path), "--json", str(report)],
                   check=True, capture_output=True)
    entry = json.loads(report.read_text())[0]
    expected_mask = cv2.imread(entry["mask"], cv2.IMREAD_UNCHANGED)

    for s in (radpipe.segment(src, engine=engine),
              radpipe.segment(cv2.imread(str(src), cv2.IMREAD_UNCHANGED), engine=engine)):
        assert s.mask.dtype == np.uint8 and set(np.unique(s.mask)) <= {0, 255}
        np.testing.assert_array_equal(s.mask, expected_mask)
        assert s.angle == entry["angle_deg"]
        assert s.box_angle == entry["box"]["angle_deg"]
        assert s.line_angle == entry["line"]["angle_deg"]
        assert list(s.center) == entry["box"]["center"]
        assert s.area_px == entry["area_px"]

    both = radpipe.segment([src, src], engine=engine)
    assert len(both) == 2 and both[0].angle == both[1].angle == entry["angle_deg"]
