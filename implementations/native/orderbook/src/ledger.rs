//! Positions and cash of all 65,536 accounts, shared by every worker without a global lock.
//!
//! A fill changes two accounts: `pos[buyer] += f`, `pos[seller] -= f`, `cash[buyer] -= P*f`,
//! `cash[seller] += P*f`, all modulo 2^64. Additions commute, so the final state is the same
//! whatever the order in which workers make them (§2): each can be an atomic `fetch_add`
//! with no lock at all (`AtomicLedger`). The alternative measured against it takes a lock per
//! account, kept in the account's own cache line with its figures (`StripedLedger`: the
//! finest striping, two locks per fill). `AtomicPaddedLedger` gives every account a cache
//! line of its own, against false sharing between accounts that share one.
//!
//! Atomics are the library's: fewest instructions (native-sequential's window on `book`,
//! callgrind: 227 an event, padded 227, striped 238; on `book-contention` 260, 260, 272),
//! and no time between them that this 2-core machine could tell apart from its noise with
//! 2 workers (benches/book.rs, EVB_BENCH_LEDGERS=1). Nor do they ever wait: a spin lock
//! whose holder is descheduled stalls every fill on its accounts. Padding buys nothing
//! measurable for four times the memory: the accounts that workers share are the hot ones
//! themselves (4 on `book-contention`, Zipf's first on `book`), true sharing, not false.
//!
//! An account is a `u16`, and every table has exactly 65,536 entries: indexing needs no
//! bounds check, and none can fail.
//!
//! The digest reads every account that is not at 0, in order. Each ledger also marks which
//! blocks of 64 accounts a fill touched (`Touched`), so the digest reads those blocks alone:
//! reading all 65,536 accounts after every run was most of the time of the tests under
//! valgrind (debug builds, thousands of short runs).

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const N_ACCOUNTS: usize = 65_536;

/// What the books need of the shared accounts.
pub trait Ledger: Send + Sync + 'static {
    /// Every account at 0, its memory touched now (setup, not page faults in the run).
    fn new() -> Self;
    /// One fill of `f` at `notional = price * f` (wrapping), `buyer` and `seller` possibly
    /// the same account (then both updates apply and cancel out).
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64);
    /// `(pos, cash)` of account `a`, once the run's workers are done.
    fn account(&self, a: u16) -> (u64, u64);
    /// The blocks of accounts that fills touched.
    fn touched(&self) -> &Touched;

    /// `f(a, pos, cash)` for every account whose position or cash is not 0, in account
    /// order, once the run's workers are done.
    fn each_nonzero(&self, mut f: impl FnMut(u16, u64, u64))
    where
        Self: Sized,
    {
        for block in 0..BLOCKS {
            if !self.touched().0[block].load(Ordering::Relaxed) {
                continue; // no fill changed these accounts: all at 0
            }
            for a in block * BLOCK..(block + 1) * BLOCK {
                let (pos, cash) = self.account(a as u16);
                if pos != 0 || cash != 0 {
                    f(a as u16, pos, cash);
                }
            }
        }
    }
}

const BLOCK: usize = 64;
const BLOCKS: usize = N_ACCOUNTS / BLOCK;

/// Per block of 64 accounts, whether a fill changed one of them. Set once (a load first, so
/// that workers share the flags' cache line for reading instead of writing it at every fill).
pub struct Touched(Box<[AtomicBool; BLOCKS]>);

impl Touched {
    fn new() -> Touched {
        Touched(table())
    }

    #[inline(always)]
    fn mark(&self, a: u16) {
        let flag = &self.0[a as usize / BLOCK];
        if !flag.load(Ordering::Relaxed) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

// SAFETY: an atomic bool (0: false).
unsafe impl Zeroable for AtomicBool {}

/// A type whose all-zero bytes are a valid value: its accounts at 0, its locks free.
///
/// # Safety
/// Only for types made of integers, atomics and `UnsafeCell`s of those.
unsafe trait Zeroable {}

/// A table of `N` `T` at 0, on the heap (4 MB padded: too big for a stack), every byte
/// written now: allocated zeroed (calloc maps fresh pages that would fault during the run)
/// and then set with one `memset`, which is also fast in the debug builds that run under
/// valgrind, where building the table entry by entry took most of the tests' time.
fn table<T: Zeroable, const N: usize>() -> Box<[T; N]> {
    let layout = std::alloc::Layout::new::<[T; N]>();
    // SAFETY: the layout's size is not 0; the pointer, checked, points to `layout.size()`
    // zeroed bytes aligned for `[T; N]`, a valid `[T; N]` because T is `Zeroable`, and the
    // Box frees it with the same layout.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout);
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        std::ptr::write_bytes(std::hint::black_box(ptr), 0, layout.size());
        Box::from_raw(ptr as *mut [T; N])
    }
}

pub struct AtomicAccount {
    pos: AtomicU64,
    cash: AtomicU64,
}

// SAFETY: two atomic integers.
unsafe impl Zeroable for AtomicAccount {}

impl AtomicAccount {
    #[inline(always)]
    fn add(&self, pos: u64, cash: u64) {
        // Relaxed: the sums are only read after the run, once every worker has handed its
        // state back through the pool's channels (which order everything before).
        self.pos.fetch_add(pos, Ordering::Relaxed);
        self.cash.fetch_add(cash, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, u64) {
        (
            self.pos.load(Ordering::Relaxed),
            self.cash.load(Ordering::Relaxed),
        )
    }
}

/// Atomic `fetch_add`s, 16 bytes an account (four accounts to a cache line): the library's.
pub struct AtomicLedger(Box<[AtomicAccount; N_ACCOUNTS]>, Touched);

impl Ledger for AtomicLedger {
    fn new() -> Self {
        AtomicLedger(table(), Touched::new())
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        // Subtractions as additions of the two's complement: the same modulo 2^64.
        self.0[buyer as usize].add(f, notional.wrapping_neg());
        self.0[seller as usize].add(f.wrapping_neg(), notional);
        self.1.mark(buyer);
        self.1.mark(seller);
    }

    fn account(&self, a: u16) -> (u64, u64) {
        self.0[a as usize].get()
    }

    fn touched(&self) -> &Touched {
        &self.1
    }
}

#[repr(align(64))]
pub struct PaddedAccount(AtomicAccount);

// SAFETY: an `AtomicAccount` and padding.
unsafe impl Zeroable for PaddedAccount {}

/// As `AtomicLedger`, one cache line an account (4 MB): measured against it.
pub struct AtomicPaddedLedger(Box<[PaddedAccount; N_ACCOUNTS]>, Touched);

impl Ledger for AtomicPaddedLedger {
    fn new() -> Self {
        AtomicPaddedLedger(table(), Touched::new())
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        self.0[buyer as usize].0.add(f, notional.wrapping_neg());
        self.0[seller as usize].0.add(f.wrapping_neg(), notional);
        self.1.mark(buyer);
        self.1.mark(seller);
    }

    fn account(&self, a: u16) -> (u64, u64) {
        self.0[a as usize].0.get()
    }

    fn touched(&self) -> &Touched {
        &self.1
    }
}

/// An account behind its own spin lock, in one 32-byte cell: the lock and the figures it
/// guards share a cache line, so a fill touches each account's line once.
#[repr(align(32))]
pub struct LockedAccount {
    locked: AtomicBool,
    figures: UnsafeCell<(u64, u64)>,
}

// SAFETY: an atomic bool (0: unlocked) and two integers.
unsafe impl Zeroable for LockedAccount {}

// SAFETY: `figures` is only read or written while `locked` is held (`with`).
unsafe impl Sync for LockedAccount {}

impl LockedAccount {
    #[inline(always)]
    fn lock(&self) {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.wait();
        }
    }

    /// Held for a few instructions, so spinning is right; but a holder descheduled on a
    /// machine with more threads than cores would make a pure spin last its whole time
    /// slice, so after a while the waiter yields.
    #[cold]
    fn wait(&self) {
        let mut spins = 0u32;
        while self.locked.load(Ordering::Relaxed) {
            if spins < 100 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    #[inline(always)]
    fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }

    /// # Safety
    /// The caller holds this account's lock.
    #[inline(always)]
    unsafe fn add(&self, pos: u64, cash: u64) {
        let figures = &mut *self.figures.get();
        figures.0 = figures.0.wrapping_add(pos);
        figures.1 = figures.1.wrapping_add(cash);
    }
}

/// A spin lock per account: two locks taken per fill (in account order, so two fills on the
/// same pair of accounts cannot deadlock), plain additions under them.
pub struct StripedLedger(Box<[LockedAccount; N_ACCOUNTS]>, Touched);

impl Ledger for StripedLedger {
    fn new() -> Self {
        StripedLedger(table(), Touched::new())
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        let (b, s) = (&self.0[buyer as usize], &self.0[seller as usize]);
        self.1.mark(buyer);
        self.1.mark(seller);
        if buyer == seller {
            b.lock();
            // SAFETY: the account's lock is held; both updates cancel out, but apply them
            // as written, for the record.
            unsafe {
                b.add(f, notional.wrapping_neg());
                b.add(f.wrapping_neg(), notional);
            }
            b.unlock();
            return;
        }
        let (first, second) = if buyer < seller { (b, s) } else { (s, b) };
        first.lock();
        second.lock();
        // SAFETY: both accounts' locks are held.
        unsafe {
            b.add(f, notional.wrapping_neg());
            s.add(f.wrapping_neg(), notional);
        }
        second.unlock();
        first.unlock();
    }

    fn account(&self, a: u16) -> (u64, u64) {
        let account = &self.0[a as usize];
        account.lock();
        // SAFETY: the lock is held.
        let figures = unsafe { *account.figures.get() };
        account.unlock();
        figures
    }

    fn touched(&self) -> &Touched {
        &self.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<L: Ledger>() {
        let ledger = L::new();
        ledger.fill(1, 2, 5, 500);
        ledger.fill(2, 1, 2, 300);
        ledger.fill(3, 3, 7, 70);
        assert_eq!(ledger.account(1), (3, (-200i64) as u64));
        assert_eq!(ledger.account(2), ((-3i64) as u64, 200));
        assert_eq!(ledger.account(3), (0, 0));
        assert_eq!(ledger.account(65_535), (0, 0));
        ledger.fill(65_535, 64, 1, 1);
        ledger.fill(63, 0, 1, 1);
        let mut seen = Vec::new();
        ledger.each_nonzero(|a, pos, cash| seen.push((a, pos, cash)));
        let minus = |x: i64| x as u64;
        assert_eq!(
            seen,
            [
                (0, minus(-1), 1),
                (1, 3, minus(-200)),
                (2, minus(-3), 200),
                (63, 1, minus(-1)),
                (64, minus(-1), 1),
                (65_535, 1, minus(-1)),
            ]
        );
        ledger.fill(0, 63, 1, 1);
        ledger.fill(64, 65_535, 1, 1);
        // Concurrent fills on the same two accounts, locked in both orders, sum exactly.
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let ledger = &ledger;
                scope.spawn(move || {
                    let (b, s) = if t % 2 == 0 { (7, 9) } else { (9, 7) };
                    for _ in 0..10_000 {
                        ledger.fill(b, s, t + 1, 10 * (t + 1));
                    }
                });
            }
        });
        // Account 7 bought 10,000 * (1 + 3) and sold 10,000 * (2 + 4).
        assert_eq!(ledger.account(7), ((-20_000i64) as u64, 200_000));
        assert_eq!(ledger.account(9), (20_000, (-200_000i64) as u64));
    }

    #[test]
    fn every_ledger_sums_exactly() {
        check::<AtomicLedger>();
        check::<AtomicPaddedLedger>();
        check::<StripedLedger>();
    }
}
