//! Comparing two computations of the same indicator column.

use std::fmt;

use crate::tolerance::{differences, Tolerance};

/// The outcome of cross-checking one output column.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckStatus {
    /// Every value agrees within the tolerance.
    Passed,
    /// At least one value differs beyond the tolerance, or one side has a
    /// value where the other has none.
    Failed,
    /// The second computation did not happen (the sidecar failed): nothing
    /// is known, which is not the same as passing.
    Unverified(String),
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckStatus::Passed => f.write_str("passed"),
            CheckStatus::Failed => f.write_str("FAILED"),
            CheckStatus::Unverified(why) => write!(f, "UNVERIFIED ({why})"),
        }
    }
}

/// Per-column statistics of a cross-check.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnCheck {
    pub column: String,
    pub status: CheckStatus,
    /// Bars where both sides have a value.
    pub compared: usize,
    /// Values beyond the tolerance.
    pub mismatches: usize,
    /// Bars where exactly one side has a value.
    pub presence_mismatches: usize,
    pub max_abs_diff: f64,
    pub max_rel_diff: f64,
    /// Bar index of the largest absolute difference.
    pub worst_index: Option<usize>,
}

impl ColumnCheck {
    pub fn unverified(column: impl Into<String>, why: impl Into<String>) -> Self {
        ColumnCheck {
            column: column.into(),
            status: CheckStatus::Unverified(why.into()),
            compared: 0,
            mismatches: 0,
            presence_mismatches: 0,
            max_abs_diff: f64::NAN,
            max_rel_diff: f64::NAN,
            worst_index: None,
        }
    }

    /// Compares `reference` (native) with `other` bar by bar.
    pub fn compare(
        column: impl Into<String>,
        reference: &[Option<f64>],
        other: &[Option<f64>],
        tolerance: Tolerance,
    ) -> Self {
        let mut check = ColumnCheck {
            column: column.into(),
            status: CheckStatus::Passed,
            compared: 0,
            mismatches: 0,
            presence_mismatches: reference.len().abs_diff(other.len()),
            max_abs_diff: 0.0,
            max_rel_diff: 0.0,
            worst_index: None,
        };
        for (i, (a, b)) in reference.iter().zip(other).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => {
                    check.compared += 1;
                    let (abs, rel) = differences(*a, *b);
                    if !tolerance.eq(*a, *b) {
                        check.mismatches += 1;
                    }
                    // NaN differences (a NaN on one side) count as the worst.
                    if abs > check.max_abs_diff || abs.is_nan() {
                        check.max_abs_diff = abs;
                        check.worst_index = Some(i);
                    }
                    if rel > check.max_rel_diff || rel.is_nan() {
                        check.max_rel_diff = rel;
                    }
                }
                (None, None) => {}
                _ => check.presence_mismatches += 1,
            }
        }
        if check.mismatches > 0 || check.presence_mismatches > 0 {
            check.status = CheckStatus::Failed;
        } else if check.compared == 0 {
            // Agreeing that there is nothing (no bars, a period longer than
            // the data, VWAP without volume) verifies nothing.
            check.status = CheckStatus::Unverified("no bar has a value on either side: nothing to compare".into());
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_within_tolerance_and_fails_beyond() {
        let a = [None, Some(1.0), Some(2.0)];
        let b = [None, Some(1.0 + 1e-12), Some(2.0)];
        let ok = ColumnCheck::compare("x", &a, &b, Tolerance::CROSS_CHECK);
        assert_eq!(ok.status, CheckStatus::Passed);
        assert_eq!(ok.compared, 2);
        assert_eq!(ok.worst_index, Some(1));
        let c = [None, Some(1.0), Some(2.1)];
        let bad = ColumnCheck::compare("x", &a, &c, Tolerance::CROSS_CHECK);
        assert_eq!(bad.status, CheckStatus::Failed);
        assert_eq!(bad.mismatches, 1);
        assert_eq!(bad.worst_index, Some(2));
    }

    #[test]
    fn a_value_on_one_side_only_fails() {
        let check = ColumnCheck::compare("x", &[Some(1.0), None], &[Some(1.0), Some(3.0)], Tolerance::CROSS_CHECK);
        assert_eq!(check.status, CheckStatus::Failed);
        assert_eq!(check.presence_mismatches, 1);
        let short = ColumnCheck::compare("x", &[Some(1.0), None], &[Some(1.0)], Tolerance::CROSS_CHECK);
        assert_eq!(short.status, CheckStatus::Failed);
    }

    #[test]
    fn nothing_to_compare_is_not_a_pass() {
        let check = ColumnCheck::compare("x", &[None, None], &[None, None], Tolerance::CROSS_CHECK);
        assert!(matches!(check.status, CheckStatus::Unverified(_)), "{:?}", check.status);
        let empty = ColumnCheck::compare("x", &[], &[], Tolerance::CROSS_CHECK);
        assert!(matches!(empty.status, CheckStatus::Unverified(_)));
    }

    #[test]
    fn unverified_is_not_passed() {
        let check = ColumnCheck::unverified("x", "sidecar timed out");
        assert_ne!(check.status, CheckStatus::Passed);
        assert_eq!(check.status.to_string(), "UNVERIFIED (sidecar timed out)");
    }
}
