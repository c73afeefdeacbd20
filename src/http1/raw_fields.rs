//! A backend answer's header lines kept as they came, for a `no-op` answer nothing reads.

use bytes::Bytes;

use super::head::{field_line, Line};

/// Runs of header lines most backend heads split into around the fields a gateway drops.
const RAW_SEGMENTS: usize = 8;

/// A backend response's header lines kept as they came (`Name: value\r\n` each), for a
/// `no-op` answer nothing on its way reads or changes: the server writes them through instead
/// of a header map built and written again. The lines of the connection's own fields and of
/// `Content-Length` are left out (the server writes the body's own length).
#[derive(Clone, Debug)]
pub struct RawFields {
    head: Bytes,
    /// Byte ranges of `head` to write, each a run of whole lines.
    runs: [(u32, u32); RAW_SEGMENTS],
    count: usize,
    /// The backend's `Content-Length`, for the answers whose body is not sent (HEAD, 304).
    pub content_length: Option<u64>,
    pub has_date: bool,
    /// The gateway's own lines, written after the backend's (`X-Krakend-Completed`,
    /// `X-Krakend`): set once per endpoint, instead of two map entries per answer.
    pub gateway: Bytes,
}

impl RawFields {
    pub fn new(head: Bytes) -> RawFields {
        RawFields {
            head,
            runs: [(0, 0); RAW_SEGMENTS],
            count: 0,
            content_length: None,
            has_date: false,
            gateway: Bytes::new(),
        }
    }

    /// Adds the lines from `start` to `end`; `false` when there are too many runs.
    pub fn keep(&mut self, start: usize, end: usize) -> bool {
        if start >= end {
            return true;
        }
        if self.count > 0 && self.runs[self.count - 1].1 as usize == start {
            self.runs[self.count - 1].1 = end as u32;
            return true;
        }
        if self.count == RAW_SEGMENTS {
            return false;
        }
        self.runs[self.count] = (start as u32, end as u32);
        self.count += 1;
        true
    }

    /// The kept lines, in order, then the gateway's.
    pub fn runs(&self) -> impl Iterator<Item = &[u8]> {
        self.runs[..self.count]
            .iter()
            .map(|&(s, e)| &self.head[s as usize..e as usize])
            .chain(Some(&self.gateway[..]).filter(|g| !g.is_empty()))
    }

    /// Appends the kept fields (and the gateway's) to a header map, for a writer that only
    /// knows maps.
    pub fn append_to(&self, map: &mut http::HeaderMap) {
        let kept = self.runs[..self.count]
            .iter()
            .map(|run| self.head.slice(run.0 as usize..run.1 as usize));
        for run in kept.chain(Some(self.gateway.clone())) {
            // the kept lines are whole, clean field lines: the head scanner's reader reads them
            let mut at = 0;
            while let Some(Line::Field {
                name_end,
                value: (vs, ve),
                next,
                ..
            }) = field_line(&run, at)
            {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(&run[at..name_end]),
                    http::HeaderValue::from_maybe_shared(run.slice(vs..ve)),
                ) {
                    map.append(name, value);
                }
                at = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_keep_whole_lines_in_order() {
        let head = Bytes::from_static(
            b"Server: x\r\nContent-Length: 2\r\nDate: d\r\nConnection: close\r\nETag: \"e\"\r\n",
        );
        let mut raw = RawFields::new(head.clone());
        assert!(raw.keep(0, 11));
        assert!(raw.keep(30, 39));
        assert!(raw.keep(39, 39)); // nothing
        assert!(raw.keep(58, head.len()));
        let written: Vec<u8> = raw.runs().flatten().copied().collect();
        assert_eq!(written, b"Server: x\r\nDate: d\r\nETag: \"e\"\r\n");
        let mut map = http::HeaderMap::new();
        raw.append_to(&mut map);
        assert_eq!(map.len(), 3);
        assert_eq!(map["etag"], "\"e\"");
        assert_eq!(map["date"], "d");
        // adjacent lines make one run; past the limit, `keep` says no
        let mut raw = RawFields::new(Bytes::from_static(&[b'x'; 64]));
        assert!(raw.keep(0, 2) && raw.keep(2, 4));
        for i in 0..RAW_SEGMENTS - 1 {
            assert!(raw.keep(5 + 2 * i, 6 + 2 * i));
        }
        assert!(!raw.keep(40, 41));
    }
}
