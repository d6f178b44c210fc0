//! Who a client is and what it may do: the password file, the ACL file and
//! the [`Authenticator`] the runtime asks once per CONNECT.
//!
//! - [`password`]: Mosquitto's password file (`mosquitto_passwd`'s `$7$`
//!   PBKDF2-SHA512 and `$6$` SHA-512 entries), parsed once and checked in
//!   constant time; and new `$7$` entries for `shardmq passwd`.
//! - [`acl`]: Mosquitto's `acl_file` syntax, compiled once at load, checked
//!   per SUBSCRIBE filter, per PUBLISH and per delivery without allocating.
//! - [`authenticator`]: the [`Authenticator`] trait and its first source, the
//!   password file ([`PasswordAuthenticator`]).
//!
//! Everything here is pure: the files' text comes in as a string, the salt of
//! a new entry as bytes; reading files and drawing random bytes is the
//! runtime's job.

pub mod acl;
pub mod authenticator;
pub mod password;

pub use acl::{Acl, AclAccess, AclError, AclSubject};
pub use authenticator::{
    AuthDecision, AuthRefusal, Authenticator, ConnectCredentials, PasswordAuthenticator,
};
pub use password::{PasswordEntry, PasswordError, PasswordFile};
