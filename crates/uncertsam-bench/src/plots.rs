//! PNG plots of a run: per dataset, the pooled reliability diagram, the risk-coverage curves
//! and the mask-level uncertainty-vs-error scatter of every estimator. Text uses DejaVu Sans from the system (`/usr/share/fonts`); without it
//! the plots are skipped with a message, never an error.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use uncertsam_metrics::DatasetMetrics;

const FONT_PATHS: [&str; 2] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// Registers DejaVu Sans as `sans-serif` once; false when no font file is found.
pub fn load_font() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        FONT_PATHS.iter().any(|p| match std::fs::read(p) {
            Ok(bytes) => register_font(
                "sans-serif",
                FontStyle::Normal,
                Box::leak(bytes.into_boxed_slice()),
            )
            .is_ok(),
            Err(_) => false,
        })
    })
}

/// One estimator's masks of one dataset: (mean uncertainty, 1 - IoU) per mask.
pub type ErrorPoints = Vec<(f64, f64)>;

/// Writes `<out>/plots/<dataset>_{reliability,risk_coverage,unc_vs_error}.png`; `points` holds,
/// per dataset, each estimator's masks in the order of `data`.
pub fn write_plots(
    out: &Path,
    data: &[(String, Vec<(String, DatasetMetrics)>)],
    points: &[Vec<ErrorPoints>],
) -> Result<()> {
    if !load_font() {
        eprintln!("note: no DejaVu Sans font found; skipping plots");
        return Ok(());
    }
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir)?;
    for ((dataset, estimators), points) in data.iter().zip(points) {
        unc_vs_error(
            &dir.join(format!("{dataset}_unc_vs_error.png")),
            dataset,
            estimators,
            points,
        )?;
        reliability(
            &dir.join(format!("{dataset}_reliability.png")),
            dataset,
            estimators,
        )?;
        risk_coverage(
            &dir.join(format!("{dataset}_risk_coverage.png")),
            dataset,
            estimators,
        )?;
    }
    Ok(())
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("plotting: {e}")
}

/// One labelled curve of a [`line_chart`]; `markers` adds a dot at every point.
pub(crate) struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub markers: bool,
}

/// Frame of a [`line_chart`]: size, caption, axis ranges and names, legend corner, and whether
/// the `y = x` diagonal is drawn under the curves.
pub(crate) struct Frame<'a> {
    pub size: (u32, u32),
    pub caption: String,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    pub legend: SeriesLabelPosition,
    pub diagonal: bool,
}

/// A PNG line chart at `path`: one coloured curve (Palette99, in order) per line, with a legend.
pub(crate) fn line_chart(path: &Path, frame: Frame<'_>, lines: &[Line]) -> Result<()> {
    let root = BitMapBackend::new(path, frame.size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(frame.caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(frame.x.0..frame.x.1, frame.y.0..frame.y.1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(frame.x_desc)
        .y_desc(frame.y_desc)
        .draw()
        .map_err(err)?;
    if frame.diagonal {
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))
            .map_err(err)?;
    }
    for (i, line) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(line.points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(line.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color.stroke_width(2)));
        if line.markers {
            chart
                .draw_series(
                    line.points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(frame.legend)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn reliability(path: &Path, dataset: &str, estimators: &[(String, DatasetMetrics)]) -> Result<()> {
    let lines: Vec<Line> = estimators
        .iter()
        .map(|(name, m)| Line {
            label: format!("{name} (ECE {:.3})", m.pooled.ece),
            points: m
                .pooled
                .bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.mean_confidence, b.accuracy))
                .collect(),
            markers: true,
        })
        .collect();
    let frame = Frame {
        size: (640, 480),
        caption: format!("{dataset}: reliability (pooled pixels)"),
        x: (0.0, 1.0),
        y: (0.0, 1.0),
        x_desc: "mean confidence p",
        y_desc: "fraction foreground",
        legend: SeriesLabelPosition::MiddleRight,
        diagonal: true,
    };
    line_chart(path, frame, &lines)
}

fn risk_coverage(
    path: &Path,
    dataset: &str,
    estimators: &[(String, DatasetMetrics)],
) -> Result<()> {
    let ymax = estimators
        .iter()
        .flat_map(|(_, m)| m.risk_coverage_unc.risk.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.05f64, f64::max);
    let lines: Vec<Line> = estimators
        .iter()
        .map(|(name, m)| {
            let rc = &m.risk_coverage_unc;
            Line {
                label: format!("{name} (AURC {:.3})", rc.aurc),
                points: rc
                    .coverage
                    .iter()
                    .copied()
                    .zip(rc.risk.iter().copied())
                    .collect(),
                markers: false,
            }
        })
        .collect();
    let frame = Frame {
        size: (640, 480),
        caption: format!("{dataset}: risk-coverage (risk = 1 - IoU)"),
        x: (0.0, 1.0),
        y: (0.0, ymax * 1.05),
        x_desc: "coverage (most certain masks first)",
        y_desc: "selective risk",
        legend: SeriesLabelPosition::MiddleRight,
        diagonal: false,
    };
    line_chart(path, frame, &lines)
}

/// One panel per estimator: each mask's mean uncertainty (x, scaled to the estimator's own
/// maximum, since estimators use different units) against its error 1 - IoU (y), with the
/// mask-level Spearman correlation of uncertainty and IoU (negative is good).
fn unc_vs_error(
    path: &Path,
    dataset: &str,
    estimators: &[(String, DatasetMetrics)],
    points: &[ErrorPoints],
) -> Result<()> {
    let cols = 4usize;
    let rows = estimators.len().div_ceil(cols).max(1);
    let root =
        BitMapBackend::new(path, (cols as u32 * 260, rows as u32 * 230 + 30)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!("{dataset}: mask error vs mean uncertainty"),
            ("sans-serif", 20),
        )
        .map_err(err)?;
    let panels = root.split_evenly((rows, cols));
    for (i, ((name, m), pts)) in estimators.iter().zip(points).enumerate() {
        let xmax = pts
            .iter()
            .map(|p| p.0)
            .filter(|v| v.is_finite())
            .fold(0f64, f64::max)
            .max(1e-12);
        let mut chart = ChartBuilder::on(&panels[i])
            .caption(
                format!("{name} (rho {:.2})", m.unc_vs_iou.spearman),
                ("sans-serif", 13),
            )
            .margin(6)
            .x_label_area_size(28)
            .y_label_area_size(34)
            .build_cartesian_2d(0f64..xmax * 1.05, 0f64..1f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(5)
            .x_desc("mean u")
            .y_desc("1 - IoU")
            .draw()
            .map_err(err)?;
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .map(|&p| Circle::new(p, 2, color.mix(0.7).filled())),
            )
            .map_err(err)?;
    }
    root.present().map_err(err)
}
