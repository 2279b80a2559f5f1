//! askama views of the hosted UI.
