//! A server on 127.0.0.1:0 shared by the tests, over a small synthetic benchmark, and a
//! minimal HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::Parser;
use uncertsam_bench::serve::ServeArgs;
use uncertsam_bench::{NoExternal, Registry};

/// The synthetic benchmark the server lists (generated once per test process).
pub fn data() -> PathBuf {
    crate::small_synth::small_synth("uncertsam-serve-it")
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

/// The address of the shared server (started on first use).
pub fn addr() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let data = data();
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
            let result = uncertsam_bench::serve::serve_blocking::<burn::backend::NdArray<f32>, _>(
                &cli.args,
                &registry,
                &Default::default(),
                |a| tx.send(a).expect("the test waits for the address"),
            );
            if let Err(e) = result {
                eprintln!("serve: {e:#}");
            }
        });
        rx.recv().expect("the server should start")
    })
}

/// A response: status and body.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request to the shared server.
pub fn request(method: &str, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr()).expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: \
         {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Reply { status, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let n = usize::from_str_radix(std::str::from_utf8(&b[..line]).expect("hex").trim(), 16)
            .expect("hex");
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + n]);
        b = &b[line + 4 + n..];
    }
}

/// `GET path`.
pub fn get(path: &str) -> Reply {
    request("GET", path, "text/plain", b"")
}

/// `POST path` with a JSON body.
pub fn post_json(path: &str, body: &serde_json::Value) -> Reply {
    request(
        "POST",
        path,
        "application/json",
        body.to_string().as_bytes(),
    )
}
