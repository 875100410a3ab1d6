//! `percept serve` and `percept::serve`, tested for real: the HTTP API and its bad requests
//! ([`api`]), the page in headless Chromium ([`browser`]), a bounded load test ([`load`]), the
//! digit preparation the page relies on, with a trained model ([`digit`]), and `percept
//! predict` on hostile and unusual images under a 4 GiB address-space limit ([`predict`]). One test binary
//! (one link of the release build) serving one model trained once ([`support::checkpoint`]);
//! the load test runs alone, the others side by side.

mod api;
mod browser;
mod digit;
mod load;
mod predict;
mod support;
