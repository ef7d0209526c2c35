//! Scenario `ratelimit` (the contract: `eventbench_ratelimit/__init__.py`'s docstring) on
//! eventbench's native engine. This file is the record, its rules, the handler and the digest;
//! the engine does the rest (pool, routing by key, pacing, waiting, cancellation, the C ABI),
//! and the last line exports the library's C ABI.
//!
//! Clients are the keys: a worker owns its clients' buckets and changes them without a lock.
//! The ledger per endpoint is shared by every worker: atomic counters, since its sums commute
//! (the final ledger is the same for every interleaving of clients).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use evb_engine::scenario::{u32_at, u64_at, zeroed};
use evb_engine::{mix, Scenario};

pub const RECORD_SIZE: usize = 32;
pub const N_ENDPOINTS: usize = 16;
pub const N_PLANS: u8 = 4;

/// Tokens are counted in millionths, so that a refill is an exact integer.
const MICRO: u64 = 1_000_000;
/// Tokens, and tokens per second, by plan: free, basic, pro, enterprise.
const CAPACITY: [u64; 4] = [20, 100, 500, 5000];
const REFILL: [u64; 4] = [5, 50, 250, 2500];

/// One request, decoded from its 32 little-endian bytes (the contract's record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub seq: u64,
    pub arrival_ns: u64,
    pub t_us: u64,
    pub key: u32,
    pub cost: u8,
    pub endpoint: u8,
    pub plan: u8,
    pub upstream_us: u8,
}

impl Request {
    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.arrival_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.t_us.to_le_bytes());
        out[24..28].copy_from_slice(&self.key.to_le_bytes());
        out[28..32].copy_from_slice(&[self.cost, self.endpoint, self.plan, self.upstream_us]);
        out
    }
}

/// One client's bucket and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Client {
    pub tokens: u64, // µtokens
    pub last_us: u64,
    pub allowed: u64,
    pub rejected: u64,
    pub h: u64, // a hash of the client's decisions, in order
    /// The client's own number, set by its first request: the digest names each client, and a
    /// worker's slot is not the client's number (a pool's worker `w` holds clients `w, w + W, ...`).
    pub key: u32,
}

/// One endpoint's ledger, on a cache line of its own: workers counting for different endpoints
/// do not contend for one line.
#[derive(Default)]
#[repr(align(64))]
pub struct Endpoint {
    pub allowed: AtomicU64,
    pub rejected: AtomicU64,
    pub spent: AtomicU64,
    pub calls: AtomicU64,
    pub waited_us: AtomicU64,
}

pub type Ledger = [Endpoint; N_ENDPOINTS];

pub struct Ratelimit;

impl Scenario for Ratelimit {
    const NAME: &'static str = "ratelimit";
    const VERSION: u32 = 1;
    const RECORD_SIZE: usize = RECORD_SIZE;
    const SEQ_AT: usize = 0;
    const ARRIVAL_AT: usize = 8;
    const KEY_AT: usize = 24;

    type Event = Request;
    type Keys = Vec<Client>;
    type Shared = Ledger;

    #[inline(always)]
    fn decode(r: &[u8]) -> Request {
        Request {
            seq: u64_at(r, 0),
            arrival_ns: u64_at(r, 8),
            t_us: u64_at(r, 16),
            key: u32_at(r, 24),
            cost: r[28],
            endpoint: r[29],
            plan: r[30],
            upstream_us: r[31],
        }
    }

    #[inline(always)]
    fn seq(r: &Request) -> u64 {
        r.seq
    }

    #[inline(always)]
    fn key(r: &Request) -> u32 {
        r.key
    }

    /// `record.py`'s `field_rules`, in its order and its words.
    fn check(r: &Request) -> Result<(), String> {
        if r.cost == 0 {
            return Err("cost must be >= 1 token".into());
        }
        if r.endpoint as usize >= N_ENDPOINTS {
            return Err(format!("endpoint {} must be < {N_ENDPOINTS}", r.endpoint));
        }
        if r.plan >= N_PLANS {
            return Err(format!(
                "plan {} is not one of 0 free, 1 basic, 2 pro, 3 enterprise",
                r.plan
            ));
        }
        Ok(())
    }

    fn new_keys(owned: usize) -> Vec<Client> {
        zeroed(owned)
    }

    fn new_shared() -> Ledger {
        Default::default()
    }

    /// The contract's steps 1-5; returns the µs the request then waits for the upstream.
    #[inline(always)]
    fn handle(r: &Request, clients: &mut Vec<Client>, slot: usize, ledger: &Ledger) -> u64 {
        let c = &mut clients[slot];
        // Indexing checks the bounds: a record changed after validation fails, never misbehaves.
        let plan = r.plan as usize;
        let capacity = CAPACITY[plan] * MICRO;
        if c.allowed + c.rejected == 0 {
            c.tokens = capacity; // a client's first request finds its bucket full
            c.key = r.key;
        } else {
            // Saturating: the contract's integers are unbounded, and any refill past 2^64
            // µtokens is capped at the capacity all the same.
            let refill = r
                .t_us
                .saturating_sub(c.last_us)
                .saturating_mul(REFILL[plan]);
            c.tokens = capacity.min(c.tokens.saturating_add(refill));
        }
        c.last_us = c.last_us.max(r.t_us);

        let cost = r.cost as u64 * MICRO;
        let ok = c.tokens >= cost;
        if ok {
            c.tokens -= cost;
            c.allowed += 1;
        } else {
            c.rejected += 1;
        }
        c.h = mix(c.h ^ ((r.seq << 1) | ok as u64));

        let e = &ledger[r.endpoint as usize];
        if !ok {
            e.rejected.fetch_add(1, Relaxed);
            return 0; // rejected: answered at once (HTTP 429)
        }
        e.allowed.fetch_add(1, Relaxed);
        e.spent.fetch_add(r.cost as u64, Relaxed);
        let wait_us = r.upstream_us as u64;
        if wait_us > 0 {
            e.calls.fetch_add(1, Relaxed);
            e.waited_us.fetch_add(wait_us, Relaxed);
        }
        wait_us // the engine waits it, holding nothing
    }

    fn digest_start(n_events: u64, _ledger: &Ledger) -> u64 {
        mix(n_events)
    }

    /// Every client that sent a request, in order of its number.
    fn digest_key(mut d: u64, clients: &Vec<Client>, slot: usize) -> u64 {
        let c = &clients[slot];
        if c.allowed + c.rejected > 0 {
            d = mix(d ^ c.key as u64);
            for x in [c.tokens, c.last_us, c.allowed, c.rejected, c.h] {
                d = mix(d ^ x);
            }
        }
        d
    }

    fn digest_end(mut d: u64, ledger: &Ledger) -> u64 {
        for e in ledger {
            for x in [&e.allowed, &e.rejected, &e.spent, &e.calls, &e.waited_us] {
                d = mix(d ^ x.load(Relaxed));
            }
        }
        d
    }
}

evb_engine::export_c_abi!(Ratelimit);
