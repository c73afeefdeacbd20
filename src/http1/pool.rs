//! Per-thread pools of header maps, extension maps and byte buffers a finished message gives
//! back for the next one, and the read buffers' room.

use bytes::BytesMut;

/// Maps kept for reuse per thread, and the largest one kept.
const POOLED_MAPS: usize = 64;
const POOLED_CAPACITY: usize = 64;

thread_local! {
    static MAPS: std::cell::RefCell<Vec<http::HeaderMap>> = const { std::cell::RefCell::new(Vec::new()) };
    static EXTENSIONS: std::cell::RefCell<Vec<http::Extensions>> = const { std::cell::RefCell::new(Vec::new()) };
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Buffers kept for reuse are at most this large.
const POOLED_BUFFER: usize = 16 * 1024;

type Pool<T> = std::thread::LocalKey<std::cell::RefCell<Vec<T>>>;

/// Something this thread's pool holds, if it holds any.
fn take<T: 'static>(pool: &'static Pool<T>) -> Option<T> {
    pool.with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
}

/// Keeps `item` (already emptied) for the next `take`, up to `POOLED_MAPS` per pool.
fn give<T: 'static>(pool: &'static Pool<T>, item: T) {
    pool.with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOLED_MAPS {
                p.push(item);
            }
        }
    });
}

/// An empty byte buffer with room for `len`, reusing one a finished request gave back.
pub fn buffer(len: usize) -> Vec<u8> {
    match take(&BUFFERS) {
        Some(mut buf) => {
            buf.reserve(len);
            buf
        }
        None => Vec::with_capacity(len),
    }
}

/// Gives a buffer back for the next `buffer`.
pub fn recycle_buffer(mut buf: Vec<u8>) {
    if buf.capacity() <= POOLED_BUFFER {
        buf.clear();
        give(&BUFFERS, buf);
    }
}

/// An empty extension map, reusing the storage of one a finished response gave back.
pub fn extensions() -> http::Extensions {
    take(&EXTENSIONS).unwrap_or_default()
}

/// Gives an extension map's storage back for the next `extensions`; what it holds is dropped
/// now. A map that never held anything has no storage to give.
pub fn recycle_extensions(mut ext: http::Extensions) {
    if !ext.is_empty() {
        ext.clear();
        give(&EXTENSIONS, ext);
    }
}

/// An empty header map with room for `fields`, reusing the storage of one a finished request
/// or response gave back (`recycle`) when there is one.
pub fn header_map(fields: usize) -> http::HeaderMap {
    match take(&MAPS) {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => http::HeaderMap::with_capacity(fields.max(8)),
    }
}

/// Gives a map's storage back for the next `header_map`; its fields are dropped now.
pub fn recycle(mut map: http::HeaderMap) {
    if map.capacity() > 0 && map.capacity() <= POOLED_CAPACITY {
        map.clear();
        give(&MAPS, map);
    }
}

/// Room for at least 1 KiB more in a read buffer (the server's and the backend client's),
/// `chunk` when it must be made. An empty buffer that no earlier message split from it still
/// holds is read into from its start again: the same memory, still in the cache, where reading
/// on walks every connection through fresh lines. An empty buffer that lacks room otherwise
/// is replaced rather than grown: growing one that earlier messages were split from
/// reallocates it with every byte they used (`BytesMut` keeps its offset), where a new one
/// costs an allocation and no copy.
pub fn make_room(buf: &mut BytesMut, chunk: usize) {
    if buf.is_empty() && buf.try_reclaim(chunk) {
        return;
    }
    if buf.capacity() - buf.len() >= 1024 {
        return;
    }
    if buf.is_empty() {
        *buf = BytesMut::with_capacity(chunk);
    } else {
        buf.reserve(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_extensions_come_back_empty() {
        let mut ext = extensions();
        ext.insert(7u32);
        recycle_extensions(ext);
        let again = extensions();
        assert!(again.is_empty());
        assert!(again.get::<u32>().is_none());
    }

    #[test]
    fn recycled_maps_come_back_empty() {
        let mut map = header_map(4);
        map.insert(http::header::HOST, http::HeaderValue::from_static("a"));
        map.append(http::header::VIA, http::HeaderValue::from_static("b"));
        recycle(map);
        let again = header_map(2);
        assert!(again.is_empty());
        assert!(again.capacity() >= 2);
        assert!(again.get(http::header::HOST).is_none());
    }
}
