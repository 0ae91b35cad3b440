//! Latency of `uncertsam serve` with the embedded model: prompt -> rendered maps, i.e. one
//! `POST /api/predict` (box prompt, the image's embedding already cached, ground truth so the
//! error map and metrics are computed) answered with the mask, heat-map, overlay and error PNGs,
//! for every registered estimator at its defaults. Run with `cargo bench -p uncertsam-benches
//! --bench serve`; `SERVE_BENCH_ESTIMATORS=entropy,mc_dropout` picks estimators. Targets
//! (docs/performance.md, "uncertsam serve"): <= 100 ms for single-pass estimators, <= 500 ms for
//! sampling ones at their default S.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use clap::Parser;
use criterion::{Criterion, criterion_group, criterion_main};
use uncertsam_bench::serve::ServeArgs;
use uncertsam_bench::{NoExternal, Registry};
use uncertsam_data::{SampleSource, UncertSamSplit, prompts::tight_box};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the body.
fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body.as_bytes()).expect("send");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("read the answer");
    let text = String::from_utf8_lossy(&reply);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

fn start(data: &std::path::Path) -> SocketAddr {
    let cli = Cli::parse_from([
        "serve".as_ref(),
        "--port".as_ref(),
        "0".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
    ]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let registry = Registry::new(&NoExternal);
        let served = uncertsam_bench::serve::serve_blocking::<burn::backend::NdArray<f32>, _>(
            &cli.args,
            &registry,
            &Default::default(),
            |a| tx.send(a).expect("the bench waits for the address"),
        );
        if let Err(e) = served {
            eprintln!("serve: {e:#}");
        }
    });
    rx.recv().expect("the server should start")
}

fn bench(c: &mut Criterion) {
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    let data = tempfile::tempdir().expect("a temp dir");
    let cfg = uncertsam_data::synth::SynthConfig {
        train: 4,
        val: 1,
        test: 2,
        shifted_test: 1,
        shifts: vec![uncertsam_data::synth::Condition::SHIFTS[0]],
        ..Default::default()
    };
    uncertsam_data::synth::generate(&cfg, data.path()).expect("synthetic data");
    let split = UncertSamSplit::open(data.path(), "Synth-Clean", "test").expect("split");
    let bbox = tight_box(&split.get(0).expect("sample").masks[0].mask).expect("a mask");
    let addr = start(data.path());
    let (_, listed) = call(addr, "GET", "/api/estimators", "");
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("estimators");
    let wanted = std::env::var("SERVE_BENCH_ESTIMATORS").ok();
    let mut group = c.benchmark_group("serve_predict");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for e in listed.as_array().expect("a list") {
        let name = e["name"].as_str().expect("a name");
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|x| x.trim() == name))
        {
            continue;
        }
        let body = serde_json::json!({"image": "data:Synth-Clean/test/0", "box": bbox,
            "estimator": name})
        .to_string();
        // The first call encodes the image and builds (or fits) the estimator.
        let (status, answer) = call(addr, "POST", "/api/predict", &body);
        assert_eq!(status, 200, "{name}: {answer}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let (status, _) = call(addr, "POST", "/api/predict", &body);
                assert_eq!(status, 200);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
