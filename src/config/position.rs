//! Maps JSON paths (`endpoints[3].backend[0].url_pattern`) to `line:col` in the source text,
//! so semantic errors point at the value the user wrote. Runs only on text that already parsed.

use std::collections::HashMap;

/// Start positions (1-based line and column) of every value in a JSON document, by path.
#[derive(Debug, Default)]
pub struct PositionIndex {
    positions: HashMap<String, (usize, usize)>,
}

impl PositionIndex {
    pub fn build(text: &str) -> Self {
        let mut scanner = Scanner {
            bytes: text.as_bytes(),
            pos: 0,
            line: 1,
            col: 1,
            out: HashMap::new(),
        };
        scanner.value(String::new(), 0);
        PositionIndex {
            positions: scanner.out,
        }
    }

    /// The position of exactly `path`, when the text has it.
    pub fn get(&self, path: &str) -> Option<(usize, usize)> {
        self.positions.get(path).copied()
    }

    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(found) = self.positions.get(&p) {
                return Some(*found);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    col: usize,
    out: HashMap<String, (usize, usize)>,
}

impl Scanner<'_> {
    fn bump(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if b == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if b & 0xC0 != 0x80 {
            self.col += 1;
        }
        Some(b)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn string(&mut self) -> String {
        let mut raw = Vec::new();
        self.bump(); // opening quote
        while let Some(b) = self.bump() {
            match b {
                b'"' => break,
                b'\\' => {
                    raw.push(b'\\');
                    if let Some(n) = self.bump() {
                        raw.push(n);
                    }
                }
                _ => raw.push(b),
            }
        }
        let quoted = format!("\"{}\"", String::from_utf8_lossy(&raw));
        serde_json::from_str(&quoted).unwrap_or_default()
    }

    fn value(&mut self, path: String, depth: usize) {
        self.skip_ws();
        if depth > 128 {
            return;
        }
        self.out.insert(path.clone(), (self.line, self.col));
        match self.peek() {
            Some(b'{') => {
                self.bump();
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b'"') => {
                            let key = self.string();
                            self.skip_ws();
                            self.bump(); // ':'
                            let child = if path.is_empty() {
                                key
                            } else {
                                format!("{path}.{key}")
                            };
                            self.value(child, depth + 1);
                        }
                        Some(b',') => {
                            self.bump();
                        }
                        _ => {
                            self.bump();
                            break;
                        }
                    }
                }
            }
            Some(b'[') => {
                self.bump();
                let mut i = 0;
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b']') | None => {
                            self.bump();
                            break;
                        }
                        Some(b',') => {
                            self.bump();
                        }
                        _ => {
                            self.value(format!("{path}[{i}]"), depth + 1);
                            i += 1;
                        }
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_positions() {
        let text = "{\n  \"version\": 3,\n  \"endpoints\": [\n    {\"endpoint\": \"/a\"}\n  ]\n}";
        let idx = PositionIndex::build(text);
        assert_eq!(idx.find("version"), Some((2, 14)));
        assert_eq!(idx.find("endpoints[0].endpoint"), Some((4, 18)));
        assert_eq!(idx.find("endpoints[0].backend"), Some((4, 5)));
    }
}
