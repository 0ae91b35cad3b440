//! `uncertsam predict`: one image, box / point prompts, one estimator; writes the mask, the
//! uncertainty map and an overlay PNG.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Args;
use image::{GrayImage, Luma, Rgb, RgbImage};
use uncertsam_estimate::{EncodedImage, Segmenter};
use uncertsam_sam::PromptBatch;
use uncertsam_sam::frame::to_host;

use crate::args::{BenchArgs, PromptKind};
use crate::inputs::load_model;
use crate::registry::{ExternalEstimators, Registry};
use crate::user_prompts::{parse_box, parse_point, prompt_row};

/// `uncertsam predict`.
#[derive(Args, Clone, Debug)]
pub struct PredictArgs {
    /// The image.
    #[arg(long)]
    pub image: PathBuf,
    /// A box `x0,y0,x1,y1` in image pixels.
    #[arg(long = "box")]
    pub bbox: Option<String>,
    /// A point `x,y[,label]` (label 1 foreground, 0 background); repeatable.
    #[arg(long = "point")]
    pub points: Vec<String>,
    /// Estimator (see `uncertsam bench --list-estimators`).
    #[arg(long, default_value = "laplace_probit")]
    pub estimator: String,
    /// Also write the raw float32 maps at the image size as numpy files: `logits.npy`,
    /// `uncertainty.npy`, `std.npy` (sampling estimators) and `iou.npy`.
    #[arg(long)]
    pub npy: bool,
    /// Model, data (for fitting Laplace), samples, seed and `--out` (where `mask.png`,
    /// `uncertainty.png` and `overlay.png` go), as for `bench`.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// Runs one estimator on one image and writes the PNGs.
pub fn run<B: Backend, E: ExternalEstimators>(
    args: &PredictArgs,
    registry: &Registry<'_, E>,
    device: &B::Device,
) -> Result<()> {
    let image = image::open(&args.image)
        .with_context(|| format!("reading {}", args.image.display()))?
        .to_rgb8();
    let points = args
        .points
        .iter()
        .map(|p| parse_point(p))
        .collect::<Result<Vec<_>, _>>()?;
    let bbox = args.bbox.as_deref().map(parse_box).transpose()?;
    let row = prompt_row(bbox, &points, image.width(), image.height())
        .with_context(|| format!("prompt for {}", args.image.display()))?;
    let mut bench = args.bench.clone();
    bench.estimators = vec![args.estimator.clone()];
    bench.prompt = PromptKind::Box;
    let (sam, _) = load_model::<B>(&bench, device)?;
    // Only a Laplace fit reads `--data` (the embedded model's fits are committed).
    if crate::fitted::fits_on_data(&bench) {
        crate::data_checks::ensure_data_root(&bench.data)?;
    }
    let est = registry
        .build(&sam, &bench)?
        .pop()
        .context("no estimator built")?;
    let encoded = EncodedImage::new(&sam, image.clone());
    let mut rng = uncertsam_data::SampleSeed::image(args.bench.seed, "predict", 0).rng("estimator");
    let estimate = est.estimate(&sam, &encoded, &PromptBatch::new().with_row(row), &mut rng)?;
    let up = |x: Tensor<B, 3>, what| to_host(sam.upsample(x, &encoded.embedding), what);
    let logits = up(estimate.logits, "logits")?;
    let unc = up(estimate.maps.primary_map().clone(), "uncertainty")?;
    write_pngs(&args.bench.out, &image, &logits, &unc)?;
    if args.npy {
        let (w, h) = image.dimensions();
        let shape = [h as usize, w as usize];
        let out = &args.bench.out;
        write_npy(&out.join("logits.npy"), &shape, &logits)?;
        write_npy(&out.join("uncertainty.npy"), &shape, &unc)?;
        if let Some(s) = estimate.maps.std {
            write_npy(&out.join("std.npy"), &shape, &up(s, "std")?)?;
        }
        let iou = to_host(estimate.iou, "iou")?;
        write_npy(&out.join("iou.npy"), &[iou.len()], &iou)?;
    }
    println!("wrote {} ({})", args.bench.out.display(), est.name());
    Ok(())
}

/// Writes little-endian f32 `values` of `shape` as a `.npy` file (format 1.0, C order).
fn write_npy(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(" ")
    );
    // Magic (6) + version (2) + length (2) + header, padded with spaces to 64 bytes, then \n.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * values.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn write_pngs(out: &Path, image: &RgbImage, logits: &[f32], unc: &[f32]) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let (w, h) = image.dimensions();
    let umax = unc.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
    let mask = GrayImage::from_fn(w, h, |x, y| {
        Luma([if logits[(y * w + x) as usize] > 0.0 {
            255
        } else {
            0
        }])
    });
    let heat = RgbImage::from_fn(w, h, |x, y| {
        let t = (unc[(y * w + x) as usize] / umax).clamp(0.0, 1.0);
        Rgb([
            (255.0 * t) as u8,
            (255.0 * (1.0 - (2.0 * t - 1.0).abs())) as u8,
            (255.0 * (1.0 - t)) as u8,
        ])
    });
    let overlay = RgbImage::from_fn(w, h, |x, y| {
        let i = (y * w + x) as usize;
        let p = image.get_pixel(x, y).0;
        let t = (unc[i] / umax).clamp(0.0, 1.0);
        let fg = logits[i] > 0.0;
        let mix = |c: u8, m: f32| ((c as f32) * (1.0 - 0.45) + m * 0.45) as u8;
        if fg {
            Rgb([
                mix(p[0], 255.0 * t),
                mix(p[1], 200.0),
                mix(p[2], 255.0 * (1.0 - t)),
            ])
        } else {
            Rgb([mix(p[0], 255.0 * t), p[1], p[2]])
        }
    });
    for (name, result) in [
        ("mask.png", mask.save(out.join("mask.png"))),
        ("uncertainty.png", heat.save(out.join("uncertainty.png"))),
        ("overlay.png", overlay.save(out.join("overlay.png"))),
    ] {
        result.with_context(|| format!("writing {}", out.join(name).display()))?;
    }
    Ok(())
}
