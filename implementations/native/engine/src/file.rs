//! The event file's header: version 1 (SPEC §2: scenario `synthetic`, 32 bytes) and
//! version 2 (SPEC §7: it names its scenario, 64 bytes), with the harness's messages.
//! Header rules come first, then the file's size, then the records.

use crate::scenario::{u32_at, u64_at, Invalid, Scenario};
use crate::stream::{check_n_keys, validate};

pub const MAGIC: &[u8; 8] = b"EVTSTRM1";
pub const HEADER_V1_SIZE: usize = 32;
pub const HEADER_V2_SIZE: usize = 64;
const NAME_AT: usize = 32;
const NAME_SIZE: usize = 24;

/// A whole event file of scenario `S`: `(n_keys, n_events)` if the header, the size and
/// every record keep the rules.
pub fn validate_file<S: Scenario>(file: &[u8]) -> Result<(u32, u64), Invalid> {
    let (n_keys, n_events, header_size) = parse_header::<S>(file)?;
    validate::<S>(&file[header_size..], n_keys, 0, None)?;
    Ok((n_keys, n_events))
}

/// Checks the header and the file's size: `(n_keys, n_events, header size)`.
pub fn parse_header<S: Scenario>(file: &[u8]) -> Result<(u32, u64, usize), Invalid> {
    let header = |rule: String| Invalid::new("header", rule);
    if file.len() < HEADER_V1_SIZE {
        return Err(header(format!(
            "file is {} bytes, shorter than the {HEADER_V1_SIZE}-byte header",
            file.len()
        )));
    }
    let magic = &file[0..8];
    if magic != MAGIC {
        return Err(header(format!(
            "magic is {}, must be b'EVTSTRM1'",
            python_bytes_repr(magic)
        )));
    }
    let (n_keys, n_events, header_size) = match u32_at(file, 8) {
        1 => parse_v1::<S>(file)?,
        2 => parse_v2::<S>(file)?,
        version => return Err(header(format!("version is {version}, must be 1 or 2"))),
    };
    let expected = header_size as u128 + S::RECORD_SIZE as u128 * n_events as u128;
    if file.len() as u128 != expected {
        return Err(Invalid::new(
            "size",
            format!(
                "file is {} bytes; a header of {n_events} events needs exactly {expected}",
                file.len()
            ),
        ));
    }
    Ok((n_keys, n_events, header_size))
}

fn parse_v1<S: Scenario>(file: &[u8]) -> Result<(u32, u64, usize), Invalid> {
    let n_keys = u32_at(file, 12);
    check_n_keys(n_keys as u64)?;
    let reserved = u64_at(file, 24);
    if reserved != 0 {
        return Err(Invalid::new(
            "header",
            format!("reserved field is {reserved}, must be 0"),
        ));
    }
    if !S::READS_VERSION_1_FILES {
        return Err(Invalid::new(
            "scenario",
            format!(
                "a version-1 file is scenario synthetic; this library handles {}",
                S::NAME
            ),
        ));
    }
    Ok((n_keys, u64_at(file, 16), HEADER_V1_SIZE))
}

fn parse_v2<S: Scenario>(file: &[u8]) -> Result<(u32, u64, usize), Invalid> {
    if file.len() < HEADER_V2_SIZE {
        return Err(Invalid::new(
            "header",
            format!(
                "file is {} bytes, shorter than the {HEADER_V2_SIZE}-byte version-2 header",
                file.len()
            ),
        ));
    }
    let n_keys = u32_at(file, 12);
    check_n_keys(n_keys as u64)?;
    let raw_name = &file[NAME_AT..NAME_AT + NAME_SIZE];
    let length = raw_name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let name = &raw_name[..length];
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    if name.is_empty() || !name.iter().all(allowed) {
        return Err(Invalid::new(
            "header",
            format!(
                "scenario name {} must be 1-24 of a-z, 0-9 and '-', then NUL bytes only",
                python_bytes_repr(raw_name)
            ),
        ));
    }
    if name != S::NAME.as_bytes() {
        return Err(Invalid::new(
            "scenario",
            format!(
                "the file is scenario {}; this library handles {}",
                String::from_utf8_lossy(name),
                S::NAME
            ),
        ));
    }
    let record_size = u32_at(file, 24);
    if record_size as usize != S::RECORD_SIZE {
        return Err(Invalid::new(
            "record_size",
            format!(
                "{record_size} bytes, but a record of {} is {}",
                S::NAME,
                S::RECORD_SIZE
            ),
        ));
    }
    let version = u32_at(file, 28);
    if version != S::VERSION {
        return Err(Invalid::new(
            "scenario_version",
            format!(
                "{} version {version} is not the one this eventbench knows ({})",
                S::NAME,
                S::VERSION
            ),
        ));
    }
    let reserved = u64_at(file, 56);
    if reserved != 0 {
        return Err(Invalid::new(
            "header",
            format!("reserved field is {reserved}, must be 0"),
        ));
    }
    Ok((n_keys, u64_at(file, 16), HEADER_V2_SIZE))
}

/// The Python spelling of a bytes literal (`repr(bytes)`), so both sides print the same bytes.
pub fn python_bytes_repr(bytes: &[u8]) -> String {
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
