//! Offset tracking for event logs (issue #12): the complete lines written after a
//! remembered position, and whether the file at that path is still the one the position
//! refers to.
//!
//! Rules, in order, when a file is opened against its [`FilePosition`]:
//! 1. another device/inode at the path: the file was **replaced**; read from byte 0;
//! 2. shorter than the position: it was **truncated**; read from byte 0;
//! 3. its first `min(offset, 4096)` bytes hash differently: it was **rewritten** in place;
//!    read from byte 0;
//! 4. otherwise read on from the position.
//!
//! Reading again from byte 0 is safe: the server applies every event by identity
//! (SPEC 2.4), so what it already has is answered "already present" and stored once.
//! Only `\n`-terminated lines are returned: a half-written last line waits until the
//! writer finishes it. Reads never go past the size seen when the file was opened, so the
//! stamp saved with a position describes exactly the bytes it covers.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::position::{FileKind, FilePosition, FileStamp};

/// Bytes at the start of a file whose hash tells a rewritten file (rule 3).
pub const HEAD_BYTES: u64 = 4096;

/// Longest line kept, bytes: far above one event's 1 MB limit (SPEC 6); a longer line is
/// skipped (reported), never held in memory whole.
pub const MAX_LINE_BYTES: u64 = 8 * 1024 * 1024;

/// Why a file is read again from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reset {
    /// Another file (device/inode) now has the path.
    Replaced,
    /// The file is shorter than the position.
    Truncated,
    /// The file's first bytes changed.
    Rewritten,
}

impl Reset {
    /// `replaced`, `truncated`, `rewritten`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reset::Replaced => "replaced",
            Reset::Truncated => "truncated",
            Reset::Rewritten => "rewritten",
        }
    }
}

/// One complete line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub number: u64,
    /// Byte offset just after its `\n`.
    pub end: u64,
    /// The text without `\n` (and a `\r` before it); empty when [`Line::too_long`].
    pub text: Vec<u8>,
    /// Longer than [`MAX_LINE_BYTES`]: skipped, text not kept.
    pub too_long: bool,
}

/// An event log opened at its position.
#[derive(Debug)]
pub struct Tail {
    file: File,
    /// The open file's stamp (reads stop at its `len`).
    pub stamp: FileStamp,
    /// Set when the position did not apply to this file any more.
    pub reset: Option<Reset>,
    /// Where reading starts (the position, or 0 after a reset).
    pub start: u64,
    /// Lines before `start`.
    pub start_line: u64,
    cursor: u64,
    cursor_line: u64,
}

/// SHA-256 (hex) of the first `min(upto, HEAD_BYTES)` bytes of `file`.
pub fn head_hash(file: &mut File, upto: u64) -> std::io::Result<String> {
    let n = upto.min(HEAD_BYTES);
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::with_capacity(n as usize);
    file.take(n).read_to_end(&mut buf)?;
    Ok(hex::encode(Sha256::digest(&buf)))
}

impl Tail {
    /// Opens `path` and decides where to read from, given its last position.
    ///
    /// Errors: the I/O error of opening or reading the file.
    pub fn open(path: &Path, pos: Option<&FilePosition>) -> std::io::Result<Tail> {
        let mut file = File::open(path)?;
        let stamp = FileStamp::of(&file.metadata()?);
        let (start, start_line, reset) = match pos.filter(|p| p.kind == FileKind::EventLog) {
            None => (0, 0, None),
            Some(p) if !p.stamp.same_file(&stamp) => (0, 0, Some(Reset::Replaced)),
            Some(p) if stamp.len < p.offset => (0, 0, Some(Reset::Truncated)),
            Some(p)
                if p.offset > 0 && p.head.as_deref() != Some(&head_hash(&mut file, p.offset)?) =>
            {
                (0, 0, Some(Reset::Rewritten))
            }
            Some(p) => (p.offset, p.line, None),
        };
        Ok(Tail {
            file,
            stamp,
            reset,
            start,
            start_line,
            cursor: start,
            cursor_line: start_line,
        })
    }

    /// The hash [`FilePosition::head`] records for a position at `offset` of this file.
    ///
    /// Errors: the I/O error of reading the file.
    pub fn head(&mut self, offset: u64) -> std::io::Result<Option<String>> {
        if offset == 0 {
            return Ok(None);
        }
        head_hash(&mut self.file, offset).map(Some)
    }

    /// The next complete lines after those already returned: at most `max_lines`, and
    /// no more bytes than `max_bytes` unless the first line alone is longer. Empty when
    /// no complete line follows (the rest, if any, is a line still being written).
    ///
    /// Errors: the I/O error of reading the file.
    pub fn next_lines(&mut self, max_lines: usize, max_bytes: u64) -> std::io::Result<Vec<Line>> {
        let mut out = Vec::new();
        if self.cursor >= self.stamp.len {
            return Ok(out);
        }
        self.file.seek(SeekFrom::Start(self.cursor))?;
        let mut reader = BufReader::new((&self.file).take(self.stamp.len - self.cursor));
        let mut taken: u64 = 0;
        while out.len() < max_lines.max(1) && (out.is_empty() || taken < max_bytes) {
            let mut buf = Vec::new();
            let n = (&mut reader)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut buf)? as u64;
            if n == 0 {
                break;
            }
            let (consumed, too_long) = if buf.last() == Some(&b'\n') {
                (n, false)
            } else if n > MAX_LINE_BYTES {
                // skip the rest of the over-long line, if it ends at all
                let mut rest = n;
                let mut ended = false;
                loop {
                    let chunk = reader.fill_buf()?;
                    if chunk.is_empty() {
                        break;
                    }
                    match chunk.iter().position(|b| *b == b'\n') {
                        Some(i) => {
                            reader.consume(i + 1);
                            rest += i as u64 + 1;
                            ended = true;
                            break;
                        }
                        None => {
                            let len = chunk.len();
                            reader.consume(len);
                            rest += len as u64;
                        }
                    }
                }
                if !ended {
                    break; // still being written: wait
                }
                (rest, true)
            } else {
                break; // a line still being written: wait for its `\n`
            };
            if too_long {
                buf.clear();
            } else {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            self.cursor += consumed;
            self.cursor_line += 1;
            taken += consumed;
            out.push(Line {
                number: self.cursor_line,
                end: self.cursor,
                text: buf,
                too_long,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn position_after(path: &Path, lines: &[Line]) -> FilePosition {
        let mut t = Tail::open(path, None).unwrap();
        let last = lines.last().unwrap();
        FilePosition {
            kind: FileKind::EventLog,
            stamp: t.stamp,
            offset: last.end,
            line: last.number,
            head: t.head(last.end).unwrap(),
            conversation_id: None,
            caught_up: true,
        }
    }

    #[test]
    fn only_complete_lines_and_a_half_written_one_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events_x.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\r\n{\"c\":").unwrap();
        let mut t = Tail::open(&path, None).unwrap();
        let lines = t.next_lines(100, 1 << 20).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, b"{\"a\":1}");
        assert_eq!(lines[1].text, b"{\"b\":2}");
        assert_eq!((lines[1].number, lines[1].end), (2, 17));
        assert!(t.next_lines(100, 1 << 20).unwrap().is_empty());
        let pos = position_after(&path, &lines);

        // the writer finishes the line and starts another
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"3}\n{\"d\"").unwrap();
        drop(f);
        let mut t = Tail::open(&path, Some(&pos)).unwrap();
        assert_eq!((t.reset, t.start, t.start_line), (None, 17, 2));
        let lines = t.next_lines(100, 1 << 20).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, b"{\"c\":3}");
        assert_eq!(lines[0].number, 3);
    }

    #[test]
    fn limits_split_the_lines_into_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let body: String = (0..10).map(|i| format!("line-{i}\n")).collect();
        std::fs::write(&path, body).unwrap();
        let mut t = Tail::open(&path, None).unwrap();
        let sizes: Vec<usize> = std::iter::from_fn(|| {
            let l = t.next_lines(4, 1 << 20).unwrap();
            (!l.is_empty()).then_some(l.len())
        })
        .collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        let mut t = Tail::open(&path, None).unwrap();
        // 7 bytes a line: a 10-byte budget takes two lines (the second crosses it)
        assert_eq!(t.next_lines(100, 10).unwrap().len(), 2);
    }

    #[test]
    fn replaced_truncated_and_rewritten_files_are_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        std::fs::write(&path, b"one\ntwo\n").unwrap();
        let lines = Tail::open(&path, None)
            .unwrap()
            .next_lines(10, 1 << 20)
            .unwrap();
        let pos = position_after(&path, &lines);

        std::fs::write(&path, b"on\n").unwrap(); // same inode, shorter
        let t = Tail::open(&path, Some(&pos)).unwrap();
        assert_eq!((t.reset, t.start), (Some(Reset::Truncated), 0));

        std::fs::write(&path, b"ONE\nTWO\nthree\n").unwrap(); // same inode, longer, new head
        let t = Tail::open(&path, Some(&pos)).unwrap();
        assert_eq!((t.reset, t.start), (Some(Reset::Rewritten), 0));

        let other = dir.path().join("new.jsonl");
        std::fs::write(&other, b"one\ntwo\nthree\n").unwrap();
        std::fs::rename(&other, &path).unwrap(); // a new inode at the path
        let t = Tail::open(&path, Some(&pos)).unwrap();
        #[cfg(unix)]
        assert_eq!((t.reset, t.start), (Some(Reset::Replaced), 0));
        #[cfg(not(unix))]
        assert_eq!((t.reset, t.start), (None, 8));
    }

    #[test]
    fn an_over_long_line_is_skipped_without_keeping_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        let mut body = vec![b'x'; MAX_LINE_BYTES as usize + 10];
        body.extend_from_slice(b"\nok\n");
        std::fs::write(&path, &body).unwrap();
        let mut t = Tail::open(&path, None).unwrap();
        let lines = t.next_lines(10, 1 << 30).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].too_long && lines[0].text.is_empty());
        assert_eq!(lines[1].text, b"ok");
        assert_eq!(lines[1].end, body.len() as u64);
    }
}
