#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tentacle::fuzzing::config_json(data));
