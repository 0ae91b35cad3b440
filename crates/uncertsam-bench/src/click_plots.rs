//! The IoU-per-click curves of click refinement, one PNG per dataset (fonts as in
//! [`crate::plots`]).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

use crate::plots::{err, load_font};
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
    let root = BitMapBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let k = curves
        .iter()
        .map(|(_, c)| c.len())
        .max()
        .unwrap_or(1)
        .max(2)
        - 1;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{dataset}: IoU after j clicks"), ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..k as f64, 0f64..1f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("clicks")
        .y_desc("mean IoU")
        .draw()
        .map_err(err)?;
    for (i, (name, curve)) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(f64, f64)> = curve
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(j, &v)| (j as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
