//! Authentication of license users: the one password check every surface uses, with the lockout, and the device
//! tokens that keep a known browser from being locked out by strangers.
pub mod device;
pub mod mfa;
pub mod password;
pub mod recovery;
