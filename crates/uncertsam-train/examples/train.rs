//! Trains the embedded default model:
//! `cargo run --release -p uncertsam-train --example train -- --out fixtures/default`.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Train the tiny SAM and its ensemble on the synthetic benchmark")]
struct Cli {
    #[command(flatten)]
    args: uncertsam_train::TrainArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let report = uncertsam_train::run::<burn::backend::Autodiff<burn::backend::NdArray<f32>>>(
        &cli.args,
        &Default::default(),
    )?;
    println!(
        "training time: {:.1} min; wrote {}",
        report.manifest.wall_time_s.total / 60.0,
        report.out.display()
    );
    Ok(())
}
