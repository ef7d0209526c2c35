//! A stream of records, validated once: SPEC §2's rules on the harness's columns (`seq`,
//! `arrival_ns`, `key`), then the scenario's own, reporting the earliest record broken.
//!
//! A stream borrows its records or owns them. Borrowed (`from_raw`, the C ABI's
//! `evb_stream_new`) it copies nothing: a 16 M-event stream costs no memory beyond the
//! caller's buffer, which may be a memory-mapped file. Every run decodes the records as it
//! handles them; any bytes decode, so a buffer changed after validation gives wrong figures
//! (that verification catches), never undefined behaviour.

use std::marker::PhantomData;
use std::sync::OnceLock;

use crate::abi::EVB_MAX_KEYS;
use crate::partition::{Partition, MAX_BALANCED_KEYS};
use crate::scenario::{u32_at, u64_at, Invalid, Scenario};

pub struct Stream<S: Scenario> {
    ptr: *const u8,
    len: usize,
    /// The records, when the stream owns them (`ptr` points into it; a boxed slice never moves).
    _owned: Option<Box<[u8]>>,
    n_keys: u32,
    /// Events per key, counted at the first pool run prepared (`partition`), for streams of
    /// at most `MAX_BALANCED_KEYS` keys.
    key_counts: OnceLock<Option<Vec<u64>>>,
    scenario: PhantomData<fn() -> S>,
}

// SAFETY: the records are only read, and the owner of a borrowed buffer keeps it valid and
// unchanged for the stream's life (`from_raw`'s contract).
unsafe impl<S: Scenario> Send for Stream<S> {}
unsafe impl<S: Scenario> Sync for Stream<S> {}

impl<S: Scenario> Stream<S> {
    /// Validates and keeps `records`.
    pub fn new(records: Vec<u8>, n_keys: u32) -> Result<Stream<S>, Invalid> {
        validate::<S>(&records, n_keys, 0, None)?;
        let owned = records.into_boxed_slice();
        Ok(Stream {
            ptr: owned.as_ptr(),
            len: owned.len(),
            _owned: Some(owned),
            n_keys,
            key_counts: OnceLock::new(),
            scenario: PhantomData,
        })
    }

    /// Validates `len` bytes at `ptr` and borrows them.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes (or `len` be 0) that stay valid and unchanged
    /// for as long as the stream lives.
    pub unsafe fn from_raw(ptr: *const u8, len: usize, n_keys: u32) -> Result<Stream<S>, Invalid> {
        let records: &[u8] = if len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(ptr, len)
        };
        validate::<S>(records, n_keys, 0, None)?;
        Ok(Stream {
            ptr: records.as_ptr(),
            len,
            _owned: None,
            n_keys,
            key_counts: OnceLock::new(),
            scenario: PhantomData,
        })
    }

    pub fn records(&self) -> &[u8] {
        // SAFETY: `new` and `from_raw` made `ptr` and `len` from a valid slice that outlives
        // the stream (owned by it, or by `from_raw`'s contract).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len / S::RECORD_SIZE
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn n_keys(&self) -> usize {
        self.n_keys as usize
    }

    /// How a pool of `workers` shares this stream's keys: by their event counts (setup: the
    /// first call counts them), or `key % workers` for a stream of very many keys.
    pub fn partition(&self, workers: usize) -> Partition {
        let counts = self.key_counts.get_or_init(|| {
            (self.n_keys() <= MAX_BALANCED_KEYS).then(|| {
                let mut counts = vec![0u64; self.n_keys()];
                for record in self.records().chunks_exact(S::RECORD_SIZE) {
                    // Below n_keys unless the buffer changed since it was validated: then
                    // the run fails on that event (`Partition::slot`), and it counts nothing here.
                    if let Some(count) = counts.get_mut(u32_at(record, S::KEY_AT) as usize) {
                        *count += 1;
                    }
                }
                counts
            })
        });
        match counts {
            Some(counts) if workers > 1 => Partition::balanced(counts, workers),
            _ => Partition::modulo(workers),
        }
    }

    /// Each record's intended arrival (ns after the run's start): what the floor paces by.
    #[inline]
    pub fn arrivals(&self) -> impl Iterator<Item = u64> + '_ {
        self.records()
            .chunks_exact(S::RECORD_SIZE)
            .map(|r| u64_at(r, S::ARRIVAL_AT))
    }
}

pub fn check_n_keys(n_keys: u64) -> Result<(), Invalid> {
    if (1..=EVB_MAX_KEYS as u64).contains(&n_keys) {
        Ok(())
    } else {
        Err(Invalid::new(
            "header",
            format!("n_keys {n_keys} is out of range 1..{EVB_MAX_KEYS}"),
        ))
    }
}

/// Checks every record rule, `first_seq` being the first record's index (non-zero for a
/// streaming batch) and `previous_arrival` the arrival before it. Reports the earliest broken
/// record, and at one record the harness's rules first, then the scenario's, each in order.
pub fn validate<S: Scenario>(
    records: &[u8],
    n_keys: u32,
    first_seq: u64,
    previous_arrival: Option<u64>,
) -> Result<(), Invalid> {
    check_n_keys(n_keys as u64)?;
    if records.len() % S::RECORD_SIZE != 0 {
        return Err(Invalid::new(
            "size",
            format!(
                "{} bytes is not a whole number of {}-byte records",
                records.len(),
                S::RECORD_SIZE
            ),
        ));
    }
    let mut previous = previous_arrival;
    for (i, record) in records.chunks_exact(S::RECORD_SIZE).enumerate() {
        let index = first_seq + i as u64;
        let at = || format!("record {index}");
        let seq = u64_at(record, S::SEQ_AT);
        if seq != index {
            return Err(Invalid::new(
                at(),
                format!("seq is {seq}, must equal the record index {index}"),
            ));
        }
        let arrival = u64_at(record, S::ARRIVAL_AT);
        if let Some(before) = previous {
            if arrival < before {
                return Err(Invalid::new(
                    at(),
                    format!(
                        "arrival_ns {arrival} is before the previous record's {before} (arrival_ns must be non-decreasing)"
                    ),
                ));
            }
        }
        let key = u32_at(record, S::KEY_AT);
        if key >= n_keys {
            return Err(Invalid::new(
                at(),
                format!("key {key} must be < n_keys {n_keys}"),
            ));
        }
        S::check(&S::decode(record)).map_err(|rule| Invalid::new(at(), rule))?;
        previous = Some(arrival);
    }
    Ok(())
}
