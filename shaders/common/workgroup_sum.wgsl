// Sum of an f32 across the 256 invocations of a workgroup (tree reduction in workgroup memory), the
// same value returned to every invocation. Call from uniform control flow only: it contains barriers.

var<workgroup> sum_part: array<f32, 256>;
var<workgroup> sum_total: f32;

fn workgroup_sum(lid: u32, part: f32) -> f32 {
    sum_part[lid] = part;
    workgroupBarrier();
    for (var span = 128u; span > 0u; span >>= 1u) {
        if lid < span {
            sum_part[lid] += sum_part[lid + span];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        sum_total = sum_part[0];
    }
    return workgroupUniformLoad(&sum_total);
}
