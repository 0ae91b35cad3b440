//! Placeholder for the end-to-end test of the page in a real headless Chromium over WebDriver
//! (issue 18, not written yet: see the session note). Nothing here runs.
