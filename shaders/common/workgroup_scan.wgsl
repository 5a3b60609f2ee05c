// Scan and reduction across the 256 invocations of a workgroup (Hillis–Steele in workgroup memory).
// Call from uniform control flow only: the functions contain barriers.

var<workgroup> scan_buf: array<u32, 256>;

// Inclusive prefix sum of `value` over invocations 0..=lid; `scan_total()` then holds the sum of all
// 256 values until the next call.
fn workgroup_inclusive_scan(lid: u32, value: u32) -> u32 {
    workgroupBarrier();
    scan_buf[lid] = value;
    workgroupBarrier();
    for (var offset = 1u; offset < 256u; offset = offset * 2u) {
        var add = 0u;
        if lid >= offset {
            add = scan_buf[lid - offset];
        }
        workgroupBarrier();
        scan_buf[lid] = scan_buf[lid] + add;
        workgroupBarrier();
    }
    return scan_buf[lid];
}

fn scan_total() -> u32 {
    return scan_buf[255];
}
