//! The lines of a head: the first (request or status) line and the field lines, as positions
//! in the read buffer, for the server's and the backend client's parsers.

/// The bytes of a header name (RFC 9110 `token`).
pub static TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = matches!(i as u8,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        i += 1;
    }
    table
};

/// The position of the first `\n` in `buf` from `at`, eight bytes at a time.
fn find_nl(buf: &[u8], mut at: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = buf.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().ok()?) ^ (ONES * u64::from(b'\n'));
        let zero = word.wrapping_sub(ONES) & !word & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    buf[at..].iter().position(|b| *b == b'\n').map(|i| at + i)
}

/// The first line of a head (a request or status line), empty lines before it skipped: where
/// it starts, the line without its `\r`, and where the next line starts. `None` while it is
/// incomplete. Only whole empty lines (CRLF or LF, RFC 9112 §2.2) are skipped: a bare CR
/// stays, and the line that starts with it is malformed.
pub fn first_line(buf: &[u8]) -> Option<(usize, &[u8], usize)> {
    let start = empty_lines(buf)?;
    let eol = find_nl(buf, start)?;
    let line = &buf[start..eol];
    Some((start, line.strip_suffix(b"\r").unwrap_or(line), eol + 1))
}

/// How many bytes of empty lines (CRLF or LF) `buf` starts with; `None` when it ends in a CR
/// that may yet be one.
pub fn empty_lines(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        match &buf[at..] {
            [b'\n', ..] => at += 1,
            [b'\r', b'\n', ..] => at += 2,
            [b'\r'] => return None,
            _ => return Some(at),
        }
    }
}

/// One line of a head's field block, as positions in the buffer.
pub enum Line {
    /// The empty line that ends the head; the body starts at `next`.
    End { next: usize },
    /// `name: value`, the value without the spaces around it. `spaced`: spaces or tabs stand
    /// between the name and the colon. `crlf`: the line ends in `\r\n`.
    Field {
        name_end: usize,
        value: (usize, usize),
        next: usize,
        spaced: bool,
        crlf: bool,
    },
    /// A line that starts with a space or tab (obsolete folding): it goes on to `end`.
    Folded { end: usize, next: usize },
    /// No name, or no colon after it.
    Malformed,
}

/// Reads the field line that starts at `at`; `None` while it is incomplete. Inlined into each
/// head parser's loop, so the unused parts of `Line` cost nothing there.
#[inline(always)]
pub fn field_line(buf: &[u8], at: usize) -> Option<Line> {
    // the name: token bytes, then perhaps spaces before the colon
    let mut i = at;
    while buf.get(i).is_some_and(|b| TOKEN[usize::from(*b)]) {
        i += 1;
    }
    let name_end = i;
    while matches!(buf.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    let eol = find_nl(buf, i)?;
    let next = eol + 1;
    let crlf = eol > i && buf[eol - 1] == b'\r';
    let end = if crlf { eol - 1 } else { eol };
    if name_end == at {
        return Some(match (i == at, end == at) {
            (true, true) => Line::End { next },
            (true, false) => Line::Malformed,
            (false, _) => Line::Folded { end, next },
        });
    }
    if i == end || buf[i] != b':' {
        return Some(Line::Malformed);
    }
    let mut vs = i + 1;
    while vs < end && matches!(buf[vs], b' ' | b'\t') {
        vs += 1;
    }
    let mut ve = end;
    while ve > vs && matches!(buf[ve - 1], b' ' | b'\t') {
        ve -= 1;
    }
    Some(Line::Field {
        name_end,
        value: (vs, ve),
        next,
        spaced: i != name_end,
        crlf,
    })
}
