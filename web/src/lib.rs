//! The socketlab browser playground.
//!
//! Everything but [`render`] is pure Rust and tested natively: the model, the diagram layout,
//! the code panel and the HTML the page shows. `render` is the only module that touches the
//! DOM, and it only exists on `wasm32`.

pub mod checks;
pub mod class;
pub mod code;
pub mod detail;
pub mod explain;
pub mod frame;
pub mod html;
pub mod i18n;
pub mod json;
pub mod labs;
pub mod layout;
pub mod model;
pub mod share;
pub mod svg;
pub mod update;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod render;
