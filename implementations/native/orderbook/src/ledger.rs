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
//! An account is a `u16`, and every table has exactly 65,536 entries: indexing needs no
//! bounds check, and none can fail.

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
}

/// A table of 65,536 `T`, on the heap (4 MB padded: too big for a stack), every entry written.
fn table<T>(make: impl Fn() -> T) -> Box<[T; N_ACCOUNTS]> {
    let entries: Vec<T> = (0..N_ACCOUNTS).map(|_| make()).collect();
    match entries.into_boxed_slice().try_into() {
        Ok(table) => table,
        Err(_) => unreachable!("made with N_ACCOUNTS entries"),
    }
}

#[derive(Default)]
pub struct AtomicAccount {
    pos: AtomicU64,
    cash: AtomicU64,
}

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
pub struct AtomicLedger(Box<[AtomicAccount; N_ACCOUNTS]>);

impl Ledger for AtomicLedger {
    fn new() -> Self {
        AtomicLedger(table(AtomicAccount::default))
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        // Subtractions as additions of the two's complement: the same modulo 2^64.
        self.0[buyer as usize].add(f, notional.wrapping_neg());
        self.0[seller as usize].add(f.wrapping_neg(), notional);
    }

    fn account(&self, a: u16) -> (u64, u64) {
        self.0[a as usize].get()
    }
}

#[derive(Default)]
#[repr(align(64))]
pub struct PaddedAccount(AtomicAccount);

/// As `AtomicLedger`, one cache line an account (4 MB): measured against it.
pub struct AtomicPaddedLedger(Box<[PaddedAccount; N_ACCOUNTS]>);

impl Ledger for AtomicPaddedLedger {
    fn new() -> Self {
        AtomicPaddedLedger(table(PaddedAccount::default))
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        self.0[buyer as usize].0.add(f, notional.wrapping_neg());
        self.0[seller as usize].0.add(f.wrapping_neg(), notional);
    }

    fn account(&self, a: u16) -> (u64, u64) {
        self.0[a as usize].0.get()
    }
}

/// An account behind its own spin lock, in one 32-byte cell: the lock and the figures it
/// guards share a cache line, so a fill touches each account's line once.
#[derive(Default)]
#[repr(align(32))]
pub struct LockedAccount {
    locked: AtomicBool,
    figures: UnsafeCell<(u64, u64)>,
}

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
pub struct StripedLedger(Box<[LockedAccount; N_ACCOUNTS]>);

impl Ledger for StripedLedger {
    fn new() -> Self {
        StripedLedger(table(LockedAccount::default))
    }

    #[inline(always)]
    fn fill(&self, buyer: u16, seller: u16, f: u64, notional: u64) {
        let (b, s) = (&self.0[buyer as usize], &self.0[seller as usize]);
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
