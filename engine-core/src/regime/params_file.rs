//! HMM parameters as JSON: `{"start": [...], "trans": [[...]], "means":
//! [[...]], "vars": [[...]]}`, read by `regime fit --init` and stored in
//! detector snapshots. Floats round-trip exactly, so a fit started from a
//! written file reproduces the original bit for bit.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::hmm::{GaussianHmm, HmmError, HmmParams};

/// Plain nested vectors, one row per state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmmParamsFile {
    pub start: Vec<f64>,
    pub trans: Vec<Vec<f64>>,
    pub means: Vec<Vec<f64>>,
    pub vars: Vec<Vec<f64>>,
}

impl From<&HmmParams> for HmmParamsFile {
    fn from(p: &HmmParams) -> Self {
        let rows = |a: &Array2<f64>| a.rows().into_iter().map(|r| r.to_vec()).collect();
        HmmParamsFile { start: p.start.to_vec(), trans: rows(&p.trans), means: rows(&p.means), vars: rows(&p.vars) }
    }
}

impl HmmParamsFile {
    /// The model these parameters describe; ragged rows and invalid values
    /// are named (`trans row 1 has 2 values, expected 3`).
    pub fn to_model(&self) -> Result<GaussianHmm, HmmError> {
        let n = self.start.len();
        let d = self.means.first().map_or(0, Vec::len);
        let matrix = |name: &str, rows: &[Vec<f64>], cols: usize| -> Result<Array2<f64>, HmmError> {
            if rows.len() != n {
                return Err(HmmError::BadModel(format!(
                    "{name} has {} rows, expected {n} (one per state)",
                    rows.len()
                )));
            }
            if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
                return Err(HmmError::BadModel(format!("{name} row {i} has {} values, expected {cols}", row.len())));
            }
            Ok(Array2::from_shape_fn((n, cols), |(i, j)| rows[i][j]))
        };
        GaussianHmm::new(HmmParams {
            start: Array1::from(self.start.clone()),
            trans: matrix("trans", &self.trans, n)?,
            means: matrix("means", &self.means, d)?,
            vars: matrix("vars", &self.vars, d)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_exactly() {
        let file = HmmParamsFile {
            start: vec![0.1, 0.9],
            trans: vec![vec![0.7, 0.3], vec![1.0 / 3.0, 2.0 / 3.0]],
            means: vec![vec![0.1, -1e-17], vec![std::f64::consts::PI, 2.0]],
            vars: vec![vec![0.5, 1e-6], vec![3.0, 7.25]],
        };
        let json = serde_json::to_string(&file).unwrap();
        let back: HmmParamsFile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, file);
        let model = back.to_model().unwrap();
        assert_eq!(HmmParamsFile::from(model.params()), file);
    }

    #[test]
    fn ragged_or_invalid_parameters_are_named() {
        let mut file = HmmParamsFile {
            start: vec![0.5, 0.5],
            trans: vec![vec![0.5, 0.5], vec![1.0]],
            means: vec![vec![0.0], vec![1.0]],
            vars: vec![vec![1.0], vec![1.0]],
        };
        assert_eq!(file.to_model().unwrap_err().to_string(), "model: trans row 1 has 1 values, expected 2");
        file.trans[1] = vec![0.5, 0.5];
        file.vars[0][0] = -1.0;
        assert!(file.to_model().unwrap_err().to_string().contains("variance -1"));
        let unknown =
            serde_json::from_str::<HmmParamsFile>(r#"{"start":[1],"trans":[[1]],"means":[[0]],"vars":[[1]],"x":1}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown field `x`"));
    }
}
