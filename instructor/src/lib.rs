//! The socketlab instructor page, `/instructor/{class}#key=<secret>`: a class's roster × labs
//! grid of completion, kept live by the class's event stream, each student's work on a click,
//! check results per program, the grades CSV, closing the class and removing a student.
//!
//! A crate of its own so the students' page carries none of it. The same Elm style as `web/`:
//! `update` names every message and returns effects, `view` builds HTML strings, and `render`
//! (wasm only) is the one module that touches the DOM. Depends on `proto` only, never on the
//! server.

pub mod api;
pub mod i18n;
pub mod update;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod render;
