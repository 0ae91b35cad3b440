//! The known datasets: the eight UncertSAM benchmark datasets and their quirks, and the
//! synthetic ones of [`crate::synth`] (which reads this list; this module reads nothing of it).

/// What the benchmark needs to know about a dataset besides its files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatasetInfo {
    /// Name as the code and the on-disk layout spell it.
    pub name: &'static str,
    /// The condition it stresses.
    pub condition: &'static str,
    /// Scale at which metrics are computed: predictions and ground truth are resized by this
    /// factor before scoring (BIG uses 0.5 because of its 2K-6K images). The loader itself
    /// always returns original-resolution data; the benchmark applies the scale.
    pub eval_scale: f32,
}

/// The eight datasets of the UncertSAM benchmark, in the order of the original code.
pub const UNCERTSAM_DATASETS: [DatasetInfo; 8] = [
    info("BIG", "fine-grained high-resolution objects", 0.5),
    info("COIFT", "fine-grained objects (thin structures)", 1.0),
    info("COD10K-v3", "camouflage", 1.0),
    info("MSD_Spleen", "medical CT", 1.0),
    info("ISTD", "shadows", 1.0),
    info("SBU-shadow", "shadows", 1.0),
    info("Flare7K", "lens flare", 1.0),
    info("Trans10K", "transparent objects", 1.0),
];

/// The synthetic datasets, with the condition each mirrors.
pub const SYNTH_DATASETS: [DatasetInfo; 7] = [
    synth("Synth-Clean", "clean (in-domain)"),
    synth("Synth-Shadow", "cast shadows (like ISTD, SBU-shadow)"),
    synth("Synth-Transparency", "transparent objects (like Trans10K)"),
    synth("Synth-Camouflage", "camouflage (like COD10K-v3)"),
    synth(
        "Synth-CT",
        "grayscale, noisy, low-contrast CT (like MSD_Spleen)",
    ),
    synth("Synth-Flare", "lens flare (like Flare7K)"),
    synth("Synth-Fine", "thin structures (like BIG, COIFT)"),
];

const fn synth(name: &'static str, condition: &'static str) -> DatasetInfo {
    DatasetInfo {
        name,
        condition,
        eval_scale: 1.0,
    }
}

const fn info(name: &'static str, condition: &'static str, eval_scale: f32) -> DatasetInfo {
    DatasetInfo {
        name,
        condition,
        eval_scale,
    }
}

/// Looks up a known dataset (the eight benchmark sets and the synthetic ones) by name.
pub fn dataset_info(name: &str) -> Option<DatasetInfo> {
    UNCERTSAM_DATASETS
        .iter()
        .chain(SYNTH_DATASETS.iter())
        .find(|d| d.name == name)
        .copied()
}

/// The metric scale of a dataset: 0.5 for BIG, 1.0 for every other (including unknown) name.
pub fn eval_scale(name: &str) -> f32 {
    dataset_info(name).map_or(1.0, |d| d.eval_scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_big_is_evaluated_at_half_scale() {
        assert_eq!(eval_scale("BIG"), 0.5);
        for d in UNCERTSAM_DATASETS.iter().filter(|d| d.name != "BIG") {
            assert_eq!(eval_scale(d.name), 1.0);
        }
        assert_eq!(eval_scale("my-own-data"), 1.0);
    }
}
