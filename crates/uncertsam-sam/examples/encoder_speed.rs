//! Wall time of an image encoder at its official geometry (random weights): MobileSAM's TinyViT
//! or a SAM 2 Hiera. One warm-up run, then the median of `N` runs.
//!
//! ```text
//! cargo run -p uncertsam-sam --example encoder_speed -- mobile_sam 5
//! cargo run -p uncertsam-sam --example encoder_speed -- sam2_tiny 3
//! ```

use std::time::Instant;

use burn::backend::NdArray;
use burn::prelude::*;
use uncertsam_sam::{Sam, Sam2, Sam2Config, SamConfig};

type B = NdArray<f32>;

fn main() -> Result<(), uncertsam_sam::SamError> {
    let mut args = std::env::args().skip(1);
    let model = args.next().unwrap_or_else(|| "mobile_sam".into());
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let device = Default::default();
    let x = Tensor::<B, 4>::random(
        [1, 3, 1024, 1024],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    if model == "profile_mobile_sam" {
        profile_tiny_vit(x, &device)?;
        return Ok(());
    }
    let encode: Box<dyn Fn(Tensor<B, 4>) -> Tensor<B, 4>> = match model.as_str() {
        "mobile_sam" => {
            let sam = Sam::<B>::new(&SamConfig::mobile_sam(), &device)?;
            Box::new(move |x| sam.image_encoder.forward(x))
        }
        name => {
            let preset = name.strip_prefix("sam2_").unwrap_or(name);
            let cfg = Sam2Config::preset(preset)
                .ok_or_else(|| uncertsam_sam::SamError::Config(format!("unknown model {name}")))?;
            let sam = Sam2::<B>::new(&cfg, &device)?;
            Box::new(move |x| sam.embed_input(x, [1024, 1024]).embeddings)
        }
    };
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let t = Instant::now();
        let out = encode(x.clone());
        let _ = out.slice([0..1, 0..1, 0..1, 0..1]).into_data();
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{model}: median {:.3} s over {runs} runs (min {:.3}, max {:.3})",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}

/// Per-stage times of TinyViT (one run).
fn profile_tiny_vit(
    x: Tensor<B, 4>,
    device: &burn::backend::ndarray::NdArrayDevice,
) -> Result<(), uncertsam_sam::SamError> {
    let sam = Sam::<B>::new(&SamConfig::mobile_sam(), device)?;
    let Some(enc) = sam.image_encoder.tiny_vit() else {
        return Ok(());
    };
    let sync = |t: &Tensor<B, 4>| {
        let _ = t.clone().slice([0..1, 0..1, 0..1, 0..1]).into_data();
    };
    let t = Instant::now();
    let mut h = x.permute([0, 2, 3, 1]);
    for (i, conv) in enc.patch_embed.seq.iter().enumerate() {
        h = conv.forward(h);
        if i == 0 {
            h = burn::tensor::activation::gelu(h);
        }
    }
    sync(&h);
    println!("patch_embed {:.3}s", t.elapsed().as_secs_f64());
    for (i, layer) in enc.layers.iter().enumerate() {
        let t = Instant::now();
        h = layer.forward(h);
        sync(&h);
        println!("layer {i} {:.3}s {:?}", t.elapsed().as_secs_f64(), h.dims());
    }
    Ok(())
}
