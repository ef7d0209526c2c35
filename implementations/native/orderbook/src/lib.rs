//! Scenario `orderbook` (docs/scenarios/orderbook.md) on eventbench's native engine: a limit
//! order book per instrument with price-time priority, and positions and cash per account
//! shared by every instrument. The record, its rules and the digest are here; the books are
//! in `book`, the shared accounts in `ledger`. Everything else (pool, pacing, cancellation,
//! the C ABI) is the engine's; the last line of this file exports the library's C ABI.

use std::marker::PhantomData;

use evb_engine::scenario::{u16_at, u32_at, u64_at};
use evb_engine::{mix, Scenario};

pub mod book;
pub mod ledger;

pub use book::Books;
pub use ledger::{AtomicLedger, AtomicPaddedLedger, Ledger, StripedLedger, Touched, N_ACCOUNTS};

pub const RECORD_SIZE: usize = 40;

pub const LIMIT: u8 = 0;
pub const MARKET: u8 = 1;
pub const CANCEL: u8 = 2;
pub const BUY: u8 = 0;
pub const SELL: u8 = 1;

/// One event as the handler reads it, decoded from its 40 little-endian bytes (§1).
/// `arrival_ns` is not in it: the engine reads it from the record for pacing, and the handler
/// never does (a streaming session's batches copy 32 bytes an event, not 40).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub target: u64,
    pub key: u32,
    pub price: u32,
    pub qty: u32,
    pub account: u16,
    pub kind: u8,
    pub side: u8,
}

impl Event {
    /// The record of this event arriving at `arrival_ns`.
    pub fn encode(&self, arrival_ns: u64) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&arrival_ns.to_le_bytes());
        out[16..20].copy_from_slice(&self.key.to_le_bytes());
        out[20] = self.kind;
        out[21] = self.side;
        out[22..24].copy_from_slice(&self.account.to_le_bytes());
        out[24..28].copy_from_slice(&self.price.to_le_bytes());
        out[28..32].copy_from_slice(&self.qty.to_le_bytes());
        out[32..40].copy_from_slice(&self.target.to_le_bytes());
        out
    }
}

/// The scenario on ledger `L`: `Orderbook` (atomic positions) is the one the library exports;
/// the others are kept to measure the choice (benches/book.rs) and tested alike.
pub struct OrderbookOn<L: Ledger>(PhantomData<fn() -> L>);

/// The order book as the library exports it: positions and cash in atomics (see `ledger`).
pub type Orderbook = OrderbookOn<AtomicLedger>;

fn kind_name(kind: u8) -> &'static str {
    if kind == LIMIT {
        "limit"
    } else {
        "market"
    }
}

impl<L: Ledger> Scenario for OrderbookOn<L> {
    const NAME: &'static str = "orderbook";
    const VERSION: u32 = 1;
    const RECORD_SIZE: usize = RECORD_SIZE;
    const SEQ_AT: usize = 0;
    const ARRIVAL_AT: usize = 8;
    const KEY_AT: usize = 16;

    type Event = Event;
    type Keys = Books;
    type Shared = L;

    #[inline(always)]
    fn decode(record: &[u8]) -> Event {
        // One length check for the record, then fields at constant offsets of an array: none.
        let r: &[u8; RECORD_SIZE] = record.first_chunk().expect("a whole record");
        Event {
            seq: u64_at(r, 0),
            key: u32_at(r, 16),
            kind: r[20],
            side: r[21],
            account: u16_at(r, 22),
            price: u32_at(r, 24),
            qty: u32_at(r, 28),
            target: u64_at(r, 32),
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

    /// §1's rules in the order of scenarios/orderbook/layout.py's `field_rules`, with its
    /// messages byte for byte: the Python harness and the library report the same rule.
    fn check(e: &Event) -> Result<(), String> {
        let (limit, market, cancel) = (e.kind == LIMIT, e.kind == MARKET, e.kind == CANCEL);
        if e.kind > CANCEL {
            return Err(format!(
                "kind {} is not one of 0 limit, 1 market, 2 cancel",
                e.kind
            ));
        }
        if e.side > SELL {
            return Err(format!("side {} is not one of 0 buy, 1 sell", e.side));
        }
        if limit && e.price < 1 {
            return Err("a limit order's price must be >= 1".into());
        }
        if (limit || market) && e.qty < 1 {
            return Err(format!("a {} order's qty must be >= 1", kind_name(e.kind)));
        }
        if (limit || market) && e.target != 0 {
            return Err(format!(
                "a {} order's target must be 0, got {}",
                kind_name(e.kind),
                e.target
            ));
        }
        if market && e.price != 0 {
            return Err(format!("a market order's price must be 0, got {}", e.price));
        }
        if cancel {
            if e.side != BUY {
                return Err(format!("a cancel's side must be 0, got {}", e.side));
            }
            if e.account != 0 {
                return Err(format!("a cancel's account must be 0, got {}", e.account));
            }
            if e.price != 0 {
                return Err(format!("a cancel's price must be 0, got {}", e.price));
            }
            if e.qty != 0 {
                return Err(format!("a cancel's qty must be 0, got {}", e.qty));
            }
            if e.target >= e.seq {
                return Err(format!(
                    "a cancel's target {} must be < its seq {}",
                    e.target, e.seq
                ));
            }
        }
        Ok(())
    }

    fn new_keys(owned: usize) -> Books {
        Books::new(owned)
    }

    fn new_shared() -> L {
        L::new()
    }

    /// §2: one event on its instrument's book; the order book never waits for I/O.
    #[inline(always)]
    fn handle(e: &Event, books: &mut Books, slot: usize, ledger: &L) -> u64 {
        books.handle(e, slot, ledger);
        0
    }

    fn digest_start(n_events: u64, _ledger: &L) -> u64 {
        mix(n_events)
    }

    fn digest_key(d: u64, books: &Books, slot: usize) -> u64 {
        books.digest(d, slot)
    }

    /// Every account whose position or cash is not 0, in account order.
    fn digest_end(mut d: u64, ledger: &L) -> u64 {
        ledger.each_nonzero(|a, pos, cash| d = mix(mix(mix(d ^ a as u64) ^ pos) ^ cash));
        d
    }
}

/// The fuzz target's filter. No order-book event waits or computes for long, and a stream's
/// handling is at worst quadratic in its length (a level inserted behind many others moves
/// them), so only long inputs are left to validation alone: each accepted input is handled
/// eight times (the calling thread, six pool runs, a session).
pub fn too_slow_to_fuzz(events: &[Event]) -> bool {
    events.len() > 50_000
}

evb_engine::export_c_abi!(Orderbook);
