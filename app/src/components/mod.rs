//! Pieces used by more than one page.

pub mod badge;
pub mod form;
pub mod layout;
pub mod logs;
