//! `wasm-split-build split <input.wasm> <out-dir> <main-out.wasm> <link-hash> <main-js>`
//! `wasm-split-build finish <pkg-dir> <link-hash> <main-js> <hashed-main-js>`
//!
//! `split` cuts the linked WASM (built with `--emit-relocs`) at the `#[lazy]` split points:
//! the main module goes to `main-out` for wasm-bindgen, the chunks and the loader script
//! (`__wasm_split.<link-hash>.js`, the name the main module imports) to `out-dir`, with
//! `__wasm_split_manifest.json` (split point → chunks) that Leptos reads to preload a page's
//! chunks. `finish` runs after wasm-opt: each chunk gets its content hash in its name (`/pkg`
//! is cached for a year), the loader and the manifest are rewritten to match, the loader
//! imports the hashed main script, and it prints the manifest's hash for `hash.txt`.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const MANIFEST: &str = "__wasm_split_manifest.json";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["split", input, out_dir, main_out, link_hash, main_js] => {
            split(Path::new(input), Path::new(out_dir), Path::new(main_out), link_hash, main_js)
        }
        ["finish", pkg, link_hash, main_js, hashed_main_js] => {
            finish(Path::new(pkg), link_hash, main_js, hashed_main_js)
        }
        _ => Err("usage: wasm-split-build split <input.wasm> <out-dir> <main-out.wasm> <link-hash> <main-js>\n       wasm-split-build finish <pkg-dir> <link-hash> <main-js> <hashed-main-js>".into()),
    }
}

fn split(
    input: &Path,
    out_dir: &Path,
    main_out: &Path,
    link_hash: &str,
    main_js: &str,
) -> Result<()> {
    let wasm = std::fs::read(input)?;
    std::fs::create_dir_all(out_dir)?;
    let link_name = format!("./__wasm_split.{link_hash}.js");
    let main_module = format!("./{main_js}");
    let split = wasm_split_cli_support::transform({
        // `Options` is non-exhaustive: set fields on the defaults.
        let mut opts = wasm_split_cli_support::Options::new(&wasm);
        opts.output_dir = out_dir;
        opts.main_out_path = main_out;
        opts.main_module = &main_module;
        opts.link_name = &link_name;
        opts
    })?;
    std::fs::write(
        out_dir.join(MANIFEST),
        serde_json::to_string(&split.prefetch_map)?,
    )?;
    eprintln!("wasm split: {} chunks", split.split_modules.len());
    Ok(())
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..20]
        .to_string()
}

fn finish(pkg: &Path, link_hash: &str, main_js: &str, hashed_main_js: &str) -> Result<()> {
    let link_path = pkg.join(format!("__wasm_split.{link_hash}.js"));
    let mut link = std::fs::read_to_string(&link_path)?;
    let manifest: HashMap<String, Vec<String>> =
        serde_json::from_str(&std::fs::read_to_string(pkg.join(MANIFEST))?)?;
    // Every chunk the manifest names, hashed once.
    let mut renamed: HashMap<String, String> = HashMap::new();
    for stem in manifest.values().flatten() {
        if renamed.contains_key(stem) {
            continue;
        }
        let from: PathBuf = pkg.join(format!("{stem}.wasm"));
        let hashed = format!("{stem}.{}", short_hash(&std::fs::read(&from)?));
        std::fs::rename(&from, pkg.join(format!("{hashed}.wasm")))?;
        let (old, new) = (format!("./{stem}.wasm\""), format!("./{hashed}.wasm\""));
        if !link.contains(&old) {
            return Err(format!("the loader does not name {old}").into());
        }
        link = link.replace(&old, &new);
        renamed.insert(stem.clone(), hashed);
    }
    // Chunks the manifest does not name would keep unhashed names and be cached for a year.
    for entry in std::fs::read_dir(pkg)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if (name.starts_with("split_") || name.starts_with("chunk_"))
            && name.ends_with(".wasm")
            && !renamed.values().any(|h| name == format!("{h}.wasm"))
        {
            return Err(format!("{name} is not in the manifest").into());
        }
    }
    let (old, new) = (
        format!("\"./{main_js}\""),
        format!("\"./{hashed_main_js}\""),
    );
    if !link.contains(&old) {
        return Err(format!("the loader does not import {old}").into());
    }
    std::fs::write(&link_path, link.replace(&old, &new))?;
    let manifest: HashMap<&String, Vec<&String>> = manifest
        .iter()
        .map(|(split, stems)| (split, stems.iter().map(|s| &renamed[s]).collect()))
        .collect();
    let text = serde_json::to_string(&manifest)?;
    let hash = short_hash(text.as_bytes());
    std::fs::write(pkg.join(format!("__wasm_split_manifest.{hash}.json")), text)?;
    std::fs::remove_file(pkg.join(MANIFEST))?;
    println!("{hash}");
    Ok(())
}
