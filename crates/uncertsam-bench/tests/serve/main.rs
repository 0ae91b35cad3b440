//! `uncertsam serve`: the JSON API against a server on 127.0.0.1:0 (its answers equal
//! `uncertsam predict`'s files; bad input is a 4xx and the server keeps serving);
//! the page in a real headless Chromium, `browser.rs` (with `UNCERTSAM_BROWSER_TESTS=1`).

mod api;
mod browser;
mod server;
#[path = "../common/small_synth.rs"]
mod small_synth;
