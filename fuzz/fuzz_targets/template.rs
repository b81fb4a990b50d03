#![no_main]

libfuzzer_sys::fuzz_target!(
    // Panics the code under test catches itself (a third-party bug it contains) are not
    // crashes: only one that escapes the target is (libFuzzer aborts on it).
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| atalaya_fuzz::template(data)
);
