#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tentacle::fuzzing::request_head_httparse(data, Some(&tentacle::fuzzing::httparse_reference))
});
