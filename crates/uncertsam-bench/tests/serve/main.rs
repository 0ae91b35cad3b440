//! `uncertsam serve`: the JSON API against a server on 127.0.0.1:0 (its answers equal
//! `uncertsam predict`'s files; bad input is a 4xx and the server keeps serving);
//! the headless-Chromium test of the page, `browser.rs`, is not written yet.

mod api;
mod browser;
mod server;
#[path = "../common/small_synth.rs"]
mod small_synth;
