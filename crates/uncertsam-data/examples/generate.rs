//! Generates the default synthetic benchmark and reports how long it took.
//!
//! ```text
//! cargo run --release -p uncertsam-data --example generate -- /tmp/synth [seed]
//! ```

use std::time::Instant;

use uncertsam_data::synth::{SynthConfig, generate};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "synth".to_owned());
    let seed = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let config = SynthConfig {
        seed,
        ..SynthConfig::default()
    };
    let start = Instant::now();
    let summary = generate(&config, &out)?;
    let took = start.elapsed();
    for s in &summary.splits {
        println!(
            "{:<20} {:<5} {:>4} images {:>4} masks",
            s.dataset, s.split, s.images, s.masks
        );
    }
    println!(
        "{} images, {} masks in {:.2} s -> {out}",
        summary.images(),
        summary.masks(),
        took.as_secs_f64()
    );
    Ok(())
}
