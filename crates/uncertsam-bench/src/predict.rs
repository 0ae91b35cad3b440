//! `uncertsam predict`: one image, box / point prompts, one estimator; writes the mask, the
//! uncertainty map and an overlay PNG.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Args;
use image::{GrayImage, Luma, Rgb, RgbImage};
use uncertsam_estimate::{AnySam, EncodedImage, Estimate, Segmenter, UncertaintyEstimator};
use uncertsam_sam::frame::to_host;
use uncertsam_sam::{PromptBatch, PromptRow};

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
    /// `uncertainty.png` and `overlay.png` go), as for `bench`. `--refine V` (one of
    /// `shrink`, `logits_as_mask`, `fusion`, `fusion_ones`) refines the estimator's first pass
    /// as the bench's refinement rows do; the maps written are then the refined mask and its
    /// entropy.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// The host maps of one prediction at the image size, row-major `[height, width]`.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Mask logits (foreground where > 0).
    pub logits: Vec<f32>,
    /// Foreground probability, `sigmoid(logits)`.
    pub prob: Vec<f32>,
    /// The estimator's primary uncertainty map.
    pub uncertainty: Vec<f32>,
    /// The sample standard deviation map (sampling estimators only).
    pub std: Option<Vec<f32>>,
    /// Predicted IoU per mask.
    pub iou: Vec<f32>,
}

impl Prediction {
    /// The binary mask (`logits > 0`).
    pub fn mask(&self) -> Vec<bool> {
        self.logits.iter().map(|&l| l > 0.0).collect()
    }
}

/// Builds the estimator `spec` (`name[:key=value,...]`) for `sam` with `args`' samples and
/// model; a Laplace fit needs `args.data` (only the default synthetic root is generated).
pub fn build_estimator<B: Backend, E: ExternalEstimators>(
    registry: &Registry<'_, E>,
    sam: &AnySam<B>,
    args: &BenchArgs,
    spec: &str,
) -> Result<Box<dyn UncertaintyEstimator<B>>> {
    let mut bench = args.clone();
    bench.estimators = vec![spec.to_string()];
    bench.prompt = PromptKind::Box;
    // Only a Laplace fit reads `--data` (the embedded model's fits are committed).
    if crate::fitted::fits_on_data(&bench) {
        crate::data_checks::ensure_data_root(&bench.data)?;
    }
    registry
        .build(sam, &bench)?
        .pop()
        .context("no estimator built")
}

/// One estimator on one encoded image and prompt, seeded as `uncertsam predict --seed seed`:
/// the core both `predict` and `serve` run. The estimate stays in the decoder's frame.
pub fn estimate_encoded<B: Backend>(
    sam: &AnySam<B>,
    estimator: &dyn UncertaintyEstimator<B>,
    encoded: &EncodedImage<B>,
    row: &PromptRow,
    seed: u64,
) -> Result<Estimate<B>> {
    let mut rng = uncertsam_data::SampleSeed::image(seed, "predict", 0).rng("estimator");
    let prompts = PromptBatch::new().with_row(row.clone());
    Ok(estimator.estimate(sam, encoded, &prompts, &mut rng)?)
}

/// [`estimate_encoded`], upsampled to the image.
pub fn predict_encoded<B: Backend>(
    sam: &AnySam<B>,
    estimator: &dyn UncertaintyEstimator<B>,
    encoded: &EncodedImage<B>,
    row: PromptRow,
    seed: u64,
) -> Result<Prediction> {
    let estimate = estimate_encoded(sam, estimator, encoded, &row, seed)?;
    Prediction::from_estimate(sam, encoded, estimate)
}

impl Prediction {
    /// The host maps of `estimate` (one prompt row), upsampled to the image of `encoded`.
    pub fn from_estimate<B: Backend>(
        sam: &AnySam<B>,
        encoded: &EncodedImage<B>,
        estimate: Estimate<B>,
    ) -> Result<Self> {
        let uncertainty = estimate.maps.primary_map().clone();
        let std = estimate.maps.std;
        Self::from_low_res(
            sam,
            encoded,
            estimate.logits,
            uncertainty,
            std,
            estimate.iou,
        )
    }

    /// Upsamples low-resolution `[1, 4E, 4E]` maps (logits, uncertainty, optional std) to the
    /// image of `encoded`.
    pub fn from_low_res<B: Backend>(
        sam: &AnySam<B>,
        encoded: &EncodedImage<B>,
        logits: Tensor<B, 3>,
        uncertainty: Tensor<B, 3>,
        std: Option<Tensor<B, 3>>,
        iou: Tensor<B, 1>,
    ) -> Result<Self> {
        let up = |x: Tensor<B, 3>, what| to_host(sam.upsample(x, &encoded.embedding), what);
        let (width, height) = encoded.image.dimensions();
        let logits = up(logits, "logits")?;
        Ok(Self {
            width,
            height,
            prob: logits.iter().map(|&l| 1.0 / (1.0 + (-l).exp())).collect(),
            logits,
            uncertainty: up(uncertainty, "uncertainty")?,
            std: std.map(|s| up(s, "std")).transpose()?,
            iou: to_host(iou, "iou")?,
        })
    }
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
    let (sam, _) = load_model::<B>(&args.bench, device)?;
    let est = build_estimator(registry, &sam, &args.bench, &args.estimator)?;
    let encoded = EncodedImage::new(&sam, image.clone());
    let seed = args.bench.seed;
    let estimate = estimate_encoded(&sam, est.as_ref(), &encoded, &row, seed)?;
    let p = match refine_variant(args)? {
        None => Prediction::from_estimate(&sam, &encoded, estimate)?,
        Some(variant) => {
            let driver = args.estimator.split(':').next().unwrap_or_default().trim();
            let refiner = crate::refine_one::refiner(variant, driver, &sam, &args.bench)?;
            let (logits, unc) = crate::refine_one::refine_estimate(
                &refiner, &sam, &encoded, &row, &estimate, None, seed,
            )?;
            Prediction::from_low_res(&sam, &encoded, logits, unc, None, estimate.iou)?
        }
    };
    write_pngs(&args.bench.out, &image, &p.logits, &p.uncertainty)?;
    if args.npy {
        let shape = [p.height as usize, p.width as usize];
        let out = &args.bench.out;
        write_npy(&out.join("logits.npy"), &shape, &p.logits)?;
        write_npy(&out.join("uncertainty.npy"), &shape, &p.uncertainty)?;
        if let Some(s) = &p.std {
            write_npy(&out.join("std.npy"), &shape, s)?;
        }
        write_npy(&out.join("iou.npy"), &[p.iou.len()], &p.iou)?;
    }
    println!("wrote {} ({})", args.bench.out.display(), est.name());
    Ok(())
}

/// The one refinement variant of `--refine`, if given.
fn refine_variant(args: &PredictArgs) -> Result<Option<&str>> {
    let Some(asked) = &args.bench.refine.refine else {
        return Ok(None);
    };
    let asked: Vec<&str> = asked
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    match asked.as_slice() {
        [] | ["none"] => Ok(None),
        [one] => Ok(Some(one)),
        _ => anyhow::bail!(
            "predict applies one refinement variant; --refine got {}",
            asked.join(",")
        ),
    }
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
    let (mask, heat, overlay) = render_maps(image, logits, unc);
    for (name, result) in [
        ("mask.png", mask.save(out.join("mask.png"))),
        ("uncertainty.png", heat.save(out.join("uncertainty.png"))),
        ("overlay.png", overlay.save(out.join("overlay.png"))),
    ] {
        result.with_context(|| format!("writing {}", out.join(name).display()))?;
    }
    Ok(())
}

/// The mask (0 / 255), the uncertainty heat map (blue -> green -> red over `[0, max u]`) and
/// the overlay `predict` writes as `mask.png`, `uncertainty.png` and `overlay.png`.
pub fn render_maps(
    image: &RgbImage,
    logits: &[f32],
    unc: &[f32],
) -> (GrayImage, RgbImage, RgbImage) {
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
    (mask, heat, overlay)
}
