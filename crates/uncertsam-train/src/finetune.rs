//! Fine-tuning stages: `EPOCHSxIMAGES@LR` on the command line (`12x800@1e-3`).

use std::fmt;
use std::str::FromStr;

/// One fine-tuning stage after the main training: `epochs` over the first `images` images of
/// `Synth-Clean/train`, a fresh warm-up and cosine schedule peaking at `lr`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct FinetuneSpec {
    /// Epochs.
    pub epochs: usize,
    /// Training images (the first of the split).
    pub images: usize,
    /// Peak learning rate.
    pub lr: f64,
}

/// The stages `cargo xtask train` runs after the main training: 12 epochs on 800 images,
/// then 8 on 1600, each starting from the previous stage's weights.
pub const DEFAULT_FINETUNE: [FinetuneSpec; 2] = [
    FinetuneSpec {
        epochs: 12,
        images: 800,
        lr: 1e-3,
    },
    FinetuneSpec {
        epochs: 8,
        images: 1600,
        lr: 7e-4,
    },
];

impl FromStr for FinetuneSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("fine-tuning stage `{s}`: expected EPOCHSxIMAGES@LR, e.g. 12x800@1e-3");
        let (counts, lr) = s.split_once('@').ok_or_else(bad)?;
        let (epochs, images) = counts.split_once('x').ok_or_else(bad)?;
        let spec = Self {
            epochs: epochs.trim().parse().map_err(|_| bad())?,
            images: images.trim().parse().map_err(|_| bad())?,
            lr: lr.trim().parse().map_err(|_| bad())?,
        };
        if spec.epochs == 0 || spec.images == 0 || !(spec.lr.is_finite() && spec.lr > 0.0) {
            return Err(format!(
                "fine-tuning stage `{s}`: epochs and images must be positive and LR a positive \
                 number"
            ));
        }
        Ok(spec)
    }
}

impl fmt::Display for FinetuneSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}", self.epochs, self.images, self.lr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_print_and_reject_nonsense() {
        let s: FinetuneSpec = "12x800@1e-3".parse().expect("spec");
        assert_eq!(s, DEFAULT_FINETUNE[0]);
        assert_eq!(s.to_string().parse::<FinetuneSpec>(), Ok(s));
        for bad in [
            "",
            "12x800",
            "12@1e-3",
            "0x800@1e-3",
            "12x0@1e-3",
            "12x800@-1",
            "ax800@1",
        ] {
            assert!(bad.parse::<FinetuneSpec>().is_err(), "{bad}");
        }
    }
}
