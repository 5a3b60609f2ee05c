"""The resident chain's counts, threads (GIL released), pickling, the default engine and
`python -m radpipe info`."""

import pickle
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import radpipe
from conftest import smooth


def test_chain_of_four_ops_is_one_submission_one_readback(engine, rng):
    img = smooth(rng, 300, 257, np.uint16, 0, 4095)
    m = np.array([[0.9, 0.1, 5.0], [-0.1, 0.9, 8.0]])
    before = engine.stats()
    with engine.record() as rec:
        h = rec.upload(img)
        h = rec.warp_affine(h, m, (240, 200))
        h = rec.resize(h, (120, 100))
        h = rec.clahe(h, bits=12)
        h = rec.window(h, center=2048, width=4096)
        assert h.shape == (100, 120)
        out = rec.download(h)
        with pytest.raises(RuntimeError, match="not run yet"):
            out.array
    delta = {k: v - before[k] for k, v in engine.stats().items()}
    assert delta["submissions"] == 1 and delta["readbacks"] == 1 and delta["waits"] == 1, delta
    assert delta["devices_created"] == 0

    # The same ops one by one: the same pixels, four submissions and readbacks.
    before = engine.stats()
    one = radpipe.warp_affine(img, m, (240, 200), engine=engine)
    one = radpipe.resize(one, (120, 100), engine=engine)
    one = radpipe.clahe(one, bits=12, engine=engine)
    one = radpipe.window(one, center=2048, width=4096, engine=engine)
    delta = {k: v - before[k] for k, v in engine.stats().items()}
    assert delta["submissions"] == 4 and delta["readbacks"] == 4
    np.testing.assert_array_equal(out.array, one)


def test_chain_refuses_foreign_handles_and_reuse(engine):
    a = np.zeros((8, 8), np.uint8)
    with engine.record() as r1:
        h1 = r1.upload(a)
    with pytest.raises(ValueError, match="another recording"):
        with engine.record() as r2:
            r2.equalize(h1)
    with pytest.raises(RuntimeError, match="already run"):
        r1.equalize(h1)


def test_python_keeps_running_during_a_large_warp(engine):
    img = np.random.default_rng(1).integers(0, 65535, size=(4096, 4096), dtype=np.uint16)
    done = threading.Event()
    result = {}

    def work():
        result["out"] = radpipe.rotate(img, 12.0, engine=engine)
        done.set()

    t = threading.Thread(target=work)
    ticks = 0
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    t.join()
    assert result["out"].shape == img.shape
    # With the GIL held the loop could not tick at all while the warp ran.
    assert ticks >= 20, f"only {ticks} ticks in {elapsed:.2f} s"


def test_one_engine_from_several_threads(engine, rng):
    imgs = [smooth(rng, 128, 96, np.uint8) for _ in range(6)]
    expected = [radpipe.equalize(i, engine=engine) for i in imgs]
    got = [None] * len(imgs)

    def work(k):
        got[k] = radpipe.equalize(imgs[k], engine=engine)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(imgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_pickling(engine, repo):
    out = radpipe.equalize(np.arange(64, dtype=np.uint8).reshape(8, 8), engine=engine)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(out)), out)
    seg = radpipe.segment(repo / "data" / "demo" / "brain_mid_sagittal.png", engine=engine)
    back = pickle.loads(pickle.dumps(seg))
    assert back.angle == seg.angle and np.array_equal(back.mask, seg.mask)
    with pytest.raises(TypeError, match="Engine cannot be pickled"):
        pickle.dumps(engine)
    with engine.record() as rec:
        h = rec.upload(out)
        with pytest.raises(TypeError, match="Handle is an image on the GPU"):
            pickle.dumps(h)
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(rec)


def test_default_engine_and_adapter():
    e = radpipe.default_engine()
    assert e is radpipe.default_engine()
    a = e.adapter
    assert {"name", "backend", "device_type", "pci_bus_id"} <= set(a)
    assert radpipe.equalize(np.zeros((4, 4), np.uint8)).shape == (4, 4)
    assert any(x["name"] == a["name"] for x in radpipe.list_adapters())


def test_engine_by_pci_bus_id_or_name():
    first = radpipe.list_adapters()[0]
    e = radpipe.Engine(adapter=first["name"])
    assert e.adapter["name"] == first["name"]
    if first["pci_bus_id"]:
        assert radpipe.Engine(pci_bus_id=first["pci_bus_id"]).adapter["name"] == first["name"]


def test_python_m_radpipe_info_prints_what_the_cli_prints(cli):
    py = subprocess.run([sys.executable, "-m", "radpipe", "info"], check=True,
                        capture_output=True, text=True).stdout
    rs = subprocess.run([cli, "info"], check=True, capture_output=True, text=True).stdout
    assert py == rs


def test_help_reads_well():
    import pydoc

    text = pydoc.render_doc(radpipe)
    for name in ("window", "warp_affine", "stitch", "segment", "Engine", "record"):
        assert name in text
    for name in radpipe.__all__:
        obj = getattr(radpipe, name)
        assert obj.__doc__ and obj.__doc__.strip(), f"{name} has no docstring"
