//! What a load found: counts, the bar interval, gaps, skipped rows and notes.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use super::DataFormat;
use crate::market_data::Bar;

/// One bad row that was skipped under [`BadRowPolicy::Skip`](super::BadRowPolicy::Skip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// 1-based physical line in the file, counting the header.
    pub line: usize,
    /// What was wrong, e.g. `high 2.1 is below close 2.3`.
    pub message: String,
}

/// A summary of one loaded file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The path as given by the caller.
    pub file: PathBuf,
    /// The format the file was read as (detected or forced).
    pub format: DataFormat,
    /// Data rows read (header excluded, skipped rows included).
    pub rows: usize,
    /// Bars kept.
    pub bars: usize,
    /// Bad rows skipped under `BadRowPolicy::Skip`, in file order.
    pub skipped: Vec<RowIssue>,
    /// The most common positive step between consecutive bars.
    pub interval_ms: Option<i64>,
    /// Steps larger than the interval.
    pub gaps: usize,
    /// Sum over gaps of `step / interval - 1`: bars a contiguous series would have had.
    pub missing_bars: usize,
    /// The largest step between consecutive bars that counts as a gap.
    pub largest_gap_ms: Option<i64>,
    /// Fix-ups and conversions applied, e.g. microsecond timestamps converted.
    pub notes: Vec<String>,
}

/// Interval and gap statistics of a series sorted by strictly increasing open time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct GapStats {
    pub interval_ms: Option<i64>,
    pub gaps: usize,
    pub missing_bars: usize,
    pub largest_gap_ms: Option<i64>,
}

impl GapStats {
    pub(crate) fn of(bars: &[Bar]) -> GapStats {
        // Most series have one step almost everywhere: count runs of equal
        // steps before touching the map, so 300k bars cost a few map updates.
        let mut counts: HashMap<i64, usize> = HashMap::new();
        let mut run: Option<(i64, usize)> = None;
        for pair in bars.windows(2) {
            let step = pair[1].open_time - pair[0].open_time;
            match &mut run {
                Some((s, n)) if *s == step => *n += 1,
                _ => {
                    if let Some((s, n)) = run {
                        *counts.entry(s).or_default() += n;
                    }
                    run = Some((step, 1));
                }
            }
        }
        if let Some((s, n)) = run {
            *counts.entry(s).or_default() += n;
        }
        // Ties go to the smaller step: the finer grid is the safer guess.
        let interval = counts
            .iter()
            .filter(|(step, _)| **step > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(step, _)| *step);
        let mut stats = GapStats { interval_ms: interval, ..GapStats::default() };
        if let Some(interval) = interval {
            for (&step, &count) in &counts {
                if step > interval {
                    stats.gaps += count;
                    stats.missing_bars += count * (step / interval - 1) as usize;
                    stats.largest_gap_ms = stats.largest_gap_ms.max(Some(step));
                }
            }
        }
        stats
    }
}

/// `60000` → `1m`, `86400000` → `1d`, `90000` → `90s`, `1500` → `1500ms`.
pub(crate) fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] =
        [(604_800_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    for (size, unit) in UNITS {
        if ms != 0 && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// How many skipped rows the summary lists before "and N more".
const SHOWN_ISSUES: usize = 5;

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} format, {} bars from {} rows", self.file.display(), self.format, self.bars, self.rows)?;
        match self.interval_ms {
            Some(interval) => write!(f, ", interval {}", format_duration_ms(interval))?,
            None => write!(f, ", interval unknown")?,
        }
        write!(f, ", {} gaps", self.gaps)?;
        if let Some(largest) = self.largest_gap_ms {
            write!(f, " ({} missing bars, largest {})", self.missing_bars, format_duration_ms(largest))?;
        }
        if !self.skipped.is_empty() {
            let plural = if self.skipped.len() == 1 { "" } else { "s" };
            write!(f, "\n  skipped {} bad row{plural}:", self.skipped.len())?;
            for issue in self.skipped.iter().take(SHOWN_ISSUES) {
                write!(f, "\n    line {}: {}", issue.line, issue.message)?;
            }
            if self.skipped.len() > SHOWN_ISSUES {
                write!(f, "\n    ... and {} more", self.skipped.len() - SHOWN_ISSUES)?;
            }
        }
        for note in &self.notes {
            write!(f, "\n  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars_at(times: &[i64]) -> Vec<Bar> {
        times.iter().map(|&t| Bar::new("X".into(), t, 1.0, 1.0, 1.0, 1.0, 0.0)).collect()
    }

    #[test]
    fn counts_gaps_against_the_most_common_step() {
        let stats = GapStats::of(&bars_at(&[0, 60, 120, 300, 360, 420, 900, 960]));
        assert_eq!(stats.interval_ms, Some(60));
        assert_eq!(stats.gaps, 2);
        assert_eq!(stats.missing_bars, 2 + 7);
        assert_eq!(stats.largest_gap_ms, Some(480));
    }

    #[test]
    fn contiguous_and_tiny_series_have_no_gaps() {
        assert_eq!(GapStats::of(&bars_at(&[0, 5, 10, 15])).gaps, 0);
        assert_eq!(GapStats::of(&bars_at(&[7])), GapStats::default());
        assert_eq!(GapStats::of(&[]), GapStats::default());
    }

    #[test]
    fn display_summarises_and_lists_the_first_skipped_rows() {
        let report = LoadReport {
            file: PathBuf::from("data/x.csv"),
            format: DataFormat::GenericCsv,
            rows: 107,
            bars: 100,
            skipped: (0..7).map(|i| RowIssue { line: 10 + i, message: format!("bad {i}") }).collect(),
            interval_ms: Some(60_000),
            gaps: 3,
            missing_bars: 9,
            largest_gap_ms: Some(300_000),
            notes: vec!["no volume column: volume set to 0".into()],
        };
        assert_eq!(
            report.to_string(),
            "data/x.csv: csv format, 100 bars from 107 rows, interval 1m, 3 gaps (9 missing bars, largest 5m)\n  \
             skipped 7 bad rows:\n    line 10: bad 0\n    line 11: bad 1\n    line 12: bad 2\n    line 13: bad 3\n    \
             line 14: bad 4\n    ... and 2 more\n  note: no volume column: volume set to 0"
        );
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration_ms(60_000), "1m");
        assert_eq!(format_duration_ms(86_400_000), "1d");
        assert_eq!(format_duration_ms(90_000), "90s");
        assert_eq!(format_duration_ms(1500), "1500ms");
    }
}
