//! One module per dashboard area, each with the server functions it calls beside it.

pub mod apps;
pub mod auth;
pub mod join;
pub mod node_actions;
pub mod nodes;
pub mod registry;
pub mod settings;
pub mod topology;
