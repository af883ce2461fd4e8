//! schedule: to be written.
