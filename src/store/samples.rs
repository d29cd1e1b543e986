//! Every sample of a stored run, kept compressed beside the database so that any stored run can
//! give its JMeter results file (`results.jtl`) afterwards, not only runs started with `--jtl`.
//!
//! One gzip file per run in `<db>.samples/<run id>.gz`, fed by the run's sample tap on a thread
//! of its own (the run never waits on the disk; a full tap counts lost samples). The content is
//! a header line, a JSON line with the run's request names, then binary frames with LEB128
//! integers: about 9 bytes per sample before compression, 3 to 5 after. The stream is
//! sync-flushed every second, so a killed process leaves a file readable up to its last second.
//!
//! A run stops keeping samples when its file reaches the cap (`--samples-cap`, 256 MiB by
//! default): the rest are counted, and `<run id>.json` (written when the run ends) says how
//! many and from when, so the page and the download can say so.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::plan::model::NameId;
use crate::stats::sample::{Failure, Sample};
use crate::stats::tap::{SampleTap, TapBatch, TapLoss, TAP_CHANNEL};

/// The cap on one run's file unless `--samples-cap` says otherwise.
pub const DEFAULT_CAP_BYTES: u64 = 256 * 1024 * 1024;

const MAGIC: &[u8] = b"hornet-samples 1\n";
const FLUSH_EVERY: Duration = Duration::from_secs(1);

const FRAME_CLASS: u8 = 1;
const FRAME_EPOCH: u8 = 2;
const FRAME_BATCH: u8 = 3;

/// Where the runs' sample files are, and the cap on each.
#[derive(Clone, Debug)]
pub struct SampleArchive {
    dir: PathBuf,
    cap_bytes: u64,
}

/// What the writer did, kept as `<run id>.json` when the run ends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSummary {
    /// Samples in the file.
    pub samples: u64,
    /// Samples the tap dropped because the writer was behind.
    pub lost: u64,
    /// Samples not kept because the file had reached the cap, and when that happened (ms from
    /// the run's start).
    pub past_cap: u64,
    pub capped_after_ms: Option<u32>,
    pub cap_bytes: u64,
    /// The file's size (compressed).
    pub bytes: u64,
    /// The write error that stopped the file (disk full), if any, and the samples it then
    /// could not keep.
    pub error: Option<String>,
    pub unwritten: u64,
}

impl ArchiveSummary {
    /// One sentence for the page and the end of a download when not every sample is in the
    /// file; None when all are.
    pub fn shortfall(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.past_cap > 0 {
            let when = self
                .capped_after_ms
                .map(|ms| format!(" after {:.0} s", f64::from(ms) / 1000.0))
                .unwrap_or_default();
            parts.push(format!(
                "the file reached its cap of {} MiB{when} and {} later samples were not kept \
                 (raise --samples-cap)",
                self.cap_bytes / (1024 * 1024),
                self.past_cap
            ));
        }
        if self.lost > 0 {
            parts.push(format!(
                "{} samples were dropped because the disk fell behind",
                self.lost
            ));
        }
        if let Some(e) = &self.error {
            parts.push(format!(
                "writing stopped on an error ({e}) and {} later samples were not kept",
                self.unwritten
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// What is known about a run's samples.
#[derive(Debug, PartialEq, Eq)]
pub enum ArchiveStatus {
    /// No file: the run kept no samples.
    Missing,
    /// The run ended and its writer said how it went.
    Complete(ArchiveSummary),
    /// A file without its summary: the run is live, or its process died (the file is readable
    /// up to its last flushed second).
    Unfinished { bytes: u64 },
}

impl SampleArchive {
    /// The archive beside the database `db` (`hornet.db` → `hornet.db.samples/`).
    pub fn beside(db: &Path, cap_bytes: u64) -> SampleArchive {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".samples");
        SampleArchive {
            dir: PathBuf::from(dir),
            cap_bytes,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_path(&self, run_id: &str) -> Option<PathBuf> {
        file_safe(run_id).then(|| self.dir.join(format!("{run_id}.gz")))
    }

    fn summary_path(&self, run_id: &str) -> Option<PathBuf> {
        file_safe(run_id).then(|| self.dir.join(format!("{run_id}.json")))
    }

    /// Starts keeping the samples of run `run_id` whose request names are `names` (by
    /// [`NameId`]): the tap to give the run and the writer to finish when it has ended.
    pub fn record(
        &self,
        run_id: &str,
        names: Vec<String>,
    ) -> io::Result<(SampleTap, ArchiveWriter)> {
        let path = self.data_path(run_id).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "run id unfit for a file name")
        })?;
        let summary_path = self.summary_path(run_id).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "run id unfit for a file name")
        })?;
        fs::create_dir_all(&self.dir)?;
        let file = File::create(&path)?;
        let (tap, loss, rx) = SampleTap::channel(TAP_CHANNEL);
        let cap = self.cap_bytes;
        let thread = std::thread::Builder::new()
            .name("hornet-samples".into())
            .spawn(move || write_all(file, names, cap, rx))?;
        Ok((
            tap,
            ArchiveWriter {
                thread,
                loss,
                summary_path,
            },
        ))
    }

    pub fn status(&self, run_id: &str) -> ArchiveStatus {
        let (Some(data), Some(summary)) = (self.data_path(run_id), self.summary_path(run_id))
        else {
            return ArchiveStatus::Missing;
        };
        let Ok(meta) = fs::metadata(&data) else {
            return ArchiveStatus::Missing;
        };
        match fs::read(&summary)
            .ok()
            .and_then(|b| serde_json::from_slice::<ArchiveSummary>(&b).ok())
        {
            Some(s) => ArchiveStatus::Complete(s),
            None => ArchiveStatus::Unfinished { bytes: meta.len() },
        }
    }

    /// Opens run `run_id`'s samples for reading; None when it kept none.
    pub fn open(&self, run_id: &str) -> io::Result<Option<SampleReader>> {
        let Some(path) = self.data_path(run_id) else {
            return Ok(None);
        };
        match File::open(&path) {
            Ok(file) => SampleReader::new(file).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Run ids are UUIDs; anything else never names a file.
fn file_safe(run_id: &str) -> bool {
    !run_id.is_empty()
        && run_id.len() <= 64
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The writer thread of one run; [`ArchiveWriter::finish`] once the run has ended (the run drops
/// its tap, which closes the channel).
pub struct ArchiveWriter {
    thread: JoinHandle<ArchiveSummary>,
    loss: TapLoss,
    summary_path: PathBuf,
}

impl ArchiveWriter {
    /// Waits for the thread to write what is left, then keeps its summary beside the file.
    pub async fn finish(self) -> io::Result<ArchiveSummary> {
        let ArchiveWriter {
            thread,
            loss,
            summary_path,
        } = self;
        let joined = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut summary =
            joined.map_err(|_| io::Error::other("the sample writer thread panicked"))?;
        summary.lost = loss.samples();
        let json = serde_json::to_vec(&summary).map_err(io::Error::other)?;
        tokio::fs::write(&summary_path, json).await?;
        Ok(summary)
    }
}

impl ArchiveWriter {
    /// For a run that did not start: waits for the thread and removes the file.
    pub async fn discard(self) {
        let ArchiveWriter {
            thread,
            summary_path,
            ..
        } = self;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        let data = summary_path.with_extension("gz");
        if let Err(e) = tokio::fs::remove_file(&data).await {
            tracing::warn!(file = %data.display(), error = %e, "an unused samples file is left");
        }
    }
}

/// Counts what goes through to the file, for the cap.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The encoder's state across batches: the classes named so far and the epoch written.
#[derive(Default)]
struct Frames {
    classes: Vec<Arc<str>>,
    epoch: Option<i64>,
}

impl Frames {
    /// Appends `b` (and the class or epoch frames it needs first) to `out`.
    fn encode(&mut self, b: &TapBatch, out: &mut Vec<u8>) {
        if self.epoch != Some(b.started_unix_ms) {
            self.epoch = Some(b.started_unix_ms);
            out.push(FRAME_EPOCH);
            put(out, b.started_unix_ms.max(0) as u64);
        }
        let class = match self.classes.iter().position(|c| Arc::ptr_eq(c, &b.class)) {
            Some(i) => i,
            None => match self.classes.iter().position(|c| *c == b.class) {
                Some(i) => i,
                None => {
                    self.classes.push(b.class.clone());
                    out.push(FRAME_CLASS);
                    put_bytes(out, b.class.as_bytes());
                    self.classes.len() - 1
                }
            },
        };
        out.push(FRAME_BATCH);
        put(out, class as u64);
        put(out, u64::from(b.user));
        put(out, u64::from(b.users));
        put(out, b.samples.len() as u64);
        for s in &b.samples {
            put(out, u64::from(s.name.0));
            put(out, u64::from(s.latency_us));
            put(out, u64::from(s.bytes));
            put(out, u64::from(s.end_ms));
            put(out, u64::from(s.status));
            out.push(u8::from(s.ok));
        }
        put(out, b.failures.len() as u64);
        for f in &b.failures {
            put(out, u64::from(f.name.0));
            put_bytes(out, f.error.as_bytes());
        }
    }
}

fn write_all(
    file: File,
    names: Vec<String>,
    cap: u64,
    mut rx: mpsc::Receiver<TapBatch>,
) -> ArchiveSummary {
    let mut summary = ArchiveSummary {
        cap_bytes: cap,
        ..ArchiveSummary::default()
    };
    let counted = Counted {
        inner: BufWriter::new(file),
        bytes: 0,
    };
    let mut gz = Some(GzEncoder::new(counted, Compression::fast()));
    let mut buf = MAGIC.to_vec();
    // a list of strings always serializes
    buf.extend(serde_json::to_vec(&names).unwrap_or_else(|_| b"[]".to_vec()));
    buf.push(b'\n');
    if let Some(enc) = gz.as_mut() {
        if let Err(e) = enc.write_all(&buf).and_then(|_| enc.flush()) {
            summary.error = Some(e.to_string());
            gz = None;
        }
    }
    let mut frames = Frames::default();
    let mut last_flush = Instant::now();
    while let Some(batch) = rx.blocking_recv() {
        let n = batch.samples.len() as u64;
        let Some(enc) = gz.as_mut() else {
            // capped or failed: count and drain, the run must not notice
            if summary.error.is_some() {
                summary.unwritten += n;
            } else {
                summary.past_cap += n;
            }
            continue;
        };
        buf.clear();
        frames.encode(&batch, &mut buf);
        let flush = last_flush.elapsed() >= FLUSH_EVERY;
        let written = enc
            .write_all(&buf)
            .and_then(|_| if flush { enc.flush() } else { Ok(()) });
        if flush {
            last_flush = Instant::now();
        }
        match written {
            Ok(()) => {
                summary.samples += n;
                if enc.get_ref().bytes >= cap {
                    summary.capped_after_ms = batch.samples.iter().map(|s| s.end_ms).max();
                    seal(gz.take(), &mut summary);
                }
            }
            Err(e) => {
                summary.error = Some(e.to_string());
                summary.unwritten += n;
                gz = None;
            }
        }
    }
    seal(gz, &mut summary);
    summary
}

/// Ends the gzip stream and the file; the file's size goes into `summary`.
fn seal<W: Write>(gz: Option<GzEncoder<Counted<W>>>, summary: &mut ArchiveSummary) {
    let Some(enc) = gz else { return };
    match enc.finish().and_then(|mut c| c.flush().map(|_| c.bytes)) {
        Ok(bytes) => summary.bytes = bytes,
        Err(e) => summary.error = Some(e.to_string()),
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a run's samples back as the batches the run's tap saw. A file cut short (a killed
/// process) reads up to its last whole frame; the reader then ends without an error.
pub struct SampleReader {
    input: BufReader<MultiGzDecoder<File>>,
    names: Vec<String>,
    classes: Vec<Arc<str>>,
    epoch: i64,
}

/// A frame that cannot be what the writer wrote.
fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the samples file is corrupt: {what}"),
    )
}

impl SampleReader {
    fn new(file: File) -> io::Result<SampleReader> {
        let mut input = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(file));
        let mut magic = vec![0; MAGIC.len()];
        input.read_exact(&mut magic)?;
        if magic != MAGIC {
            return Err(corrupt("not a Hornet samples file"));
        }
        let mut line = Vec::new();
        input.read_until(b'\n', &mut line)?;
        let names: Vec<String> =
            serde_json::from_slice(&line).map_err(|e| corrupt(&format!("its names: {e}")))?;
        Ok(SampleReader {
            input,
            names,
            classes: Vec::new(),
            epoch: 0,
        })
    }

    /// The run's request names, by [`NameId`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The next batch; None at the end of the file (or of what a killed writer flushed).
    pub fn next_batch(&mut self) -> io::Result<Option<TapBatch>> {
        loop {
            let mut tag = [0u8; 1];
            match self.input.read(&mut tag) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if cut_short(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
            let frame = match tag[0] {
                FRAME_CLASS => self.read_bytes().map(|b| {
                    self.classes
                        .push(Arc::from(String::from_utf8_lossy(&b).as_ref()));
                    None
                }),
                FRAME_EPOCH => self.get().map(|v| {
                    self.epoch = v as i64;
                    None
                }),
                FRAME_BATCH => self.read_batch().map(Some),
                other => return Err(corrupt(&format!("unknown frame {other}"))),
            };
            match frame {
                Ok(Some(batch)) => return Ok(Some(batch)),
                Ok(None) => {}
                Err(e) if cut_short(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    fn read_batch(&mut self) -> io::Result<TapBatch> {
        let class = self.get()? as usize;
        let class = self
            .classes
            .get(class)
            .cloned()
            .ok_or_else(|| corrupt("a batch of an unnamed class"))?;
        let user = self.get_u32()?;
        let users = self.get_u32()?;
        let n = self.get()? as usize;
        let mut samples = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            samples.push(Sample {
                name: NameId(self.get_u32()?),
                latency_us: self.get_u32()?,
                corrected_us: 0,
                bytes: self.get_u32()?,
                end_ms: self.get_u32()?,
                status: u16::try_from(self.get()?).map_err(|_| corrupt("a status"))?,
                ok: self.byte()? != 0,
            });
        }
        let n = self.get()? as usize;
        let mut failures = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let name = NameId(self.get_u32()?);
            let error = String::from_utf8_lossy(&self.read_bytes()?).into_owned();
            failures.push(Failure { name, error });
        }
        Ok(TapBatch {
            samples,
            failures,
            class,
            user,
            users,
            started_unix_ms: self.epoch,
        })
    }

    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.input.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn get(&mut self) -> io::Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("an integer too long"))
    }

    fn get_u32(&mut self) -> io::Result<u32> {
        u32::try_from(self.get()?).map_err(|_| corrupt("an integer out of range"))
    }

    fn read_bytes(&mut self) -> io::Result<Vec<u8>> {
        let n = self.get()? as usize;
        if n > 1 << 20 {
            return Err(corrupt("a text longer than 1 MiB"));
        }
        let mut b = vec![0; n];
        self.input.read_exact(&mut b)?;
        Ok(b)
    }
}

/// The end of a file whose writer was killed: a frame or the gzip stream cut short.
fn cut_short(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: u32, latency_us: u32, end_ms: u32, status: u16, ok: bool) -> Sample {
        Sample {
            name: NameId(name),
            latency_us,
            corrected_us: 0,
            bytes: 1234,
            end_ms,
            status,
            ok,
        }
    }

    fn batch(class: &Arc<str>, user: u32, first_ms: u32, n: u32) -> TapBatch {
        let samples: Vec<Sample> = (0..n)
            .map(|i| sample(i % 2, 1_000 + i * 7, first_ms + i, 200, i % 5 != 4))
            .collect();
        let failures = samples
            .iter()
            .filter(|s| !s.ok)
            .map(|s| Failure {
                name: s.name,
                error: format!("expected 200, found 500 at {}", s.end_ms),
            })
            .collect();
        TapBatch {
            samples,
            failures,
            class: class.clone(),
            user,
            users: 3,
            started_unix_ms: 1_700_000_000_123,
        }
    }

    fn read_all(archive: &SampleArchive, id: &str) -> Vec<TapBatch> {
        let mut reader = archive.open(id).expect("opens").expect("a file");
        assert_eq!(reader.names(), ["GET /a", "POST /b"]);
        let mut out = Vec::new();
        while let Some(b) = reader.next_batch().expect("reads") {
            out.push(b);
        }
        out
    }

    async fn write(archive: &SampleArchive, id: &str, batches: &[TapBatch]) -> ArchiveSummary {
        let (tap, writer) = archive
            .record(id, vec!["GET /a".into(), "POST /b".into()])
            .expect("records");
        let mut users = Vec::new();
        for b in batches {
            let batch = crate::stats::sample::Batch {
                samples: b.samples.clone(),
                failures: b.failures.clone(),
                user: b.user,
                ..Default::default()
            };
            users.push(batch);
        }
        for (b, t) in users.iter().zip(batches) {
            tap.offer(b, &t.class, t.users, t.started_unix_ms);
            // the writer keeps up in a test; a full channel would count lost samples
            tokio::task::yield_now().await;
        }
        drop(tap);
        writer.finish().await.expect("finishes")
    }

    #[tokio::test]
    async fn samples_come_back_as_they_were_with_their_classes_and_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = SampleArchive::beside(&dir.path().join("h.db"), DEFAULT_CAP_BYTES);
        let (reader, writer): (Arc<str>, Arc<str>) = (Arc::from("Reader"), Arc::from("Writer"));
        let batches = vec![
            batch(&reader, 0, 10, 50),
            batch(&writer, 1, 20, 30),
            batch(&reader, 2, 30, 7),
        ];
        let summary = write(&archive, "run-1", &batches).await;
        assert_eq!(
            (summary.samples, summary.lost, summary.past_cap),
            (87, 0, 0)
        );
        assert_eq!(summary.shortfall(), None);
        assert!(
            summary.bytes > 0 && summary.bytes < 87 * 16,
            "{}",
            summary.bytes
        );
        let back = read_all(&archive, "run-1");
        assert_eq!(back.len(), 3);
        for (got, sent) in back.iter().zip(&batches) {
            assert_eq!(got.samples, sent.samples);
            assert_eq!(got.failures, sent.failures);
            assert_eq!(
                (&*got.class, got.user, got.users),
                (&*sent.class, sent.user, 3)
            );
            assert_eq!(got.started_unix_ms, 1_700_000_000_123);
        }
        assert_eq!(archive.status("run-1"), ArchiveStatus::Complete(summary));
        assert_eq!(archive.status("run-2"), ArchiveStatus::Missing);
        assert!(archive.open("run-2").expect("no error").is_none());
        assert!(archive.open("../etc/passwd").expect("no error").is_none());
    }

    #[tokio::test]
    async fn a_file_at_its_cap_ends_cleanly_and_counts_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        // below the smallest cap the flag allows, to keep the test small
        let cap = 40_000;
        let archive = SampleArchive::beside(&dir.path().join("h.db"), cap);
        let class: Arc<str> = Arc::from("Reader");
        let batches: Vec<TapBatch> = (0..300).map(|i| batch(&class, i, i * 200, 200)).collect();
        let summary = write(&archive, "capped", &batches).await;
        assert!(summary.past_cap > 0, "{summary:?}");
        assert_eq!(summary.samples + summary.past_cap, 60_000);
        // the compressor holds back what it has not emitted yet: the file may pass the cap by
        // that much, never by a second's worth of samples
        assert!(summary.bytes < cap + 64 * 1024, "{summary:?}");
        assert!(summary.capped_after_ms.is_some(), "{summary:?}");
        let kept: usize = read_all(&archive, "capped")
            .iter()
            .map(|b| b.samples.len())
            .sum();
        assert_eq!(kept as u64, summary.samples);
        let note = summary.shortfall().expect("a shortfall");
        assert!(note.contains("later samples were not kept"), "{note}");
        assert!(note.contains(&summary.past_cap.to_string()), "{note}");
    }

    #[tokio::test]
    async fn a_killed_writer_leaves_a_file_readable_to_its_last_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = SampleArchive::beside(&dir.path().join("h.db"), DEFAULT_CAP_BYTES);
        let class: Arc<str> = Arc::from("Reader");
        write(
            &archive,
            "whole",
            &[batch(&class, 0, 0, 500), batch(&class, 1, 0, 500)],
        )
        .await;
        let path = archive.dir().join("whole.gz");
        let bytes = fs::read(&path).expect("file");
        // cut inside the compressed stream, as a kill between two flushes would
        fs::write(archive.dir().join("cut.gz"), &bytes[..bytes.len() * 2 / 3]).expect("write");
        let mut reader = archive.open("cut").expect("opens").expect("file");
        let mut n = 0;
        while let Some(b) = reader.next_batch().expect("a cut file is no error") {
            n += b.samples.len();
        }
        assert!(n <= 1_000, "{n}");
        assert!(matches!(
            archive.status("cut"),
            ArchiveStatus::Unfinished { .. }
        ));
    }

    #[test]
    fn a_file_that_is_not_ours_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = SampleArchive::beside(&dir.path().join("h.db"), DEFAULT_CAP_BYTES);
        fs::create_dir_all(archive.dir()).expect("dir");
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(b"timeStamp,elapsed\n").expect("write");
        fs::write(archive.dir().join("other.gz"), gz.finish().expect("finish")).expect("write");
        let e = archive.open("other").err().expect("refused");
        assert!(e.to_string().contains("not a Hornet samples file"), "{e}");
    }
}
