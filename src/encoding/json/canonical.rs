//! The streaming canonicaliser: what [`parse`](super::parse) followed by the writer writes for
//! a body, without building the value.

use super::write::{write_str, write_utf8, ESCAPE};

/// Why [`canonicalize`] gave up: the body is not JSON, or it holds something left to
/// [`parse`](super::parse) (a lone surrogate, a key serde_json treats specially, deep nesting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotCanonical {
    /// Where in the input.
    pub offset: usize,
}

impl std::fmt::Display for NotCanonical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not canonicalized (offset {})", self.offset)
    }
}

impl std::error::Error for NotCanonical {}

/// serde_json's nesting limit: a document nested deeper does not parse.
const MAX_DEPTH: usize = 127;

/// Keys serde_json's `Value` deserializer reads as something other than a map key.
const SERDE_PRIVATE_KEY: &[u8] = b"$serde_json::private::";

/// Appends to `out` exactly what [`parse`](super::parse) followed by
/// [`write_value`](super::write_value) writes for `input`, without building the value: members
/// sorted by key (a repeated key keeps its last value), strings re-escaped by the writer's own
/// escaping, numbers as sent, no whitespace.
///
/// Every document `parse` rejects is rejected here too; a few it accepts are also rejected
/// (see [`NotCanonical`]), so a caller falls back to `parse` on any error. On error `out` is
/// left as it was.
pub fn canonicalize(input: &[u8], out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
    }
    let len = out.len();
    out.reserve(input.len());
    let result = SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            let r = Canon::run(input, out, &mut scratch);
            scratch.reset();
            r
        }
        Err(_) => Canon::run(input, out, &mut Scratch::default()),
    });
    if result.is_err() {
        out.truncate(len);
    }
    result
}

/// What [`canonicalize`] writes for a body that is an object, wrapped as
/// `{"<group>":<object>}` when there is a group; `None` for anything else.
pub fn canonical_object(body: &[u8], group: Option<&str>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 8);
    if let Some(group) = group {
        out.push(b'{');
        write_str(&mut out, group);
        out.push(b':');
    }
    let start = out.len();
    canonicalize(body, &mut out).ok()?;
    if out.get(start) != Some(&b'{') {
        return None;
    }
    if group.is_some() {
        out.push(b'}');
    }
    Some(out)
}

/// Buffers reused from one document to the next.
#[derive(Default)]
struct Scratch {
    /// The members of the objects being read, innermost last.
    members: Vec<Member>,
    /// Keys that had escapes, decoded.
    keys: Vec<u8>,
    /// A string value that had escapes, decoded.
    text: Vec<u8>,
    /// The members of an object being sorted.
    tmp: Vec<u8>,
}

impl Scratch {
    /// Empties the buffers, dropping any that grew past what is worth keeping.
    fn reset(&mut self) {
        const KEEP: usize = 256 << 10;
        self.members.clear();
        self.keys.clear();
        self.text.clear();
        self.tmp.clear();
        if self.tmp.capacity() > KEEP
            || self.text.capacity() > KEEP
            || self.keys.capacity() > KEEP
            || self.members.capacity() > KEEP / std::mem::size_of::<Member>()
        {
            *self = Scratch::default();
        }
    }
}

/// One object member already written to the output (word-sized fields only: they are
/// written and read back right away).
#[derive(Clone, Copy)]
struct Member {
    /// The key's first eight bytes, big-endian and zero-padded: orders most keys without
    /// looking further.
    prefix: u64,
    /// The decoded key: a range of the input, or of `Scratch::keys` when `decoded`.
    key_start: usize,
    key_end: usize,
    decoded: usize,
    /// `"key":value` in the output.
    start: usize,
    end: usize,
}

#[inline]
fn key_prefix(key: &[u8]) -> u64 {
    match key.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => key
            .iter()
            .enumerate()
            .fold(0, |p, (i, &b)| p | u64::from(b) << (56 - 8 * i)),
    }
}

fn member_key<'a>(input: &'a [u8], keys: &'a [u8], m: &Member) -> &'a [u8] {
    if m.decoded != 0 {
        &keys[m.key_start..m.key_end]
    } else {
        &input[m.key_start..m.key_end]
    }
}

/// Byte order of the keys, as a sorted map of strings has them.
#[inline]
fn key_order(input: &[u8], keys: &[u8], a: &Member, b: &Member) -> std::cmp::Ordering {
    a.prefix
        .cmp(&b.prefix)
        .then_with(|| member_key(input, keys, a).cmp(member_key(input, keys, b)))
}

/// A string read from the input: `start..end` of the input, or of the buffer it was decoded
/// into (word-sized fields only: it is returned and read back right away).
#[derive(Clone, Copy)]
struct Str {
    start: usize,
    end: usize,
    kind: usize,
}

/// No escapes, nothing the writer escapes, ASCII: written as it is, quoted.
const STR_PLAIN: usize = 0;
/// No escapes, ASCII.
const STR_ASCII: usize = 1;
/// No escapes, not checked as UTF-8 yet.
const STR_RAW: usize = 2;
/// Had escapes: decoded (valid UTF-8) into the buffer given.
const STR_DECODED: usize = 3;

/// Byte classes for reading strings, from the writer's [`ESCAPE`] table.
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const CONTROL: u8 = 3;
const NON_ASCII: u8 = 4;
const ESCAPED: u8 = 5;

static CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b == b'"' as usize {
            QUOTE
        } else if b == b'\\' as usize {
            BACKSLASH
        } else if b < 0x20 {
            CONTROL
        } else if b >= 0x80 {
            NON_ASCII
        } else if ESCAPE[b] != 0 {
            ESCAPED
        } else {
            PLAIN
        };
        b += 1;
    }
    t
};

struct Canon<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Canon<'a> {
    fn run(input: &'a [u8], out: &mut Vec<u8>, scratch: &mut Scratch) -> Result<(), NotCanonical> {
        let mut c = Canon {
            input,
            pos: 0,
            depth: 0,
        };
        c.value(out, scratch)?;
        c.skip_ws();
        if c.pos != input.len() {
            return Err(c.fail());
        }
        Ok(())
    }

    fn fail(&self) -> NotCanonical {
        NotCanonical { offset: self.pos }
    }

    /// After an array item or object member: a `,` (written, more follow) or the `close`
    /// byte (true: the container ends).
    fn item_end(&mut self, out: &mut Vec<u8>, close: u8) -> Result<bool, NotCanonical> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                out.push(b',');
                Ok(false)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.fail()),
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.input.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn value(&mut self, out: &mut Vec<u8>, s: &mut Scratch) -> Result<(), NotCanonical> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(out, s),
            Some(b'[') => self.array(out, s),
            Some(b'"') => {
                self.pos += 1;
                let start = s.text.len();
                let read = scan_string(self.input, &mut self.pos, &mut s.text)?;
                write_string(out, self.input, &s.text, read)?;
                s.text.truncate(start);
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(out),
            Some(b't') => self.literal(out, b"true"),
            Some(b'f') => self.literal(out, b"false"),
            Some(b'n') => self.literal(out, b"null"),
            _ => Err(self.fail()),
        }
    }

    fn literal(&mut self, out: &mut Vec<u8>, word: &[u8]) -> Result<(), NotCanonical> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            out.extend_from_slice(word);
            Ok(())
        } else {
            Err(self.fail())
        }
    }

    /// A number, copied as sent once checked against JSON's grammar.
    fn number(&mut self, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
        let input = self.input;
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while input.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        if input.get(i) == Some(&b'-') {
            i += 1;
        }
        match input.get(i) {
            Some(b'0') => {
                i += 1;
                if input.get(i).is_some_and(u8::is_ascii_digit) {
                    self.pos = i;
                    return Err(self.fail());
                }
            }
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => {
                self.pos = i;
                return Err(self.fail());
            }
        }
        if input.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.fail());
            }
        }
        if let Some(b'e' | b'E') = input.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = input.get(i) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.fail());
            }
        }
        self.pos = i;
        out.extend_from_slice(&input[start..i]);
        Ok(())
    }

    fn enter(&mut self) -> Result<(), NotCanonical> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail());
        }
        self.pos += 1;
        Ok(())
    }

    fn array(&mut self, out: &mut Vec<u8>, s: &mut Scratch) -> Result<(), NotCanonical> {
        self.enter()?;
        out.push(b'[');
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.value(out, s)?;
                if self.item_end(out, b']')? {
                    break;
                }
            }
        }
        out.push(b']');
        self.depth -= 1;
        Ok(())
    }

    /// Members are written as they come; when a key is not greater than the one before
    /// (out of order, or repeated), the members are sorted once the object ends.
    fn object(&mut self, out: &mut Vec<u8>, s: &mut Scratch) -> Result<(), NotCanonical> {
        self.enter()?;
        out.push(b'{');
        let body = out.len();
        let base = s.members.len();
        let keys_base = s.keys.len();
        let mut sorted = true;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push(b'}');
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.fail());
            }
            self.pos += 1;
            let start = out.len();
            let read = scan_string(self.input, &mut self.pos, &mut s.keys)?;
            if read.kind == STR_PLAIN && self.peek() == Some(b':') {
                // `"key":` as it came
                out.extend_from_slice(&self.input[read.start - 1..=self.pos]);
                self.pos += 1;
            } else {
                write_string(out, self.input, &s.keys, read)?;
                self.skip_ws();
                if self.peek() != Some(b':') {
                    return Err(self.fail());
                }
                self.pos += 1;
                out.push(b':');
            }
            let decoded = usize::from(read.kind == STR_DECODED);
            let k = if decoded != 0 {
                &s.keys[read.start..read.end]
            } else {
                &self.input[read.start..read.end]
            };
            if k.first() == Some(&b'$') && k.starts_with(SERDE_PRIVATE_KEY) {
                return Err(self.fail());
            }
            let prefix = key_prefix(k);
            if sorted {
                if let Some(prev) = s.members[base..].last() {
                    sorted = prev.prefix < prefix
                        || (prev.prefix == prefix && member_key(self.input, &s.keys, prev) < k);
                }
            }
            let index = s.members.len();
            s.members.push(Member {
                prefix,
                key_start: read.start,
                key_end: read.end,
                decoded,
                start,
                end: 0,
            });
            // an object in the value pushes its members after this one, and drops them
            self.value(out, s)?;
            s.members[index].end = out.len();
            if self.item_end(out, b'}')? {
                break;
            }
        }
        if !sorted {
            let Scratch {
                members, keys, tmp, ..
            } = s;
            let input = self.input;
            let members = &mut members[base..];
            // by key, then input order: the last of equal keys is the one kept
            members
                .sort_unstable_by(|a, b| key_order(input, keys, a, b).then(a.start.cmp(&b.start)));
            tmp.clear();
            tmp.extend_from_slice(&out[body..]);
            out.truncate(body);
            let mut first = true;
            for (i, m) in members.iter().enumerate() {
                if members
                    .get(i + 1)
                    .is_some_and(|next| key_order(input, keys, m, next).is_eq())
                {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(&tmp[m.start - body..m.end - body]);
            }
        }
        out.push(b'}');
        s.members.truncate(base);
        s.keys.truncate(keys_base);
        self.depth -= 1;
        Ok(())
    }
}

/// Writes a string read by [`scan_string`] (`decoded` is the buffer it decoded into).
#[inline]
fn write_string(
    out: &mut Vec<u8>,
    input: &[u8],
    decoded: &[u8],
    read: Str,
) -> Result<(), NotCanonical> {
    let Str { start, end, kind } = read;
    match kind {
        // the quotes around it included
        STR_PLAIN => out.extend_from_slice(&input[start - 1..=end]),
        STR_ASCII => write_utf8(out, &input[start..end]),
        STR_RAW => write_str(out, utf8(input, start, end)?),
        _ => write_utf8(out, &decoded[start..end]),
    }
    Ok(())
}

fn utf8(input: &[u8], a: usize, b: usize) -> Result<&str, NotCanonical> {
    std::str::from_utf8(&input[a..b]).map_err(|e| NotCanonical {
        offset: a + e.valid_up_to(),
    })
}

/// Reads a string whose opening quote is behind `pos`, leaving `pos` after the closing one.
/// A string with escapes is decoded onto the end of `buf`.
#[inline(always)]
fn scan_string(input: &[u8], pos: &mut usize, buf: &mut Vec<u8>) -> Result<Str, NotCanonical> {
    let start = *pos;
    let mut i = start;
    let mut kind = STR_PLAIN;
    loop {
        while input.get(i).is_some_and(|&b| CLASS[b as usize] == PLAIN) {
            i += 1;
        }
        match input.get(i).map(|&b| CLASS[b as usize]) {
            Some(QUOTE) => {
                *pos = i + 1;
                return Ok(Str {
                    start,
                    end: i,
                    kind,
                });
            }
            Some(BACKSLASH) => return decode_string(input, start, i, pos, buf),
            Some(NON_ASCII) => kind = STR_RAW,
            Some(ESCAPED) => kind = kind.max(STR_ASCII),
            _ => return Err(NotCanonical { offset: i }),
        }
        i += 1;
    }
}

/// The rest of [`scan_string`] from the first backslash (at `i`) on.
#[cold]
fn decode_string(
    input: &[u8],
    start: usize,
    mut i: usize,
    pos: &mut usize,
    buf: &mut Vec<u8>,
) -> Result<Str, NotCanonical> {
    let from = buf.len();
    let mut chunk = start;
    let fail = |offset| NotCanonical { offset };
    loop {
        match input.get(i) {
            Some(b'"') => {
                buf.extend_from_slice(utf8(input, chunk, i)?.as_bytes());
                *pos = i + 1;
                return Ok(Str {
                    start: from,
                    end: buf.len(),
                    kind: STR_DECODED,
                });
            }
            Some(b'\\') => {
                buf.extend_from_slice(utf8(input, chunk, i)?.as_bytes());
                let c = match input.get(i + 1) {
                    Some(b'"') => '"',
                    Some(b'\\') => '\\',
                    Some(b'/') => '/',
                    Some(b'b') => '\u{8}',
                    Some(b'f') => '\u{c}',
                    Some(b'n') => '\n',
                    Some(b'r') => '\r',
                    Some(b't') => '\t',
                    Some(b'u') => {
                        let hi = hex4(input, i + 2).ok_or(fail(i))?;
                        let code = match hi {
                            0xD800..=0xDBFF => {
                                if input.get(i + 6) != Some(&b'\\')
                                    || input.get(i + 7) != Some(&b'u')
                                {
                                    return Err(fail(i));
                                }
                                let lo = hex4(input, i + 8).ok_or(fail(i))?;
                                if !(0xDC00..=0xDFFF).contains(&lo) {
                                    return Err(fail(i));
                                }
                                i += 6;
                                0x10000
                                    + ((u32::from(hi) - 0xD800) << 10)
                                    + (u32::from(lo) - 0xDC00)
                            }
                            0xDC00..=0xDFFF => return Err(fail(i)),
                            _ => u32::from(hi),
                        };
                        i += 4;
                        char::from_u32(code).ok_or(fail(i))?
                    }
                    _ => return Err(fail(i)),
                };
                let mut utf8_buf = [0u8; 4];
                buf.extend_from_slice(c.encode_utf8(&mut utf8_buf).as_bytes());
                i += 2;
                chunk = i;
            }
            Some(0..=0x1f) | None => return Err(fail(i)),
            Some(_) => i += 1,
        }
    }
}

fn hex4(input: &[u8], at: usize) -> Option<u16> {
    let digits = input.get(at..at + 4)?;
    let mut n = 0u16;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | u16::from(v);
    }
    Some(n)
}
