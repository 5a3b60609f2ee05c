#!/usr/bin/env bash
# Packs prebuilt release binaries for a run on a machine with a real GPU but no Rust toolchain or
# network (scripts/gpu_check.sh unpacks and runs them there). Output: .devcarry/ (git-ignored):
# bins.tar.xz (radpipe and the one integration-test binary, stripped, one xz stream; gpu_check.sh runs
# its GPU-vs-CPU modules of the image ops)
# and cc-abide shrunk to 384² by scripts/shrink_cc_abide.py (for `evaluate` and `train` on the GPU).
# The device tool moves at most 64 MiB with the working tree (~32 MB), hence this selection: the
# segmentation path is checked through `radpipe evaluate --device gpu`, not its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin radpipe
test_json=$(cargo test --release --no-run --message-format=json 2>/dev/null)
stage=$(mktemp -d)
cp target/release/radpipe "$stage/"
pick() { # $1 json, $2 target kind, $3 name
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and t.get("name") == sys.argv[2] and sys.argv[1] in t.get("kind", []) and m.get("executable"):
        print(m["executable"])' "$2" "$3" <<<"$1" | tail -1
}
cp "$(pick "$test_json" test it)" "$stage/test_it"
strip "$stage"/*
mkdir -p .devcarry
tar -C "$stage" -cf - . | xz -T1 --lzma2=preset=9,dict=256MiB > .devcarry/bins.tar.xz
rm -rf "$stage"
rm -rf .devcarry/cc384
# The shrink script needs Pillow; a private venv provides it when the system Python lacks it.
py=python3
if ! python3 -c 'import PIL' 2>/dev/null; then
  venv="${TMPDIR:-/tmp}/radpipe-pack-venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q pillow >/dev/null
  py="$venv/bin/python"
fi
"$py" scripts/shrink_cc_abide.py "${CC_ABIDE:-../shared/data/cc-abide}" .devcarry/cc384 384 90
du -sh .devcarry/*
