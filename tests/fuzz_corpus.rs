//! The fuzz targets' committed corpus (fuzz/corpus/<target>/: seeds from our SIPp scenarios,
//! RFC 4475 torture messages, the shipped dial plans, and what libFuzzer runs found), replayed
//! through the same library functions libFuzzer drives (`centrale::fuzzing`), on stable: none
//! may panic. `fuzz/make-corpus.py` regenerates the seeds; docs/fuzzing.md has the runs.

use std::path::Path;

#[test]
fn every_corpus_file_goes_through_its_target_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, target) in centrale::fuzzing::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for {name}");
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let result = std::panic::catch_unwind(|| target(&data));
            assert!(result.is_ok(), "{name} panicked on {}", f.display());
        }
        total += files.len();
    }
    assert!(total > 100, "{total} corpus files");
}
