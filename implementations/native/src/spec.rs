//! The SPEC's data and arithmetic: the event record (§1), the `.evts` header (§2),
//! validation with the same messages as the Python side, `mix` and the digest (§3).

use std::fmt;

pub const RECORD_SIZE: usize = 32;
pub const HEADER_SIZE: usize = 32;
pub const MAGIC: &[u8; 8] = b"EVTSTRM1";
pub const VERSION: u32 = 1;
pub const MAX_KEYS: u32 = 16_777_216;

pub const UPDATE: u8 = 0;
pub const COMPUTE: u8 = 1;
pub const BLOCK: u8 = 2;
pub const AGGREGATE: u8 = 3;

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer, as SPEC §3 writes it (all arithmetic modulo 2^64).
#[inline(always)]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One event, decoded from its 32 little-endian bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub arrival_ns: u64,
    pub value: u64,
    pub key: u32,
    pub kind: u8,
    pub flags: u8,
    pub work: u16,
}

impl Event {
    /// Decodes one record. Byte-wise, so the buffer needs no particular alignment.
    #[inline(always)]
    pub fn decode(record: &[u8]) -> Event {
        let u64_at = |at: usize| u64::from_le_bytes(record[at..at + 8].try_into().unwrap());
        Event {
            seq: u64_at(0),
            arrival_ns: u64_at(8),
            value: u64_at(16),
            key: u32::from_le_bytes(record[24..28].try_into().unwrap()),
            kind: record[28],
            flags: record[29],
            work: u16::from_le_bytes(record[30..32].try_into().unwrap()),
        }
    }

    pub fn encode(&self) -> [u8; RECORD_SIZE] {
        let mut out = [0u8; RECORD_SIZE];
        out[0..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..16].copy_from_slice(&self.arrival_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.value.to_le_bytes());
        out[24..28].copy_from_slice(&self.key.to_le_bytes());
        out[28] = self.kind;
        out[29] = self.flags;
        out[30..32].copy_from_slice(&self.work.to_le_bytes());
        out
    }
}

/// A broken SPEC rule: where (`header`, `size`, `record N`) and which rule.
/// `Display` gives `"<where>: <rule>"`, the text the Python side also produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub location: String,
    pub rule: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.rule)
    }
}

fn invalid(location: impl Into<String>, rule: impl Into<String>) -> Invalid {
    Invalid {
        location: location.into(),
        rule: rule.into(),
    }
}

pub fn check_n_keys(n_keys: u64) -> Result<(), Invalid> {
    if (1..=MAX_KEYS as u64).contains(&n_keys) {
        Ok(())
    } else {
        Err(invalid(
            "header",
            format!("n_keys {n_keys} is out of range 1..{MAX_KEYS}"),
        ))
    }
}

/// Checks a whole `.evts` image's header and size; returns `(n_keys, n_events)`.
pub fn parse_header(file: &[u8]) -> Result<(u32, u64), Invalid> {
    if file.len() < HEADER_SIZE {
        return Err(invalid(
            "header",
            format!(
                "file is {} bytes, shorter than the {HEADER_SIZE}-byte header",
                file.len()
            ),
        ));
    }
    let magic = &file[0..8];
    if magic != MAGIC {
        return Err(invalid(
            "header",
            format!("magic is {}, must be b'EVTSTRM1'", python_bytes_repr(magic)),
        ));
    }
    let version = u32::from_le_bytes(file[8..12].try_into().unwrap());
    if version != VERSION {
        return Err(invalid(
            "header",
            format!("version is {version}, must be {VERSION}"),
        ));
    }
    let n_keys = u32::from_le_bytes(file[12..16].try_into().unwrap());
    check_n_keys(n_keys as u64)?;
    let n_events = u64::from_le_bytes(file[16..24].try_into().unwrap());
    let reserved = u64::from_le_bytes(file[24..32].try_into().unwrap());
    if reserved != 0 {
        return Err(invalid(
            "header",
            format!("reserved field is {reserved}, must be 0"),
        ));
    }
    let expected = HEADER_SIZE as u128 + RECORD_SIZE as u128 * n_events as u128;
    if file.len() as u128 != expected {
        return Err(invalid(
            "size",
            format!(
                "file is {} bytes; a header of {n_events} events needs exactly {expected}",
                file.len()
            ),
        ));
    }
    Ok((n_keys, n_events))
}

/// The Python spelling of a bytes literal (`repr(bytes)`), so both sides print the same magic.
fn python_bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Checks every record rule of SPEC §1–2, `first_seq` being the first record's index
/// (non-zero for a streaming batch) and `previous_arrival` the arrival before it.
/// Reports the earliest broken record, and at one record the rules in the SPEC's order.
pub fn validate_records(
    records: &[u8],
    n_keys: u32,
    first_seq: u64,
    previous_arrival: Option<u64>,
) -> Result<(), Invalid> {
    if records.len() % RECORD_SIZE != 0 {
        return Err(invalid(
            "size",
            format!(
                "{} bytes is not a whole number of 32-byte records",
                records.len()
            ),
        ));
    }
    let mut previous = previous_arrival;
    for (i, record) in records.chunks_exact(RECORD_SIZE).enumerate() {
        let index = first_seq + i as u64;
        let e = Event::decode(record);
        let at = || format!("record {index}");
        if e.seq != index {
            return Err(invalid(
                at(),
                format!("seq is {}, must equal the record index {index}", e.seq),
            ));
        }
        if let Some(before) = previous {
            if e.arrival_ns < before {
                return Err(invalid(
                    at(),
                    format!(
                        "arrival_ns {} is before the previous record's {before} (arrival_ns must be non-decreasing)",
                        e.arrival_ns
                    ),
                ));
            }
        }
        if e.key >= n_keys {
            return Err(invalid(
                at(),
                format!("key {} must be < n_keys {n_keys}", e.key),
            ));
        }
        if e.kind > AGGREGATE {
            return Err(invalid(
                at(),
                format!(
                    "kind {} is not one of 0 update, 1 compute, 2 block, 3 aggregate",
                    e.kind
                ),
            ));
        }
        if e.flags != 0 {
            return Err(invalid(
                at(),
                format!("flags {} must be 0 (reserved)", e.flags),
            ));
        }
        previous = Some(e.arrival_ns);
    }
    Ok(())
}

/// The digest of a final state (SPEC §3).
pub fn digest(g: u64, states: &[u64], counts: &[u64], n_events: u64) -> u64 {
    let mut d = mix(g ^ n_events);
    for (s, c) in states.iter().zip(counts) {
        d = mix(d ^ s);
        d = mix(d ^ c);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_vectors() {
        assert_eq!(mix(0), 0xe220a8397b1dcdaf);
        assert_eq!(mix(1), 0x910a2dec89025cc1);
    }

    #[test]
    fn empty_stream_digest() {
        assert_eq!(digest(0, &[0], &[0], 0), 0x238275bc38fcbe91);
    }

    #[test]
    fn record_round_trip() {
        let e = Event {
            seq: 3,
            arrival_ns: 2000,
            value: u64::MAX,
            key: 1,
            kind: 2,
            flags: 0,
            work: 5,
        };
        assert_eq!(Event::decode(&e.encode()), e);
    }

    #[test]
    fn header_rules() {
        let mut file = Vec::from(&MAGIC[..]);
        file.extend(1u32.to_le_bytes());
        file.extend(2u32.to_le_bytes());
        file.extend(0u64.to_le_bytes());
        file.extend(0u64.to_le_bytes());
        assert_eq!(parse_header(&file), Ok((2, 0)));
        file[16] = 1;
        assert_eq!(
            parse_header(&file).unwrap_err().to_string(),
            "size: file is 32 bytes; a header of 1 events needs exactly 64"
        );
        file[0] = b'X';
        assert_eq!(
            parse_header(&file).unwrap_err().rule,
            "magic is b'XVTSTRM1', must be b'EVTSTRM1'"
        );
        assert!(parse_header(&file[..5])
            .unwrap_err()
            .rule
            .contains("shorter than the 32-byte header"));
    }

    #[test]
    fn record_rules_in_order() {
        let good = Event {
            seq: 0,
            arrival_ns: 10,
            value: 1,
            key: 0,
            kind: 0,
            flags: 0,
            work: 0,
        };
        let bad = Event {
            seq: 1,
            arrival_ns: 5,
            value: 1,
            key: 9,
            kind: 7,
            flags: 1,
            work: 0,
        };
        let bytes: Vec<u8> = [good, bad].iter().flat_map(|e| e.encode()).collect();
        let err = validate_records(&bytes, 4, 0, None).unwrap_err();
        assert_eq!(err.to_string(), "record 1: arrival_ns 5 is before the previous record's 10 (arrival_ns must be non-decreasing)");
        assert!(validate_records(&bytes[..32], 4, 0, None).is_ok());
        assert_eq!(
            validate_records(&bytes[..32], 4, 7, None).unwrap_err().rule,
            "seq is 0, must equal the record index 7"
        );
    }
}
