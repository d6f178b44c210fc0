//! The broker's authentication and authorization files: loaded at start from
//! `[auth]`, replaced as a whole on reload, read by the shards once per
//! CONNECT.
//!
//! [`AuthRegistry`] is process-wide: a reload (SIGHUP) parses both files
//! first and swaps them in only when both are good, so a bad edit keeps the
//! old files and says why. Shards look at its generation on each CONNECT
//! (one atomic load) and take the new [`AuthState`] when it moved; the
//! publish path never touches it (the ACL travels in the shard's
//! `SessionConfig`, which a session keeps from its CONNECT on).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use shardmq::auth::{Acl, Authenticator, PasswordAuthenticator, PasswordFile};

use crate::config::{anonymous_allowed, Config, ConfigError};

/// The files of one load: who may connect, and the ACL.
#[derive(Debug)]
pub struct AuthState {
    /// Asked once per CONNECT.
    pub authenticator: Arc<dyn Authenticator>,
    /// The compiled ACL file, if one is configured.
    pub acl: Option<Arc<Acl>>,
    /// Whether a session may be taken over only by its own user.
    pub takeover_requires_same_username: bool,
}

impl AuthState {
    /// Reads and compiles the files `config` names.
    pub fn load(config: &Config) -> Result<AuthState, ConfigError> {
        let auth = &config.auth;
        let passwords = auth
            .password_file
            .as_deref()
            .map(|path| {
                read(path, "password_file").and_then(|text| {
                    PasswordFile::parse(&text).map_err(|error| {
                        ConfigError::new(format!(
                            "[auth] password_file {}: {error}",
                            path.display()
                        ))
                    })
                })
            })
            .transpose()?;
        let acl = auth
            .acl_file
            .as_deref()
            .map(|path| {
                read(path, "acl_file").and_then(|text| {
                    Acl::parse(&text).map_err(|error| {
                        ConfigError::new(format!("[auth] acl_file {}: {error}", path.display()))
                    })
                })
            })
            .transpose()?;
        Ok(AuthState {
            authenticator: Arc::new(PasswordAuthenticator {
                passwords: passwords.map(Arc::new),
                allow_anonymous: anonymous_allowed(auth, &config.listen)?,
            }),
            acl: acl.map(Arc::new),
            takeover_requires_same_username: auth.takeover_requires_same_username(),
        })
    }
}

fn read(path: &Path, key: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| {
        ConfigError::new(format!(
            "[auth] {key} {}: cannot read it: {error}",
            path.display()
        ))
    })
}

/// The current [`AuthState`], replaced whole by [`AuthRegistry::reload`].
#[derive(Debug)]
pub struct AuthRegistry {
    current: RwLock<Arc<AuthState>>,
    /// Bumped by every successful reload.
    generation: AtomicU64,
    /// What the files were loaded from, for reloads.
    config: Config,
}

impl AuthRegistry {
    /// Loads the files `config` names; an error refuses the start.
    pub fn load(config: &Config) -> Result<AuthRegistry, ConfigError> {
        Ok(AuthRegistry {
            current: RwLock::new(Arc::new(AuthState::load(config)?)),
            generation: AtomicU64::new(0),
            config: config.clone(),
        })
    }

    /// Reads the files again; on an error the old ones stay in force.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let state = Arc::new(AuthState::load(&self.config)?);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Bumped by every reload: a reader whose copy is of an older one takes
    /// [`AuthRegistry::current`] again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The files in force.
    pub fn current(&self) -> Arc<AuthState> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}
