//! The reader against captures written the way memray 1.20 writes them (`Writer` below
//! follows `StreamingRecordWriter` in `record_writer.cpp` record for record), against a
//! plain model of `_tally`'s rules, and against broken captures. The Python tests
//! (`tests/test_memray_capture.py`) compare it with memray's own reader on real captures.

use std::collections::HashMap;

use crate::capture::{tally, ReadError, StackCount, HEADER_VERSION};
use crate::ffi::*;

// ---------------------------------------------------------------- a writer, as memray's

const PYMALLOC_FREE: u8 = 1;
const PYMALLOC_MALLOC: u8 = 2;
const PYMALLOC_REALLOC: u8 = 4;
const FREE: u8 = 5;
const MALLOC: u8 = 6;
const REALLOC: u8 = 7;
const CALLOC: u8 = 8;
const MMAP: u8 = 14;
const MUNMAP: u8 = 15;

type Image<'a> = (&'a str, u64, &'a [(u64, u64)]);

struct Writer {
    bytes: Vec<u8>,
    native: bool,
    cache: [u64; 15],
    last_pointer: u64,
    last_stack: u64,
    last_ip: u64,
    last_tid: u64,
    header_end: usize,
    main_tid: u64,
}

impl Writer {
    fn new(version: i32, format: u8, native: bool) -> Writer {
        let mut w = Writer {
            bytes: Vec::new(),
            native,
            cache: [0; 15],
            last_pointer: 0,
            last_stack: 0,
            last_ip: 0,
            last_tid: 0,
            header_end: 0,
            main_tid: 0x7f00_1234_5678,
        };
        w.bytes.extend_from_slice(b"memray\0");
        w.bytes.extend_from_slice(&version.to_ne_bytes());
        w.bytes.extend_from_slice(&0x030d_00f0_i32.to_ne_bytes()); // Python version
        w.bytes.push(u8::from(native));
        w.bytes.push(format);
        w.bytes.extend_from_slice(&[7; 32]); // statistics
        w.bytes.extend_from_slice(b"python -m pytest\0");
        w.bytes.extend_from_slice(&4242_i32.to_ne_bytes());
        w.bytes.extend_from_slice(&w.main_tid.to_ne_bytes());
        w.bytes.extend_from_slice(&3_u64.to_ne_bytes()); // skipped frames
        w.bytes.extend_from_slice(&[1, 1, 0]); // pymalloc, Python allocators traced, no object lifetimes
        w.bytes.extend_from_slice(b"/usr/lib/python3.13\0");
        w.bytes.extend_from_slice(b"/site-packages\0\0");
        w.bytes.extend_from_slice(b"/a\0/b\0\0");
        w.header_end = w.bytes.len();
        w
    }

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

    fn switch(&mut self, tid: u64) {
        if self.last_tid != tid {
            self.last_tid = tid;
            self.bytes.push(12);
            self.bytes.extend_from_slice(&tid.to_ne_bytes());
        }
    }

    fn cache_slot(&mut self, address: u64) -> Option<usize> {
        if let Some(i) = self.cache.iter().position(|&a| a == address) {
            return Some(i);
        }
        self.cache.copy_within(0..14, 1);
        self.cache[0] = address;
        None
    }

    fn pointer(&mut self, address: u64) {
        let shifted = address >> 3;
        self.svarint(shifted.wrapping_sub(self.last_pointer) as i64);
        self.last_pointer = shifted;
    }

    fn stack(&mut self, stack: u64) {
        self.svarint(stack.wrapping_sub(self.last_stack) as i64);
        self.last_stack = stack;
    }

    fn alloc(&mut self, tid: u64, address: u64, allocator: u8, stack: u64, size: u64) {
        self.switch(tid);
        let slot = self.cache_slot(address);
        let mut token = 0x80 | if allocator < 8 { allocator } else { 0 };
        token |= (slot.map_or(15, |s| s as u8)) << 3;
        self.bytes.push(token);
        if slot.is_none() {
            self.pointer(address);
        }
        if allocator >= 8 {
            self.bytes.push(allocator);
        }
        let simple_free = allocator == FREE || allocator == PYMALLOC_FREE;
        if self.native && !simple_free {
            self.stack(stack);
        }
        if !simple_free {
            self.varint(size);
        }
    }

    fn trace(&mut self, ip: u64, parent: u64) {
        self.bytes.push(5);
        self.svarint(ip.wrapping_sub(self.last_ip) as i64);
        self.last_ip = ip;
        self.stack(parent);
    }

    /// A MEMORY_MAP_START and the images loaded (name, address, segments), as after a dlopen.
    fn mappings(&mut self, images: &[Image]) {
        self.bytes.push(6);
        for (name, address, segments) in images {
            self.bytes.push(7);
            self.bytes.extend_from_slice(name.as_bytes());
            self.bytes.push(0);
            self.varint(segments.len() as u64);
            self.bytes.extend_from_slice(&address.to_ne_bytes());
            for &(vaddr, size) in segments.iter() {
                self.bytes.push(8);
                self.bytes.extend_from_slice(&vaddr.to_ne_bytes());
                self.varint(size);
            }
        }
    }

    fn memory(&mut self, rss: u64, ms: u64) {
        self.bytes.push(2);
        self.varint(rss);
        self.varint(ms);
    }

    fn frame_push(&mut self, tid: u64, code: u64, offset: i64, entry: bool) {
        self.switch(tid);
        self.bytes.push(0x40 | u8::from(entry));
        self.varint(code);
        self.svarint(offset);
    }

    fn frame_pop(&mut self, tid: u64, count: u8) {
        self.switch(tid);
        self.bytes.push(0x10 | (count - 1));
    }

    fn thread(&mut self, tid: u64, name: &str) {
        self.switch(tid);
        self.bytes.push(10);
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
    }

    fn object(&mut self, tid: u64, address: u64, created: bool, stack: u64) {
        self.switch(tid);
        let slot = self.cache_slot(address);
        self.bytes
            .push(0x20 | (slot.map_or(15, |s| s as u8) << 1) | u8::from(created));
        if slot.is_none() {
            self.pointer(address);
        }
        if self.native && created {
            self.stack(stack);
        }
    }

    fn code_object(&mut self, id: u64, function: &str, file: &str, first_line: i64, table: &[u8]) {
        self.bytes.push(14);
        self.varint(id);
        for s in [function, file] {
            self.bytes.extend_from_slice(s.as_bytes());
            self.bytes.push(0);
        }
        self.svarint(first_line);
        self.varint(table.len() as u64);
        self.bytes.extend_from_slice(table);
    }

    fn finish(mut self) -> Vec<u8> {
        self.bytes.push(1);
        self.bytes.extend_from_slice(&[0; 37]); // the sink's zero-filled growth beyond the trailer
        self.bytes
    }
}

fn capture() -> Writer {
    Writer::new(HEADER_VERSION, 0, true)
}

fn stack(stack: u64, allocations: u64, live: u64) -> StackCount {
    StackCount {
        stack,
        allocations,
        live,
    }
}

fn corrupt_rule(bytes: &[u8]) -> String {
    match tally(bytes) {
        Err(ReadError::Corrupt { rule, .. }) => rule,
        other => panic!("expected a corrupt capture, got {other:?}"),
    }
}

// ---------------------------------------------------------------- the rules

#[test]
fn allocations_count_by_stack_and_frees_end_blocks_by_address() {
    let mut w = capture();
    w.mappings(&[("/lib/libc.so.6", 0x7000, &[(0, 0x1000)])]);
    w.trace(0x7010, 0); // node 1
    w.trace(0x7020, 1); // node 2
    w.alloc(1, 0x1000, MALLOC, 1, 16);
    w.alloc(1, 0x1010, PYMALLOC_MALLOC, 2, 32);
    w.alloc(1, 0x1020, CALLOC, 2, 8); // allocator >= 8: its own byte
    w.alloc(1, 0x1000, FREE, 0, 0); // cache hit
    w.alloc(1, 0x1010, PYMALLOC_FREE, 0, 0);
    // realloc, as memray writes it: a free of the old block, then the new one.
    w.alloc(1, 0x1020, FREE, 0, 0);
    w.alloc(1, 0x2000, REALLOC, 1, 64);
    w.alloc(1, 0x3000, MMAP, 2, 4096);
    w.alloc(1, 0x3000, MUNMAP, 2, 4096);
    w.alloc(1, 0x4000, PYMALLOC_REALLOC, 0, 4); // no native stack
    let t = tally(&w.finish()).unwrap();
    assert_eq!(t.records, 10);
    assert_eq!(
        t.stacks,
        vec![stack(1, 2, 1), stack(2, 3, 0), stack(0, 1, 1)]
    );
}

#[test]
fn a_block_allocated_twice_at_one_address_is_one_live_block_of_the_later_stack() {
    let mut w = capture();
    w.trace(1, 0);
    w.trace(2, 0);
    w.alloc(1, 0x1000, MALLOC, 1, 16);
    w.alloc(1, 0x1000, MALLOC, 2, 16); // as _tally's dict: the later stack owns the address
    let t = tally(&w.finish()).unwrap();
    assert_eq!(t.stacks, vec![stack(1, 1, 0), stack(2, 1, 1)]);
}

#[test]
fn frees_of_unknown_blocks_are_ignored() {
    let mut w = capture();
    w.trace(1, 0);
    w.alloc(1, 0x5000, FREE, 0, 0);
    w.alloc(1, 0x6000, MUNMAP, 1, 100);
    w.alloc(1, 0x1000, MALLOC, 1, 16);
    let t = tally(&w.finish()).unwrap();
    assert_eq!((t.records, t.stacks.clone()), (3, vec![stack(1, 1, 1)]));
}

#[test]
fn records_between_allocations_keep_the_shared_state() {
    // Object records share the address cache and the stack delta; frames, code objects,
    // memory and thread records carry none of it but must be stepped over exactly.
    let mut w = capture();
    w.code_object(1, "handle", "/x.py", 10, &[1, 2, 3, 0, 5]);
    w.code_object(2, "run", "/y.py", -3, &[]);
    w.thread(1, "MainThread");
    w.frame_push(1, 1, 4, true);
    w.frame_push(1, 2, -2, false);
    w.trace(0x10, 0);
    w.trace(0x20, 1);
    w.trace(0x30, 1);
    w.object(1, 0x9000, true, 3);
    w.alloc(1, 0x1000, MALLOC, 2, 1);
    w.object(1, 0x9000, false, 0);
    w.memory(1 << 40, 12345);
    w.frame_pop(1, 2);
    w.thread(2, "worker");
    w.alloc(2, 0x1000, FREE, 0, 0);
    w.alloc(2, 0x1008, MALLOC, 3, 1);
    let t = tally(&w.finish()).unwrap();
    assert_eq!(t.stacks, vec![stack(2, 1, 0), stack(3, 1, 1)]);
}

#[test]
fn the_address_cache_evicts_the_least_recent_of_fifteen() {
    let mut w = capture();
    w.trace(1, 0);
    for i in 0..40u64 {
        w.alloc(1, 0x10_0000 + 16 * (i % 17), MALLOC, 1, 8); // 17 addresses: hits and misses
    }
    for i in 0..17u64 {
        w.alloc(1, 0x10_0000 + 16 * i, FREE, 0, 0);
    }
    let t = tally(&w.finish()).unwrap();
    assert_eq!(t.stacks, vec![stack(1, 40, 0)]);
}

#[test]
fn without_native_traces_every_allocation_has_stack_zero() {
    let mut w = Writer::new(HEADER_VERSION, 0, false);
    w.alloc(1, 0x1000, MALLOC, 0, 8);
    w.alloc(1, 0x2000, MMAP, 0, 8);
    w.alloc(1, 0x2000, MUNMAP, 0, 8);
    let header_end = w.header_end;
    let t = tally(&w.finish()).unwrap();
    assert_eq!(t.stacks, vec![stack(0, 2, 1)]);
    assert_eq!(t.skeleton.len(), header_end + 9 + 1); // a context switch and the trailer: no malloc
}

// ---------------------------------------------------------------- against a model

/// xorshift64*: deterministic draws without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `_tally`'s rules, written as plainly as possible.
fn model(ops: &[(u8, u64, u64)]) -> Vec<StackCount> {
    let mut order = Vec::new();
    let mut total: HashMap<u64, u64> = HashMap::new();
    let mut live: HashMap<u64, u64> = HashMap::new();
    for &(allocator, address, stack) in ops {
        if [FREE, PYMALLOC_FREE, MUNMAP].contains(&allocator) {
            live.remove(&address);
            continue;
        }
        if !total.contains_key(&stack) {
            order.push(stack);
        }
        *total.entry(stack).or_default() += 1;
        live.insert(address, stack);
    }
    order
        .into_iter()
        .map(|s| {
            stack(
                s,
                total[&s],
                live.values().filter(|&&v| v == s).count() as u64,
            )
        })
        .collect()
}

#[test]
fn random_captures_tally_as_the_model_does() {
    let allocators = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut w = capture();
        let mut ops = Vec::new();
        let mut nodes = 0u64;
        for _ in 0..rng.below(400) {
            match rng.below(10) {
                0 => {
                    let parent = rng.below(nodes + 1);
                    w.trace(rng.next() >> 16, parent);
                    nodes += 1;
                }
                1 => w.mappings(&[("/lib/x.so", rng.next() >> 20, &[(0, 4096), (8192, 100)])]),
                2 => w.object(
                    rng.below(3),
                    (rng.below(64) + 1) << 3,
                    rng.below(2) == 1,
                    rng.below(nodes + 1),
                ),
                _ => {
                    let allocator = allocators[rng.below(15) as usize];
                    // Few addresses, so that frees find blocks and the cache both hits and misses.
                    let address = (rng.below(48) + 1) << if rng.below(4) == 0 { 20 } else { 3 };
                    let s = rng.below(nodes + 1);
                    w.alloc(rng.below(3) + 1, address, allocator, s, rng.below(1 << 20));
                    ops.push((allocator, address, s));
                }
            }
        }
        let t = tally(&w.finish()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(t.records, ops.len() as u64, "seed {seed}");
        assert_eq!(t.stacks, model(&ops), "seed {seed}");
    }
}

// ---------------------------------------------------------------- the skeleton

#[test]
fn the_skeleton_replays_mappings_and_traces_with_one_malloc_per_stack_after_its_first() {
    let mut w = capture();
    w.mappings(&[("/lib/a.so", 0x7000, &[(0, 0x1000)])]);
    w.trace(0x7010, 0);
    w.trace(0x7020, 1);
    w.alloc(1, 0x1000, MALLOC, 2, 16);
    w.alloc(1, 0x1000, MALLOC, 2, 16);
    w.alloc(1, 0x1100, MALLOC, 0, 16); // no stack: not in the skeleton
    w.mappings(&[("/lib/b.so", 0x9000, &[(0, 0x1000), (0x2000, 0x10)])]); // a dlopen: a new generation
    w.alloc(1, 0x1200, MALLOC, 1, 16);
    w.trace(0x9010, 1);
    w.alloc(2, 0x1300, MALLOC, 3, 16);
    let original = w.finish();
    let t = tally(&original).unwrap();

    let mut e = capture();
    e.switch(e.main_tid);
    e.mappings(&[("/lib/a.so", 0x7000, &[(0, 0x1000)])]);
    e.trace(0x7010, 0);
    e.trace(0x7020, 1);
    e.alloc(e.main_tid, 8, MALLOC, 2, 1);
    e.mappings(&[("/lib/b.so", 0x9000, &[(0, 0x1000), (0x2000, 0x10)])]);
    e.alloc(e.main_tid, 16, MALLOC, 1, 1);
    e.trace(0x9010, 1);
    e.alloc(e.main_tid, 24, MALLOC, 3, 1);
    e.bytes.push(1);
    assert_eq!(t.skeleton, e.bytes);
    assert_eq!(t.skeleton[..e.header_end], original[..e.header_end]);

    // And the skeleton is itself a capture: one allocation per nonzero stack, in order.
    let again = tally(&t.skeleton).unwrap();
    let nonzero: Vec<u64> = t
        .stacks
        .iter()
        .map(|s| s.stack)
        .filter(|&s| s != 0)
        .collect();
    assert_eq!(
        again.stacks.iter().map(|s| s.stack).collect::<Vec<_>>(),
        nonzero
    );
    assert!(again.stacks.iter().all(|s| s.allocations == 1));
}

// ---------------------------------------------------------------- what is refused

#[test]
fn other_versions_formats_and_compression_are_unsupported_not_corrupt() {
    let mut w = Writer::new(12, 0, true);
    w.alloc(1, 8, MALLOC, 0, 1);
    let e = tally(&w.finish()).unwrap_err();
    assert!(
        matches!(&e, ReadError::Unsupported(m) if m.contains("version 12")),
        "{e}"
    );

    let e = tally(&Writer::new(HEADER_VERSION, 1, true).finish()).unwrap_err();
    assert!(
        matches!(&e, ReadError::Unsupported(m) if m.contains("format 1")),
        "{e}"
    );

    let e = tally(&[0x04, 0x22, 0x4D, 0x18, 0x60, 0x40]).unwrap_err();
    assert!(
        matches!(&e, ReadError::Unsupported(m) if m.contains("lz4")),
        "{e}"
    );
}

#[test]
fn not_a_capture_is_corrupt() {
    assert!(corrupt_rule(b"").contains("magic"));
    assert!(corrupt_rule(b"PK\x03\x04 a zip file").contains("magic"));
}

#[test]
fn every_truncation_is_an_error_naming_where() {
    let mut w = capture();
    w.code_object(1, "f", "/f.py", 1, &[9, 9]);
    w.mappings(&[("/lib/a.so", 0x7000, &[(0, 0x1000)])]);
    w.trace(0x7010, 0);
    w.alloc(1, 0x1000, CALLOC, 1, 300);
    w.memory(1 << 33, 7);
    w.alloc(1, 0x1000, FREE, 0, 0);
    let whole = w.finish();
    let end = whole.iter().rposition(|&b| b != 0).unwrap(); // the trailer
    for cut in 0..end {
        let e = tally(&whole[..cut]).unwrap_err();
        assert!(matches!(e, ReadError::Corrupt { .. }), "cut at {cut}: {e}");
    }
    assert!(corrupt_rule(&whole[..end]).contains("without memray's trailer"));
}

#[test]
fn broken_records_are_errors_with_their_rule() {
    let broken = |f: &dyn Fn(&mut Writer)| {
        let mut w = capture();
        f(&mut w);
        corrupt_rule(&w.finish())
    };
    assert!(broken(&|w| w.bytes.push(3)).contains("unknown record type 0x03"));
    assert!(broken(&|w| w.bytes.push(8)).contains("unknown record type 0x08")); // a segment on its own
    assert!(broken(&|w| w.bytes.push(0)).contains("zero byte"));
    assert!(
        broken(&|w| w.bytes.extend_from_slice(&[0x80 | (15 << 3) | 6, 2, 2]))
            .contains("context switch")
    );
    assert!(broken(&|w| {
        w.switch(1);
        w.bytes.extend_from_slice(&[0x80 | (15 << 3), 2, 16]); // allocator byte 16
    })
    .contains("unknown allocator 16"));
    assert!(broken(&|w| w.alloc(1, 8, MALLOC, 5, 1))
        .contains("native stack id 5 before its trace record"));
    assert!(broken(&|w| w.trace(1, 3)).contains("parent 3"));
    assert!(broken(&|w| {
        w.switch(1);
        w.bytes.push(0x40);
        w.bytes.extend_from_slice(&[0xff; 11]);
    })
    .contains("longer than 64 bits"));
    assert!(broken(&|w| {
        w.bytes
            .extend_from_slice(&[7, b'a', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6]);
    })
    .contains("not followed by its segments"));
    let mut w = capture();
    w.bytes.push(1);
    w.bytes.push(2);
    assert!(corrupt_rule(&w.bytes).contains("after memray's trailer"));
}

#[test]
fn damaged_captures_never_panic() {
    let mut w = capture();
    w.mappings(&[("/lib/a.so", 0x7000, &[(0, 0x1000)])]);
    for i in 0..30 {
        w.trace(0x7000 + i, i);
        w.alloc(
            1 + i % 2,
            0x1000 + 8 * i,
            [MALLOC, CALLOC, MMAP, PYMALLOC_MALLOC][i as usize % 4],
            i,
            9,
        );
        w.code_object(i, "f", "/f.py", 3, &[1, 2]);
    }
    let whole = w.finish();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..3000 {
        let mut damaged = whole.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(damaged.len() as u64) as usize;
            damaged[at] = rng.next() as u8;
        }
        let _ = tally(&damaged); // Ok or Err, never a panic or an out-of-bounds read
    }
}

// ---------------------------------------------------------------- the C ABI

fn last_error() -> String {
    // SAFETY: the library's own NUL-terminated thread-local string.
    unsafe { std::ffi::CStr::from_ptr(evb_memray_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_header_declares_the_codes_and_version_the_library_uses() {
    let header = include_str!("../include/evb_memray.h");
    let defined = |name: &str| -> i64 {
        let line = header
            .lines()
            .find(|l| l.starts_with(&format!("#define {name} ")))
            .unwrap_or_else(|| panic!("{name} is not in the header"));
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    };
    for (name, value) in [
        ("EVB_MEMRAY_OK", EVB_MEMRAY_OK),
        ("EVB_MEMRAY_UNSUPPORTED", EVB_MEMRAY_UNSUPPORTED),
        ("EVB_MEMRAY_CORRUPT", EVB_MEMRAY_CORRUPT),
        ("EVB_MEMRAY_IO", EVB_MEMRAY_IO),
        ("EVB_MEMRAY_ARGUMENT", EVB_MEMRAY_ARGUMENT),
        ("EVB_MEMRAY_PANIC", EVB_MEMRAY_PANIC),
        ("EVB_MEMRAY_HEADER_VERSION", HEADER_VERSION),
    ] {
        assert_eq!(defined(name), i64::from(value), "{name}");
    }
    assert!(header.contains("uint64_t stack;") && std::mem::size_of::<StackCount>() == 24);
}

#[test]
fn a_buffer_and_a_file_read_the_same_through_the_abi() {
    let mut w = capture();
    w.trace(1, 0);
    w.alloc(1, 8, MALLOC, 1, 1);
    w.alloc(1, 16, MALLOC, 0, 1);
    let bytes = w.finish();
    let path = std::env::temp_dir().join(format!("evb-memray-test-{}.bin", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut from_file = std::ptr::null_mut();
    let mut from_buffer = std::ptr::null_mut();
    // SAFETY: valid pointers; each tally freed once below.
    unsafe {
        assert_eq!(
            evb_memray_tally_file(c_path.as_ptr(), &mut from_file),
            EVB_MEMRAY_OK
        );
        assert_eq!(
            evb_memray_tally_buffer(bytes.as_ptr(), bytes.len(), &mut from_buffer),
            EVB_MEMRAY_OK
        );
        for t in [from_file, from_buffer] {
            assert_eq!(evb_memray_tally_records(t), 2);
            let mut n = 0usize;
            let stacks = std::slice::from_raw_parts(evb_memray_tally_stacks(t, &mut n), n);
            assert_eq!(stacks, [stack(1, 1, 1), stack(0, 1, 1)]);
            let mut len = 0usize;
            let skeleton = std::slice::from_raw_parts(evb_memray_tally_skeleton(t, &mut len), len);
            assert_eq!(tally(skeleton).unwrap().stacks, [stack(1, 1, 1)]);
            evb_memray_tally_free(t);
        }
    }
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn failures_set_a_code_a_message_and_no_tally() {
    let mut out = 1usize as *mut crate::capture::Tally; // overwritten with null on failure
    let missing = std::ffi::CString::new("/nonexistent/evb-capture").unwrap();
    // SAFETY: valid pointers throughout; nothing to free on failure.
    unsafe {
        assert_eq!(
            evb_memray_tally_file(missing.as_ptr(), &mut out),
            EVB_MEMRAY_IO
        );
        assert!(out.is_null());
        assert!(
            last_error().contains("cannot read /nonexistent/evb-capture"),
            "{}",
            last_error()
        );

        assert_eq!(
            evb_memray_tally_file(std::ptr::null(), &mut out),
            EVB_MEMRAY_ARGUMENT
        );
        assert_eq!(last_error(), "path is null");
        assert_eq!(
            evb_memray_tally_buffer(std::ptr::null(), 3, &mut out),
            EVB_MEMRAY_ARGUMENT
        );
        assert_eq!(
            evb_memray_tally_buffer(b"x".as_ptr(), 1, std::ptr::null_mut()),
            EVB_MEMRAY_ARGUMENT
        );
        assert_eq!(last_error(), "out_tally is null");

        assert_eq!(
            evb_memray_tally_buffer(std::ptr::null(), 0, &mut out),
            EVB_MEMRAY_CORRUPT
        );
        assert!(last_error().starts_with("record at byte 0: not a memray capture"));
        let old = Writer::new(11, 0, true).finish();
        assert_eq!(
            evb_memray_tally_buffer(old.as_ptr(), old.len(), &mut out),
            EVB_MEMRAY_UNSUPPORTED
        );
        assert!(last_error().contains("version 11"));
        assert!(out.is_null());

        // Accessors and free take null without harm.
        let mut n = 7usize;
        assert_eq!(evb_memray_tally_records(std::ptr::null()), 0);
        evb_memray_tally_stacks(std::ptr::null(), &mut n);
        assert_eq!(n, 0);
        evb_memray_tally_free(std::ptr::null_mut());
    }
}
