//! The signals that stop a long run (a send, the receiver) gracefully.
//!
//! A leaf of its own so that the wording (`words::signal_name`) and both commands can name a
//! signal without depending on the sender.

/// The signals that stop a run gracefully.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM: how systemd, Kubernetes and CI runners stop a process.
    Terminate,
}
