//! Handlers, one file per resource. Each extracts its input, calls one service function
//! (`atalaya_service`) and maps the result; none branches on business rules.

pub mod admin;
pub mod chat;
pub mod inspect;
pub mod knowledge;
pub mod ops;
pub mod pipelines;
pub mod tickets;
