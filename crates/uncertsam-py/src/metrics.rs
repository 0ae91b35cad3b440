//! `uncertsam-metrics` on numpy arrays: per-mask metrics, the streaming dataset accumulator
//! and the slice-level metrics (f32 and f64 entry points).

use numpy::{Element, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use uncertsam_metrics::{
    BootstrapConfig, DatasetAccumulator, DatasetMetrics, MaskInputs, MaskMetrics, RiskCoverage,
    calibration, ranking,
};

use crate::value_error;

/// A contiguous array's values (the Python layer makes every array contiguous).
fn values<'a, T: Element, D: numpy::ndarray::Dimension>(
    name: &str,
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| value_error(format!("{name} must be a C-contiguous array")))
}

/// One mask's arrays, borrowed from numpy.
struct Mask<'a> {
    pred: &'a [u8],
    gt: &'a [u8],
    prob: &'a [f32],
    unc: &'a [f32],
    std: Option<&'a [f32]>,
    iou_pred: Option<f64>,
    height: usize,
    width: usize,
}

impl<'a> Mask<'a> {
    fn inputs(&self) -> MaskInputs<'a> {
        let mut m = MaskInputs::new(
            self.pred,
            self.gt,
            self.prob,
            self.unc,
            self.height,
            self.width,
        );
        if let Some(s) = self.std {
            m = m.with_std(s);
        }
        if let Some(v) = self.iou_pred {
            m = m.with_iou_pred(v);
        }
        m
    }
}

/// Borrows the arrays of one mask; `gt` gives the shape, the metrics crate checks the rest.
fn mask<'a>(
    pred: &'a PyReadonlyArray2<'_, u8>,
    gt: &'a PyReadonlyArray2<'_, u8>,
    prob: &'a PyReadonlyArray2<'_, f32>,
    unc: &'a PyReadonlyArray2<'_, f32>,
    std: Option<&'a PyReadonlyArray2<'_, f32>>,
    iou_pred: Option<f64>,
) -> PyResult<Mask<'a>> {
    let shape = gt.shape();
    Ok(Mask {
        pred: values("pred", pred)?,
        gt: values("gt", gt)?,
        prob: values("prob", prob)?,
        unc: values("uncertainty", unc)?,
        std: std.map(|s| values("std", s)).transpose()?,
        iou_pred,
        height: shape[0],
        width: shape[1],
    })
}

/// One row as a dict `{column: value}` in `MaskMetrics::COLUMNS` order.
fn row_dict<'py>(py: Python<'py>, m: &MaskMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (c, v) in MaskMetrics::COLUMNS.iter().zip(m.values()) {
        d.set_item(*c, v)?;
    }
    Ok(d)
}

/// Every metric of one mask (`uncertsam_metrics::mask_metrics`), GIL released.
#[pyfunction]
#[pyo3(signature = (pred, gt, prob, unc, std=None, iou_pred=None))]
fn mask_metrics<'py>(
    py: Python<'py>,
    pred: PyReadonlyArray2<'py, u8>,
    gt: PyReadonlyArray2<'py, u8>,
    prob: PyReadonlyArray2<'py, f32>,
    unc: PyReadonlyArray2<'py, f32>,
    std: Option<PyReadonlyArray2<'py, f32>>,
    iou_pred: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = mask(&pred, &gt, &prob, &unc, std.as_ref(), iou_pred)?;
    let metrics = py
        .detach(|| uncertsam_metrics::mask_metrics(&m.inputs()))
        .map_err(value_error)?;
    row_dict(py, &metrics)
}

/// Wall seconds of each of `repeats` calls of the Rust `mask_metrics` alone, no Python in the
/// loop (the reference of the speed bench, `benches/mask_metrics.py`).
#[pyfunction]
#[pyo3(signature = (pred, gt, prob, unc, std=None, repeats=5))]
fn _time_rust_mask_metrics<'py>(
    py: Python<'py>,
    pred: PyReadonlyArray2<'py, u8>,
    gt: PyReadonlyArray2<'py, u8>,
    prob: PyReadonlyArray2<'py, f32>,
    unc: PyReadonlyArray2<'py, f32>,
    std: Option<PyReadonlyArray2<'py, f32>>,
    repeats: usize,
) -> PyResult<Vec<f64>> {
    let m = mask(&pred, &gt, &prob, &unc, std.as_ref(), None)?;
    py.detach(|| {
        (0..repeats)
            .map(|_| {
                let start = std::time::Instant::now();
                let r = uncertsam_metrics::mask_metrics(&m.inputs());
                let t = start.elapsed().as_secs_f64();
                r.map(|r| {
                    std::hint::black_box(r);
                    t
                })
            })
            .collect::<Result<Vec<f64>, _>>()
    })
    .map_err(value_error)
}

/// The streaming dataset accumulator (`uncertsam_metrics::DatasetAccumulator`).
#[pyclass(name = "DatasetAccumulator", module = "uncertsam._native")]
#[derive(Default)]
struct PyDatasetAccumulator {
    inner: DatasetAccumulator,
}

#[pymethods]
impl PyDatasetAccumulator {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Adds one mask; returns its row. Nothing is recorded on error.
    #[pyo3(signature = (pred, gt, prob, unc, std=None, iou_pred=None))]
    #[allow(clippy::too_many_arguments)]
    fn add<'py>(
        &mut self,
        py: Python<'py>,
        pred: PyReadonlyArray2<'py, u8>,
        gt: PyReadonlyArray2<'py, u8>,
        prob: PyReadonlyArray2<'py, f32>,
        unc: PyReadonlyArray2<'py, f32>,
        std: Option<PyReadonlyArray2<'py, f32>>,
        iou_pred: Option<f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let m = mask(&pred, &gt, &prob, &unc, std.as_ref(), iou_pred)?;
        let inner = &mut self.inner;
        let row = py
            .detach(|| inner.update(&m.inputs()))
            .map_err(value_error)?;
        row_dict(py, &row)
    }

    /// Number of masks added.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Every row so far, in the order added.
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let rows = self
            .inner
            .rows()
            .iter()
            .map(|r| row_dict(py, r))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, rows)
    }

    /// Dataset-level metrics with a seeded percentile bootstrap.
    #[pyo3(signature = (resamples=1000, level=0.95, seed=0))]
    fn finish<'py>(
        &self,
        py: Python<'py>,
        resamples: usize,
        level: f64,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let config = BootstrapConfig {
            resamples,
            level,
            seed,
        };
        let inner = &self.inner;
        let m = py.detach(|| inner.finish(&config)).map_err(value_error)?;
        dataset_dict(py, &m)
    }
}

fn risk_coverage_dict<'py>(py: Python<'py>, rc: &RiskCoverage) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("coverage", rc.coverage.clone())?;
    d.set_item("risk", rc.risk.clone())?;
    d.set_item("aurc", rc.aurc)?;
    d.set_item("aurc_optimal", rc.aurc_optimal)?;
    d.set_item("eaurc", rc.eaurc)?;
    Ok(d)
}

fn correlation_dict<'py>(
    py: Python<'py>,
    c: &uncertsam_metrics::Correlation,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("pearson", c.pearson)?;
    d.set_item("spearman", c.spearman)?;
    Ok(d)
}

/// `DatasetMetrics` as nested dicts and lists (NaN stays NaN).
fn dataset_dict<'py>(py: Python<'py>, m: &DatasetMetrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("n_masks", m.n_masks)?;
    let means = PyDict::new(py);
    for c in &m.means {
        let e = PyDict::new(py);
        e.set_item("mean", c.mean)?;
        e.set_item("count", c.count)?;
        e.set_item("ci_low", c.ci.low)?;
        e.set_item("ci_high", c.ci.high)?;
        means.set_item(c.column, e)?;
    }
    d.set_item("means", means)?;
    d.set_item("unc_vs_iou", correlation_dict(py, &m.unc_vs_iou)?)?;
    match &m.iou_pred_vs_iou {
        Some(c) => d.set_item("iou_pred_vs_iou", correlation_dict(py, c)?)?,
        None => d.set_item("iou_pred_vs_iou", py.None())?,
    }
    d.set_item(
        "risk_coverage_unc",
        risk_coverage_dict(py, &m.risk_coverage_unc)?,
    )?;
    match &m.risk_coverage_iou_pred {
        Some(rc) => d.set_item("risk_coverage_iou_pred", risk_coverage_dict(py, rc)?)?,
        None => d.set_item("risk_coverage_iou_pred", py.None())?,
    }
    let pooled = PyDict::new(py);
    pooled.set_item("n_pixels", m.pooled.n_pixels)?;
    pooled.set_item("ece", m.pooled.ece)?;
    pooled.set_item("brier", m.pooled.brier)?;
    pooled.set_item("nll", m.pooled.nll)?;
    let bins = m
        .pooled
        .bins
        .iter()
        .map(|b| {
            let e = PyDict::new(py);
            e.set_item("lower", b.lower)?;
            e.set_item("upper", b.upper)?;
            e.set_item("count", b.count)?;
            e.set_item("mean_confidence", b.mean_confidence)?;
            e.set_item("accuracy", b.accuracy)?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    pooled.set_item("bins", PyList::new(py, bins)?)?;
    d.set_item("pooled", pooled)?;
    let boot = PyDict::new(py);
    boot.set_item("resamples", m.bootstrap.resamples)?;
    boot.set_item("level", m.bootstrap.level)?;
    boot.set_item("seed", m.bootstrap.seed)?;
    d.set_item("bootstrap", boot)?;
    Ok(d)
}

macro_rules! slice_metric {
    ($(#[$doc:meta])* $name:ident, $x:ident: $tx:ty, $y:ident: $ty:ty, $body:expr) => {
        $(#[$doc])*
        #[pyfunction]
        fn $name(py: Python<'_>, $x: PyReadonlyArray1<'_, $tx>, $y: PyReadonlyArray1<'_, $ty>) -> PyResult<f64> {
            let $x = values(stringify!($x), &$x)?;
            let $y = values(stringify!($y), &$y)?;
            py.detach(|| $body).map_err(value_error)
        }
    };
}

slice_metric!(
    /// AUROC of f32 scores (ranked as f32).
    auroc_f32, scores: f32, labels: bool, ranking::auroc(scores, labels)
);
slice_metric!(
    /// AUROC of f64 scores (ranked as f64).
    auroc_f64, scores: f64, labels: bool, ranking::auroc_f64(scores, labels)
);
slice_metric!(
    /// Average precision of f32 scores.
    average_precision_f32, scores: f32, labels: bool, ranking::average_precision(scores, labels)
);
slice_metric!(
    /// Average precision of f64 scores.
    average_precision_f64, scores: f64, labels: bool, ranking::average_precision_f64(scores, labels)
);
slice_metric!(
    /// Spearman's rho of f32 values (exact integer ranks).
    spearman_f32, x: f32, y: f32, ranking::spearman(x, y)
);
slice_metric!(
    /// Spearman's rho of f64 values.
    spearman_f64, x: f64, y: f64, ranking::spearman_f64(x, y)
);
slice_metric!(
    /// Pearson's r in f64.
    pearson, x: f64, y: f64, ranking::pearson(x, y)
);
slice_metric!(
    /// Binary ECE of f32 probabilities (torchmetrics' f32 bin edges).
    ece_f32, prob: f32, gt: u8, if prob.is_empty() {
        Err(uncertsam_metrics::MetricsError::Empty { name: "prob" })
    } else {
        calibration::binary_ece(prob, gt)
    }
);
slice_metric!(
    /// Binary ECE of f64 probabilities (f64 bin edges k/10).
    ece_f64, prob: f64, gt: u8, calibration::binary_ece_f64(prob, gt)
);
slice_metric!(
    /// Brier score in f64.
    brier, prob: f64, gt: u8, calibration::brier_f64(prob, gt)
);

/// Adds this module's functions and classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("COLUMNS", MaskMetrics::COLUMNS.to_vec())?;
    m.add_class::<PyDatasetAccumulator>()?;
    for f in [
        wrap_pyfunction!(mask_metrics, m)?,
        wrap_pyfunction!(auroc_f32, m)?,
        wrap_pyfunction!(auroc_f64, m)?,
        wrap_pyfunction!(average_precision_f32, m)?,
        wrap_pyfunction!(average_precision_f64, m)?,
        wrap_pyfunction!(spearman_f32, m)?,
        wrap_pyfunction!(spearman_f64, m)?,
        wrap_pyfunction!(pearson, m)?,
        wrap_pyfunction!(ece_f32, m)?,
        wrap_pyfunction!(ece_f64, m)?,
        wrap_pyfunction!(brier, m)?,
        wrap_pyfunction!(_time_rust_mask_metrics, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
