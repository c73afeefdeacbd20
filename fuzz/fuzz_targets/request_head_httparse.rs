#![no_main]

use tentacle::fuzzing::{Reference, ReferenceHead, MAX_FIELDS};

/// The `httparse` crate's reading of a request head, with as many header slots as the
/// server's default bound on fields.
fn httparse_reference(data: &[u8]) -> Reference {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Partial) => Reference::Partial,
        Err(e) => Reference::Invalid(e.to_string()),
        Ok(httparse::Status::Complete(len)) => Reference::Complete(ReferenceHead {
            len,
            method: req.method.unwrap_or_default().as_bytes().to_vec(),
            target: req.path.unwrap_or_default().as_bytes().to_vec(),
            minor_version: req.version.unwrap_or_default(),
            fields: req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                .collect(),
        }),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tentacle::fuzzing::request_head_httparse(data, Some(&httparse_reference))
});
