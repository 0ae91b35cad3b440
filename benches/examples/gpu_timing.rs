//! Wall time of the image encoders and of a batched decoder pass on one backend, as JSON lines
//! (one per part) for `scripts/gpu-check.sh`, which puts them beside the official PyTorch code
//! timed on the same device (`scripts/gpu_torch_timing.py`, same geometries and batch).
//!
//! ```text
//! cargo run --release -p uncertsam-benches --features cuda --example gpu_timing -- \
//!     --backend cuda --dtype f32 --parts vit_b,vit_h,hiera_l,decoder:vit_b --runs 5
//! cargo run --release -p uncertsam-benches --example gpu_timing -- --parts tiny,decoder:tiny
//! ```
//!
//! Parts: a SAM preset (`vit_b`, `vit_l`, `vit_h`, `mobile_sam`, `tiny`: the image encoder on a
//! `[1, 3, S, S]` input), a SAM 2 preset (`hiera_t`, `hiera_s`, `hiera_b+`, `hiera_l`: trunk,
//! FPN neck and the decoder's high-resolution convolutions, as `forward_image`), or
//! `decoder:<SAM preset>` (prompt encoder and mask decoder, `--batch` boxes on one embedding,
//! multimask). Random weights and inputs (seeded); each part runs `--warmup` times untimed
//! (CUDA compiles and autotunes its kernels then), then `--runs` times, each ended by
//! `Backend::sync`; the median is reported.

use std::time::Instant;

use burn::prelude::*;
use uncertsam_sam::{ImageEmbedding, Prompts, Sam, Sam2, Sam2Config, SamConfig};

struct Options {
    backend: String,
    dtype: String,
    parts: Vec<String>,
    runs: usize,
    warmup: usize,
    batch: usize,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        backend: "cpu".into(),
        dtype: "f32".into(),
        parts: vec!["tiny".into(), "decoder:tiny".into()],
        runs: 5,
        warmup: 2,
        batch: 64,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{a} `{v}`: {e}"));
        match a.as_str() {
            "--backend" => o.backend = value()?,
            "--dtype" => o.dtype = value()?,
            "--parts" => o.parts = value()?.split(',').map(str::to_string).collect(),
            "--runs" => o.runs = number(value()?)?.max(1),
            "--warmup" => o.warmup = number(value()?)?,
            "--batch" => o.batch = number(value()?)?.max(1),
            _ => return Err(format!("unknown option `{a}`")),
        }
    }
    Ok(o)
}

/// Median of the timed runs of `f` and all of them, in seconds.
fn time<B: Backend>(o: &Options, device: &B::Device, mut f: impl FnMut()) -> (f64, Vec<f64>) {
    let sync = || B::sync(device).expect("backend sync");
    for _ in 0..o.warmup {
        f();
        sync();
    }
    let mut times: Vec<f64> = (0..o.runs)
        .map(|_| {
            let t = Instant::now();
            f();
            sync();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let all = times.clone();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], all)
}

fn normal<B: Backend, const D: usize>(shape: [usize; D], device: &B::Device) -> Tensor<B, D> {
    Tensor::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), device)
}

/// Times one part; `Err` names a part this binary does not know.
fn part<B: Backend>(
    o: &Options,
    name: &str,
    device: &B::Device,
) -> Result<(f64, Vec<f64>), String> {
    if let Some(preset) = name.strip_prefix("decoder:") {
        let cfg = SamConfig::preset(preset).ok_or(format!("no SAM preset `{preset}`"))?;
        let sam = Sam::<B>::new(&cfg, device).map_err(|e| e.to_string())?;
        let [eh, ew] = cfg.image_embedding_size;
        let s = cfg.img_size;
        let emb = ImageEmbedding {
            embeddings: normal::<B, 4>([1, cfg.prompt_embed_dim, eh, ew], device),
            input_size: [s, s],
            original_size: [s, s],
        };
        // `--batch` boxes spread over the image, as a batch of prompt perturbations would be.
        let f = s as f32;
        let boxes: Vec<f32> = (0..o.batch)
            .flat_map(|i| {
                let t = i as f32 / o.batch as f32;
                [
                    0.1 * f + 0.2 * f * t,
                    0.15 * f,
                    0.6 * f + 0.3 * f * t,
                    0.8 * f,
                ]
            })
            .collect();
        let prompts = Prompts {
            points: None,
            boxes: Some(Tensor::from_data(
                TensorData::new(boxes, [o.batch, 4]),
                device,
            )),
            masks: None,
        };
        return Ok(time::<B>(o, device, || {
            sam.decode(&emb, &prompts, true).expect("decode");
        }));
    }
    if let Some(cfg) = Sam2Config::preset(name) {
        let sam2 = Sam2::<B>::new(&cfg, device).map_err(|e| e.to_string())?;
        let s = cfg.image_size;
        let x = normal::<B, 4>([1, 3, s, s], device);
        return Ok(time::<B>(o, device, || {
            sam2.embed_input(x.clone(), [s, s]);
        }));
    }
    let cfg = SamConfig::preset(name).ok_or(format!("unknown part `{name}`"))?;
    let sam = Sam::<B>::new(&cfg, device).map_err(|e| e.to_string())?;
    let s = cfg.img_size;
    let x = normal::<B, 4>([1, 3, s, s], device);
    Ok(time::<B>(o, device, || {
        sam.image_encoder.forward(x.clone());
    }))
}

fn run<B: Backend>(o: &Options, device: &B::Device) -> Result<(), String> {
    B::seed(device, 0);
    for name in &o.parts {
        let (median, times) = part::<B>(o, name, device)?;
        let times: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
        let batch = if name.starts_with("decoder:") {
            o.batch
        } else {
            1
        };
        println!(
            "{{\"impl\": \"uncertsam\", \"backend\": \"{}\", \"dtype\": \"{}\", \"part\": \"{name}\", \
             \"batch\": {batch}, \"median_s\": {median:.6}, \"times_s\": [{}]}}",
            o.backend,
            o.dtype,
            times.join(", ")
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    let result = parse().and_then(|o| match (o.backend.as_str(), o.dtype.as_str()) {
        ("cpu", "f32") => run::<burn::backend::NdArray<f32>>(&o, &Default::default()),
        #[cfg(feature = "cuda")]
        ("cuda", "f32") => run::<burn_cuda::Cuda<f32, i32>>(&o, &Default::default()),
        #[cfg(feature = "cuda")]
        ("cuda", "bf16") => {
            run::<burn_cuda::Cuda<burn::tensor::bf16, i32>>(&o, &Default::default())
        }
        #[cfg(not(feature = "cuda"))]
        ("cuda", _) => Err("built without the `cuda` feature (--features cuda)".into()),
        (b, d) => Err(format!(
            "no {d} build for backend `{b}` (cpu: f32; cuda: f32, bf16)"
        )),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu_timing: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
