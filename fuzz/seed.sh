#!/usr/bin/env bash
# Seeds each fuzz target's corpus from the repository's real and broken test files.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/dicom_reader corpus/raster_reader corpus/cli_params corpus/model_weights
# Prefixed by folder: tests/data/dicom and data/demo both hold a ct_small.dcm.
for dir in ../tests/data/dicom ../tests/data/bad ../data/demo regressions/dicom_reader; do
    prefix=$(basename "$dir")
    for f in "$dir"/*.dcm; do cp "$f" "corpus/dicom_reader/${prefix}_$(basename "$f")"; done
done
# JPEG Lossless and JPEG Baseline data sets, made by dcmtk where it is installed.
if command -v dcmcjpeg > /dev/null; then
    dcmcjpeg +e1 ../tests/data/dicom/mr_small.dcm corpus/dicom_reader/gen_jpeg_lossless.dcm
    dcmcjpeg +eb ../tests/data/dicom/ct_small.dcm corpus/dicom_reader/gen_jpeg_baseline.dcm
fi
cp ../tests/data/bad/*.png corpus/raster_reader/ 2>/dev/null || true
# (read whole, then cut: `find | head` would end find with SIGPIPE, which pipefail reports)
mapfile -t pngs < <(find ../tests/fixtures ../data/demo -name '*.png' -size -64k | sort)
cp "${pngs[@]:0:40}" corpus/raster_reader/
printf '1,0,0,0,1,0' > corpus/cli_params/matrix
printf '512x512' > corpus/cli_params/size
printf '1,99' > corpus/cli_params/percentiles
printf 'output = "png"\n[[stage]]\nop = "resize"\nscale = 0.5\n[[stage]]\nop = "window"\ncenter = 40\nwidth = 400\n[[stage]]\nop = "clahe"\nclip-limit = 2.0\ntiles = [8, 8]\n' > corpus/cli_params/pipeline.toml
printf 'output = "png"\n[[stage]]\nop = "warp"\nmatrix = [1.0, 0.1, -20.0, 0.0, 1.0, 5.0, 0.0001, 0.0, 1.0]\nsize = [64, 64]\nborder = "reflect"\n[[stage]]\nop = "match"\nreference = "ref.png"\nbits = 12\n' > corpus/cli_params/pipeline_warp_match.toml
printf 'output = "png"\n[[stage]]\nop = "window"\nbits = 8\n[[stage]]\nop = "segment"\nweights = "cc.safetensors"\nsize = 288\n' > corpus/cli_params/pipeline_segment.toml
cp ../tests/fixtures/bisenet/tiny_proto2.pdparams corpus/model_weights/
head -c 4096 ../tests/fixtures/bisenet/weights.pdparams > corpus/model_weights/weights_head.pdparams
