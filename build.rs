//! Tells the browser-view tests whether Chromium is installed, so that without it they show
//! as ignored instead of passing without having run. Under CI (`CI` set) they are never
//! ignored: there a missing Chromium is a broken install step, and the tests fail.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chromium_missing)");
    println!("cargo::rerun-if-env-changed=CHROMIUM");
    println!("cargo::rerun-if-env-changed=CI");
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    // Installing or removing it changes its directory.
    if let Some(dir) = chromium.parent().filter(|d| d.is_dir()) {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    if !chromium.is_file() && std::env::var_os("CI").is_none() {
        println!("cargo::rustc-cfg=chromium_missing");
    }
}
