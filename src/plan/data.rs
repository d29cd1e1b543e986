//! CSV data files of `[data.NAME]` sources: read with stated caps, checked while reading, and
//! stored compactly. `plan::load` (so `hornet check` and `hornet run`) reads them once and the
//! engine reuses the table; the plan library skips them and the engine reads them at run start.
//!
//! Caps (`limits`): the file's size is checked before reading (64 MiB), and the bytes read are
//! bounded again while reading (the file may grow); at most 1 000 000 rows, 1 000 columns and a
//! field of 64 KiB. The file cap is also what bounds one record in memory: the csv crate buffers
//! a whole record, so a 300 MB single-line file is refused by its size before a byte is read.
//!
//! Storage: every cell of the file in one `String` plus one `u32` end offset per cell, instead
//! of a map per row (10 M rows of two columns took 6.18 GB as maps).

use std::io::Read;
use std::path::Path;

use super::limits::{self, format_bytes};
use super::PlanError;

/// The caps a data file is read with; [`DataLimits::default`] is what plans get.
#[derive(Clone, Copy, Debug)]
pub struct DataLimits {
    pub file_bytes: u64,
    pub rows: usize,
    pub field_bytes: usize,
    pub columns: usize,
}

impl Default for DataLimits {
    fn default() -> DataLimits {
        DataLimits {
            file_bytes: limits::MAX_DATA_FILE_BYTES,
            rows: limits::MAX_DATA_ROWS,
            field_bytes: limits::MAX_DATA_FIELD_BYTES,
            columns: limits::MAX_DATA_COLUMNS,
        }
    }
}

/// A CSV file's rows: the header's column names and every cell, row after row.
#[derive(Debug)]
pub struct DataTable {
    columns: Vec<String>,
    /// Every cell's text, concatenated.
    text: String,
    /// The end offset in `text` of each cell (row-major); a cell starts where the previous ends.
    ends: Vec<u32>,
}

impl DataTable {
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Rows below the header.
    pub fn len(&self) -> usize {
        self.ends.len().checked_div(self.columns.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The cell at `row`, `col`; empty when out of range.
    pub fn cell(&self, row: usize, col: usize) -> &str {
        let i = row * self.columns.len() + col;
        let end = self.ends.get(i).map_or(0, |&e| e as usize);
        let start = match i.checked_sub(1) {
            Some(prev) => self.ends.get(prev).map_or(0, |&e| e as usize),
            None => 0,
        };
        self.text.get(start..end).unwrap_or("")
    }

    /// Heap bytes held (for figures).
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.ends.capacity() * 4
            + self.columns.iter().map(String::capacity).sum::<usize>()
    }
}

/// Reads and checks a CSV data file; an error names the file and, inside it, the line.
pub fn read_csv(path: &Path, caps: &DataLimits) -> Result<DataTable, PlanError> {
    let f = CsvFile {
        file: path.display().to_string(),
        caps,
    };
    let handle = std::fs::File::open(path)
        .map_err(|e| f.error(0, "a readable CSV file".into(), e.to_string()))?;
    let size = handle
        .metadata()
        .map_err(|e| f.error(0, "a readable CSV file".into(), e.to_string()))?
        .len();
    if size > caps.file_bytes {
        return Err(f.too_big(format_bytes(size)));
    }
    // Bounded again while reading: the file may have grown since its size was read.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(handle.take(caps.file_bytes + 1));
    let mut table = DataTable {
        columns: f.columns(&mut reader)?,
        text: String::new(),
        ends: Vec::new(),
    };
    f.read_rows(&mut reader, &mut table, size)?;
    if table.is_empty() {
        return Err(f.error(
            0,
            "rows below the header row (the first row names the columns)".into(),
            "none".into(),
        ));
    }
    table.text.shrink_to_fit();
    table.ends.shrink_to_fit();
    Ok(table)
}

/// The file being read, for its errors, and the caps it is read with.
struct CsvFile<'c> {
    file: String,
    caps: &'c DataLimits,
}

impl CsvFile<'_> {
    fn error(&self, line: u64, expected: String, found: String) -> PlanError {
        PlanError {
            file: self.file.clone(),
            line: usize::try_from(line).unwrap_or(usize::MAX),
            col: 1,
            expected,
            found,
        }
    }

    fn too_big(&self, found: String) -> PlanError {
        self.error(
            0,
            format!(
                "a data file of at most {} (the cap on CSV feeders)",
                format_bytes(self.caps.file_bytes)
            ),
            found,
        )
    }

    fn csv_error(&self, e: csv::Error) -> PlanError {
        let line = e.position().map_or(0, csv::Position::line);
        let message = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                return self.error(
                    line,
                    format!("{expected_len} fields in every row, as in the header"),
                    format!("{len}"),
                )
            }
            csv::ErrorKind::Utf8 { .. } => {
                return self.error(line, "UTF-8 text".into(), "invalid UTF-8".into())
            }
            _ => e.to_string(),
        };
        self.error(line, "a valid CSV file".into(), message)
    }

    /// The header row's column names: present, at most the cap, each once.
    fn columns(&self, reader: &mut csv::Reader<impl Read>) -> Result<Vec<String>, PlanError> {
        let headers = reader.headers().map_err(|e| self.csv_error(e))?.clone();
        if headers.iter().all(str::is_empty) {
            return Err(self.error(
                1,
                "a header row (the first row names the columns)".into(),
                "none".into(),
            ));
        }
        if headers.len() > self.caps.columns {
            return Err(self.error(
                1,
                format!("at most {} columns", self.caps.columns),
                format!("{}", headers.len()),
            ));
        }
        for (i, h) in headers.iter().enumerate() {
            if headers.iter().take(i).any(|earlier| earlier == h) {
                return Err(self.error(
                    1,
                    "each column named once in the header row".into(),
                    format!("column {h:?} twice"),
                ));
            }
        }
        Ok(headers.iter().map(str::to_string).collect())
    }

    /// Every row below the header into `table`, within the row, field and file caps (`size` is
    /// the file's size when it was opened).
    fn read_rows(
        &self,
        reader: &mut csv::Reader<impl Read>,
        table: &mut DataTable,
        size: u64,
    ) -> Result<(), PlanError> {
        let caps = self.caps;
        let mut record = csv::StringRecord::new();
        let mut read = size;
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(self.csv_error(e)),
            }
            let line = record.position().map_or(0, csv::Position::line);
            read = record.position().map_or(read, csv::Position::byte);
            if read > caps.file_bytes {
                return Err(self.too_big("more (the file grew while it was read)".into()));
            }
            if table.len() >= caps.rows {
                return Err(self.error(
                    line,
                    format!(
                        "at most {} rows below the header (the cap on CSV feeders)",
                        caps.rows
                    ),
                    "more".into(),
                ));
            }
            for (col, field) in record.iter().enumerate() {
                if field.len() > caps.field_bytes {
                    let name = table.columns.get(col).map_or("", String::as_str);
                    return Err(self.error(
                        line,
                        format!(
                            "fields of at most {} (the cap on CSV feeders)",
                            format_bytes(caps.field_bytes as u64)
                        ),
                        format!("{} in column {name:?}", format_bytes(field.len() as u64)),
                    ));
                }
                table.text.push_str(field);
                // Fits: the text is at most the file, whose size is capped far below 4 GiB.
                let end =
                    u32::try_from(table.text.len()).map_err(|_| self.too_big("more".into()))?;
                table.ends.push(end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], caps: DataLimits) -> Result<DataTable, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, text).unwrap();
        read_csv(&path, &caps).map_err(|e| {
            let s = e.to_string();
            s.replacen(&path.display().to_string(), "d.csv", 1)
        })
    }

    #[test]
    fn cells_are_read_in_place() {
        let t = read(
            "\u{feff}tz,offset\nUTC,0\n\"Europe/Dublin\",\"+1, in summer\"\n,\n".as_bytes(),
            DataLimits::default(),
        )
        .unwrap();
        assert_eq!(t.columns(), ["tz", "offset"]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.cell(0, 0), "UTC");
        assert_eq!(t.cell(1, 1), "+1, in summer");
        assert_eq!(t.cell(2, 0), "");
        assert_eq!(t.cell(9, 0), "");
        assert_eq!(t.column_index("offset"), Some(1));
    }

    #[test]
    fn caps_stop_reading_with_the_line() {
        let caps = DataLimits {
            file_bytes: 1000,
            rows: 3,
            field_bytes: 8,
            columns: 2,
        };
        let e = read(b"a\n1\n2\n3\n4\n5\n", caps).unwrap_err();
        assert_eq!(
            e,
            "d.csv:5:1: expected at most 3 rows below the header (the cap on CSV feeders), found more"
        );
        let e = read(b"a,b\n1,123456789\n", caps).unwrap_err();
        assert_eq!(
            e,
            "d.csv:2:1: expected fields of at most 8 bytes (the cap on CSV feeders), found 9 bytes in column \"b\""
        );
        let e = read(b"a,b,c\n1,2,3\n", caps).unwrap_err();
        assert_eq!(e, "d.csv:1:1: expected at most 2 columns, found 3");
        let e = read(&vec![b'x'; 1001], caps).unwrap_err();
        assert_eq!(
            e,
            "d.csv: expected a data file of at most 1000 bytes (the cap on CSV feeders), found 1001 bytes"
        );
    }

    #[test]
    fn malformed_files_say_where() {
        let caps = DataLimits::default();
        assert_eq!(
            read(b"a,b\n1,2\n3\n", caps).unwrap_err(),
            "d.csv:3:1: expected 2 fields in every row, as in the header, found 1"
        );
        assert_eq!(
            read(b"a,a\n1,2\n", caps).unwrap_err(),
            "d.csv:1:1: expected each column named once in the header row, found column \"a\" twice"
        );
        assert_eq!(
            read(b"a,b\n", caps).unwrap_err(),
            "d.csv: expected rows below the header row (the first row names the columns), found none"
        );
        assert_eq!(
            read(b"", caps).unwrap_err(),
            "d.csv:1:1: expected a header row (the first row names the columns), found none"
        );
        assert_eq!(
            read(b"a\n\xff\n", caps).unwrap_err(),
            "d.csv:2:1: expected UTF-8 text, found invalid UTF-8"
        );
    }
}
