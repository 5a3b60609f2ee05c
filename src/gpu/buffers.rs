//! Pooled GPU buffers. Image stages allocate intermediates per call; creating a wgpu buffer each time
//! costs a driver allocation and, on lavapipe, zeroing megabytes. The pool hands back a free buffer of
//! the same usage and size class instead, so a batch of same-sized images reaches a steady state with
//! no new allocations (`Stats::buffers_created` stops growing — tests assert it).
//!
//! Size classes: powers of two up to 4 KiB, then 16 steps per octave, so a class wastes at most 1/16
//! of its size. Idle buffers beyond the pool's byte budget are released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::stats::Counters;

/// Rounds a request up to its size class (at least 256 bytes, a multiple of 4).
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let pow = bytes.next_power_of_two();
    if pow <= 4096 {
        return pow;
    }
    let step = pow / 32; // 16 classes between pow/2 and pow
    bytes.div_ceil(step) * step
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PoolKey {
    size: u64,
    usage: u32,
}

#[derive(Debug, Default)]
struct PoolInner {
    free: HashMap<PoolKey, Vec<wgpu::Buffer>>,
    idle_bytes: u64,
}

/// The pool itself; owned by the engine.
#[derive(Debug)]
pub struct BufferPool {
    device: wgpu::Device,
    inner: Arc<Mutex<PoolInner>>,
    counters: Arc<Counters>,
    max_idle_bytes: u64,
}

/// A buffer on loan from the pool; it goes back when dropped.
#[derive(Debug)]
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    key: PoolKey,
    pool: Weak<Mutex<PoolInner>>,
    max_idle_bytes: u64,
}

impl PooledBuffer {
    /// The wgpu buffer (its size is the class size, which may exceed what was asked for).
    pub fn buffer(&self) -> &wgpu::Buffer {
        // Invariant: `buffer` is only taken in `drop`.
        self.buffer
            .as_ref()
            .unwrap_or_else(|| unreachable!("pooled buffer used after drop"))
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let Some(buffer) = self.buffer.take() else {
            return;
        };
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let Ok(mut inner) = pool.lock() else { return };
        if inner.idle_bytes + self.key.size > self.max_idle_bytes {
            return; // over budget: let wgpu free it
        }
        inner.idle_bytes += self.key.size;
        inner.free.entry(self.key).or_default().push(buffer);
    }
}

impl BufferPool {
    pub(crate) fn new(device: wgpu::Device, counters: Arc<Counters>, max_idle_bytes: u64) -> Self {
        BufferPool {
            device,
            inner: Arc::new(Mutex::new(PoolInner::default())),
            counters,
            max_idle_bytes,
        }
    }

    /// A buffer of at least `bytes` with exactly `usage`, reused when one is free.
    pub fn acquire(&self, bytes: u64, usage: wgpu::BufferUsages, label: &str) -> PooledBuffer {
        let key = PoolKey {
            size: size_class(bytes),
            usage: usage.bits(),
        };
        let reused = self.inner.lock().ok().and_then(|mut inner| {
            let buffer = inner.free.get_mut(&key).and_then(Vec::pop);
            if buffer.is_some() {
                inner.idle_bytes -= key.size;
            }
            buffer
        });
        let buffer = reused.unwrap_or_else(|| {
            Counters::bump(&self.counters.buffers_created, 1);
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: key.size,
                usage,
                mapped_at_creation: false,
            })
        });
        PooledBuffer {
            buffer: Some(buffer),
            key,
            pool: Arc::downgrade(&self.inner),
            max_idle_bytes: self.max_idle_bytes,
        }
    }

    /// Bytes held by idle buffers.
    pub fn idle_bytes(&self) -> u64 {
        self.inner.lock().map(|i| i.idle_bytes).unwrap_or(0)
    }

    /// Releases every idle buffer.
    pub fn trim(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.free.clear();
            inner.idle_bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn classes_round_up_with_bounded_waste() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(300), 512);
        assert_eq!(size_class(4096), 4096);
        for bytes in [
            5000u64,
            18_000_000,
            32 << 20,
            (32 << 20) + 1,
            3000 * 3000 * 2,
        ] {
            let c = size_class(bytes);
            assert!(c >= bytes);
            assert!(
                (c - bytes) as f64 <= bytes as f64 / 16.0 + 1.0,
                "{bytes} -> {c}"
            );
            assert_eq!(c % 4, 0);
        }
    }
}
