//! What a scenario declares to the engine (SPEC §7): its record, its rules, its state, its
//! handler and its digest. The engine does everything else: validating the harness's columns,
//! pacing, routing keys to workers, cancellation, waiting for I/O, the C ABI.

use std::borrow::Borrow;
use std::fmt;

use crate::partition::Partition;

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer, as SPEC §3 writes it (all arithmetic modulo 2^64); every
/// scenario's digest is built from it.
#[inline(always)]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A broken rule: where (`header`, `size`, `record N`) and which rule.
/// `Display` gives `"<where>: <rule>"`, the text the Python side also produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub location: String,
    pub rule: String,
}

impl Invalid {
    pub fn new(location: impl Into<String>, rule: impl Into<String>) -> Invalid {
        Invalid {
            location: location.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.rule)
    }
}

/// One scenario's contract, in Rust. Keys are independent: the engine hands each key's
/// events, in `seq` order, to one worker, which owns that key's state; what every key
/// shares is `Shared`, which workers change concurrently (so it is `Sync`: atomics, or locks
/// finer than one for all).
///
/// Which keys a worker owns, and at which slot of its `Keys`, is the engine's choice
/// (`partition.rs`); a sequential run owns every key, at slot `k`.
pub trait Scenario: 'static {
    /// The name and version a version-2 file's header carries (SPEC §7).
    const NAME: &'static str;
    const VERSION: u32;
    /// Bytes per record, and where the harness's columns are in it: `seq` (u64), `arrival_ns`
    /// (u64) and `key` (u32), little-endian.
    const RECORD_SIZE: usize;
    const SEQ_AT: usize;
    const ARRIVAL_AT: usize;
    const KEY_AT: usize;
    /// Whether a version-1 file (SPEC §2, no scenario in its header) is this scenario's.
    const READS_VERSION_1_FILES: bool = false;

    /// One event as the handler reads it. Any bytes decode (validation comes first, but a
    /// buffer changed after validation must not make the engine unsound: state is indexed
    /// with bounds checks).
    type Event: Copy + Send + Sync + 'static;
    /// The state of the keys one worker owns.
    type Keys: Send + 'static;
    /// The state every key shares.
    type Shared: Send + Sync + 'static;

    fn decode(record: &[u8]) -> Self::Event;
    fn seq(event: &Self::Event) -> u64;
    fn key(event: &Self::Event) -> u32;

    /// The scenario's own rules for one record, in the contract's order, after the engine
    /// checked `seq`, `arrival_ns` and `key`: `Err(rule)` for the first one broken.
    fn check(event: &Self::Event) -> Result<(), String>;

    /// State for `owned` keys, zeroed and touched now (setup, not the first events' page faults).
    fn new_keys(owned: usize) -> Self::Keys;
    fn new_shared() -> Self::Shared;

    /// Handles one event of the key at `slot`. Returns the microseconds the event then waits
    /// for I/O (0: none), which the engine waits its own way before the event is done.
    fn handle(
        event: &Self::Event,
        keys: &mut Self::Keys,
        slot: usize,
        shared: &Self::Shared,
    ) -> u64;

    /// The digest of a final state: `digest_start`, then `digest_key` for every key in
    /// order, then `digest_end`.
    fn digest_start(n_events: u64, shared: &Self::Shared) -> u64;
    fn digest_key(digest: u64, keys: &Self::Keys, slot: usize) -> u64;
    fn digest_end(digest: u64, shared: &Self::Shared) -> u64;
}

/// The digest of one run's final state, `parts[w]` holding the keys `partition` gave worker `w`.
pub fn digest<S: Scenario, P: Borrow<S::Keys>>(
    n_events: u64,
    n_keys: usize,
    parts: &[P],
    partition: &Partition,
    shared: &S::Shared,
) -> u64 {
    let mut d = S::digest_start(n_events, shared);
    for k in 0..n_keys as u32 {
        d = S::digest_key(d, parts[partition.owner(k)].borrow(), partition.slot(k));
    }
    S::digest_end(d, shared)
}

/// Little-endian fields of a record, for `decode` and the engine's own columns.
#[inline(always)]
pub fn u64_at(record: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(record[at..at + 8].try_into().unwrap())
}

#[inline(always)]
pub fn u32_at(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(record[at..at + 4].try_into().unwrap())
}

#[inline(always)]
pub fn u16_at(record: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(record[at..at + 2].try_into().unwrap())
}

/// `n` zeroed words, touched now: `vec!` alone maps zero pages that fault on first write,
/// which would put the faults inside the timed window.
pub fn zeroed<T: Default + Clone>(n: usize) -> Vec<T> {
    let mut v = vec![T::default(); n];
    // black_box: the compiler must not drop the fill as a store of zeros into zeroed memory.
    std::hint::black_box(&mut v[..]).fill(T::default());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_vectors() {
        assert_eq!(mix(0), 0xe220a8397b1dcdaf);
        assert_eq!(mix(1), 0x910a2dec89025cc1);
    }
}
