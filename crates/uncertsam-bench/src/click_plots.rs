//! The IoU-per-click curves of click refinement, one PNG per dataset (drawn by
//! [`crate::plots::line_chart`]).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::SeriesLabelPosition;

use crate::plots::{Frame, Line, line_chart, load_font};
use crate::refine_report::ClickCurves;

/// Writes `<out>/plots/<dataset>_clicks.png`: mean IoU after 0..=k clicks of every click
/// variant (labelled `driver: variant`), per dataset.
pub fn write_click_curves(out: &Path, data: &[(String, ClickCurves)]) -> Result<()> {
    if data.is_empty() || !load_font() {
        return Ok(());
    }
    let dir = out.join("plots");
    std::fs::create_dir_all(&dir)?;
    for (dataset, curves) in data {
        click_curves(&dir.join(format!("{dataset}_clicks.png")), dataset, curves)?;
    }
    Ok(())
}

fn click_curves(path: &Path, dataset: &str, curves: &[(String, Vec<f64>)]) -> Result<()> {
    let k = curves
        .iter()
        .map(|(_, c)| c.len())
        .max()
        .unwrap_or(1)
        .max(2)
        - 1;
    let lines: Vec<Line> = curves
        .iter()
        .map(|(name, curve)| Line {
            label: name.clone(),
            points: curve
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(j, &v)| (j as f64, v))
                .collect(),
            markers: true,
        })
        .collect();
    let frame = Frame {
        size: (720, 480),
        caption: format!("{dataset}: IoU after j clicks"),
        x: (0.0, k as f64),
        y: (0.0, 1.0),
        x_desc: "clicks",
        y_desc: "mean IoU",
        legend: SeriesLabelPosition::LowerRight,
        diagonal: false,
    };
    line_chart(path, frame, &lines)
}
