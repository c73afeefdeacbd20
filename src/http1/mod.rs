//! HTTP/1.1 on the wire, shared by the server's connection loop (`server::h1`) and the backend
//! client (`backend::h1`): head lines (`head`), body framing (`framing`), the values of the
//! fields that decide framing and connections (`fields`), header names as Go writes them
//! (`names`), a `no-op` answer's lines written through (`raw_fields`), the per-thread pools of
//! maps and buffers (`pool`) and the socket writes (`socket`).

mod fields;
mod framing;
mod head;
mod names;
mod pool;
mod raw_fields;
mod socket;

pub use fields::{connection_tokens, content_length, digits, trim_ows, valid_host};
pub use framing::{invalid, is_chunked, unexpected_eof, Chunk, Decoder, Step};
pub use head::{empty_lines, field_line, first_line, Line, TOKEN};
pub use names::push_canonical;
pub use pool::{
    buffer, extensions, header_map, make_room, recycle, recycle_buffer, recycle_extensions,
};
pub use raw_fields::RawFields;
pub use socket::{write_all, Socket};
