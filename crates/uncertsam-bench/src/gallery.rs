//! The overlay gallery: for the first [`GALLERY_IMAGES`] images of every dataset, one strip per
//! estimator and first mask (image, ground truth, prediction, uncertainty heat map, error map),
//! written next to the image's part; `merge` stacks a dataset's strips into
//! `plots/<dataset>_gallery.png` with labels.
//!
//! Strips are plain PNGs written atomically, so a killed run leaves whole strips and `--resume`
//! rewrites those of the images it reruns.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use image::{ImageFormat, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::colors::colormaps::ViridisRGB;

use crate::parts::write_atomic;

/// Images per dataset (by position in the split) that get gallery strips.
pub const GALLERY_IMAGES: usize = 2;
/// Height of one panel in a strip (the image is resized to it, keeping its aspect).
const PANEL_H: u32 = 128;
/// Gap between panels, in pixels.
const GAP: u32 = 4;
/// Width of the label column of the composed gallery.
const LABEL_W: u32 = 260;
/// Height of the header row of the composed gallery.
const HEADER_H: u32 = 24;
/// Panel titles, left to right.
const PANELS: [&str; 5] = [
    "image",
    "ground truth",
    "prediction",
    "uncertainty (0..max)",
    "error: red FP, blue FN",
];

/// One mask's maps at the original resolution (`h * w` values each, row-major).
pub struct StripMaps<'a> {
    /// Ground truth in `{0, 1}`.
    pub gt: &'a [u8],
    /// Predicted logits.
    pub logits: &'a [f32],
    /// Per-pixel uncertainty (any non-negative scale).
    pub uncertainty: &'a [f32],
}

/// Directory of a dataset's strips.
fn strip_dir(out: &Path, dataset: &str) -> PathBuf {
    out.join("gallery").join(dataset)
}

/// A file-name-safe version of an estimator name (`mc_dropout(p=0.1)` -> `mc_dropout_p_0.1_`).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `<out>/gallery/<dataset>/<index:08>__<estimator>.png`.
pub fn write_strip(
    out: &Path,
    dataset: &str,
    index: usize,
    estimator: &str,
    image: &RgbImage,
    maps: &StripMaps<'_>,
) -> Result<()> {
    let (w, h) = image.dimensions();
    let n = (w * h) as usize;
    if maps.gt.len() != n || maps.logits.len() != n || maps.uncertainty.len() != n {
        return Err(anyhow!(
            "gallery strip for {dataset} #{index} / {estimator}: maps have {}, {}, {} values, the image {w}x{h}",
            maps.gt.len(),
            maps.logits.len(),
            maps.uncertainty.len()
        ));
    }
    let umax = maps
        .uncertainty
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0f32, f32::max);
    let panel =
        |f: &dyn Fn(usize) -> Rgb<u8>| RgbImage::from_fn(w, h, |x, y| f((y * w + x) as usize));
    let gray = |on: bool| {
        if on {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    };
    let panels = [
        image.clone(),
        panel(&|i| gray(maps.gt[i] > 0)),
        panel(&|i| gray(maps.logits[i] > 0.0)),
        panel(&|i| {
            let u = maps.uncertainty[i];
            let u = if u.is_finite() { u } else { umax };
            let c = ViridisRGB.get_color_normalized(u, 0.0, umax.max(f32::MIN_POSITIVE));
            Rgb([c.0, c.1, c.2])
        }),
        panel(&|i| match (maps.logits[i] > 0.0, maps.gt[i] > 0) {
            (true, false) => Rgb([230, 40, 40]),
            (false, true) => Rgb([40, 90, 230]),
            _ => Rgb([0, 0, 0]),
        }),
    ];
    let pw = (w * PANEL_H).div_ceil(h.max(1)).max(1);
    let mut strip = RgbImage::from_pixel(5 * pw + 4 * GAP, PANEL_H, Rgb([255, 255, 255]));
    for (k, p) in panels.iter().enumerate() {
        let filter = if k == 0 || k == 3 {
            image::imageops::FilterType::Triangle
        } else {
            image::imageops::FilterType::Nearest
        };
        let small = image::imageops::resize(p, pw, PANEL_H, filter);
        image::imageops::replace(&mut strip, &small, i64::from(k as u32 * (pw + GAP)), 0);
    }
    let path = strip_dir(out, dataset).join(format!("{index:08}__{}.png", file_safe(estimator)));
    write_atomic(&path, &png(&strip)?)
}

fn png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(bytes)
}

/// Stacks the strips of every dataset into `<out>/plots/<dataset>_gallery.png`, rows ordered by
/// image, then by `estimators` (the run's table order). Datasets without strips are skipped.
pub fn compose(out: &Path, datasets: &[String], estimators: &[String]) -> Result<()> {
    for dataset in datasets {
        let dir = strip_dir(out, dataset);
        let mut rows: Vec<(String, RgbImage)> = Vec::new();
        for index in 0..GALLERY_IMAGES {
            for est in estimators {
                let path = dir.join(format!("{index:08}__{}.png", file_safe(est)));
                if !path.exists() {
                    continue;
                }
                let img = image::open(&path)
                    .with_context(|| format!("reading gallery strip {}", path.display()))?
                    .to_rgb8();
                rows.push((format!("#{index} {est}"), img));
            }
        }
        let Some(strip_w) = rows.iter().map(|(_, s)| s.width()).max() else {
            continue;
        };
        let (cw, ch) = (
            LABEL_W + strip_w,
            HEADER_H + rows.len() as u32 * (PANEL_H + GAP),
        );
        let mut canvas = RgbImage::from_pixel(cw, ch, Rgb([255, 255, 255]));
        for (r, (_, s)) in rows.iter().enumerate() {
            let y = HEADER_H + r as u32 * (PANEL_H + GAP);
            image::imageops::replace(&mut canvas, s, i64::from(LABEL_W), i64::from(y));
        }
        if crate::plots::load_font() {
            let pw = (strip_w - 4 * GAP) / 5;
            let mut buf = canvas.into_raw();
            {
                let root = BitMapBackend::with_buffer(&mut buf, (cw, ch)).into_drawing_area();
                let style = ("sans-serif", 13).into_font().color(&BLACK);
                let text_err = |e| anyhow!("gallery labels: {e:?}");
                for (k, t) in PANELS.iter().enumerate() {
                    let x = LABEL_W + k as u32 * (pw + GAP);
                    root.draw_text(t, &style, (x as i32, 5)).map_err(text_err)?;
                }
                for (r, (label, _)) in rows.iter().enumerate() {
                    let y = HEADER_H + r as u32 * (PANEL_H + GAP) + PANEL_H / 2 - 7;
                    let label: String = label.chars().take(36).collect();
                    root.draw_text(&label, &style, (4, y as i32))
                        .map_err(text_err)?;
                }
                root.present().map_err(text_err)?;
            }
            canvas = RgbImage::from_raw(cw, ch, buf).context("gallery canvas size")?;
        }
        let path = out.join("plots").join(format!("{dataset}_gallery.png"));
        write_atomic(&path, &png(&canvas)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strip_shows_false_positives_red_and_false_negatives_blue() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = RgbImage::from_pixel(4, 2, Rgb([10, 20, 30]));
        let gt = [1, 1, 0, 0, 1, 1, 0, 0];
        let logits = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
        let unc = [0.0, 0.5, 0.7, 0.1, 0.0, 0.5, 0.7, 0.1];
        let maps = StripMaps {
            gt: &gt,
            logits: &logits,
            uncertainty: &unc,
        };
        write_strip(dir.path(), "D", 0, "mc(p=1)", &img, &maps).expect("strip");
        let path = dir.path().join("gallery/D/00000000__mc_p_1_.png");
        let strip = image::open(&path).expect("png").to_rgb8();
        let pw = 4 * PANEL_H / 2;
        assert_eq!(strip.dimensions(), (5 * pw + 4 * GAP, PANEL_H));
        // Error panel: column 1 of the source (gt 1, pred 0) is a false negative, column 2 a
        // false positive; nearest-neighbour resizing keeps the colours exact.
        let err_x = 4 * (pw + GAP);
        assert_eq!(strip.get_pixel(err_x + pw * 3 / 8, 10), &Rgb([40, 90, 230]));
        assert_eq!(strip.get_pixel(err_x + pw * 5 / 8, 10), &Rgb([230, 40, 40]));
        assert_eq!(strip.get_pixel(err_x + pw / 8, 10), &Rgb([0, 0, 0]));
        compose(dir.path(), &["D".into()], &["mc(p=1)".into()]).expect("compose");
        let g = image::open(dir.path().join("plots/D_gallery.png")).expect("gallery");
        assert_eq!(g.width(), LABEL_W + strip.width());
    }

    #[test]
    fn mismatched_maps_are_a_named_error() {
        let img = RgbImage::new(3, 3);
        let maps = StripMaps {
            gt: &[0; 9],
            logits: &[0.0; 8],
            uncertainty: &[0.0; 9],
        };
        let err = write_strip(Path::new("/nonexistent"), "D", 1, "e", &img, &maps)
            .expect_err("size mismatch");
        assert!(err.to_string().contains("D #1 / e"), "{err}");
    }
}
