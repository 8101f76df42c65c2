//! Captain's ingress proxy.
//!
//! Requests are routed by `Host` to an app's instances ([`routes`]), spread round-robin
//! over the instances that are up, and retried on another instance when one refuses the
//! connection ([`forward`]), so an instance dying costs its users nothing. The route table
//! is plain data swapped in atomically: updating it never drops a connection.

pub mod edge;
pub mod forward;
pub mod pool;
pub mod resolve;
pub mod routes;
pub mod server;
pub mod tls;

pub use routes::{RouteTable, Routes};
pub use server::{serve, Proxy, ProxyOptions};
