#![no_main]

libfuzzer_sys::fuzz_target!(
    // Panics the parsers' own `catch_unwind` contains (docx-rs unwraps on bad ZIPs) are not
    // crashes: only one that escapes the target, an abort or a stack overflow is.
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| atalaya_fuzz::binary_document(data)
);
