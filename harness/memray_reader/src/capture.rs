//! memray's capture stream, version 13 (memray 1.20), as the allocation pass reads it.
//!
//! The format is memray's own (`src/memray/_memray/record_writer.cpp` writes it,
//! `record_reader.cpp` reads it; line references in `docs/measurement.md`'s
//! sources). What is read here, in one pass with no object per record:
//!
//! - every ALLOCATION record: its address (a 15-entry most-recently-used cache, or a
//!   zig-zag delta of `address >> 3` on a miss), its allocator, its native stack id
//!   (a delta shared with NATIVE_TRACE_INDEX and OBJECT records) and its size;
//! - the records whose state later records depend on (the deltas, the cache);
//! - the records memray's symboliser needs, copied into a *skeleton* capture (below).
//!
//! The tally is the harness's `_tally`, rule for rule: an allocation (anything but
//! `free`, `pymalloc_free` and `munmap`) counts once for its native stack and makes
//! its address live; a deallocation, `munmap` included, ends the block at that
//! address, whatever its stack.
//!
//! **The skeleton.** Classifying a stack needs its symbols, which only memray's
//! reader resolves (libbacktrace, inlined frames included). The skeleton is a valid
//! capture holding the original header, every memory-map and native-trace record in
//! their original order, and one `malloc` per distinct native stack placed right
//! after that stack's first allocation, so that memray reads it with the same
//! segment generation as the original's first record of the stack. memray then reads
//! tens of records instead of millions.
//!
//! A capture this reader does not know (another header version, the aggregated
//! format, lz4-compressed) is [`ReadError::Unsupported`]: the caller may fall back to
//! memray's own reader. A capture that breaks the format is [`ReadError::Corrupt`],
//! naming the byte offset and the rule; unlike memray's reader, which stops quietly
//! at the first bad record, nothing is counted from it.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// The capture header version this reader decodes (memray's `CURRENT_HEADER_VERSION`).
pub const HEADER_VERSION: i32 = 13;

const MAGIC: &[u8; 7] = b"memray\0";
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
const ALL_ALLOCATIONS: u8 = 0;
/// The header's fixed-size `TrackerStats`: four 8-byte fields.
const STATS_BYTES: usize = 32;

// Record types without flags (records.h `RecordType`).
const FILLER: u8 = 0;
const TRAILER: u8 = 1;
const MEMORY_RECORD: u8 = 2;
const NATIVE_TRACE_INDEX: u8 = 5;
const MEMORY_MAP_START: u8 = 6;
const SEGMENT_HEADER: u8 = 7;
const SEGMENT: u8 = 8;
const THREAD_RECORD: u8 = 10;
const CONTEXT_SWITCH: u8 = 12;
const CODE_OBJECT: u8 = 14;
// Record types that carry flags in their low bits, tested from the highest bit down.
const ALLOCATION_BIT: u8 = 0x80;
const FRAME_PUSH_BIT: u8 = 0x40;
const OBJECT_RECORD_BIT: u8 = 0x20;
const FRAME_POP_BIT: u8 = 0x10;

// Allocators (hooks.h `Allocator`): 1..=15.
const PYMALLOC_FREE: u8 = 1;
const FREE: u8 = 5;
const MALLOC: u8 = 6;
const MUNMAP: u8 = 15;
const CACHE_MISS: u8 = 15;
const CACHE_SIZE: usize = 15;

/// Why a capture was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// A capture this reader does not decode; memray's own reader may.
    Unsupported(String),
    /// Not a well-formed capture: the byte offset of the record, and the rule it breaks.
    Corrupt { offset: usize, rule: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Unsupported(why) => write!(f, "{why}"),
            ReadError::Corrupt { offset, rule } => write!(f, "record at byte {offset}: {rule}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// One native stack's counts; `#[repr(C)]`: it is `evb_memray_stack` in the header.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackCount {
    /// memray's native stack id (0: no native stack).
    pub stack: u64,
    /// Allocation calls made with this stack.
    pub allocations: u64,
    /// Of those, blocks still allocated at the end of the capture.
    pub live: u64,
}

/// What one capture holds, by native stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// ALLOCATION records read, deallocations included.
    pub records: u64,
    /// One entry per stack that allocated, in order of first allocation.
    pub stacks: Vec<StackCount>,
    /// A capture memray reads to symbolise the stacks (module doc): one `malloc` per
    /// nonzero stack of `stacks`, in the same order.
    pub skeleton: Vec<u8>,
}

/// A hasher for 8-aligned addresses: a folded 128-bit multiply spreads every input bit
/// over the low bits the table indexes by (std's SipHash costs more than the decoding).
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, value: u64) {
        let product = u128::from(value).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

type LiveBlocks = HashMap<u64, u64, BuildHasherDefault<AddressHasher>>;

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    record: usize, // where the record being read starts, for messages
}

impl<'a> Cursor<'a> {
    fn corrupt(&self, rule: impl Into<String>) -> ReadError {
        ReadError::Corrupt {
            offset: self.record,
            rule: rule.into(),
        }
    }

    fn cut_short(&self, what: &str) -> ReadError {
        self.corrupt(format!(
            "the capture ends inside {what} (truncated at byte {})",
            self.bytes.len()
        ))
    }

    #[inline]
    fn byte(&mut self, what: &str) -> Result<u8, ReadError> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.cut_short(what)),
        }
    }

    #[inline]
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(self.cut_short(what)),
        }
    }

    fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ReadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A NUL-terminated string, terminator included in the returned bytes.
    fn cstr(&mut self, what: &str) -> Result<&'a [u8], ReadError> {
        match self.bytes[self.pos..].iter().position(|&b| b == 0) {
            Some(n) => self.take(n + 1, what),
            None => Err(self.cut_short(what)),
        }
    }

    /// memray's unsigned LEB128; as its reader does, more than 64 bits is an error.
    #[inline]
    fn varint(&mut self, what: &str) -> Result<u64, ReadError> {
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.byte(what)?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift >= 64 {
                return Err(self.corrupt(format!("{what}: a varint longer than 64 bits")));
            }
        }
    }

    /// Zig-zag signed varint.
    #[inline]
    fn svarint(&mut self, what: &str) -> Result<i64, ReadError> {
        let z = self.varint(what)?;
        Ok(((z >> 1) ^ (z & 1).wrapping_neg()) as i64)
    }
}

/// The skeleton capture's writer: memray's encoding, with its own delta state.
struct Skeleton {
    bytes: Vec<u8>,
    last_ip: u64,
    last_stack: u64,
    last_pointer: u64,
}

impl Skeleton {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    fn svarint(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64);
    }

    fn trace_index(&mut self, ip: u64, parent: u64) {
        self.bytes.push(NATIVE_TRACE_INDEX);
        self.svarint(ip.wrapping_sub(self.last_ip) as i64);
        self.svarint(parent.wrapping_sub(self.last_stack) as i64);
        self.last_ip = ip;
        self.last_stack = parent;
    }

    /// One `malloc` of one byte with `stack`, at an address of its own (a cache miss).
    fn malloc(&mut self, stack: u64) {
        self.bytes.push(ALLOCATION_BIT | (CACHE_MISS << 3) | MALLOC);
        self.last_pointer += 1;
        self.svarint(1);
        self.svarint(stack.wrapping_sub(self.last_stack) as i64);
        self.last_stack = stack;
        self.varint(1);
    }
}

/// Where the capture's meaningful bytes end: memray grows its file in chunks, so a
/// capture may end in zero bytes that are not records (memray's `FileSource` skips them too).
fn readable(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

struct Header {
    native_traces: bool,
    main_tid: [u8; 8],
    end: usize,
}

fn header(c: &mut Cursor<'_>) -> Result<Header, ReadError> {
    if c.bytes.starts_with(&LZ4_MAGIC) {
        return Err(ReadError::Unsupported(
            "the capture is lz4-compressed (write it with compress_on_exit=False)".into(),
        ));
    }
    if c.bytes.len() < MAGIC.len() || &c.bytes[..MAGIC.len()] != MAGIC {
        return Err(c.corrupt("not a memray capture (no 'memray' magic)"));
    }
    c.pos = MAGIC.len();
    let version = i32::from_ne_bytes(c.fixed::<4>("the header's version")?);
    if version != HEADER_VERSION {
        return Err(ReadError::Unsupported(format!(
            "capture header version {version}; this reader knows version {HEADER_VERSION} (memray 1.20)"
        )));
    }
    c.take(4, "the header's Python version")?;
    let native_traces = match c.byte("the header")? {
        0 => false,
        1 => true,
        other => return Err(c.corrupt(format!("the header's native-traces flag is {other}"))),
    };
    let format = c.byte("the header")?;
    if format != ALL_ALLOCATIONS {
        return Err(ReadError::Unsupported(format!(
            "capture file format {format}; this reader knows {ALL_ALLOCATIONS} (ALL_ALLOCATIONS) only"
        )));
    }
    c.take(STATS_BYTES, "the header's statistics")?;
    c.cstr("the header's command line")?;
    c.take(4, "the header's pid")?;
    let main_tid = c.fixed::<8>("the header's main thread")?;
    c.take(8 + 3, "the header")?; // skipped frames, Python allocator, two flags
    c.cstr("the header's libdest")?;
    for list in ["site-packages", "sys.path"] {
        // Absolute paths, each NUL-terminated; an empty string ends the list.
        while c.cstr(list)?.len() > 1 {}
    }
    Ok(Header {
        native_traces,
        main_tid,
        end: c.pos,
    })
}

/// Reads a whole capture (its bytes, as memray wrote them).
pub fn tally(bytes: &[u8]) -> Result<Tally, ReadError> {
    let mut c = Cursor {
        bytes: readable(bytes),
        pos: 0,
        record: 0,
    };
    let head = header(&mut c)?;
    let native = head.native_traces;

    let mut skeleton = Skeleton {
        bytes: Vec::with_capacity(head.end + 4096),
        last_ip: 0,
        last_stack: 0,
        last_pointer: 0,
    };
    skeleton.bytes.extend_from_slice(&c.bytes[..head.end]);
    skeleton.bytes.push(CONTEXT_SWITCH);
    skeleton.bytes.extend_from_slice(&head.main_tid);

    let mut cache = [0u64; CACHE_SIZE];
    let mut last_pointer = 0u64;
    let mut last_stack = 0u64;
    let mut last_ip = 0u64;
    let mut in_thread = false; // memray refuses thread-specific records before a CONTEXT_SWITCH
    let mut trace_nodes = 0u64; // native stack ids run 1..=trace_nodes (memray's FrameTree)
    let mut records = 0u64;
    let mut allocations: Vec<u64> = vec![0]; // by native stack id
    let mut order: Vec<u64> = Vec::new(); // stacks in order of first allocation
    let mut live = LiveBlocks::default();

    loop {
        c.record = c.pos;
        let Some(&token) = c.bytes.get(c.pos) else {
            return Err(c.corrupt(
                "the capture ends without memray's trailer (tracking did not finish, or the file is truncated)",
            ));
        };
        c.pos += 1;
        if token & ALLOCATION_BIT != 0 {
            if !in_thread {
                return Err(c.corrupt("an allocation before any context switch"));
            }
            records += 1;
            let slot = (token >> 3) & 0x0f;
            let address = if slot == CACHE_MISS {
                last_pointer =
                    last_pointer.wrapping_add(c.svarint("an allocation's address")? as u64);
                let address = last_pointer << 3;
                cache.copy_within(0..CACHE_SIZE - 1, 1);
                cache[0] = address;
                address
            } else {
                cache[usize::from(slot)]
            };
            let allocator = match token & 7 {
                0 => c.byte("an allocation's allocator")?,
                a => a,
            };
            if allocator == PYMALLOC_FREE || allocator == FREE {
                live.remove(&address);
                continue;
            }
            if !(1..=MUNMAP).contains(&allocator) {
                return Err(c.corrupt(format!("unknown allocator {allocator}")));
            }
            if native {
                last_stack =
                    last_stack.wrapping_add(c.svarint("an allocation's native stack")? as u64);
            }
            c.varint("an allocation's size")?;
            if allocator == MUNMAP {
                live.remove(&address);
                continue;
            }
            let stack = if native { last_stack } else { 0 };
            if stack > trace_nodes {
                return Err(c.corrupt(format!(
                    "native stack id {stack} before its trace record ({trace_nodes} so far)"
                )));
            }
            let count = &mut allocations[stack as usize];
            if *count == 0 {
                order.push(stack);
                if stack != 0 {
                    skeleton.malloc(stack);
                }
            }
            *count += 1;
            live.insert(address, stack);
        } else if token & FRAME_PUSH_BIT != 0 {
            if !in_thread {
                return Err(c.corrupt("a frame push before any context switch"));
            }
            c.varint("a frame push's code object")?;
            c.svarint("a frame push's instruction offset")?;
        } else if token & OBJECT_RECORD_BIT != 0 {
            let slot = (token >> 1) & 0x0f;
            if slot == CACHE_MISS {
                last_pointer = last_pointer.wrapping_add(c.svarint("an object's address")? as u64);
                cache.copy_within(0..CACHE_SIZE - 1, 1);
                cache[0] = last_pointer << 3;
            }
            if native && token & 1 != 0 {
                last_stack = last_stack.wrapping_add(c.svarint("an object's native stack")? as u64);
            }
        } else if token & FRAME_POP_BIT != 0 {
            if !in_thread {
                return Err(c.corrupt("a frame pop before any context switch"));
            }
        } else {
            match token {
                TRAILER => break,
                MEMORY_RECORD => {
                    c.varint("a memory record's RSS")?;
                    c.varint("a memory record's time")?;
                }
                NATIVE_TRACE_INDEX => {
                    last_ip = last_ip.wrapping_add(c.svarint("a native trace's address")? as u64);
                    last_stack =
                        last_stack.wrapping_add(c.svarint("a native trace's parent")? as u64);
                    if last_stack > trace_nodes {
                        return Err(c.corrupt(format!(
                            "native trace parent {last_stack} is not a node yet ({trace_nodes} so far)"
                        )));
                    }
                    trace_nodes += 1;
                    allocations.push(0);
                    skeleton.trace_index(last_ip, last_stack);
                }
                MEMORY_MAP_START => skeleton.bytes.push(MEMORY_MAP_START),
                SEGMENT_HEADER => {
                    c.cstr("a segment header's file name")?;
                    let n = c.varint("a segment header's count")?;
                    c.take(8, "a segment header's address")?;
                    for _ in 0..n {
                        if c.byte("a segment")? != SEGMENT {
                            return Err(c.corrupt("a segment header not followed by its segments"));
                        }
                        c.take(8, "a segment's address")?;
                        c.varint("a segment's size")?;
                    }
                    skeleton.bytes.extend_from_slice(&c.bytes[c.record..c.pos]);
                }
                THREAD_RECORD => {
                    c.cstr("a thread name")?;
                }
                CONTEXT_SWITCH => {
                    c.take(8, "a context switch's thread id")?;
                    in_thread = true;
                }
                CODE_OBJECT => {
                    c.varint("a code object's id")?;
                    c.cstr("a code object's function name")?;
                    c.cstr("a code object's file name")?;
                    c.svarint("a code object's first line")?;
                    let n = c.varint("a code object's line table size")?;
                    let n = usize::try_from(n)
                        .map_err(|_| c.cut_short("a code object's line table"))?;
                    c.take(n, "a code object's line table")?;
                }
                FILLER => return Err(c.corrupt("a zero byte where a record should start")),
                other => return Err(c.corrupt(format!("unknown record type {other:#04x}"))),
            }
        }
    }
    if c.pos != c.bytes.len() {
        c.record = c.pos;
        return Err(c.corrupt("bytes after memray's trailer"));
    }

    let mut live_by_stack = vec![0u64; allocations.len()];
    for &stack in live.values() {
        live_by_stack[stack as usize] += 1;
    }
    skeleton.bytes.push(TRAILER);
    Ok(Tally {
        records,
        stacks: order
            .into_iter()
            .map(|stack| StackCount {
                stack,
                allocations: allocations[stack as usize],
                live: live_by_stack[stack as usize],
            })
            .collect(),
        skeleton: skeleton.bytes,
    })
}
