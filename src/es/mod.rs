//! es: to be written.
