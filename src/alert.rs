//! alert: to be written.
