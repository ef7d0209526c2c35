//! Scenario `synthetic` (SPEC §1–3) on eventbench's native engine: the record, its rules,
//! the handlers and the digest. Everything else (pool, pacing, cancellation, the C ABI)
//! is the engine's; the last line of this file exports the library's C ABI.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use evb_engine::scenario::{u16_at, u32_at, u64_at, zeroed};
use evb_engine::{mix, Scenario};

pub const RECORD_SIZE: usize = 32;

pub const UPDATE: u8 = 0;
pub const COMPUTE: u8 = 1;
pub const BLOCK: u8 = 2;
pub const AGGREGATE: u8 = 3;

/// One event, decoded from its 32 little-endian bytes (SPEC §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub arrival_ns: u64,
    pub value: u64,
    pub key: u32,
    pub kind: u8,
    pub flags: u8,
    pub work: u16,
}

impl Event {
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.arrival_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.value.to_le_bytes());
        out[24..28].copy_from_slice(&self.key.to_le_bytes());
        out[28] = self.kind;
        out[29] = self.flags;
        out[30..32].copy_from_slice(&self.work.to_le_bytes());
        out
    }
}

/// Per key: the state `s` and the count `c` of SPEC §3, side by side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    pub s: u64,
    pub c: u64,
}

pub struct Synthetic;

impl Scenario for Synthetic {
    const NAME: &'static str = "synthetic";
    const VERSION: u32 = 1;
    const RECORD_SIZE: usize = RECORD_SIZE;
    const SEQ_AT: usize = 0;
    const ARRIVAL_AT: usize = 8;
    const KEY_AT: usize = 24;
    const READS_VERSION_1_FILES: bool = true;

    type Event = Event;
    type Keys = Vec<KeyState>;
    /// `G`, added to with `fetch_add`: addition modulo 2^64 is commutative, so any
    /// interleaving gives the same final `G` without a lock (SPEC §3 allows it).
    type Shared = AtomicU64;

    #[inline(always)]
    fn decode(record: &[u8]) -> Event {
        Event {
            seq: u64_at(record, 0),
            arrival_ns: u64_at(record, 8),
            value: u64_at(record, 16),
            key: u32_at(record, 24),
            kind: record[28],
            flags: record[29],
            work: u16_at(record, 30),
        }
    }

    #[inline(always)]
    fn seq(e: &Event) -> u64 {
        e.seq
    }

    #[inline(always)]
    fn key(e: &Event) -> u32 {
        e.key
    }

    fn check(e: &Event) -> Result<(), String> {
        if e.kind > AGGREGATE {
            return Err(format!(
                "kind {} is not one of 0 update, 1 compute, 2 block, 3 aggregate",
                e.kind
            ));
        }
        if e.flags != 0 {
            return Err(format!("flags {} must be 0 (reserved)", e.flags));
        }
        Ok(())
    }

    fn new_keys(owned: usize) -> Vec<KeyState> {
        zeroed(owned)
    }

    fn new_shared() -> AtomicU64 {
        AtomicU64::new(0)
    }

    /// SPEC §3: one event's effect on its key's state; `block` waits `work` µs for I/O.
    #[inline(always)]
    fn handle(e: &Event, keys: &mut Vec<KeyState>, slot: usize, g: &AtomicU64) -> u64 {
        let mut v = e.value;
        let mut io_us = 0;
        match e.kind {
            COMPUTE => {
                for _ in 0..e.work {
                    v = mix(v);
                }
            }
            BLOCK => io_us = e.work as u64,
            AGGREGATE => {
                g.fetch_add(e.value, Relaxed);
            }
            _ => {}
        }
        let key = &mut keys[slot];
        key.s = mix(key.s ^ v);
        key.c += 1;
        io_us
    }

    fn digest_start(n_events: u64, g: &AtomicU64) -> u64 {
        mix(g.load(Relaxed) ^ n_events)
    }

    fn digest_key(d: u64, keys: &Vec<KeyState>, slot: usize) -> u64 {
        let key = keys[slot];
        mix(mix(d ^ key.s) ^ key.c)
    }

    fn digest_end(d: u64, _g: &AtomicU64) -> u64 {
        d
    }
}

/// The fuzz target's filter: inputs that would take long to handle (many `block`
/// microseconds, many `compute` rounds) are only validated.
pub fn too_slow_to_fuzz(events: &[Event]) -> bool {
    let sum = |kind: u8| -> u64 {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.work as u64)
            .sum()
    };
    sum(BLOCK) > 200 || sum(COMPUTE) > 20_000
}

evb_engine::export_c_abi!(Synthetic);
