//! socketlab: the socket-programming lesson's four programs on real sockets, and the gateway
//! that lets a browser watch every step.
//!
//! The binary's `main` only parses flags and calls [`cli::run`]. Servers take sockets that are
//! already bound, so tests run them on port 0 in-process.

pub mod capture;
pub mod check;
pub mod class;
pub mod cli;
pub mod cli_class;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod fds;
pub mod fuzzing;
pub mod gateway;
pub mod impair;
pub mod log;
pub mod net;
pub mod shutdown;
pub mod tcp_server;
pub mod trace;
pub mod udp_batch;
pub mod udp_server;
