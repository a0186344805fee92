//! Thinning a long series for a chart without hiding its extremes.
//!
//! A chart about 900 pixels wide cannot show a million points; drawing
//! them all would make a report of tens of megabytes. Averaging or taking
//! every n-th point would smooth away exactly what the reader looks for
//! (the bottom of a drawdown, a price spike), so each time bucket keeps
//! its lowest and its highest point instead: at pixel resolution the line
//! looks the same as the full series.

/// Indices of the points to draw: all of them when there are at most
/// `max_points`, otherwise the first and last point plus the minimum and
/// maximum of each of `(max_points - 2) / 2` equal time buckets, in index
/// order. Points with a non-finite value are skipped. `time` must be
/// non-decreasing for the buckets to follow time; otherwise they follow
/// the index.
pub(crate) fn downsample(
    n: usize,
    time: impl Fn(usize) -> i64,
    value: impl Fn(usize) -> f64,
    max_points: usize,
) -> Vec<usize> {
    let finite = |i: usize| value(i).is_finite();
    if n <= max_points.max(2) {
        return (0..n).filter(|&i| finite(i)).collect();
    }
    let buckets = (max_points.saturating_sub(2) / 2).max(1);
    let (t0, t1) = (time(0), time(n - 1));
    let by_time = t1 > t0 && (1..n).all(|i| time(i) >= time(i - 1));
    let bucket = |i: usize| -> usize {
        let b = if by_time {
            ((time(i) - t0) as f64 / (t1 - t0) as f64 * buckets as f64) as usize
        } else {
            // u128: n × buckets overflows nothing, even for huge n.
            (i as u128 * buckets as u128 / n as u128) as usize
        };
        b.min(buckets - 1)
    };

    let mut keep = Vec::with_capacity(2 * buckets + 2);
    keep.push(0);
    let mut current: Option<(usize, usize, usize)> = None; // (bucket, min index, max index)
    let emit = |(_, lo, hi): (usize, usize, usize), keep: &mut Vec<usize>| {
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        keep.push(a);
        keep.push(b);
    };
    for i in 0..n {
        if !finite(i) {
            continue;
        }
        let b = bucket(i);
        current = match current {
            Some((cb, lo, hi)) if cb == b => {
                let v = value(i);
                Some((cb, if v < value(lo) { i } else { lo }, if v > value(hi) { i } else { hi }))
            }
            Some(done) => {
                emit(done, &mut keep);
                Some((b, i, i))
            }
            None => Some((b, i, i)),
        };
    }
    if let Some(done) = current {
        emit(done, &mut keep);
    }
    keep.push(n - 1);
    keep.sort_unstable();
    keep.dedup();
    keep.retain(|&i| finite(i));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_are_kept_whole() {
        let v = [1.0, f64::NAN, 3.0];
        assert_eq!(downsample(3, |i| i as i64, |i| v[i], 10), vec![0, 2]);
        assert_eq!(downsample(0, |i| i as i64, |_| 0.0, 10), Vec::<usize>::new());
    }

    #[test]
    fn extremes_survive_and_the_count_is_bounded() {
        // A gentle sine with one deep dip and one spike hidden inside it.
        let n = 1_000_000;
        let value = |i: usize| match i {
            400_003 => -50.0,
            777_777 => 80.0,
            _ => (i as f64 / 10_000.0).sin(),
        };
        let keep = downsample(n, |i| i as i64 * 60_000, value, 2_000);
        assert!(keep.len() <= 2_000, "{}", keep.len());
        assert!(keep.len() > 1_500, "{}", keep.len());
        assert!(keep.contains(&400_003) && keep.contains(&777_777));
        assert_eq!(keep[0], 0);
        assert_eq!(*keep.last().unwrap(), n - 1);
        assert!(keep.windows(2).all(|w| w[0] < w[1]), "in index order");
    }

    #[test]
    fn unsorted_or_constant_times_fall_back_to_index_buckets() {
        let n = 10_000;
        let keep = downsample(n, |_| 5, |i| i as f64, 100);
        assert!(keep.len() <= 100, "{}", keep.len());
        assert_eq!((keep[0], *keep.last().unwrap()), (0, n - 1));
    }
}
