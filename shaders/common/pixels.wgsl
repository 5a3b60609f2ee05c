// Packed pixel access shared by every stage. Codes match `PixelFormat::shader_code` in src/image.rs.
// Storage buffers are `array<u32>`: u8 four per word, u16/i16 two per word (low half = even pixel),
// f32 one per word.

const FMT_U8: u32 = 0u;
const FMT_U16: u32 = 1u;
const FMT_I16: u32 = 2u;
const FMT_F32: u32 = 3u;

fn pixels_per_word(format: u32) -> u32 {
    switch format {
        case 0u: { return 4u; }
        case 1u, 2u: { return 2u; }
        default: { return 1u; }
    }
}

// Sample `lane` of a packed word, widened to f32 (exact for 8- and 16-bit integers).
fn unpack_sample(word: u32, lane: u32, format: u32) -> f32 {
    switch format {
        case 0u: { return f32((word >> (8u * lane)) & 0xFFu); }
        case 1u: { return f32((word >> (16u * lane)) & 0xFFFFu); }
        case 2u: {
            let half = (word >> (16u * lane)) & 0xFFFFu;
            return f32(bitcast<i32>(half << 16u) >> 16u);
        }
        default: { return bitcast<f32>(word); }
    }
}

// Places an integer sample (already rounded and clamped to the format's range) into its lane.
fn pack_lane(value: u32, lane: u32, format: u32) -> u32 {
    switch format {
        case 0u: { return (value & 0xFFu) << (8u * lane); }
        case 1u, 2u: { return (value & 0xFFFFu) << (16u * lane); }
        default: { return value; }
    }
}

// Linear invocation index for a 2-D dispatch of 1-D work (dispatches wider than 65535 groups wrap to y).
fn linear_index(gid: vec3<u32>, num_groups: vec3<u32>, group_width: u32) -> u32 {
    return gid.x + gid.y * num_groups.x * group_width;
}
