//! A capture file's bytes, memory-mapped read-only where the platform allows.
//!
//! The allocation pass's captures are its own temporary files, which nothing changes while
//! they are read (a file truncated under a mapping would fault on access).

use std::fs::File;
use std::io;
use std::path::Path;

pub struct Mapped {
    #[cfg(unix)]
    ptr: *mut libc::c_void,
    #[cfg(unix)]
    len: usize,
    #[cfg(not(unix))]
    bytes: Vec<u8>,
}

impl Mapped {
    #[cfg(unix)]
    pub fn open(path: &Path) -> io::Result<Mapped> {
        use std::os::unix::io::AsRawFd;
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let len = usize::try_from(meta.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "larger than memory"))?;
        if len == 0 {
            // mmap refuses an empty mapping; an empty capture is read as no bytes.
            return Ok(Mapped {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh read-only private mapping of an open file, checked for failure;
        // unmapped once, in Drop. The descriptor may close once the mapping exists.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the mapping just made. Advice only: a failure changes nothing.
        unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
        Ok(Mapped { ptr, len })
    }

    #[cfg(not(unix))]
    pub fn open(path: &Path) -> io::Result<Mapped> {
        Ok(Mapped {
            bytes: std::fs::read(path)?,
        })
    }

    pub fn bytes(&self) -> &[u8] {
        #[cfg(unix)]
        {
            if self.len == 0 {
                return &[];
            }
            // SAFETY: `len` readable bytes mapped at `ptr` until Drop.
            unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
        }
        #[cfg(not(unix))]
        {
            &self.bytes
        }
    }
}

#[cfg(unix)]
impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: the mapping made in `open`, unmapped once.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}
