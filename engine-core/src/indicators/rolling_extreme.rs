//! Rolling highest / lowest value over the last `n` inputs with monotonic
//! deques: amortised O(1) per update, and exact (no arithmetic involved).

use std::collections::VecDeque;

/// Rolling maximum (`MAX = true`) or minimum (`MAX = false`) of the last
/// `period` values, the current one included.
#[derive(Debug, Clone)]
pub struct RollingExtreme<const MAX: bool> {
    period: u64,
    /// Bars seen so far; the index of the next value.
    count: u64,
    /// (index, value) candidates; values strictly monotonic from front to back
    /// (decreasing for a max), the front being the current extreme.
    deque: VecDeque<(u64, f64)>,
}

/// Rolling highest value.
pub type RollingMax = RollingExtreme<true>;
/// Rolling lowest value.
pub type RollingMin = RollingExtreme<false>;

impl<const MAX: bool> RollingExtreme<MAX> {
    /// A window of `period` (≥ 1) values.
    pub fn new(period: usize) -> Self {
        assert!(period >= 1, "rolling window period must be >= 1");
        // The deque never holds more than `period` entries, so it never grows.
        RollingExtreme {
            period: period as u64,
            count: 0,
            deque: VecDeque::with_capacity((period + 1).min(super::ring::PREALLOCATED)),
        }
    }

    /// True when `a` dominates (or ties) `b`, so `b` can never be the
    /// extreme again once `a` arrived after it.
    #[inline(always)]
    fn dominates(a: f64, b: f64) -> bool {
        if MAX {
            a >= b
        } else {
            a <= b
        }
    }

    /// Adds `x` and returns the extreme of the last `period` values
    /// (fewer while warming up).
    #[inline]
    pub fn push(&mut self, x: f64) -> f64 {
        let i = self.count;
        self.count += 1;
        while let Some(&(_, back)) = self.deque.back() {
            if Self::dominates(x, back) {
                self.deque.pop_back();
            } else {
                break;
            }
        }
        self.deque.push_back((i, x));
        // Drop the front once it slid out of the window `[i - period + 1, i]`.
        if let Some(&(front, _)) = self.deque.front() {
            if front + self.period <= i {
                self.deque.pop_front();
            }
        }
        self.deque.front().map_or(x, |&(_, v)| v)
    }

    /// True once `period` values have been pushed.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.count >= self.period
    }

    /// Forgets all values.
    pub fn clear(&mut self) {
        self.count = 0;
        self.deque.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn matches_a_naive_window() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for period in [1usize, 2, 3, 5, 14] {
            let xs: Vec<f64> = (0..500).map(|_| (rng.gen_range(0..20) as f64) * 0.5).collect();
            let mut hi = RollingMax::new(period);
            let mut lo = RollingMin::new(period);
            for i in 0..xs.len() {
                let w = &xs[i.saturating_sub(period - 1)..=i];
                let naive_hi = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let naive_lo = w.iter().copied().fold(f64::INFINITY, f64::min);
                assert_eq!(hi.push(xs[i]), naive_hi, "max period {period} at {i}");
                assert_eq!(lo.push(xs[i]), naive_lo, "min period {period} at {i}");
                assert_eq!(hi.is_full(), i + 1 >= period);
            }
        }
    }

    #[test]
    fn clear_restarts() {
        let mut hi = RollingMax::new(2);
        hi.push(10.0);
        hi.clear();
        assert!(!hi.is_full());
        assert_eq!(hi.push(1.0), 1.0);
        assert_eq!(hi.push(2.0), 2.0);
        assert_eq!(hi.push(0.0), 2.0);
        assert_eq!(hi.push(0.0), 0.0);
    }
}
