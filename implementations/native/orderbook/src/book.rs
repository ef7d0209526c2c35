//! The books of the instruments one worker owns (§2), in memory that grows geometrically and
//! is then reused, so that handling an event allocates nothing once warm:
//!
//! * resting orders in a slab (`Slab<Order>`, a `Vec` with a free list), named by `u32`
//!   index; a price level is an intrusive doubly linked list of its orders, oldest at the head;
//! * levels in a slab too; each side of a book is an array of its levels sorted by price,
//!   best last (the best is read, and leaves, at the end), each entry a `u64`: the level's
//!   rank (the price, or its complement on the asks, so that the best is the largest rank on
//!   both sides) above its slab index. Every side of every book lives in one `Arena` per
//!   worker, in power-of-two segments recycled through free lists: a side that grows moves to
//!   a segment twice its size, and a thousand instruments cost no more allocations than one;
//! * an open-addressing table from an order's id to its slab index (`IdIndex`), for cancels.
//!
//! All of it is indexed with bounds checks: a record changed after validation may make a
//! handler panic (a clean failure of the run), never read or write out of bounds.

use evb_engine::mix;

use crate::ledger::Ledger;
use crate::{Event, BUY, CANCEL, LIMIT, MARKET, SELL};

/// No order, no level: the end of a list, an empty free list.
const NIL: u32 = u32::MAX;

/// A slab's entry: what links it into the free list while it is free.
trait Linked: Copy + Default {
    fn link(&self) -> u32;
    fn free(&mut self, next: u32);
}

/// `Vec<T>` with a free list, every entry written (touched) when the slab grows, so a fresh
/// entry costs neither an allocation nor a page fault until the slab doubles.
struct Slab<T> {
    items: Vec<T>,
    free: u32,
}

impl<T: Linked> Slab<T> {
    fn with_capacity(n: usize) -> Slab<T> {
        let mut slab = Slab {
            items: Vec::new(),
            free: NIL,
        };
        slab.grow_to(n);
        slab
    }

    #[cold]
    #[inline(never)]
    fn grow_to(&mut self, n: usize) {
        assert!(n < NIL as usize, "more than 2^32 - 1 entries in one slab");
        let old = self.items.len();
        self.items.resize(n, T::default()); // one reallocation: `resize` reserves what it needs
        for i in (old..n).rev() {
            self.items[i].free(self.free);
            self.free = i as u32;
        }
    }

    #[inline(always)]
    fn alloc(&mut self) -> u32 {
        if self.free == NIL {
            self.grow_to((self.items.len() * 2).max(16));
        }
        let i = self.free;
        self.free = self.items[i as usize].link();
        i
    }

    #[inline(always)]
    fn release(&mut self, i: u32) {
        self.items[i as usize].free(self.free);
        self.free = i;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Order {
    id: u64,
    /// Toward the level's head (older), toward its tail (newer).
    prev: u32,
    next: u32,
    level: u32,
    /// > 0 while the order rests; 0 once it left the book (so a stale index entry is seen).
    remaining: u32,
    /// The instrument's book (its index in `Books::books`), and the side it rests on.
    book: u32,
    account: u16,
    side: u8,
}

impl Linked for Order {
    fn link(&self) -> u32 {
        self.next
    }

    fn free(&mut self, next: u32) {
        self.next = next;
        self.remaining = 0;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Level {
    head: u32,
    tail: u32,
    price: u32,
}

impl Linked for Level {
    fn link(&self) -> u32 {
        self.head
    }

    fn free(&mut self, next: u32) {
        self.head = next;
    }
}

/// One side of a book: its entries are `arena.data[off .. off + len]`, in a segment of `cap`.
#[derive(Clone, Copy, Debug, Default)]
struct Side {
    off: u32,
    len: u32,
    cap: u32,
}

/// Segments of `MIN_SEGMENT << class` entries.
const MIN_SEGMENT: usize = 8;

/// Every side of every book of one worker: power-of-two segments of one `Vec<u64>`, each
/// size with its free list (linked through a free segment's first entry).
struct Arena {
    data: Vec<u64>,
    /// Where the next new segment starts: `data` is written (touched) ahead of it.
    top: usize,
    free: [u32; 32],
}

impl Arena {
    fn with_capacity(n: usize) -> Arena {
        Arena {
            data: vec![0; n], // written, so touched: no page faults later
            top: 0,
            free: [NIL; 32],
        }
    }

    #[inline(always)]
    fn entries(&self, side: &Side) -> &[u64] {
        &self.data[side.off as usize..(side.off + side.len) as usize]
    }

    /// The best level's entry of a side that has one.
    #[inline(always)]
    fn best(&self, side: &Side) -> u64 {
        self.data[(side.off + side.len - 1) as usize]
    }

    fn segment(&mut self, class: usize) -> u32 {
        let head = self.free[class];
        if head != NIL {
            self.free[class] = self.data[head as usize] as u32;
            return head;
        }
        let (off, end) = (self.top, self.top + (MIN_SEGMENT << class));
        assert!(
            end < NIL as usize,
            "more than 2^32 - 1 price levels on one worker"
        );
        if end > self.data.len() {
            self.data.resize(end.max(self.data.len() * 2), 0);
        }
        self.top = end;
        off as u32
    }

    /// Moves a full side to a segment twice its size, and frees the old one.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, side: &mut Side) {
        let class = if side.cap == 0 {
            0
        } else {
            (side.cap as usize / MIN_SEGMENT).trailing_zeros() as usize + 1
        };
        let off = self.segment(class);
        let (old, len) = (side.off as usize, side.len as usize);
        self.data.copy_within(old..old + len, off as usize);
        if side.cap != 0 {
            let old_class = class - 1;
            self.data[old] = self.free[old_class] as u64;
            self.free[old_class] = old as u32;
        }
        side.off = off;
        side.cap = (MIN_SEGMENT << class) as u32;
    }

    #[inline(always)]
    fn insert(&mut self, side: &mut Side, at: usize, entry: u64) {
        if side.len == side.cap {
            self.grow(side);
        }
        let (off, len) = (side.off as usize, side.len as usize);
        let entries = &mut self.data[off..off + len + 1];
        entries.copy_within(at..len, at + 1);
        entries[at] = entry;
        side.len += 1;
    }

    #[inline(always)]
    fn remove(&mut self, side: &mut Side, at: usize) {
        let (off, len) = (side.off as usize, side.len as usize);
        self.data[off..off + len].copy_within(at + 1..len, at);
        side.len -= 1;
    }
}

/// The best price has the largest rank on both sides: bids by price, asks by its complement.
/// Its own inverse: the price of a rank on a side is `rank_of(side, rank)`.
#[inline(always)]
fn rank_of(side: usize, price: u32) -> u32 {
    if side == BUY as usize {
        price
    } else {
        !price
    }
}

#[inline(always)]
fn entry_rank(entry: u64) -> u32 {
    (entry >> 32) as u32
}

/// Where `rank` is, or would go, in a side's entries (sorted by rank): the first entry not
/// below it. (Scanning back from the best first measured worse on `book`: orders rest deep.)
#[inline(always)]
fn position(entries: &[u64], rank: u32) -> usize {
    entries.partition_point(|&e| entry_rank(e) < rank)
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    order: u32,
}

/// No order has this id: a valid stream's `seq`s are below 2^64 - 1.
const EMPTY: u64 = u64::MAX;

/// Order id -> slab index: linear probing with Fibonacci hashing (one multiply: ids are
/// `seq`s, whose low bits follow the stream, and the product's top bits spread them), kept
/// at most half full, growing by doubling; deletion shifts entries back, so no tombstones
/// pile up however many orders come and go.
struct IdIndex {
    entries: Vec<Entry>,
    len: usize,
    /// 64 - log2(entries.len()): the hash's top bits are the home entry.
    shift: u32,
}

impl IdIndex {
    fn with_capacity(orders: usize) -> IdIndex {
        let size = (orders * 2).next_power_of_two().max(16);
        IdIndex {
            entries: vec![
                Entry {
                    id: EMPTY,
                    order: NIL
                };
                size
            ],
            len: 0,
            shift: 64 - size.trailing_zeros(),
        }
    }

    #[inline(always)]
    fn home(&self, id: u64) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    /// Where `id` is, or `Err(the empty entry that ends its probe)`.
    #[inline(always)]
    fn find(&self, id: u64) -> Result<usize, usize> {
        let mut i = self.home(id);
        loop {
            let entry = self.entries[i];
            if entry.id == id {
                return Ok(i);
            }
            if entry.id == EMPTY {
                return Err(i);
            }
            i = (i + 1) & self.mask();
        }
    }

    #[inline(always)]
    fn get(&self, id: u64) -> Option<u32> {
        if id == EMPTY {
            return None;
        }
        self.find(id).ok().map(|i| self.entries[i].order)
    }

    /// Sets `id`'s order (ids are unique in a valid stream; a changed buffer's duplicate
    /// replaces the earlier entry, which leaves the books whole).
    #[inline(always)]
    fn insert(&mut self, id: u64, order: u32) {
        if id == EMPTY {
            return; // never in a valid stream; such an order cannot be cancelled
        }
        if (self.len + 1) * 2 > self.entries.len() {
            self.grow();
        }
        match self.find(id) {
            Ok(i) => self.entries[i].order = order,
            Err(i) => {
                self.entries[i] = Entry { id, order };
                self.len += 1;
            }
        }
    }

    #[inline(always)]
    fn remove(&mut self, id: u64) {
        if id == EMPTY {
            return;
        }
        let Ok(mut hole) = self.find(id) else {
            return;
        };
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let entry = self.entries[j];
            if entry.id == EMPTY {
                break;
            }
            // The entry at `j` may fill the hole if the hole is on its probe path, i.e. its
            // distance from home is at least the hole's distance behind it.
            let home = self.home(entry.id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.entries[hole] = entry;
                hole = j;
            }
        }
        self.entries[hole].id = EMPTY;
        self.len -= 1;
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let mut bigger = IdIndex::with_capacity(self.entries.len());
        for entry in self.entries.iter().filter(|e| e.id != EMPTY) {
            let Err(i) = bigger.find(entry.id) else {
                unreachable!("ids in the index are unique");
            };
            bigger.entries[i] = *entry;
        }
        bigger.len = self.len;
        *self = bigger;
    }
}

/// One instrument's counters and sides, one cache line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
struct Book {
    events: u64,
    fills: u64,
    volume: u64,
    h: u64,
    cancelled: u64,
    sides: [Side; 2],
}

/// The books of the instruments one worker owns, at slots `0..owned`: the scenario's `Keys`.
///
/// An instrument's book is made at its first event: until then its slot holds `NIL`, 4 bytes
/// where a book takes a cache line, so a stream that names millions of instruments but
/// trades a few costs little, and the books that trade sit together in memory.
pub struct Books {
    /// Per slot: its book's index in `books`, or `NIL`.
    slots: Vec<u32>,
    /// `books[..opened]` are the instruments' books; the rest is room, written in advance.
    books: Vec<Book>,
    opened: usize,
    store: Store,
}

/// What every book of a worker keeps its orders and levels in.
struct Store {
    orders: Slab<Order>,
    levels: Slab<Level>,
    arena: Arena,
    index: IdIndex,
}

impl Books {
    /// Empty books, with room made now (setup) for up to 4,096 instruments' books and 64
    /// resting orders an instrument, between 256 and 65,536 in all: few workloads make
    /// anything grow during a run, and a million-instrument stream does not make a pool of
    /// workers allocate gigabytes.
    pub fn new(owned: usize) -> Books {
        let orders = owned.saturating_mul(64).clamp(1 << 8, 1 << 16);
        Books {
            slots: vec![NIL; owned], // written, so touched: no page faults later
            books: evb_engine::scenario::zeroed(owned.min(1 << 12)),
            opened: 0,
            store: Store {
                orders: Slab::with_capacity(orders),
                levels: Slab::with_capacity(orders / 4),
                arena: Arena::with_capacity(orders / 2),
                // Room for half the slab's orders before it grows: a table twice as big
                // scatters the same entries over twice the cache lines (on `book`, 1.26
                // against 1.05 last-level misses per event in callgrind's cache model).
                index: IdIndex::with_capacity(orders / 2),
            },
        }
    }

    /// The book of the instrument at `slot`, made at its first event.
    #[inline(always)]
    fn book_of(&mut self, slot: usize) -> usize {
        let b = self.slots[slot];
        if b != NIL {
            return b as usize;
        }
        self.open(slot)
    }

    #[cold]
    #[inline(never)]
    fn open(&mut self, slot: usize) -> usize {
        let b = self.opened;
        assert!(
            b < NIL as usize,
            "more than 2^32 - 1 instruments on one worker"
        );
        if b == self.books.len() {
            self.books.resize((b * 2).max(16), Book::default());
        }
        self.opened += 1;
        self.slots[slot] = b as u32;
        b
    }

    /// §2: one event of the instrument at `slot`.
    #[inline(always)]
    pub fn handle<L: Ledger>(&mut self, e: &Event, slot: usize, ledger: &L) {
        let b = self.book_of(slot);
        let book = &mut self.books[b];
        book.events = book.events.wrapping_add(1);
        match e.kind {
            CANCEL => self.store.cancel(book, b as u32, e.target),
            kind => {
                let left = self.store.take(book, e, kind == MARKET, ledger);
                if left > 0 && kind == LIMIT {
                    self.store.rest(book, b as u32, e, left);
                }
            }
        }
    }

    /// §2's digest of the instrument at `slot`: its counters, then its resting bids from the
    /// highest price down and its asks from the lowest up, oldest first in a level (an
    /// instrument without events has an empty book, all counters 0).
    pub fn digest(&self, mut d: u64, slot: usize) -> u64 {
        let empty = Book::default();
        let book = match self.slots[slot] {
            NIL => &empty,
            b => &self.books[b as usize],
        };
        for x in [book.events, book.fills, book.volume, book.h, book.cancelled] {
            d = mix(d ^ x);
        }
        let Store {
            orders,
            levels,
            arena,
            ..
        } = &self.store;
        for (side, marker) in [(BUY as usize, 1), (SELL as usize, 2)] {
            // Best last in the arena: backwards is best first on both sides.
            for &entry in arena.entries(&book.sides[side]).iter().rev() {
                let level = levels.items[entry as u32 as usize];
                let mut oi = level.head;
                while oi != NIL {
                    let order = &orders.items[oi as usize];
                    d = mix(d ^ order.id);
                    d = mix(d ^ (((level.price as u64) << 32) | order.remaining as u64));
                    oi = order.next;
                }
            }
            d = mix(d ^ marker);
        }
        d
    }
}

impl Store {
    /// The taker against the opposite side of `book`, best level first, oldest order first
    /// in a level; returns the quantity left.
    #[inline(always)]
    fn take<L: Ledger>(&mut self, book: &mut Book, e: &Event, market: bool, ledger: &L) -> u32 {
        let Store {
            orders,
            levels,
            arena,
            index,
        } = self;
        let buy = e.side == BUY;
        let opposite = if buy { SELL } else { BUY } as usize;
        let mut q = e.qty;
        while q > 0 {
            let side = &mut book.sides[opposite];
            if side.len == 0 {
                break;
            }
            let entry = arena.best(side);
            let price = rank_of(opposite, entry_rank(entry));
            if !market
                && (if buy {
                    price > e.price
                } else {
                    price < e.price
                })
            {
                break;
            }
            let li = entry as u32;
            let mi = levels.items[li as usize].head;
            let maker = &mut orders.items[mi as usize];
            let f = q.min(maker.remaining);
            book.fills = book.fills.wrapping_add(1);
            book.volume = book.volume.wrapping_add(f as u64);
            book.h = mix(mix(book.h ^ maker.id) ^ (((price as u64) << 32) | f as u64));
            let (buyer, seller) = if buy {
                (e.account, maker.account)
            } else {
                (maker.account, e.account)
            };
            ledger.fill(buyer, seller, f as u64, price as u64 * f as u64);
            maker.remaining -= f;
            q -= f;
            if maker.remaining == 0 {
                let (id, next) = (maker.id, maker.next);
                index.remove(id);
                orders.release(mi);
                if next == NIL {
                    levels.release(li); // the level is empty: it leaves its side
                    side.len -= 1;
                } else {
                    levels.items[li as usize].head = next;
                    orders.items[next as usize].prev = NIL;
                }
            }
        }
        q
    }

    /// A limit's remainder `q` rests at the back of its level (made if new) in `book`,
    /// which is book `b`.
    #[inline(always)]
    fn rest(&mut self, book: &mut Book, b: u32, e: &Event, q: u32) {
        let Store {
            orders,
            levels,
            arena,
            index,
        } = self;
        let side_index = if e.side == BUY { BUY } else { SELL } as usize;
        let rank = rank_of(side_index, e.price);
        let side = &mut book.sides[side_index];
        let entries = arena.entries(side);
        let at = position(entries, rank);
        let li = match entries.get(at) {
            Some(&entry) if entry_rank(entry) == rank => entry as u32,
            _ => {
                let li = levels.alloc();
                levels.items[li as usize] = Level {
                    head: NIL,
                    tail: NIL,
                    price: e.price,
                };
                arena.insert(side, at, ((rank as u64) << 32) | li as u64);
                li
            }
        };
        let oi = orders.alloc();
        let level = &mut levels.items[li as usize];
        let tail = level.tail;
        orders.items[oi as usize] = Order {
            id: e.seq,
            prev: tail,
            next: NIL,
            level: li,
            remaining: q,
            book: b,
            account: e.account,
            side: side_index as u8,
        };
        if tail == NIL {
            level.head = oi;
        } else {
            orders.items[tail as usize].next = oi;
        }
        level.tail = oi;
        index.insert(e.seq, oi);
    }

    /// The order `target` leaves `book` (book `b`) if it rests there; otherwise nothing
    /// happens (filled, cancelled, never rested, or another instrument's).
    #[inline(always)]
    fn cancel(&mut self, book: &mut Book, b: u32, target: u64) {
        let Store {
            orders,
            levels,
            arena,
            index,
        } = self;
        let Some(oi) = index.get(target) else {
            return;
        };
        let order = orders.items[oi as usize];
        // One index serves every instrument of the worker: the order must be this one's.
        if order.book != b || order.id != target || order.remaining == 0 {
            return;
        }
        index.remove(target);
        let level = &mut levels.items[order.level as usize];
        if order.prev == NIL {
            level.head = order.next;
        } else {
            orders.items[order.prev as usize].next = order.next;
        }
        if order.next == NIL {
            level.tail = order.prev;
        } else {
            orders.items[order.next as usize].prev = order.prev;
        }
        orders.release(oi);
        if level.head == NIL {
            // The level is empty: it leaves its side.
            let rank = rank_of(order.side as usize, level.price);
            let side = &mut book.sides[order.side as usize];
            let at = position(arena.entries(side), rank);
            let expected = ((rank as u64) << 32) | order.level as u64;
            assert_eq!(
                arena.entries(side).get(at),
                Some(&expected),
                "a level is on its side"
            );
            arena.remove(side, at);
            levels.release(order.level);
        }
        book.cancelled = book.cancelled.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A small deterministic generator (SplitMix64), for tests without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(1);
            mix(self.0)
        }
    }

    #[test]
    fn the_index_agrees_with_a_hash_map() {
        let mut rng = Rng(7);
        let mut index = IdIndex::with_capacity(4); // grows many times
        let mut model: HashMap<u64, u32> = HashMap::new();
        for step in 0..50_000u32 {
            // Ids from a narrow range, so that probes collide and deletions shift.
            let id = rng.next() % 5_000;
            match rng.next() % 3 {
                0 | 1 => {
                    index.insert(id, step);
                    model.insert(id, step);
                }
                _ => {
                    index.remove(id);
                    model.remove(&id);
                }
            }
            assert_eq!(index.len, model.len());
            let probe = rng.next() % 5_000;
            assert_eq!(index.get(probe), model.get(&probe).copied());
        }
        for (id, order) in &model {
            assert_eq!(index.get(*id), Some(*order));
        }
        assert_eq!(index.get(EMPTY), None);
    }

    #[test]
    fn arena_sides_keep_their_entries_as_they_grow_and_share_freed_segments() {
        let mut arena = Arena::with_capacity(0);
        let mut sides = [Side::default(); 5];
        let mut model: Vec<Vec<u64>> = vec![Vec::new(); 5];
        let mut rng = Rng(3);
        for step in 0..20_000u64 {
            let s = (rng.next() % 5) as usize;
            let len = model[s].len();
            if len > 0 && rng.next() % 3 == 0 {
                let at = (rng.next() as usize) % len;
                arena.remove(&mut sides[s], at);
                model[s].remove(at);
            } else {
                let at = (rng.next() as usize) % (len + 1);
                arena.insert(&mut sides[s], at, step);
                model[s].insert(at, step);
            }
            if step % 16 == 0 {
                for (side, expected) in sides.iter().zip(&model) {
                    assert_eq!(arena.entries(side), &expected[..]);
                }
            }
        }
        for (side, expected) in sides.iter().zip(&model) {
            assert_eq!(arena.entries(side), &expected[..]);
        }
    }

    #[test]
    fn the_slab_reuses_freed_entries_before_growing() {
        let mut slab: Slab<Level> = Slab::with_capacity(2);
        let (a, b) = (slab.alloc(), slab.alloc());
        assert_ne!(a, b);
        slab.release(a);
        assert_eq!(slab.alloc(), a);
        assert_eq!(slab.items.len(), 2);
        slab.alloc();
        assert_eq!(slab.items.len(), 16);
    }
}
