//! Inline SVG charts: a time axis, a value axis, grid lines and whatever
//! is drawn in between (lines, areas, trade markers).
//!
//! Drawn in Rust as text so the report needs no JavaScript and no library
//! fetched from anywhere. Coordinates are rounded to a tenth of a unit of
//! the 960-wide view box, far below a pixel, to keep path data short.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate};

use super::super::format::{axis_time, grouped};
use super::html::escape;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 44.0;

/// A chart being drawn. [`Chart::finish`] closes it.
pub(crate) struct Chart {
    t0: i64,
    t1: i64,
    y0: f64,
    y1: f64,
    svg: String,
}

impl Chart {
    /// A chart over `times` (first, last) and `values` (low, high), with
    /// the axes, grid and labels already drawn. Empty or inverted ranges are
    /// widened so that a single point or a flat line sits mid-chart.
    pub(crate) fn new(label: &str, times: (i64, i64), values: (f64, f64), y_label: &str) -> Chart {
        let (t0, t1) = widen_times(times);
        let (y0, y1) = widen_values(values);
        let mut chart = Chart { t0, t1, y0, y1, svg: String::with_capacity(64 * 1024) };
        let _ = write!(
            chart.svg,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
            escape(label)
        );
        chart.axes(y_label);
        chart
    }

    pub(crate) fn x(&self, t: i64) -> f64 {
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (WIDTH - LEFT - RIGHT)
    }

    pub(crate) fn y(&self, v: f64) -> f64 {
        TOP + (self.y1 - v) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }

    fn axes(&mut self, y_label: &str) {
        let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
        let (values, step) = value_ticks(self.y0, self.y1);
        let decimals = if step >= 1.0 { 0 } else { (-step.log10() - 1e-9).ceil() as usize };
        for v in values {
            let y = self.y(v);
            let _ = write!(
                self.svg,
                r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{right}" y2="{y:.1}"/><text class="yt" x="{}" y="{:.1}">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                grouped(v, decimals)
            );
        }
        let ticks = time_ticks(self.t0, self.t1);
        for t in ticks.times {
            let x = self.x(t);
            // A label centred on the last tick would run off the right edge.
            let class = if x > right - 36.0 { "xt xe" } else { "xt" };
            let _ = write!(
                self.svg,
                r#"<line class="grid" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{bottom}"/><text class="{class}" x="{x:.1}" y="{}">{}</text>"#,
                bottom + 16.0,
                axis_time(t, ticks.format)
            );
        }
        let _ = write!(
            self.svg,
            r#"<path class="axis" d="M{LEFT},{TOP}V{bottom}H{right}"/><text class="al" x="{}" y="{}">Time (UTC)</text><text class="al" transform="translate(14,{}) rotate(-90)">{}</text>"#,
            (LEFT + right) / 2.0,
            HEIGHT - 4.0,
            (TOP + bottom) / 2.0,
            escape(y_label)
        );
    }

    /// Path data through `points`, `M x,y x,y ...`.
    fn path_data(&self, points: impl Iterator<Item = (i64, f64)>) -> String {
        let mut d = String::new();
        for (t, v) in points {
            let _ = write!(d, "{}{:.1},{:.1}", if d.is_empty() { "M" } else { " " }, self.x(t), self.y(v));
        }
        d
    }

    /// A polyline through `points` (in time order).
    pub(crate) fn line(&mut self, points: impl Iterator<Item = (i64, f64)>, class: &str) {
        let d = self.path_data(points);
        if !d.is_empty() {
            let _ = write!(self.svg, r#"<path class="{class}" d="{d}"/>"#);
        }
    }

    /// The area between `points` and the level `base`.
    pub(crate) fn area(&mut self, points: &[(i64, f64)], base: f64, class: &str) {
        let (Some(first), Some(last)) = (points.first(), points.last()) else { return };
        let d = self.path_data(points.iter().copied());
        let yb = self.y(base);
        let _ = write!(
            self.svg,
            r#"<path class="{class}" d="M{:.1},{yb:.1}{}L{:.1},{yb:.1}Z"/>"#,
            self.x(first.0),
            d.replacen('M', "L", 1),
            self.x(last.0)
        );
    }

    /// A horizontal reference line at `v`, labelled just above it at its
    /// left or right end (whichever the data leaves free).
    pub(crate) fn level(&mut self, v: f64, class: &str, label: &str, side: LabelSide) {
        let y = self.y(v);
        let (x, anchor) = match side {
            LabelSide::Left => (LEFT + 4.0, "start"),
            LabelSide::Right => (WIDTH - RIGHT - 4.0, "end"),
        };
        let _ = write!(
            self.svg,
            r#"<line class="{class}" x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}"/><text class="lv" text-anchor="{anchor}" x="{x}" y="{:.1}">{}</text>"#,
            WIDTH - RIGHT,
            y - 4.0,
            escape(label)
        );
    }

    /// Appends already-built SVG (markers).
    pub(crate) fn raw(&mut self, svg: &str) {
        self.svg.push_str(svg);
    }

    pub(crate) fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// Where [`Chart::level`] puts its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LabelSide {
    Left,
    Right,
}

fn widen_times((t0, t1): (i64, i64)) -> (i64, i64) {
    if t1 > t0 {
        (t0, t1)
    } else {
        (t0.saturating_sub(60_000), t0.saturating_add(60_000))
    }
}

/// Pads the value range by 5 % (so lines do not run along the frame) and
/// opens a flat or invalid range around its value.
fn widen_values((lo, hi): (f64, f64)) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span > 0.0 && span > hi.abs().max(lo.abs()) * 1e-12 {
        (lo - span * 0.05, hi + span * 0.05)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.01 };
        (lo - pad, lo + pad)
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
pub(crate) fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// About five round values between `lo` and `hi`, and their spacing.
pub(crate) fn value_ticks(lo: f64, hi: f64) -> (Vec<f64>, f64) {
    let step = nice_step((hi - lo) / 5.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // A tick at -0.0 would print "-0".
    ((first..=last).map(|k| k as f64 * step + 0.0).collect(), step)
}

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Round fixed time steps, from a second to two weeks; longer spans are
/// ticked on calendar months.
const TIME_STEPS: [i64; 21] = [
    SECOND,
    2 * SECOND,
    5 * SECOND,
    10 * SECOND,
    15 * SECOND,
    30 * SECOND,
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
];

/// The ticks of a time axis and the chrono format of their labels.
pub(crate) struct TimeTicks {
    pub(crate) times: Vec<i64>,
    pub(crate) format: &'static str,
}

/// About six round times between `t0` and `t1`: multiples of a fixed step
/// since the epoch up to two weeks, month starts (every 1, 2, 3 or 6
/// months, or whole years) beyond, so labels read `2024-04`, not an odd
/// day.
pub(crate) fn time_ticks(t0: i64, t1: i64) -> TimeTicks {
    let raw = (t1 - t0) / 6;
    if let Some(step) = TIME_STEPS.iter().copied().find(|&s| s >= raw) {
        let first = t0.div_euclid(step) + i64::from(t0.rem_euclid(step) != 0);
        let last = t1.div_euclid(step);
        let format = if step >= DAY {
            "%Y-%m-%d"
        } else if step >= MINUTE {
            "%m-%d %H:%M"
        } else {
            "%H:%M:%S"
        };
        return TimeTicks { times: (first..=last).map(|k| k * step).collect(), format };
    }
    const MONTH: f64 = 365.25 / 12.0 * DAY as f64;
    let months = [1, 2, 3, 6, 12]
        .into_iter()
        .find(|&m| m as f64 * MONTH >= raw as f64)
        .unwrap_or_else(|| 12 * nice_step(raw as f64 / (12.0 * MONTH)) as i64);
    let Some(start) = DateTime::from_timestamp_millis(t0) else {
        return TimeTicks { times: Vec::new(), format: "%Y-%m" };
    };
    // Months since year 0 of the first month start at or after t0, rounded
    // up to a multiple of the step.
    let mut index = i64::from(start.year()) * 12 + i64::from(start.month0());
    if month_start(index).map_or(true, |t| t < t0) {
        index += 1;
    }
    index += (months - index.rem_euclid(months)) % months;
    let mut times = Vec::new();
    while let Some(t) = month_start(index).filter(|&t| t <= t1) {
        times.push(t);
        index += months;
    }
    TimeTicks { times, format: if months < 12 { "%Y-%m" } else { "%Y" } }
}

/// Epoch ms of the first day of month `index` (months since year 0).
fn month_start(index: i64) -> Option<i64> {
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let date = NaiveDate::from_ymd_opt(year, index.rem_euclid(12) as u32 + 1, 1)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_ticks() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(130.0), 200.0);
        assert_eq!(nice_step(7e5), 1e6);
        let (ticks, step) = value_ticks(9_500.0, 12_300.0);
        assert_eq!(step, 1_000.0);
        assert_eq!(ticks, vec![10_000.0, 11_000.0, 12_000.0]);
        let (ticks, step) = value_ticks(-25.0, 0.0);
        assert_eq!(step, 5.0);
        assert_eq!(ticks, vec![-25.0, -20.0, -15.0, -10.0, -5.0, 0.0]);
        // A day of minutes: 6-hour ticks, on the hour.
        let day = 86_400_000;
        let t = time_ticks(19_000 * day + 1, 19_001 * day);
        assert_eq!(t.times.len(), 4);
        assert!(t.times.iter().all(|t| t % (6 * 3_600_000) == 0));
        assert_eq!(t.format, "%m-%d %H:%M");
        // 2024-01-01 00:00:01 to 2025-12-31: every 6 months from July 2024.
        let jan_2024 = 1_704_067_200_000;
        let t = time_ticks(jan_2024 + 1000, jan_2024 + 730 * day);
        let labels: Vec<String> = t.times.iter().map(|&ms| axis_time(ms, t.format)).collect();
        assert_eq!(labels, ["2024-07", "2025-01", "2025-07"]);
        // A month start is its own tick.
        let t = time_ticks(jan_2024, jan_2024 + 180 * day);
        assert_eq!(t.times[0], jan_2024);
        assert_eq!(axis_time(t.times[1], t.format), "2024-02");
        // Ten years: whole years, every 2.
        let t = time_ticks(jan_2024, jan_2024 + 3_652 * day);
        let labels: Vec<String> = t.times.iter().map(|&ms| axis_time(ms, t.format)).collect();
        assert_eq!(labels, ["2024", "2026", "2028", "2030", "2032"]);
    }

    #[test]
    fn degenerate_ranges_are_opened() {
        assert_eq!(widen_times((5, 5)), (5 - 60_000, 5 + 60_000));
        assert_eq!(widen_values((0.0, 0.0)), (-1.0, 1.0));
        assert_eq!(widen_values((100.0, 100.0)), (99.0, 101.0));
        assert_eq!(widen_values((f64::NAN, 1.0)), (0.0, 1.0));
        let c = Chart::new("t", (0, 0), (3.0, 3.0), "v");
        assert!((c.y(3.0) - (TOP + (HEIGHT - TOP - BOTTOM) / 2.0)).abs() < 1e-9);
        assert!(c.x(0) > LEFT && c.x(0) < WIDTH - RIGHT);
        let svg = c.finish();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
