//! Counters for everything that costs a round trip or an allocation. Tests assert on them ("window →
//! download is one submission and one readback"; "no pipeline was created for the second frame"), and
//! the benchmark reports them, so a regression in data movement is caught, not guessed.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of an engine's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Devices the engine created itself (0 for an engine built on a host's device).
    pub devices_created: u64,
    /// Command buffers submitted to the queue by the engine.
    pub submissions: u64,
    /// Buffers mapped back to the CPU.
    pub readbacks: u64,
    /// Times the host blocked until the GPU finished work it had not yet waited for (a readback of
    /// submission *k* waits for every submission up to *k*, so later readbacks of the same or an
    /// earlier submission are not counted again). A pipeline with no CPU wait between its stages
    /// shows exactly one.
    pub waits: u64,
    /// Bytes mapped back to the CPU.
    pub readback_bytes: u64,
    /// Host → GPU uploads (one per image or table written).
    pub uploads: u64,
    /// Bytes uploaded.
    pub upload_bytes: u64,
    /// Compute pipelines created (each at most once per engine).
    pub pipelines_created: u64,
    /// GPU buffers created because the pool had none free of the right class.
    pub buffers_created: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
}

impl Stats {
    /// Counter differences `self − earlier`.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            devices_created: self.devices_created - earlier.devices_created,
            submissions: self.submissions - earlier.submissions,
            readbacks: self.readbacks - earlier.readbacks,
            waits: self.waits - earlier.waits,
            readback_bytes: self.readback_bytes - earlier.readback_bytes,
            uploads: self.uploads - earlier.uploads,
            upload_bytes: self.upload_bytes - earlier.upload_bytes,
            pipelines_created: self.pipelines_created - earlier.pipelines_created,
            buffers_created: self.buffers_created - earlier.buffers_created,
            dispatches: self.dispatches - earlier.dispatches,
        }
    }
}

/// The live counters, shared by the engine's parts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub devices_created: AtomicU64,
    pub submissions: AtomicU64,
    pub readbacks: AtomicU64,
    pub waits: AtomicU64,
    /// Ordinal (1, 2, …) of the newest submission a wait has covered.
    pub waited_upto: AtomicU64,
    pub readback_bytes: AtomicU64,
    pub uploads: AtomicU64,
    pub upload_bytes: AtomicU64,
    pub pipelines_created: AtomicU64,
    pub buffers_created: AtomicU64,
    pub dispatches: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// Records that the host blocked until submission `ordinal` (and so every earlier one) finished;
    /// counted as a wait only when it covers a submission no earlier wait covered.
    pub(crate) fn note_wait(&self, ordinal: u64) {
        if self.waited_upto.fetch_max(ordinal, Ordering::Relaxed) < ordinal {
            Self::bump(&self.waits, 1);
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            devices_created: get(&self.devices_created),
            submissions: get(&self.submissions),
            readbacks: get(&self.readbacks),
            waits: get(&self.waits),
            readback_bytes: get(&self.readback_bytes),
            uploads: get(&self.uploads),
            upload_bytes: get(&self.upload_bytes),
            pipelines_created: get(&self.pipelines_created),
            buffers_created: get(&self.buffers_created),
            dispatches: get(&self.dispatches),
        }
    }
}
