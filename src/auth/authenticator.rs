//! The [`Authenticator`] the runtime asks once per CONNECT, and its first
//! source: the password file with `allow_anonymous`.
//!
//! A call may be slow (PBKDF2 is slow on purpose), so the runtime makes it
//! off its shard's executor; an authenticator is therefore `Send + Sync` and
//! answers from what it holds, without I/O of its own.

use std::net::SocketAddr;
use std::sync::Arc;

use bytestring::ByteString;

use super::password::PasswordFile;
use crate::protocol::ReasonCode;

/// What a CONNECT says about who the client is, and where it came from.
#[derive(Clone, Copy, Debug)]
pub struct ConnectCredentials<'a> {
    /// CONNECT's User Name.
    pub username: Option<&'a str>,
    /// CONNECT's Password.
    pub password: Option<&'a [u8]>,
    /// The client identifier (the assigned one when the client sent none).
    pub client_id: &'a str,
    /// The client's address.
    pub peer: SocketAddr,
    /// The name of the transport of the listener it connected to (`tcp`, ...).
    pub listener: &'a str,
    /// The identity of the client's certificate, when its listener takes it
    /// as the user name.
    pub certificate_identity: Option<&'a str>,
}

/// Why a CONNECT was not authenticated; each maps to a CONNACK code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthRefusal {
    /// Unknown user, wrong or missing password: 5.0 0x86, 3.x return code 4.
    BadUserNameOrPassword,
    /// A client without credentials where anonymous clients are not
    /// allowed: 5.0 0x87, 3.x return code 5.
    NotAuthorized,
}

impl AuthRefusal {
    /// The CONNACK reason code (the codec maps it to the 3.x return code).
    pub fn reason_code(self) -> ReasonCode {
        match self {
            AuthRefusal::BadUserNameOrPassword => ReasonCode::BadUserNameOrPassword,
            AuthRefusal::NotAuthorized => ReasonCode::NotAuthorized,
        }
    }
}

/// An authenticator's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    /// The client may connect, as this user (`None`: anonymous). ACL rules
    /// and takeover checks use this name.
    Allow {
        /// The user the client is, for its session.
        username: Option<ByteString>,
    },
    /// The client is refused.
    Deny(AuthRefusal),
}

/// Decides whether a CONNECT may go on, and as whom.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Checks one CONNECT's credentials. May block (a password hash), never
    /// for I/O.
    fn authenticate(&self, credentials: &ConnectCredentials<'_>) -> AuthDecision;

    /// True when the answer can need a slow computation, so the runtime
    /// should ask off its executor; false when it is a lookup at most.
    fn is_slow(&self, credentials: &ConnectCredentials<'_>) -> bool;
}

/// Mosquitto's rules with a password file:
///
/// - a client with a certificate identity is that user, without a password;
/// - a client without a User Name is anonymous: allowed when
///   `allow_anonymous`, else refused as not authorized;
/// - with a password file, a User Name must be in it with the right
///   password (`allow_anonymous` does not let a wrong password in);
/// - without one, a User Name is taken as given when `allow_anonymous`, and
///   refused when not (there is nothing to check it against).
#[derive(Clone, Debug)]
pub struct PasswordAuthenticator {
    /// The password file, when one is configured.
    pub passwords: Option<Arc<PasswordFile>>,
    /// Whether clients without credentials may connect.
    pub allow_anonymous: bool,
}

impl Authenticator for PasswordAuthenticator {
    fn authenticate(&self, credentials: &ConnectCredentials<'_>) -> AuthDecision {
        if let Some(identity) = credentials.certificate_identity {
            return AuthDecision::Allow {
                username: Some(ByteString::from(identity)),
            };
        }
        let Some(username) = credentials.username else {
            return match self.allow_anonymous {
                true => AuthDecision::Allow { username: None },
                false => AuthDecision::Deny(AuthRefusal::NotAuthorized),
            };
        };
        let allowed = match (&self.passwords, credentials.password) {
            (Some(passwords), Some(password)) => passwords.verify(username, password),
            (Some(_), None) => false,
            (None, _) if self.allow_anonymous => true,
            (None, _) => return AuthDecision::Deny(AuthRefusal::NotAuthorized),
        };
        match allowed {
            true => AuthDecision::Allow {
                username: Some(ByteString::from(username)),
            },
            false => AuthDecision::Deny(AuthRefusal::BadUserNameOrPassword),
        }
    }

    fn is_slow(&self, credentials: &ConnectCredentials<'_>) -> bool {
        credentials.certificate_identity.is_none()
            && credentials.username.is_some()
            && credentials.password.is_some()
            && self.passwords.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PasswordEntry;

    fn credentials<'a>(
        username: Option<&'a str>,
        password: Option<&'a [u8]>,
    ) -> ConnectCredentials<'a> {
        ConnectCredentials {
            username,
            password,
            client_id: "c",
            peer: "127.0.0.1:1".parse().unwrap(),
            listener: "tcp",
            certificate_identity: None,
        }
    }

    fn with_alice(allow_anonymous: bool) -> PasswordAuthenticator {
        let entry = PasswordEntry::pbkdf2(b"secret", &[9; 12], 10);
        let text = format!("alice:{}\n", entry.encode());
        PasswordAuthenticator {
            passwords: Some(Arc::new(PasswordFile::parse(&text).unwrap())),
            allow_anonymous,
        }
    }

    #[test]
    fn the_right_password_is_allowed_as_its_user() {
        let decision = with_alice(false).authenticate(&credentials(Some("alice"), Some(b"secret")));
        assert_eq!(
            decision,
            AuthDecision::Allow {
                username: Some("alice".into())
            }
        );
    }

    #[test]
    fn wrong_missing_or_unknown_credentials_are_bad_user_name_or_password() {
        // allow_anonymous lets no wrong password in.
        let authenticator = with_alice(true);
        for (username, password) in [
            ("alice", Some(&b"wrong"[..])),
            ("alice", None),
            ("bob", Some(&b"secret"[..])),
        ] {
            assert_eq!(
                authenticator.authenticate(&credentials(Some(username), password)),
                AuthDecision::Deny(AuthRefusal::BadUserNameOrPassword),
                "{username}"
            );
        }
    }

    #[test]
    fn anonymous_clients_follow_allow_anonymous() {
        assert_eq!(
            with_alice(false).authenticate(&credentials(None, None)),
            AuthDecision::Deny(AuthRefusal::NotAuthorized)
        );
        assert_eq!(
            with_alice(true).authenticate(&credentials(None, None)),
            AuthDecision::Allow { username: None }
        );
    }

    #[test]
    fn without_a_password_file_user_names_are_taken_only_when_anonymous_is_allowed() {
        let open = PasswordAuthenticator {
            passwords: None,
            allow_anonymous: true,
        };
        assert_eq!(
            open.authenticate(&credentials(Some("x"), None)),
            AuthDecision::Allow {
                username: Some("x".into())
            }
        );
        let closed = PasswordAuthenticator {
            allow_anonymous: false,
            ..open
        };
        assert_eq!(
            closed.authenticate(&credentials(Some("x"), Some(b"y"))),
            AuthDecision::Deny(AuthRefusal::NotAuthorized)
        );
    }

    #[test]
    fn a_certificate_identity_is_the_user_without_the_password_file() {
        let mut presented = credentials(Some("mallory"), Some(b"wrong"));
        presented.certificate_identity = Some("device-7");
        let authenticator = with_alice(false);
        assert!(!authenticator.is_slow(&presented));
        assert_eq!(
            authenticator.authenticate(&presented),
            AuthDecision::Allow {
                username: Some("device-7".into())
            }
        );
    }
}
