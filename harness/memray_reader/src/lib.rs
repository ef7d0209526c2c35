//! eventbench's allocation pass, at native speed: memray's capture files read in one
//! loop with no object per record (`capture`), behind a C ABI (`ffi`,
//! `include/evb_memray.h`) that `harness/memray_capture.py` loads through cffi.

pub mod capture;
pub mod ffi;
mod file;

#[cfg(test)]
mod tests;
