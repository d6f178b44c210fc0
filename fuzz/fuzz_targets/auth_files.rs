//! Arbitrary bytes as a password file and as an ACL file: parsing never
//! panics, and a compiled ACL answers checks on arbitrary topics without
//! panicking either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shardmq::auth::{Acl, AclAccess, AclSubject, PasswordFile};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = PasswordFile::parse(text);
    if let Ok(acl) = Acl::parse(text) {
        let subject = AclSubject {
            username: Some("user"),
            client_id: "client",
        };
        for topic in text.lines().take(8) {
            let _ = acl.check(&subject, AclAccess::Read, topic);
            let _ = acl.check_subscribe(&subject, topic);
        }
    }
});
