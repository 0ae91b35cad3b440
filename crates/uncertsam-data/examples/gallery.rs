//! Writes a gallery PNG of the synthetic benchmark: one row per dataset (Synth-Clean test, then
//! each shift in `Condition::SHIFTS` order), mask outlines drawn in colour.
//!
//! The images are generated into a temporary directory and read back through
//! `UncertSamSplit`, so the gallery shows exactly what the benchmark loads.
//!
//! ```text
//! cargo run --release -p uncertsam-data --example gallery -- docs/synth-gallery.png
//! ```

use anyhow::Context as _;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{RgbImage, imageops};
use uncertsam_data::synth::{Condition, SynthConfig, generate};
use uncertsam_data::{Mask, SampleSource, UncertSamSplit};

const COLUMNS: usize = 4;
const TILE: u32 = 160;
const GAP: u32 = 4;
const OUTLINE: [[u8; 3]; 4] = [[255, 40, 40], [40, 255, 40], [60, 120, 255], [255, 220, 0]];

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "docs/synth-gallery.png".to_owned());
    let config = SynthConfig {
        train: 0,
        val: 0,
        test: COLUMNS,
        shifted_test: COLUMNS,
        ..SynthConfig::default()
    };
    let dir = tempfile::tempdir()?;
    generate(&config, dir.path())?;
    let rows: Vec<Condition> = std::iter::once(Condition::Clean)
        .chain(Condition::SHIFTS)
        .collect();
    let (w, h) = (
        COLUMNS as u32 * (TILE + GAP) + GAP,
        rows.len() as u32 * (TILE + GAP) + GAP,
    );
    let mut gallery = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    for (r, condition) in rows.iter().enumerate() {
        let split = UncertSamSplit::open(dir.path(), condition.dataset_name(), "test")?;
        for (c, sample) in split.samples().take(COLUMNS).enumerate() {
            let sample = sample.with_context(|| format!("loading {}", condition.dataset_name()))?;
            let mut image = sample.image;
            for (k, m) in sample.masks.iter().enumerate() {
                draw_outline(&mut image, &m.mask, OUTLINE[k % OUTLINE.len()]);
            }
            let tile = imageops::resize(&image, TILE, TILE, imageops::FilterType::Triangle);
            let (x, y) = (GAP + c as u32 * (TILE + GAP), GAP + r as u32 * (TILE + GAP));
            imageops::replace(&mut gallery, &tile, i64::from(x), i64::from(y));
        }
    }
    // Best compression keeps the committed PNG under 1 MB.
    let file = std::fs::File::create(&out).with_context(|| format!("creating {out}"))?;
    let encoder = PngEncoder::new_with_quality(
        std::io::BufWriter::new(file),
        CompressionType::Best,
        PngFilter::Adaptive,
    );
    gallery
        .write_with_encoder(encoder)
        .with_context(|| format!("writing {out}"))?;
    println!("wrote {out} ({}x{})", w, h);
    Ok(())
}

/// Colours the mask pixels that touch the background (a 2-pixel-wide outline inside the mask).
fn draw_outline(image: &mut RgbImage, mask: &Mask, colour: [u8; 3]) {
    for y in 0..mask.height() {
        for x in 0..mask.width() {
            if !mask.get(x, y) {
                continue;
            }
            let edge = (-2i64..=2).any(|dy| {
                (-2i64..=2).any(|dx| {
                    let (xx, yy) = (x as i64 + dx, y as i64 + dy);
                    xx < 0 || yy < 0 || !mask.get(xx as usize, yy as usize)
                })
            });
            if edge && dxdy_close(mask, x, y) {
                image.put_pixel(x as u32, y as u32, image::Rgb(colour));
            }
        }
    }
}

/// Keeps the outline to pixels within 1 pixel of the boundary (4-neighbourhood grown once).
fn dxdy_close(mask: &Mask, x: usize, y: usize) -> bool {
    [
        (-1i64, 0i64),
        (1, 0),
        (0, -1),
        (0, 1),
        (-1, -1),
        (1, 1),
        (-1, 1),
        (1, -1),
    ]
    .iter()
    .any(|(dx, dy)| {
        let (xx, yy) = (x as i64 + dx, y as i64 + dy);
        xx < 0 || yy < 0 || !mask.get(xx as usize, yy as usize)
    })
}
