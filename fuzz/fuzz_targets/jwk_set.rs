#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tentacle::fuzzing::jwk_set(data));
