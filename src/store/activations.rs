//! Seat accounting lives here (issue: SSO license activation).
