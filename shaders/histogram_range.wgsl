// The finite range of an f32 image, for binning float samples: range[0] = ~key(min), range[1] =
// key(max) with the order-preserving keys of common/histogram.wgsl, so both are atomicMax and a
// zeroed buffer means "nothing seen". NaN and ±inf are left out. `range` must be zeroed first.
// Grid-stride over the pixels: (groups, 1, 1) workgroups.

#import pixels
#import histogram

struct Params {
    count: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<u32>;
@group(0) @binding(2) var<storage, read_write> range: array<atomic<u32>>;

var<workgroup> wg_inv_min: atomic<u32>;
var<workgroup> wg_max: atomic<u32>;

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if lid == 0u {
        atomicStore(&wg_inv_min, 0u);
        atomicStore(&wg_max, 0u);
    }
    workgroupBarrier();
    var inv_min = 0u;
    var max_key = 0u;
    let stride = groups.x * 256u;
    for (var i = wid.x * 256u + lid; i < params.count; i += stride) {
        let bits = input[i];
        if f32_bits_is_finite(bits) {
            let key = f32_key(bits);
            inv_min = max(inv_min, ~key);
            max_key = max(max_key, key);
        }
    }
    atomicMax(&wg_inv_min, inv_min);
    atomicMax(&wg_max, max_key);
    workgroupBarrier();
    if lid == 0u {
        atomicMax(&range[0], atomicLoad(&wg_inv_min));
        atomicMax(&range[1], atomicLoad(&wg_max));
    }
}
