//! Ctrl-C and SIGTERM during a native run, which Python cannot see: its handlers run
//! on the main thread between bytecodes, never while that thread is inside a foreign
//! call. Python's C-level handler does write each signal's number to its wakeup fd
//! (`signal.set_wakeup_fd`), from whatever thread the signal lands on. One watcher
//! thread per process sleeps in `poll` on that pipe and cancels the engine whose
//! run is being watched.
//!
//! Native, not a Python thread: it never takes the GIL. Started once and never
//! joined: a thread started and joined per run would make instruction counts wobble
//! (glibc's join takes a longer path when the thread has not exited yet), and the
//! harness counts instructions per event exactly. Every byte read is passed on to the
//! wakeup fd that was set before (asyncio's, say), so nobody else misses a signal.
//! A process forked after the watcher started has no watcher (fork copies one thread).

use std::os::fd::RawFd;
use std::sync::{Mutex, OnceLock};

use crate::run::Control;

struct Watcher {
    wakeup: RawFd,
    target: Mutex<Option<Target>>,
}

/// The run to cancel, and where the bytes go on to.
struct Target {
    control: Control,
    forward: RawFd,
}

static WATCHER: OnceLock<Result<Watcher, String>> = OnceLock::new();

/// From now on a SIGINT or SIGTERM written to `wakeup` cancels `control`, and every byte
/// goes on to `forward` (when not negative). `wakeup` must be the same fd on every call:
/// the watcher reads one pipe for the life of the process.
pub fn watch(wakeup: RawFd, forward: RawFd, control: Control) -> Result<(), String> {
    let watcher = WATCHER
        .get_or_init(|| start(wakeup))
        .as_ref()
        .map_err(Clone::clone)?;
    if watcher.wakeup != wakeup {
        return Err(format!(
            "signals are watched on fd {} already, not {wakeup}",
            watcher.wakeup
        ));
    }
    *lock(&watcher.target) = Some(Target { control, forward });
    Ok(())
}

/// Stops cancelling `control` (another engine's watch is left alone).
pub fn unwatch(control: &Control) {
    if let Some(Ok(watcher)) = WATCHER.get() {
        let mut target = lock(&watcher.target);
        if target.as_ref().is_some_and(|t| t.control.same(control)) {
            *target = None;
        }
    }
}

fn lock(target: &Mutex<Option<Target>>) -> std::sync::MutexGuard<'_, Option<Target>> {
    target.lock().unwrap_or_else(|p| p.into_inner())
}

fn start(wakeup: RawFd) -> Result<Watcher, String> {
    std::thread::Builder::new()
        .name("evb-signals".into())
        .spawn(move || run(wakeup))
        .map_err(|e| format!("could not start the signal watcher: {e}"))?;
    Ok(Watcher {
        wakeup,
        target: Mutex::new(None),
    })
}

fn run(wakeup: RawFd) {
    let mut buf = [0u8; 512];
    let stopping = [libc::SIGINT as u8, libc::SIGTERM as u8];
    loop {
        let mut fds = [libc::pollfd {
            fd: wakeup,
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: poll reads and writes one pollfd struct of a valid array.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        if ready < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[0].revents & libc::POLLIN == 0 {
            return; // the pipe was closed or broke: nothing more will come
        }
        // SAFETY: reads at most buf.len() bytes into a valid buffer.
        let got = unsafe { libc::read(wakeup, buf.as_mut_ptr().cast(), buf.len()) };
        if got <= 0 {
            continue;
        }
        let bytes = &buf[..got as usize];
        let Some(Ok(watcher)) = WATCHER.get() else {
            continue;
        };
        if let Some(target) = lock(&watcher.target).as_ref() {
            if bytes.iter().any(|b| stopping.contains(b)) {
                target.control.cancel(); // first: whoever hears the byte next finds the run stopping
            }
            if target.forward >= 0 {
                // SAFETY: writes bytes from a valid buffer; a full or closed fd only fails.
                unsafe { libc::write(target.forward, bytes.as_ptr().cast(), bytes.len()) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0 as libc::c_int; 2];
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        (fds[0], fds[1])
    }

    #[test]
    fn a_stopping_signal_cancels_and_every_byte_is_forwarded() {
        let (wakeup_read, wakeup_write) = pipe(); // kept open: the watcher reads it for good
        let (forward_read, forward_write) = pipe();
        let control = Control::default();
        watch(wakeup_read, forward_write, control.clone()).unwrap();
        let send = |byte: u8| unsafe { libc::write(wakeup_write, [byte].as_ptr().cast(), 1) };
        let mut got = [0u8; 1];
        send(libc::SIGCHLD as u8);
        let read = unsafe { libc::read(forward_read, got.as_mut_ptr().cast(), 1) };
        assert_eq!((read, got[0]), (1, libc::SIGCHLD as u8));
        assert!(!control.cancelled(), "SIGCHLD is not a reason to stop");
        send(libc::SIGTERM as u8);
        let read = unsafe { libc::read(forward_read, got.as_mut_ptr().cast(), 1) };
        assert_eq!((read, got[0]), (1, libc::SIGTERM as u8));
        assert!(control.cancelled());

        let other = Control::default();
        unwatch(&other); // not the watched one: nothing changes
        assert!(lock(&WATCHER.get().unwrap().as_ref().unwrap().target).is_some());
        unwatch(&control);
        assert!(lock(&WATCHER.get().unwrap().as_ref().unwrap().target).is_none());
        assert!(
            watch(forward_read, -1, other).is_err(),
            "one pipe per process"
        );
        unsafe { libc::close(forward_read) };
        unsafe { libc::close(forward_write) };
    }
}
