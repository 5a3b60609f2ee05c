// The DICOM grey-scale display transforms (PS3.3 C.11): Modality LUT then VOI function, in f32.
// Mirrors `WindowUniform` in src/ops/window.rs field for field (80 bytes).
// An importing shader must define `fn lut_value(i: u32) -> f32` (its LUT table binding), so this file
// reserves no binding of its own.
//
// The transform kinds are pipeline-overridable constants, set per specialisation by the engine, so the
// driver compiles only the branch in use; the matching uniform fields are kept for layout stability.

override MODALITY_KIND: u32 = 0u;  // 0: rescale, 1: table
override VOI_KIND: u32 = 0u;       // 0: LINEAR, 1: LINEAR_EXACT, 2: SIGMOID, 3: table

struct WindowParams {
    count: u32,          // pixels (window_level) — unused by other stages
    in_format: u32,
    out_format: u32,     // FMT_U8 or FMT_U16
    invert: u32,         // 1: MONOCHROME1, y = out_max - y
    modality_kind: u32,  // 0: rescale, 1: table at lut[0 .. mlut_len]
    mlut_first: i32,
    mlut_len: u32,
    voi_kind: u32,       // 0: LINEAR, 1: LINEAR_EXACT (both y = (x - lo) * k on (lo, hi]), 2: SIGMOID, 3: table
    slope: f32,
    intercept: f32,
    lo: f32,             // linear: lower edge; sigmoid: centre
    hi: f32,             // linear: upper edge
    k: f32,              // linear: out_max / span; sigmoid: -4 / width
    vlut_first: i32,
    vlut_len: u32,       // VOI table at lut[mlut_len .. mlut_len + vlut_len]
    vlut_scale: f32,     // out_max / (2^lut_bits - 1)
    out_max: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

fn voi_table_lookup(x: f32, first: i32, len: u32, offset: u32) -> f32 {
    let index = clamp(i32(floor(x)) - first, 0, i32(len) - 1);
    return lut_value(offset + u32(index));
}

// Stored value → modality value.
fn modality_value(stored: f32, p: WindowParams) -> f32 {
    if MODALITY_KIND == 1u {
        return voi_table_lookup(stored, p.mlut_first, p.mlut_len, 0u);
    }
    return stored * p.slope + p.intercept;
}

// Modality value → display value in [0, out_max], inverted for MONOCHROME1, not rounded.
fn display_from_modality(x: f32, p: WindowParams) -> f32 {
    var y: f32;
    switch VOI_KIND {
        case 0u, 1u: {
            if x <= p.lo {
                y = 0.0;
            } else if x > p.hi {
                y = p.out_max;
            } else {
                y = (x - p.lo) * p.k;
            }
        }
        case 2u: {
            y = p.out_max / (1.0 + exp(p.k * (x - p.lo)));
        }
        default: {
            y = voi_table_lookup(x, p.vlut_first, p.vlut_len, p.mlut_len) * p.vlut_scale;
        }
    }
    if p.invert == 1u {
        y = p.out_max - y;
    }
    return y;
}

// Rounds to nearest and clamps into [0, out_max].
fn round_display(y: f32, p: WindowParams) -> u32 {
    return u32(clamp(floor(y + 0.5), 0.0, p.out_max));
}
