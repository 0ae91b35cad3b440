//! The page in a real headless Chromium, driven over WebDriver (runs with
//! `UNCERTSAM_BROWSER_TESTS=1`; `.ci/run` installs `chromium` and `chromium-driver`).
