//! Output files a person can hold: what `hornet run` writes (CSV, JTL, JSON, HTML, JUnit) either
//! appears whole or not at all, and a file streamed during the run never ends mid-record.
//!
//! - Files written at the end go to `NAME.part` first and are renamed over `NAME` once complete
//!   ([`write_atomic`]): a kill, a full disk or a second Ctrl-C leaves the old file or none,
//!   never a torn one.
//! - Files streamed while the run goes (JTL, history CSV) go through [`RecordFile`]: bytes are
//!   kept in memory until the caller flushes at a record boundary, then written with one
//!   `write` call, so a `kill -9` can only cut between records.
//!
//! This module owns the file system side only; what goes into the files is `report/`'s.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `path` with `.part` appended (`out.html` -> `out.html.part`), in the same directory so the
/// rename cannot cross file systems.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Checks, before a run, that `path` can be written later: its directory exists and takes a new
/// file. Nothing is left behind (the probe is `NAME.part`, removed at once), so no empty output
/// exists before it has content.
pub fn check_writable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory; give a file name",
        ));
    }
    let probe = part_path(path);
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

/// Writes `bytes` to `path` through `NAME.part` and a rename: readers see the old file or the
/// whole new one. The data is synced before the rename so that a crash of the machine cannot
/// leave the new name on an empty file either.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let part = part_path(path);
    let written = (|| {
        let mut file = File::create(&part)?;
        file.write_all(bytes)?;
        file.sync_data()
    })();
    if let Err(e) = written.and_then(|_| std::fs::rename(&part, path)) {
        // a full disk must not also leave a half-written `.part` behind
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    Ok(())
}

/// A file written record by record: `write` only appends to memory; `flush` — which callers
/// call at record boundaries only — hands everything to the kernel in one `write_all`. A process
/// killed at any moment leaves whole records on disk (the kernel finishes a `write` it started).
///
/// A full disk can take part of a `write`: the file is then cut back to its last whole record.
/// After a failed flush the buffer is dropped (memory must not grow without bound) and the
/// error is returned; later flushes try again with new records.
#[derive(Debug)]
pub struct RecordFile {
    file: File,
    pending: Vec<u8>,
    /// Bytes on disk, all of them whole records.
    committed: u64,
}

impl RecordFile {
    /// Creates (truncates) `path`. Write the header and [`flush`](Write::flush) at once, so the
    /// file never exists without content.
    pub fn create(path: &Path) -> io::Result<RecordFile> {
        Ok(RecordFile {
            file: File::create(path)?,
            pending: Vec::with_capacity(64 * 1024),
            committed: 0,
        })
    }

    /// Bytes written since the last flush.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl Write for RecordFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let result = match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.committed += self.pending.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Part of the buffer may be on disk: cut it off so the file ends at a record
                // boundary, and write the next records from there.
                let _ = self.file.set_len(self.committed);
                let _ = self.file.seek(SeekFrom::Start(self.committed));
                Err(e)
            }
        };
        self.pending.clear();
        if self.pending.capacity() > 4 * 1024 * 1024 {
            self.pending.shrink_to(64 * 1024);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new content").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new content");
        assert!(!part_path(&path).exists());
    }

    #[test]
    fn writability_probe_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        check_writable(&path).unwrap();
        assert!(!path.exists());
        assert!(!part_path(&path).exists());
        assert!(check_writable(&dir.path().join("missing/out.json")).is_err());
        assert!(check_writable(dir.path()).is_err());
    }

    #[test]
    fn record_file_writes_only_at_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jtl");
        let mut f = RecordFile::create(&path).unwrap();
        f.write_all(b"header\n").unwrap();
        f.flush().unwrap();
        f.write_all(b"a,b,").unwrap();
        // the half record is still in memory: the file holds whole lines only
        assert_eq!(std::fs::read(&path).unwrap(), b"header\n");
        assert_eq!(f.pending(), 4);
        f.write_all(b"c\n").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header\na,b,c\n");
    }
}
