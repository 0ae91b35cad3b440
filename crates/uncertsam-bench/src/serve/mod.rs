//! `uncertsam serve`: an HTTP server (axum on tokio) with an interactive uncertainty viewer
//! and the JSON API it uses (`docs/serve.md`).
//!
//! Data flows one way: `api` (HTTP handlers, request validation) sends [`worker::Job`]s over a
//! channel to the one model thread (`worker`: the model, the built estimators, the images and
//! the bounded embedding LRU), which answers with the maps rendered by `render`. The model
//! never leaves its thread, so every request is served in order and no embedding is shared
//! between images.

pub mod api;
pub mod datasets;
pub mod messages;
pub mod render;
pub mod worker;

use std::net::SocketAddr;

use anyhow::{Context, Result};
use burn::prelude::*;
use clap::Args;

use crate::args::BenchArgs;
use crate::registry::{ExternalEstimators, Registry};

/// Uploads larger than this many bytes are refused (413).
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;
/// Images with more pixels than this are refused (413): 4096 x 4096.
pub const MAX_PIXELS: u64 = 4096 * 4096;
/// Embeddings kept in the LRU cache.
pub const EMBEDDING_CACHE: usize = 4;
/// Uploaded images kept (the oldest is forgotten first).
pub const MAX_UPLOADS: usize = 32;

/// `uncertsam serve`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0: any free port).
    #[arg(long, default_value_t = 7860)]
    pub port: u16,
    /// Model (`--checkpoint`/`--model`/`--random-init`, `--backend`), `--data ROOT` (the
    /// datasets the page lists; default the synthetic benchmark), `--samples`, as for `bench`.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// Loads the model, binds `args.host:args.port`, calls `on_bound` with the address and serves
/// until the process ends. The model runs on the calling thread; HTTP on a tokio runtime.
pub fn serve_blocking<B: Backend, E: ExternalEstimators>(
    args: &ServeArgs,
    registry: &Registry<'_, E>,
    device: &B::Device,
    on_bound: impl FnOnce(SocketAddr) + Send,
) -> Result<()> {
    let mut worker = worker::Worker::<B, E>::new(&args.bench, registry, device)?;
    let catalog = datasets::Catalog::open(&args.bench.data);
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("binding {}:{}", args.host, args.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (jobs, inbox) = std::sync::mpsc::channel();
    let state = api::AppState::new(jobs, catalog, registry.entries());
    std::thread::scope(|s| {
        let http = s.spawn(move || -> Result<()> {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                on_bound(addr);
                axum::serve(listener, api::router(state)).await?;
                Ok(())
            })
        });
        worker.run(&inbox);
        http.join()
            .map_err(|_| anyhow::anyhow!("the HTTP thread panicked"))?
    })
}
