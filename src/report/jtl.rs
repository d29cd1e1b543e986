//! JMeter's CSV results format (JTL), one line per sample, with JMeter's default header. Lines
//! come from the sample tap ([`crate::stats::tap`]) and are written by [`spawn_writer`] on its
//! own thread through a buffered writer: the run never waits on the disk (a full tap counts
//! lost lines instead).
//!
//! Columns Hornet does not measure per sample: `sentBytes`, `IdleTime` and `Connect` are 0, `URL`
//! is empty (the name is the label), and `Latency` (JMeter: time to first byte) is the elapsed
//! time, its upper bound. `timeStamp` is the sample's start (JMeter's default), `threadName` is
//! `<class> 1-<user>` so JMeter's per-thread-group views group users by class.

use std::io::{self, Write};
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::plan::model::RequestName;
use crate::stats::tap::{SampleTap, TapBatch, TapLoss, TAP_CHANNEL};

/// JMeter's default CSV header, byte for byte.
pub const HEADER: &str = "timeStamp,elapsed,label,responseCode,responseMessage,threadName,\
dataType,success,failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect";

/// A CSV writer as JMeter writes JTL (`\n` line ends).
pub fn csv_writer<W: Write>(w: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(w)
}

/// Writes the header line.
pub fn write_header<W: Write>(w: &mut csv::Writer<W>) -> io::Result<()> {
    w.write_record(HEADER.split(','))?;
    Ok(())
}

/// Writes one line per sample of `b`; returns how many.
pub fn write_batch<W: Write>(
    w: &mut csv::Writer<W>,
    b: &TapBatch,
    names: &[RequestName],
) -> io::Result<u64> {
    let thread = format!("{} 1-{}", b.class, u64::from(b.user) + 1);
    let users = b.users.to_string();
    let mut failures = b.failures.iter().peekable();
    for s in &b.samples {
        let elapsed_ms = (u64::from(s.latency_us) + 500) / 1000;
        let start_ms = b.started_unix_ms + i64::from(s.end_ms) - elapsed_ms as i64;
        let label = match names.get(s.name.index()) {
            Some(n) => n.name.clone(),
            None => format!("#{}", s.name.0),
        };
        // Failed samples and their messages are in the same order; a failed sample without one
        // (none today) gets an empty message rather than someone else's.
        let message = if s.ok {
            String::new()
        } else {
            match failures.peek() {
                Some(f) if f.name == s.name => failures.next().map(|f| f.error.clone()),
                _ => None,
            }
            .unwrap_or_default()
        };
        let (code, response) = if s.status == 0 {
            (
                "Non HTTP response code".to_string(),
                format!("Non HTTP response message: {message}"),
            )
        } else {
            let reason = http::StatusCode::from_u16(s.status)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("");
            (s.status.to_string(), reason.to_string())
        };
        let elapsed = elapsed_ms.to_string();
        w.write_record([
            start_ms.to_string().as_str(),
            &elapsed,
            &label,
            &code,
            &response,
            &thread,
            "text",
            if s.ok { "true" } else { "false" },
            &message,
            &s.bytes.to_string(),
            "0",
            &users,
            &users,
            "",
            &elapsed,
            "0",
            "0",
        ])?;
    }
    Ok(b.samples.len() as u64)
}

/// What the writer thread did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JtlReport {
    pub lines: u64,
    /// Samples the tap dropped because the writer was behind.
    pub lost: u64,
    /// Samples not written because the file could not take them (disk full): see the error.
    pub unwritten: u64,
}

/// How the writer thread ended: the lines it wrote, and the first write error with the samples
/// it then had to drop.
struct Written {
    lines: u64,
    unwritten: u64,
    error: Option<io::Error>,
}

/// The writer thread; [`JtlWriter::finish`] waits for it once the run has ended (the run drops
/// the tap, which closes the channel).
pub struct JtlWriter {
    thread: JoinHandle<Written>,
    loss: TapLoss,
}

/// Starts the writer thread on `out`. Lines go through a `csv::Writer`; `out` is flushed after
/// the header and after each group of batches, always at a line end — give it a
/// [`crate::output::RecordFile`] and a killed process leaves whole lines only. Returns the tap
/// to give the run.
pub fn spawn_writer<W: Write + Send + 'static>(
    out: W,
    names: Vec<RequestName>,
) -> io::Result<(SampleTap, JtlWriter)> {
    let (tap, loss, rx) = SampleTap::channel(TAP_CHANNEL);
    let thread = std::thread::Builder::new()
        .name("hornet-jtl".into())
        .spawn(move || write_all(out, names, rx))?;
    Ok((tap, JtlWriter { thread, loss }))
}

/// Batches written between two flushes at most (bounds the memory a busy run keeps unflushed).
const BATCHES_PER_FLUSH: usize = 256;

fn write_all<W: Write>(
    out: W,
    names: Vec<RequestName>,
    mut rx: mpsc::Receiver<TapBatch>,
) -> Written {
    let mut w = csv_writer(out);
    let mut done = Written {
        lines: 0,
        unwritten: 0,
        error: None,
    };
    // the file holds its header before the first sample arrives
    if let Err(e) = write_header(&mut w).and_then(|_| w.flush()) {
        done.error = Some(e);
    }
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < BATCHES_PER_FLUSH {
            match rx.try_recv() {
                Ok(batch) => group.push(batch),
                Err(_) => break,
            }
        }
        let samples: u64 = group.iter().map(|b| b.samples.len() as u64).sum();
        if done.error.is_some() {
            // The disk refused a write: keep draining (the run must not notice) and count.
            done.unwritten += samples;
            continue;
        }
        let written = group
            .iter()
            .try_fold(0, |n, b| write_batch(&mut w, b, &names).map(|k| n + k))
            .and_then(|n| w.flush().map(|_| n));
        match written {
            Ok(n) => done.lines += n,
            Err(e) => {
                done.unwritten += samples;
                done.error = Some(e);
            }
        }
    }
    done
}

impl JtlWriter {
    /// Waits for the thread to write what is left and flush. Call after the run has ended. A
    /// write error (disk full) comes back with the figures so far in its message.
    pub async fn finish(self) -> io::Result<JtlReport> {
        let loss = self.loss;
        let joined = tokio::task::spawn_blocking(move || self.thread.join())
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        let written = joined.map_err(|_| io::Error::other("the JTL writer thread panicked"))?;
        if let Some(e) = written.error {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{e}; {} lines written, {} samples not written",
                    written.lines, written.unwritten
                ),
            ));
        }
        Ok(JtlReport {
            lines: written.lines,
            lost: loss.samples(),
            unwritten: written.unwritten,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::plan::model::NameId;
    use crate::stats::sample::{Failure, Sample};

    fn sample(name: u32, latency_us: u32, end_ms: u32, status: u16, ok: bool) -> Sample {
        Sample {
            name: NameId(name),
            latency_us,
            corrected_us: 0,
            bytes: 42,
            end_ms,
            status,
            ok,
        }
    }

    fn names() -> Vec<RequestName> {
        vec![
            RequestName {
                kind: "GET".into(),
                name: "/a".into(),
            },
            RequestName {
                kind: "POST".into(),
                name: "/b, \"x\"".into(),
            },
        ]
    }

    #[test]
    fn header_is_jmeters_default_byte_for_byte() {
        let mut w = csv_writer(Vec::new());
        write_header(&mut w).unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner().unwrap()).unwrap(),
            "timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,\
             failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect\n"
        );
    }

    #[test]
    fn one_line_per_sample_with_failures_paired_in_order() {
        let b = TapBatch {
            samples: vec![
                sample(0, 12_499, 1_000, 200, true),
                sample(1, 3_500, 2_000, 500, false),
                sample(0, 1_000, 2_500, 0, false),
                sample(9, 1_000, 2_600, 204, true),
            ],
            failures: vec![
                Failure {
                    name: NameId(1),
                    error: "HTTP 500".into(),
                },
                Failure {
                    name: NameId(0),
                    error: "connection refused".into(),
                },
            ],
            class: Arc::from("Reader"),
            user: 4,
            users: 10,
            started_unix_ms: 1_700_000_000_000,
        };
        let mut w = csv_writer(Vec::new());
        assert_eq!(write_batch(&mut w, &b, &names()).unwrap(), 4);
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "1700000000988,12,/a,200,OK,Reader 1-5,text,true,,42,0,10,10,,12,0,0",
                "1700000001996,4,\"/b, \"\"x\"\"\",500,Internal Server Error,Reader 1-5,text,false,HTTP 500,42,0,10,10,,4,0,0",
                "1700000002499,1,/a,Non HTTP response code,Non HTTP response message: connection refused,Reader 1-5,text,false,connection refused,42,0,10,10,,1,0,0",
                "1700000002599,1,#9,204,No Content,Reader 1-5,text,true,,42,0,10,10,,1,0,0",
            ]
        );
    }

    #[tokio::test]
    async fn the_thread_writes_everything_sent_then_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jtl");
        let file = std::fs::File::create(&path).unwrap();
        let (tap, writer) = spawn_writer(file, names()).unwrap();
        let batch = crate::stats::sample::Batch {
            samples: vec![sample(0, 1_000, 5, 200, true); 3],
            ..Default::default()
        };
        tap.offer(&batch, &Arc::from("A"), 1, 0);
        tap.offer(&batch, &Arc::from("A"), 1, 0);
        drop(tap);
        let report = writer.finish().await.unwrap();
        assert_eq!(
            report,
            JtlReport {
                lines: 6,
                lost: 0,
                unwritten: 0
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 7);
    }
}
