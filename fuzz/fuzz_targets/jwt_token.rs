#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tentacle::fuzzing::jwt_token(data));
