//! The C ABI (`include/evb_memray.h`), which the harness loads through cffi.
//!
//! Each read returns `EVB_MEMRAY_OK` or a code saying what the caller can do about it
//! (`UNSUPPORTED`: use memray's own reader; the others: no count), with the message of
//! the last failure on this thread from `evb_memray_last_error`. Nothing unwinds across
//! `extern "C"`: the reads run inside `catch_unwind`, and the accessors cannot panic.
//! A tally is an opaque pointer owned by the caller until `evb_memray_tally_free`.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::capture::{tally, ReadError, StackCount, Tally};

pub const EVB_MEMRAY_OK: i32 = 0;
pub const EVB_MEMRAY_UNSUPPORTED: i32 = 1;
pub const EVB_MEMRAY_CORRUPT: i32 = 2;
pub const EVB_MEMRAY_IO: i32 = 3;
pub const EVB_MEMRAY_ARGUMENT: i32 = 4;
pub const EVB_MEMRAY_PANIC: i32 = 5;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|cell| *cell.borrow_mut() = text);
}

/// The message of the last failed call on this thread ("" if none); valid until the next
/// failing call on the same thread.
#[no_mangle]
pub extern "C" fn evb_memray_last_error() -> *const c_char {
    LAST_ERROR.with(|cell| cell.borrow().as_ptr())
}

/// Runs a read inside `catch_unwind` and hands its tally to `out` (null on failure).
fn guarded(out: *mut *mut Tally, read: impl FnOnce() -> Result<Tally, (i32, String)>) -> i32 {
    if out.is_null() {
        set_last_error("out_tally is null");
        return EVB_MEMRAY_ARGUMENT;
    }
    // SAFETY: checked non-null; the caller passes a writable pointer (header contract).
    unsafe { *out = ptr::null_mut() };
    let outcome = catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err((EVB_MEMRAY_PANIC, format!("internal error (panic): {what}")))
    });
    match outcome {
        Ok(t) => {
            // SAFETY: as above.
            unsafe { *out = Box::into_raw(Box::new(t)) };
            EVB_MEMRAY_OK
        }
        Err((code, message)) => {
            set_last_error(&message);
            code
        }
    }
}

fn coded(e: ReadError) -> (i32, String) {
    let code = match e {
        ReadError::Unsupported(_) => EVB_MEMRAY_UNSUPPORTED,
        ReadError::Corrupt { .. } => EVB_MEMRAY_CORRUPT,
    };
    (code, e.to_string())
}

/// Reads the capture file at `path` (a NUL-terminated path, bytes as the OS takes them).
///
/// # Safety
/// `path` is null or a valid C string; `out` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_file(path: *const c_char, out: *mut *mut Tally) -> i32 {
    guarded(out, || {
        if path.is_null() {
            return Err((EVB_MEMRAY_ARGUMENT, "path is null".into()));
        }
        // SAFETY: non-null, and a C string by contract.
        let path = unsafe { CStr::from_ptr(path) };
        #[cfg(unix)]
        let path = {
            use std::os::unix::ffi::OsStrExt;
            std::path::Path::new(std::ffi::OsStr::from_bytes(path.to_bytes()))
        };
        #[cfg(not(unix))]
        let path = std::path::Path::new(
            path.to_str()
                .map_err(|_| (EVB_MEMRAY_ARGUMENT, "path is not UTF-8".to_string()))?,
        );
        let bytes = crate::file::Mapped::open(path).map_err(|e| {
            (
                EVB_MEMRAY_IO,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        tally(bytes.bytes()).map_err(coded)
    })
}

/// Reads a capture held in memory (`len` bytes at `data`; `data` may be null when `len` is 0).
///
/// # Safety
/// `data` points to `len` readable bytes that do not change during the call; `out` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_buffer(
    data: *const u8,
    len: usize,
    out: *mut *mut Tally,
) -> i32 {
    guarded(out, || {
        let bytes: &[u8] = match (data.is_null(), len) {
            (_, 0) => &[],
            (true, _) => return Err((EVB_MEMRAY_ARGUMENT, "data is null".into())),
            // SAFETY: non-null, `len` readable bytes by contract.
            (false, _) => unsafe { std::slice::from_raw_parts(data, len) },
        };
        tally(bytes).map_err(coded)
    })
}

/// ALLOCATION records read (deallocations included); 0 for a null tally.
///
/// # Safety
/// `tally` is null or a live tally.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_records(tally: *const Tally) -> u64 {
    // SAFETY: null or live by contract.
    unsafe { tally.as_ref() }.map_or(0, |t| t.records)
}

/// The per-stack counts, in order of first allocation; `*n_stacks` gets their number.
/// Valid until the tally is freed.
///
/// # Safety
/// `tally` is null or a live tally; `n_stacks` is writable.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_stacks(
    tally: *const Tally,
    n_stacks: *mut usize,
) -> *const StackCount {
    // SAFETY: null or live by contract.
    let stacks = unsafe { tally.as_ref() }.map_or(&[][..], |t| &t.stacks[..]);
    if !n_stacks.is_null() {
        // SAFETY: non-null and writable by contract.
        unsafe { *n_stacks = stacks.len() };
    }
    stacks.as_ptr()
}

/// The skeleton capture for symbolising the stacks; `*len` gets its size in bytes.
/// Valid until the tally is freed.
///
/// # Safety
/// `tally` is null or a live tally; `len` is writable.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_skeleton(
    tally: *const Tally,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: null or live by contract.
    let bytes = unsafe { tally.as_ref() }.map_or(&[][..], |t| &t.skeleton[..]);
    if !len.is_null() {
        // SAFETY: non-null and writable by contract.
        unsafe { *len = bytes.len() };
    }
    bytes.as_ptr()
}

/// Frees a tally (null: nothing). Each tally is freed once.
///
/// # Safety
/// `tally` is null or a live tally from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn evb_memray_tally_free(tally: *mut Tally) {
    if !tally.is_null() {
        // SAFETY: made by Box::into_raw in `guarded`, freed once by contract.
        drop(unsafe { Box::from_raw(tally) });
    }
}
