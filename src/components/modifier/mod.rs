//! `modifier/*`: Lua scripts (feature `lua`) and the Martian request/response modifiers.

#[cfg(feature = "lua")]
pub mod lua;
pub mod martian;
