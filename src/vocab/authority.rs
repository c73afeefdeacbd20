//! A URL's authority as the Host header, the backend pools and the proxy lookup see it.

/// A URL's authority without its user information: what the Host header and the pools see.
pub fn host_port(authority: &str) -> &str {
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_left_out() {
        assert_eq!(host_port("example.com:8080"), "example.com:8080");
        assert_eq!(host_port("user:pass@example.com:8080"), "example.com:8080");
        assert_eq!(host_port("a@b@example.com"), "example.com");
        assert_eq!(host_port(""), "");
    }
}
