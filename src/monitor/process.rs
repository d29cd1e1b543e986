//! Local processes from `/proc`: found by pid, pid file or command line (every match, summed;
//! found again at each read, so a restarted process is followed), then their CPU time, resident
//! memory and open file descriptors. Linux only: elsewhere every read is a "cannot read"
//! warning and the series stay empty.

use std::collections::HashMap;
use std::path::Path;

use crate::plan::monitor::ProcessFind;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`): 100 on every Linux
/// architecture Hornet builds for.
const TICKS_PER_SECOND: f64 = 100.0;

/// One read of the processes a source found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessRead {
    /// pid → CPU time (user + system) in seconds, for the CPU rate between two reads.
    pub cpu_s: HashMap<u32, f64>,
    pub rss_bytes: f64,
    pub fds: f64,
}

/// Why a read found nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessProblem {
    /// No process matches (the pid is gone, the pid file is missing, no command line matches).
    NotFound(String),
    /// Found, but `/proc` could not be read (permissions, not Linux).
    Unreadable(String),
}

/// Finds the processes and reads them (blocking file reads: run it off the async threads).
pub fn read(find: &ProcessFind) -> Result<ProcessRead, ProcessProblem> {
    let pids = find_pids(find)?;
    let mut out = ProcessRead::default();
    let mut last_error = None;
    for pid in &pids {
        match read_one(*pid) {
            Ok((cpu_s, rss, fds)) => {
                out.cpu_s.insert(*pid, cpu_s);
                out.rss_bytes += rss;
                out.fds += fds;
            }
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) if out.cpu_s.is_empty() => Err(e),
        _ => Ok(out),
    }
}

fn find_pids(find: &ProcessFind) -> Result<Vec<u32>, ProcessProblem> {
    match find {
        ProcessFind::Pid(pid) => {
            if Path::new(&format!("/proc/{pid}")).exists() {
                Ok(vec![*pid])
            } else {
                Err(ProcessProblem::NotFound(format!("no process {pid}")))
            }
        }
        ProcessFind::PidFile(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ProcessProblem::NotFound(format!("pid file {file}: {e}")))?;
            let pid: u32 = text.trim().parse().map_err(|_| {
                ProcessProblem::NotFound(format!("pid file {file}: not a pid: {:?}", text.trim()))
            })?;
            find_pids(&ProcessFind::Pid(pid))
        }
        ProcessFind::Command(part) => {
            let own = std::process::id();
            let entries = std::fs::read_dir("/proc")
                .map_err(|e| ProcessProblem::Unreadable(format!("/proc: {e}")))?;
            let mut pids: Vec<u32> = entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| pid != own)
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .map(|raw| command_line(&raw).contains(part.as_str()))
                        .unwrap_or(false)
                })
                .collect();
            pids.sort_unstable();
            if pids.is_empty() {
                Err(ProcessProblem::NotFound(format!(
                    "no process whose command line contains {part:?}"
                )))
            } else {
                Ok(pids)
            }
        }
    }
}

/// `/proc/<pid>/cmdline` (NUL-separated arguments) as one line.
fn command_line(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_end_matches('\0')
        .replace('\0', " ")
}

fn read_one(pid: u32) -> Result<(f64, f64, f64), ProcessProblem> {
    let unreadable = |what: &str, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProcessProblem::NotFound(format!("process {pid} is gone"))
        } else {
            ProcessProblem::Unreadable(format!("/proc/{pid}/{what}: {e}"))
        }
    };
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| unreadable("stat", e))?;
    let cpu_s = cpu_seconds(&stat)
        .ok_or_else(|| ProcessProblem::Unreadable(format!("/proc/{pid}/stat: unexpected")))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| unreadable("status", e))?;
    let rss = rss_bytes(&status).unwrap_or(0.0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| unreadable("fd", e))?
        .count() as f64;
    Ok((cpu_s, rss, fds))
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds. The command name (2nd field) may
/// hold spaces and parentheses: fields are counted after its last `)`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // after the name: state is field 3, utime field 14, stime field 15
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// `VmRSS:  12345 kB` of `/proc/<pid>/status`, in bytes.
fn rss_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// CPU use between two reads, in percent of one core: the CPU seconds every process present
/// in both used, over the wall seconds between them.
pub fn cpu_percent(
    before: &HashMap<u32, f64>,
    after: &HashMap<u32, f64>,
    wall_s: f64,
) -> Option<f64> {
    if wall_s <= 0.0 {
        return None;
    }
    let mut used = 0.0;
    let mut common = 0;
    for (pid, cpu) in after {
        if let Some(prev) = before.get(pid) {
            used += (cpu - prev).max(0.0);
            common += 1;
        }
    }
    (common > 0).then(|| used / wall_s * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_status_lines_parse() {
        let stat = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 \
                    4 0 100 0 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads: 4\n";
        assert_eq!(rss_bytes(status), Some(2048.0 * 1024.0));
        assert_eq!(
            command_line(b"hornet\0target\0--port\x000\0"),
            "hornet target --port 0"
        );
    }

    #[test]
    fn cpu_percent_counts_processes_seen_twice() {
        let before = HashMap::from([(1, 10.0), (2, 5.0)]);
        let after = HashMap::from([(1, 10.5), (3, 99.0)]);
        assert_eq!(cpu_percent(&before, &after, 2.0), Some(25.0));
        assert_eq!(cpu_percent(&HashMap::new(), &after, 2.0), None);
    }

    #[test]
    fn this_process_reads() {
        let read = read(&ProcessFind::Pid(std::process::id())).unwrap();
        assert!(read.rss_bytes > 1024.0 * 1024.0);
        assert!(read.fds >= 3.0);
        assert!(matches!(
            super::read(&ProcessFind::PidFile("/nonexistent/x.pid".into())),
            Err(ProcessProblem::NotFound(_))
        ));
    }
}
