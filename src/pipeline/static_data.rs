//! The static proxy: data an endpoint adds to its answer, and when (`strategy`).

use crate::message::{ProxyError, ProxyResponse};

/// When the static proxy injects its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticStrategy {
    Always,
    Success,
    Complete,
    Errored,
    Incomplete,
}

impl StaticStrategy {
    pub fn from_name(name: &str) -> StaticStrategy {
        match name {
            "success" => StaticStrategy::Success,
            "complete" => StaticStrategy::Complete,
            "errored" => StaticStrategy::Errored,
            "incomplete" => StaticStrategy::Incomplete,
            _ => StaticStrategy::Always,
        }
    }

    pub(super) fn applies(self, resp: Option<&ProxyResponse>, err: Option<&ProxyError>) -> bool {
        match self {
            StaticStrategy::Always => true,
            StaticStrategy::Success => err.is_none(),
            StaticStrategy::Complete => err.is_none() && resp.is_some_and(|r| r.is_complete),
            StaticStrategy::Errored => err.is_some(),
            StaticStrategy::Incomplete => resp.is_none_or(|r| !r.is_complete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn strategies() {
        let complete = ProxyResponse::complete(Map::new());
        let err = ProxyError::Timeout;
        assert!(StaticStrategy::Always.applies(None, None));
        assert!(StaticStrategy::Errored.applies(None, Some(&err)));
        assert!(!StaticStrategy::Errored.applies(Some(&complete), None));
        assert!(StaticStrategy::Complete.applies(Some(&complete), None));
        assert!(StaticStrategy::Incomplete.applies(None, Some(&err)));
        assert!(!StaticStrategy::Success.applies(None, Some(&err)));
    }
}
