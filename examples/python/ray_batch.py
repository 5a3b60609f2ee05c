"""Window or segment a folder of DICOM files with a pool of Ray actors, one radpipe Engine each.

    python examples/python/ray_batch.py IN_DIR OUT_DIR [--op window|segment] [--actors N]
                                        [--gpus-per-actor 1|0] [--address auto]

Each actor holds one :class:`radpipe.Engine` on its own GPU and writes what the CLI writes:
``window`` → ``OUT_DIR/<stem>.png`` (``radpipe window IN -o OUT.png``), ``segment`` →
``OUT_DIR/<stem>_mask.png`` plus ``OUT_DIR/segment.json`` (``radpipe segment IN... -o OUT_DIR
--json``). A driver-side ``report.json`` lists every file with the actor and adapter that did it.

Choosing the adapter: Ray gives each actor its GPUs as CUDA indices (``ray.get_gpu_ids()``) and
sets ``CUDA_VISIBLE_DEVICES``, but wgpu's Vulkan backend ignores that variable and sees every GPU.
So the actor maps its index to the GPU's PCI bus id with ``nvidia-smi --query-gpu=index,pci.bus_id``
(nvidia-smi numbers GPUs as Ray does, by physical index, whatever CUDA_VISIBLE_DEVICES says) and
opens ``radpipe.Engine(pci_bus_id=...)``, which compares ids whatever the width of the domain
(``00000000:17:00.0`` = ``0000:17:00.0``). With ``--gpus-per-actor 0`` (a machine without a GPU) the
actors open the default adapter — lavapipe's CPU adapter — and everything still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

import ray


def pci_bus_id_of(cuda_index: int) -> str | None:
    """The PCI bus id nvidia-smi reports for GPU `cuda_index` (None without nvidia-smi)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,pci.bus_id", "--format=csv,noheader"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        index, _, bus = line.partition(",")
        if index.strip() == str(cuda_index):
            return bus.strip()
    return None


@ray.remote
class Worker:
    """One Engine on this actor's GPU (or the default adapter when Ray gave it none)."""

    def __init__(self):
        import radpipe

        gpu_ids = ray.get_gpu_ids()
        bus = pci_bus_id_of(int(gpu_ids[0])) if gpu_ids else None
        self.engine = radpipe.Engine(pci_bus_id=bus) if bus else radpipe.Engine()
        self.gpu_ids = [str(g) for g in gpu_ids]

    def adapter(self) -> dict:
        return {**self.engine.adapter, "ray_gpu_ids": self.gpu_ids}

    def window(self, files: list[str], out_dir: str) -> list[dict]:
        import radpipe

        done = []
        for f in files:
            out = os.path.join(out_dir, pathlib.Path(f).stem + ".png")
            try:
                rep = radpipe.window_file(f, out, engine=self.engine)
                done.append({"file": f, "output": out, **rep})
            except radpipe.RadpipeError as e:  # one bad file does not stop the batch
                done.append({"file": f, "error": str(e)})
        return done

    def segment(self, files: list[str], out_dir: str) -> list[dict]:
        import radpipe

        return radpipe.segment_files(files, out_dir, engine=self.engine)


def run(in_dir: str, out_dir: str, op: str = "window", actors: int = 2,
        gpus_per_actor: float = 0, address: str | None = None) -> list[dict]:
    """Runs the batch; returns one report entry per file (also written to OUT_DIR/report.json)."""
    files = sorted(str(p) for p in pathlib.Path(in_dir).iterdir()
                   if p.suffix.lower() in (".dcm", ".dicom", ".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{in_dir}: no DICOM/PNG/JPEG files")
    os.makedirs(out_dir, exist_ok=True)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    pool = [Worker.options(num_gpus=gpus_per_actor).remote() for _ in range(actors)]
    adapters = ray.get([w.adapter.remote() for w in pool])
    shards = [files[i::actors] for i in range(actors)]
    calls = [getattr(w, op).remote(s, out_dir) for w, s in zip(pool, shards) if s]
    report = []
    for k, entries in enumerate(ray.get(calls)):
        for e in entries:
            report.append({**e, "actor": k, "adapter": adapters[k]["name"]})
    report.sort(key=lambda e: e["file"])
    if op == "segment":
        with open(os.path.join(out_dir, "segment.json"), "w") as f:
            json.dump([{k: v for k, v in e.items() if k not in ("actor", "adapter")}
                       for e in report], f, indent=2)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump({"adapters": adapters, "files": report}, f, indent=2)
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("in_dir")
    p.add_argument("out_dir")
    p.add_argument("--op", choices=["window", "segment"], default="window")
    p.add_argument("--actors", type=int, default=2)
    p.add_argument("--gpus-per-actor", type=float, default=0,
                   help="1 on a GPU machine (one GPU per actor), 0 without a GPU")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    a = p.parse_args(argv)
    report = run(a.in_dir, a.out_dir, a.op, a.actors, a.gpus_per_actor, a.address)
    failed = [e for e in report if e.get("error")]
    print(f"{len(report) - len(failed)} of {len(report)} files done; "
          f"report: {os.path.join(a.out_dir, 'report.json')}")
    for e in failed:
        print(f"  {e['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
