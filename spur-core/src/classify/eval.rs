//! Accuracy, macro-F1 and confusion matrices, for the evaluation harness.

use std::fmt::Write as _;

/// Predictions against gold labels over a fixed label set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub labels: Vec<String>,
    /// `matrix[gold][predicted]`.
    pub matrix: Vec<Vec<usize>>,
}

impl Evaluation {
    pub fn new(labels: &[&str]) -> Self {
        Self {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            matrix: vec![vec![0; labels.len()]; labels.len()],
        }
    }

    /// Records one pair; labels outside the set are ignored.
    pub fn add(&mut self, gold: &str, predicted: &str) {
        let find = |l: &str| self.labels.iter().position(|x| x == l);
        if let (Some(g), Some(p)) = (find(gold), find(predicted)) {
            self.matrix[g][p] += 1;
        }
    }

    pub fn total(&self) -> usize {
        self.matrix.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.labels.len()).map(|i| self.matrix[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Unweighted mean of per-label F1.
    pub fn macro_f1(&self) -> f64 {
        let n = self.labels.len();
        let f1s: Vec<f64> = (0..n)
            .map(|i| {
                let tp = self.matrix[i][i];
                let predicted: usize = (0..n).map(|g| self.matrix[g][i]).sum();
                let actual: usize = self.matrix[i].iter().sum();
                let (p, r) = (ratio(tp, predicted), ratio(tp, actual));
                if p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                }
            })
            .collect();
        f1s.iter().sum::<f64>() / n.max(1) as f64
    }

    /// A plain-text report with the confusion matrix (rows: gold).
    pub fn report(&self, title: &str) -> String {
        let mut out = format!(
            "{title}: n={} accuracy={:.1}% macro-F1={:.3}\n  gold \\ predicted",
            self.total(),
            self.accuracy() * 100.0,
            self.macro_f1()
        );
        for label in &self.labels {
            let _ = write!(out, " {label:>10}");
        }
        for (i, row) in self.matrix.iter().enumerate() {
            let _ = write!(out, "\n  {:>17}", self.labels[i]);
            for count in row {
                let _ = write!(out, " {count:>10}");
            }
        }
        out
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_accuracy_and_macro_f1() {
        let mut e = Evaluation::new(&["a", "b"]);
        for (g, p) in [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("x", "a")] {
            e.add(g, p);
        }
        assert_eq!(e.total(), 4);
        assert!((e.accuracy() - 0.75).abs() < 1e-9);
        // F1(a) = 2*(1*2/3)/(1+2/3) = 0.8; F1(b) = 2*(0.5*1)/(1.5) = 0.667
        assert!((e.macro_f1() - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-9);
        assert!(e.report("t").contains("accuracy=75.0%"));
    }
}
