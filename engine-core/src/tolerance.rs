//! Float comparison with a relative tolerance and an absolute floor.
//!
//! Used wherever two computations of the same quantity are compared: native
//! against OCaml indicators, streaming against batch, our values against
//! published reference vectors.

/// `|a - b| <= max(rel * max(|a|, |b|), abs)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

impl Tolerance {
    /// The cross-check tolerance of `--backend both` and the parity tests:
    /// relative 1e-9, with an absolute floor of 1e-12 for values near zero
    /// (an oscillator crossing zero, a flat market's standard deviation).
    pub const CROSS_CHECK: Tolerance = Tolerance { rel: 1e-9, abs: 1e-12 };

    pub const fn new(rel: f64, abs: f64) -> Self {
        Tolerance { rel, abs }
    }

    /// True when `a` and `b` agree. Two NaNs agree (both "no value"); a NaN
    /// and a number do not.
    pub fn eq(&self, a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a == b {
            return true; // also covers equal infinities
        }
        let diff = (a - b).abs();
        diff <= (self.rel * a.abs().max(b.abs())).max(self.abs)
    }
}

/// Absolute and relative difference of two values; the relative one is
/// taken against the larger magnitude and is 0 when both are 0.
pub fn differences(a: f64, b: f64) -> (f64, f64) {
    let abs = (a - b).abs();
    let scale = a.abs().max(b.abs());
    let rel = if scale == 0.0 { 0.0 } else { abs / scale };
    (abs, rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_parts() {
        let t = Tolerance::CROSS_CHECK;
        assert!(t.eq(1e6, 1e6 * (1.0 + 5e-10)));
        assert!(!t.eq(1e6, 1e6 * (1.0 + 5e-9)));
        assert!(t.eq(0.0, 5e-13));
        assert!(!t.eq(0.0, 5e-12));
        assert!(t.eq(f64::NAN, f64::NAN));
        assert!(!t.eq(f64::NAN, 0.0));
        assert_eq!(differences(2.0, 1.0), (1.0, 0.5));
        assert_eq!(differences(0.0, 0.0), (0.0, 0.0));
    }
}
