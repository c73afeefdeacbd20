//! The fuzz targets' inputs replayed on stable: every seed of `fuzz/corpus/<target>/` and every
//! kept reproducer of `fuzz/artifacts/<target>/` goes through the target's checks
//! (`tentacle::fuzzing`), so a fixed crash stays fixed and a seed that stops passing fails
//! the build. A target without seeds fails too.
//!
//! `request_head_httparse` runs against its reference parser (`httparse`) here too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use tentacle::fuzzing;

/// The files of one folder, sorted; `None` when it does not exist.
fn files_in(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(files)
}

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let seeds = files_in(&corpus).unwrap_or_else(|| panic!("no corpus: {}", corpus.display()));
    assert!(!seeds.is_empty(), "empty corpus: {}", corpus.display());
    let kept = files_in(&fuzz.join("artifacts").join(target)).unwrap_or_default();
    let mut failed = Vec::new();
    for file in seeds.iter().chain(&kept) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail: {failed:#?}",
        failed.len(),
        seeds.len() + kept.len()
    );
}

macro_rules! replay {
    ($($target:ident => $check:expr,)*) => {$(
        #[test]
        fn $target() {
            replay(stringify!($target), $check);
        }
    )*};
}

replay! {
    request_head => fuzzing::request_head,
    request_head_httparse => |data| {
        fuzzing::request_head_httparse(data, Some(&fuzzing::httparse_reference))
    },
    response_head => fuzzing::response_head,
    body_decoder => fuzzing::body_decoder,
    path_query => fuzzing::path_query,
    url_pattern => fuzzing::url_pattern,
    config_json => fuzzing::config_json,
    config_yaml => fuzzing::config_yaml,
    flatmap => fuzzing::flatmap,
    json_canonical => fuzzing::json_canonical,
    jwt_token => fuzzing::jwt_token,
    jwk_set => fuzzing::jwk_set,
}
