//! The page in a real headless Chromium, driven over WebDriver. Runs with
//! `UNCERTSAM_BROWSER_TESTS=1` (`.ci/run` installs Debian's `chromium` and `chromium-driver`
//! and sets it); `CHROMEDRIVER` / `CHROMIUM` override the binaries, `UNCERTSAM_SCREENSHOT=PATH`
//! keeps a screenshot (docs/serve.png is made so). It selects a synthetic image, drags a box
//! on the canvas and checks that the mask the page drew is `predict`'s for that box; that
//! another estimator changes the heat map; that "apply refinement" draws `predict --refine`'s
//! mask; that "suggest click" adds a point and "compare" shows every estimator; and that an
//! invalid upload shows the server's error.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::api::{gt_box, run_predict_with};
use crate::server::addr;

const IMAGE: &str = "data:Synth-Clean/test/0";

/// Kills chromedriver and the browser it started (its own process group) when the test
/// ends, also on a failed assertion.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver() -> (Driver, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin} (apt-get install chromium-driver): {e}"));
    let driver = Driver(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (driver, port)
}

/// Runs `script` until it returns something other than null / false (60 s at most).
async fn wait_for(c: &Client, script: &str, what: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = c.execute(script, vec![]).await.expect("script");
        if !v.is_null() && v != json!(false) && v != json!("") {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script")
}

/// `predict`'s `mask.png` as the page's `data-drawn` string ('1' foreground, row-major).
fn predict_bits(bbox: [f64; 4], estimator: &str, seed: u64, extra: &[&str]) -> String {
    let files = run_predict_with(IMAGE, bbox, estimator, seed, extra);
    let mask = image::open(files.path().join("mask.png"))
        .expect("mask.png")
        .to_luma8();
    mask.pixels()
        .map(|p| if p.0[0] > 127 { '1' } else { '0' })
        .collect()
}

/// The box the page sent with its last prediction.
async fn last_box(c: &Client) -> [f64; 4] {
    let request = js(
        c,
        "return document.getElementById('result').dataset.request",
    )
    .await;
    let request: Value = serde_json::from_str(request.as_str().expect("json")).expect("json");
    serde_json::from_value(request["box"].clone()).expect("a box")
}

#[test]
fn page_in_headless_chromium() {
    if std::env::var("UNCERTSAM_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("note: skipping the browser test (set UNCERTSAM_BROWSER_TESTS=1; .ci/run does)");
        return;
    }
    let server = addr();
    let (_driver, port) = start_chromedriver();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(drive(server, port));
}

async fn session(port: u16) -> Client {
    let profile = tempfile::tempdir().expect("a profile directory").keep();
    let chrome = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let mut caps = serde_json::Map::new();
    // The flags that keep Chromium off the (closed) network: background networking,
    // component updates, sync.
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": chrome, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1400,1180", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", format!("--user-data-dir={}", profile.display())]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session")
}

/// Drags a box `b` (image pixels) on the canvas.
async fn drag_box(c: &Client, canvas: &Element, b: [f64; 4]) {
    let size = js(
        c,
        "const c = document.getElementById('canvas'); return [c.width, c.height, state.img.width]",
    )
    .await;
    let [cw, ch, natural]: [f64; 3] = serde_json::from_value(size).expect("sizes");
    let s = cw / natural;
    let at = |x: f64, y: f64| PointerAction::MoveToElement {
        element: canvas.clone(),
        duration: Some(Duration::from_millis(50)),
        x: (x * s - cw / 2.0).round(),
        y: (y * s - ch / 2.0).round(),
    };
    let drag = MouseActions::new("mouse".into())
        .then(at(b[0], b[1]))
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(at((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0))
        .then(at(b[2], b[3]))
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.expect("drag a box");
}

async fn drive(server: std::net::SocketAddr, port: u16) {
    let c = session(port).await;
    c.goto(&format!("http://{server}/"))
        .await
        .expect("the page");
    wait_for(
        &c,
        "return document.querySelectorAll('#dataset option').length > 0",
        "the dataset list",
    )
    .await;
    for (id, value) in [("dataset", "Synth-Clean"), ("split", "test")] {
        c.find(Locator::Id(id))
            .await
            .expect(id)
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in #{id}: {e}"));
    }
    let thumb = c
        .wait()
        .for_element(Locator::Css(&format!("#thumbs img[data-id=\"{IMAGE}\"]")))
        .await
        .expect("the thumbnail");
    thumb.click().await.expect("select the image");
    wait_for(
        &c,
        &format!(
            "return document.getElementById('result').dataset.image === '{IMAGE}' \
             && state.img && state.img.complete"
        ),
        "the image on the canvas",
    )
    .await;
    let canvas = c.find(Locator::Id("canvas")).await.expect("canvas");
    drag_box(&c, &canvas, gt_box(0)).await;
    let drawn = wait_for(
        &c,
        "return document.getElementById('result').dataset.drawn",
        "the first mask",
    )
    .await;
    let used = last_box(&c).await;
    assert_eq!(
        drawn.as_str(),
        Some(predict_bits(used, "entropy", 0, &[]).as_str()),
        "the page's mask differs from `uncertsam predict`'s for box {used:?}"
    );
    assert!(
        drawn.as_str().is_some_and(|d| d.contains('1')),
        "an empty mask for the object's box"
    );
    let entropy_map = js(
        &c,
        "return document.getElementById('result').dataset.uncertainty",
    )
    .await;

    // Another estimator: a different heat map.
    c.find(Locator::Id("estimator"))
        .await
        .expect("estimator")
        .select_by_value("mc_dropout")
        .await
        .expect("select mc_dropout");
    let other = wait_for(
        &c,
        "const r = document.getElementById('result'); \
         return r.dataset.estimator.startsWith('mc_dropout') && r.dataset.uncertainty",
        "the mc_dropout heat map",
    )
    .await;
    assert_ne!(
        other, entropy_map,
        "switching the estimator kept the heat map"
    );

    // Apply refinement: the mask `predict --refine shrink` writes, from entropy's first pass.
    c.find(Locator::Id("estimator"))
        .await
        .expect("estimator")
        .select_by_value("entropy")
        .await
        .expect("select entropy");
    c.find(Locator::Id("refine"))
        .await
        .expect("refine")
        .select_by_value("shrink")
        .await
        .expect("select shrink");
    let refined = wait_for(
        &c,
        "const r = document.getElementById('result'); \
         return r.dataset.refined.startsWith('shrink') && r.dataset.estimator === 'entropy' \
         && r.dataset.drawn",
        "the refined mask",
    )
    .await;
    assert_eq!(
        refined.as_str(),
        Some(predict_bits(used, "entropy", 0, &["--refine", "shrink"]).as_str()),
        "the refined mask differs from `uncertsam predict --refine shrink`'s"
    );
    if let Ok(path) = std::env::var("UNCERTSAM_SCREENSHOT") {
        let shot = c.screenshot().await.expect("screenshot");
        std::fs::write(&path, shot).expect("write the screenshot");
        eprintln!("screenshot: {path}");
    }
    c.find(Locator::Id("refine"))
        .await
        .expect("refine")
        .select_by_value("")
        .await
        .expect("no refinement");

    // Suggest click: one point more in the next request.
    c.find(Locator::Id("suggest"))
        .await
        .expect("suggest")
        .click()
        .await
        .expect("suggest a click");
    wait_for(
        &c,
        "const q = JSON.parse(document.getElementById('result').dataset.request); \
         return q.points.length === 1 && q.refine === null",
        "a prediction with the suggested click",
    )
    .await;

    // Compare: one figure per registered estimator.
    c.find(Locator::Id("compare-btn"))
        .await
        .expect("compare")
        .click()
        .await
        .expect("compare estimators");
    let shown = wait_for(
        &c,
        "const d = document.getElementById('compare'); \
         return d.dataset.done === String(state.estimators.length) \
         && [d.querySelectorAll('figure img').length, state.estimators.length, \
             document.getElementById('error').textContent]",
        "the comparison view",
    )
    .await;
    assert_eq!(shown[0], shown[1], "a figure per estimator: {shown}");
    assert_eq!(
        shown[2],
        json!(""),
        "an estimator failed in the comparison: {shown}"
    );

    // An invalid upload: the server's message on the page.
    let bad = tempfile::Builder::new()
        .suffix(".png")
        .tempfile()
        .expect("tmp");
    std::fs::write(bad.path(), b"this is not an image").expect("write");
    c.find(Locator::Id("upload"))
        .await
        .expect("upload")
        .send_keys(&bad.path().display().to_string())
        .await
        .expect("choose the file");
    let error = wait_for(
        &c,
        "return document.getElementById('error').textContent",
        "the upload error",
    )
    .await;
    let says = post_upload_error();
    assert_eq!(
        error.as_str(),
        Some(says.as_str()),
        "the page's upload error"
    );
    c.close().await.expect("close the session");
}

/// The server's message for the same invalid upload.
fn post_upload_error() -> String {
    let r = crate::server::request("POST", "/api/upload", "image/png", b"this is not an image");
    assert_eq!(r.status / 100, 4);
    r.json()["error"].as_str().expect("a message").to_string()
}
