//! Wire and timeline types shared by the socketlab server and its browser UI.
//!
//! This crate does no I/O and builds for `wasm32-unknown-unknown`. Its logic (the upper-casing
//! rule, packet inference, TCP state derivation) is pure: anything time-dependent takes the
//! time as an argument, so every rule is tested deterministically.

pub mod addr;
pub mod check;
pub mod errors;
pub mod event;
pub mod event_json;
pub mod impair;
pub mod infer;
pub mod saved;
pub mod tcp_state;
pub mod text;
pub mod upper;
pub mod whole;
pub mod wire;

pub use event::{Event, Flag, Op, Role, Segment, Side, SocketRef, Transport};
pub use upper::{Uppercased, uppercase, utf8_problem};
