//! The position file of `sync` (issue #12): for every file it has seen, how far it has
//! been sent, and how to tell that the file is still the same one.
//!
//! One JSON document per server (`<platform data dir>/agentpipe-web/sync/<server>.json`
//! by default):
//!
//! ```json
//! {"version": 1, "server": "http://localhost:3000",
//!  "files": {"/home/u/.agentpipe/events/events_<id>.jsonl":
//!            {"kind": "event-log", "dev": 2049, "inode": 1234, "offset": 8192, "line": 31,
//!             "len": 8300, "mtimeNs": 1764578400123456789, "head": "<sha256 hex>", ...}}}
//! ```
//!
//! It is replaced atomically after every acknowledged send (temporary file, fsync,
//! rename, directory fsync), so after a crash it says either the old or the new position,
//! never a torn one; a position only moves forward once the server answered 2xx, so a
//! restart misses nothing, and re-sends at most the one request that was in flight when
//! the process died (which the server recognises by identity, SPEC 2.4: stored once).
//!
//! One `sync` at a time per position file: an exclusive lock on `<file>.lock` is held for
//! as long as the [`PositionFile`] lives.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// What a file is synced as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// An AgentPipe CLI event log (`*.jsonl`, `*.ndjson`): sent incrementally, complete
    /// lines only (SPEC 3 shape 3).
    EventLog,
    /// A JSON file (a CLI state file, or upload shape 1 or 2): uploaded whole when its
    /// content changes.
    Json,
}

/// The identity and state of a file as `stat` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FileStamp {
    /// Device number (unix only).
    pub dev: Option<u64>,
    /// Inode number (unix only): a new inode at the same path is a replaced file.
    pub inode: Option<u64>,
    /// Size, bytes.
    pub len: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: Option<i64>,
}

impl FileStamp {
    /// The stamp of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (dev, inode) = {
            use std::os::unix::fs::MetadataExt;
            (Some(meta.dev()), Some(meta.ino()))
        };
        #[cfg(not(unix))]
        let (dev, inode) = (None, None);
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        FileStamp {
            dev,
            inode,
            len: meta.len(),
            mtime_ns,
        }
    }

    /// Whether `other` is the same file (device and inode; always true where the
    /// platform has no inodes).
    pub fn same_file(&self, other: &FileStamp) -> bool {
        self.dev == other.dev && self.inode == other.inode
    }
}

/// How far one file has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilePosition {
    /// How the file is synced.
    pub kind: FileKind,
    /// The file as last looked at (the offset below refers to this file).
    #[serde(flatten)]
    pub stamp: FileStamp,
    /// Event log: bytes acknowledged by the server (always just after a `\n`); JSON: 0.
    pub offset: u64,
    /// Event log: lines (`\n`-terminated) before `offset`, for line numbers in reports.
    pub line: u64,
    /// Event log: SHA-256 (hex) of the first `min(offset, 4096)` bytes, so a file
    /// rewritten in place (same inode, not shorter) is noticed. JSON: SHA-256 of the
    /// content last handled; `None` while it could not be read as JSON yet.
    pub head: Option<String>,
    /// The conversation the server named for this file, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Whether everything up to `stamp.len` was handled (at most a half-written last line
    /// remains), so an unchanged stamp means nothing to do. False while a pass was
    /// interrupted (outage, stop) half-way through the file.
    #[serde(default)]
    pub caught_up: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    version: u32,
    server: String,
    files: BTreeMap<String, FilePosition>,
}

/// The format version written and understood.
const VERSION: u32 = 1;

/// The position file of one server, locked for this process. See the module docs.
#[derive(Debug)]
pub struct PositionFile {
    path: PathBuf,
    doc: Document,
    _lock: File,
}

/// A file name for `base_url`: `http://localhost:3000` -> `http_localhost_3000`.
pub(crate) fn server_slug(base_url: &str) -> String {
    let slug: String = base_url
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    slug.trim_matches('_').replace("___", "_")
}

impl PositionFile {
    /// `<platform data dir>/agentpipe-web/sync/<server>.json`, if the platform has a data
    /// directory.
    pub fn default_path(base_url: &str) -> Option<PathBuf> {
        dirs::data_dir().map(|d| {
            d.join("agentpipe-web")
                .join("sync")
                .join(format!("{}.json", server_slug(base_url)))
        })
    }

    /// Opens (or starts) the position file at `path` for the server at `base_url`, and
    /// takes its lock.
    ///
    /// Errors: [`Error::Io`] when the file or its directory cannot be read or created,
    /// or is not a position file, or belongs to another server; [`Error::Input`] when
    /// another process holds the lock (another `sync` with the same file is running).
    pub fn open(path: &Path, base_url: &str) -> Result<Self, Error> {
        let io = |source: std::io::Error| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Input(format!(
                    "another `sync` is using {} (lock {})",
                    path.display(),
                    lock_path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let doc = match std::fs::read(path) {
            Ok(bytes) => {
                let doc: Document = serde_json::from_slice(&bytes).map_err(|e| {
                    io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("not a sync position file ({e}); move it away to start over"),
                    ))
                })?;
                if doc.version != VERSION {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("position file version {} is not {VERSION}", doc.version),
                    )));
                }
                if doc.server != base_url {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "this position file belongs to {}, not {base_url}; use another --position-file",
                            doc.server
                        ),
                    )));
                }
                doc
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Document {
                version: VERSION,
                server: base_url.to_string(),
                files: BTreeMap::new(),
            },
            Err(e) => return Err(io(e)),
        };
        Ok(PositionFile {
            path: path.to_path_buf(),
            doc,
            _lock: lock,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position of the file with key `key` (its absolute path), if known.
    pub fn get(&self, key: &str) -> Option<&FilePosition> {
        self.doc.files.get(key)
    }

    /// Every known file key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.doc.files.keys().cloned().collect()
    }

    /// Sets the position of `key` (in memory; [`PositionFile::save`] writes it).
    pub fn set(&mut self, key: &str, pos: FilePosition) {
        self.doc.files.insert(key.to_string(), pos);
    }

    /// Forgets `key` (in memory).
    pub fn remove(&mut self, key: &str) -> bool {
        self.doc.files.remove(key).is_some()
    }

    /// Writes the document atomically: a temporary file beside it, fsync, rename over
    /// the old one, fsync of the directory.
    ///
    /// Errors: [`Error::Io`].
    pub fn save(&self) -> Result<(), Error> {
        let io = |source: std::io::Error| Error::Io {
            path: self.path.clone(),
            source,
        };
        let bytes =
            serde_json::to_vec_pretty(&self.doc).map_err(|e| Error::Input(e.to_string()))?;
        let mut tmp_name = self.path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = self.path.with_file_name(tmp_name);
        {
            let mut f = File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        #[cfg(unix)]
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(())
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64) -> FilePosition {
        FilePosition {
            kind: FileKind::EventLog,
            stamp: FileStamp {
                dev: Some(1),
                inode: Some(2),
                len: offset + 5,
                mtime_ns: Some(3),
            },
            offset,
            line: 4,
            head: Some("ab".into()),
            conversation_id: Some("c-1".into()),
            caught_up: true,
        }
    }

    #[test]
    fn saved_positions_read_back_and_the_lock_excludes_a_second_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("pos.json");
        {
            let mut p = PositionFile::open(&path, "http://x").unwrap();
            assert!(p.get("/a").is_none());
            p.set("/a", pos(10));
            p.save().unwrap();
            let second = PositionFile::open(&path, "http://x");
            assert!(
                matches!(second, Err(Error::Input(ref m)) if m.contains("another `sync`")),
                "{second:?}"
            );
        }
        let p = PositionFile::open(&path, "http://x").unwrap();
        assert_eq!(p.get("/a"), Some(&pos(10)));
        assert_eq!(p.keys(), vec!["/a".to_string()]);
        // no temporary file is left behind
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_file_of_another_server_or_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pos.json");
        {
            let p = PositionFile::open(&path, "http://x").unwrap();
            p.save().unwrap();
        }
        let e = PositionFile::open(&path, "http://y").unwrap_err();
        assert!(e.to_string().contains("belongs to http://x"), "{e}");
        std::fs::write(&path, b"{not json").unwrap();
        let e = PositionFile::open(&path, "http://x").unwrap_err();
        assert!(e.to_string().contains("not a sync position file"), "{e}");
    }

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(server_slug("http://localhost:3000"), "http_localhost_3000");
        assert_eq!(server_slug("https://a.example/x"), "https_a.example_x");
    }
}
