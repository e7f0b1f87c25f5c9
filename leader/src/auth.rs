//! Who may connect: passwords kept as PostgreSQL keeps them, and the pgwire start-up
//! exchange that checks them.
//!
//! A password is stored as a SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iterations>:<salt>$
//! <StoredKey>:<ServerKey>`, RFC 5802 and 7677, PostgreSQL's format) and as PostgreSQL's
//! md5 hash (`md5` + md5(password ‖ user)), so either method can check it; neither gives
//! the password back. `[leader] auth` picks the method a connection is asked for:
//!
//! ```text
//!  scram-sha-256 (default)  SASL SCRAM-SHA-256: the password never crosses the wire
//!  md5                      md5 challenge with a random salt (SCRAM for a user with no md5 hash)
//!                           (under scram-sha-256, AWS's own drivers are asked for md5 too:
//!                           they cannot read PostgreSQL's SASL mechanism list)
//!  password                 the password in clear text (only sensible over TLS)
//!  trust                    any existing user, no password
//! ```
//!
//! A failed check is FATAL 28P01 for every reason (no such user, wrong password, no
//! password set), as PostgreSQL answers, so a client learns nothing about which users exist.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::Authentication;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;

/// PostgreSQL's default iteration count for SCRAM verifiers.
const ITERATIONS: u32 = 4096;
const SCRAM: &str = "SCRAM-SHA-256";

/// How connections prove who they are (`[leader] auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    #[serde(rename = "scram-sha-256")]
    Scram,
    #[serde(rename = "md5")]
    Md5,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "trust")]
    Trust,
}

/// A user's stored password: what checks it, never the password itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifiers {
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts).
    pub scram: Option<String>,
    /// `md5` followed by the hex md5 of password ‖ user name.
    pub md5: Option<String>,
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("the system's random source works");
    out
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
        .as_ref()
        .to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(iterations).expect("iterations are positive"),
        salt,
        password.as_bytes(),
        &mut out,
    );
    out
}

/// Equal byte strings, compared in time that does not depend on where they differ.
fn same_bytes(a: &[u8], b: &[u8]) -> std::result::Result<(), ()> {
    if a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0 {
        Ok(())
    } else {
        Err(())
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A parsed SCRAM verifier.
struct ScramVerifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl ScramVerifier {
    fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(ScramVerifier {
            iterations: iterations.parse().ok().filter(|i| *i > 0)?,
            salt: B64.decode(salt).ok()?,
            stored_key: B64.decode(stored).ok().filter(|k| k.len() == 32)?,
            server_key: B64.decode(server).ok().filter(|k| k.len() == 32)?,
        })
    }

    fn matches_password(&self, password: &str) -> bool {
        let salted = salted_password(password, &self.salt, self.iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        same_bytes(&sha256(&client_key), &self.stored_key).is_ok()
    }
}

impl Verifiers {
    /// Both verifiers of `password` for `user`, with a fresh salt.
    pub fn new(user: &str, password: &str) -> Self {
        let salt = random_bytes::<16>();
        let salted = salted_password(password, &salt, ITERATIONS);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let server_key = hmac_sha256(&salted, b"Server Key");
        Verifiers {
            scram: Some(format!(
                "{SCRAM}${ITERATIONS}:{}${}:{}",
                B64.encode(salt),
                B64.encode(sha256(&client_key)),
                B64.encode(server_key)
            )),
            md5: Some(format!(
                "md5{}",
                md5_hex(format!("{password}{user}").as_bytes())
            )),
        }
    }

    /// What `CREATE USER … PASSWORD '<text>'` stores: a ready verifier (`md5…` of 35
    /// characters, or a SCRAM verifier) is kept as given, anything else is a password.
    pub fn from_statement(user: &str, text: &str) -> Option<Self> {
        if text.len() == 35
            && text.starts_with("md5")
            && text[3..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(Verifiers {
                scram: None,
                md5: Some(text.to_ascii_lowercase()),
            });
        }
        if text.starts_with("SCRAM-SHA-256$") {
            return ScramVerifier::parse(text).map(|_| Verifiers {
                scram: Some(text.to_string()),
                md5: None,
            });
        }
        Some(Verifiers::new(user, text))
    }

    /// Whether a password sent in clear text is this user's.
    fn matches_password(&self, user: &str, password: &str) -> bool {
        if let Some(v) = self.scram.as_deref().and_then(ScramVerifier::parse) {
            return v.matches_password(password);
        }
        self.md5.as_deref().is_some_and(|stored| {
            let sent = format!("md5{}", md5_hex(format!("{password}{user}").as_bytes()));
            same_bytes(sent.as_bytes(), stored.as_bytes()).is_ok()
        })
    }
}

/// The password rules of `CREATE USER` / `ALTER USER` (Redshift's): 8 to 64 characters,
/// an upper-case letter, a lower-case letter and a digit; printable ASCII other than
/// quotes, backslash, slash, `@` and space.
pub fn check_password_rules(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if !(8..=64).contains(&n) {
        return Err("password must be 8 to 64 characters long".into());
    }
    if !password.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("password must contain an uppercase letter".into());
    }
    if !password.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("password must contain a lowercase letter".into());
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err("password must contain a number".into());
    }
    if let Some(c) = password
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '\'' | '"' | '\\' | '/' | '@'))
    {
        return Err(format!("password must not contain {c:?}"));
    }
    Ok(())
}

/// The start-up exchange of one connection.
enum Step {
    Start,
    Cleartext {
        user: String,
    },
    Md5 {
        user: String,
        salt: [u8; 4],
    },
    ScramFirst {
        user: String,
    },
    ScramFinal {
        user: String,
        verifier: Option<ScramVerifier>,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
}

/// Checks one connection's user and password (one handler per connection), then reports
/// the server's parameters as `identity` gives them.
pub struct Login {
    engine: Arc<Engine>,
    method: Method,
    require_tls: bool,
    params: crate::identity::ServerParameters,
    keys: pgwire::api::RandomPidSecretKeyGenerator,
    step: Mutex<Step>,
}

impl Login {
    pub fn new(engine: Arc<Engine>, method: Method, require_tls: bool) -> Self {
        Login {
            engine,
            method,
            require_tls,
            params: Default::default(),
            keys: Default::default(),
            step: Mutex::new(Step::Start),
        }
    }

    fn verifiers(&self, user: &str) -> Option<Verifiers> {
        self.engine
            .catalog
            .pin()
            .users
            .get(user)
            .map(|u| u.password.clone())
    }

    async fn accept<C>(&self, client: &mut C, user: &str) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (pid, key) = self.keys.generate(client);
        client.set_pid_and_secret_key(pid, key);
        tracing::debug!(user, "authenticated");
        finish_authentication(client, &self.params).await
    }
}

fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message,
    )))
}

fn failed(user: &str, addr: std::net::SocketAddr) -> PgWireError {
    tracing::warn!(user, %addr, "password authentication failed");
    fatal(
        "28P01",
        format!("password authentication failed for user \"{user}\""),
    )
}

/// `key=value` attributes of a SCRAM message.
fn attribute(message: &str, key: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let addr = client.socket_addr();
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.require_tls && !client.is_secure() {
                    tracing::warn!(%addr, "refused a connection without TLS");
                    return Err(fatal(
                        "28000",
                        "this server accepts only TLS connections (require_tls): connect with sslmode=require".into(),
                    ));
                }
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .ok_or(PgWireError::UserNameRequired)?;
                let verifiers = self.verifiers(&user);
                if self.method == Method::Trust {
                    if verifiers.is_none() {
                        return Err(fatal("28000", format!("role \"{user}\" does not exist")));
                    }
                    return self.accept(client, &user).await;
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let md5 = verifiers.as_ref().is_some_and(|v| v.md5.is_some());
                let scram = verifiers.as_ref().is_some_and(|v| v.scram.is_some());
                // AWS's drivers (they announce `client_protocol_version`) cannot read
                // PostgreSQL's SASL mechanism list; Redshift asks them for md5, and so do we.
                let redshift_driver = client.metadata().contains_key("client_protocol_version");
                let (step, request) = match self.method {
                    Method::Password => {
                        (Step::Cleartext { user }, Authentication::CleartextPassword)
                    }
                    Method::Md5 | Method::Scram
                        if md5 && (self.method == Method::Md5 || redshift_driver) =>
                    {
                        let salt = random_bytes::<4>();
                        (
                            Step::Md5 { user, salt },
                            Authentication::MD5Password(salt.to_vec()),
                        )
                    }
                    Method::Md5 if !scram => {
                        let salt = random_bytes::<4>();
                        (
                            Step::Md5 { user, salt },
                            Authentication::MD5Password(salt.to_vec()),
                        )
                    }
                    _ => (
                        Step::ScramFirst { user },
                        Authentication::SASL(vec![SCRAM.into()]),
                    ),
                };
                *self.step.lock().expect("login step") = step;
                client
                    .send(PgWireBackendMessage::Authentication(request))
                    .await?;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let step =
                    std::mem::replace(&mut *self.step.lock().expect("login step"), Step::Start);
                match step {
                    Step::Start => Err(fatal("08P01", "unexpected password message".into())),
                    Step::Cleartext { user } => {
                        let sent = message.into_password()?.password;
                        let ok = self
                            .verifiers(&user)
                            .is_some_and(|v| v.matches_password(&user, &sent));
                        if !ok {
                            return Err(failed(&user, addr));
                        }
                        self.accept(client, &user).await
                    }
                    Step::Md5 { user, salt } => {
                        let sent = message.into_password()?.password;
                        let expected = self.verifiers(&user).and_then(|v| v.md5).map(|stored| {
                            let mut input = stored.as_bytes()[3..].to_vec();
                            input.extend_from_slice(&salt);
                            format!("md5{}", md5_hex(&input))
                        });
                        let ok = expected
                            .is_some_and(|e| same_bytes(e.as_bytes(), sent.as_bytes()).is_ok());
                        if !ok {
                            return Err(failed(&user, addr));
                        }
                        self.accept(client, &user).await
                    }
                    Step::ScramFirst { user } => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != SCRAM {
                            return Err(fatal(
                                "28000",
                                format!("SASL mechanism {} is not offered", initial.auth_method),
                            ));
                        }
                        let data = initial.data.unwrap_or_default();
                        let text = std::str::from_utf8(&data)
                            .map_err(|_| fatal("08P01", "SCRAM message is not UTF-8".into()))?;
                        // gs2 header: n,, (no channel binding) or y,, (client could bind but
                        // the server offered no binding). p=… asks for binding not offered.
                        let bare = text
                            .strip_prefix("n,,")
                            .or_else(|| text.strip_prefix("y,,"))
                            .ok_or_else(|| {
                                fatal("08P01", "SCRAM channel binding is not offered".into())
                            })?;
                        let client_nonce = attribute(bare, 'r')
                            .filter(|n| !n.is_empty())
                            .ok_or_else(|| fatal("08P01", "SCRAM client nonce missing".into()))?;
                        let verifier = self
                            .verifiers(&user)
                            .and_then(|v| v.scram)
                            .as_deref()
                            .and_then(ScramVerifier::parse);
                        // An unknown user gets a made-up salt and fails at the proof, as a
                        // wrong password does.
                        let (salt, iterations) = match &verifier {
                            Some(v) => (v.salt.clone(), v.iterations),
                            None => (random_bytes::<16>().to_vec(), ITERATIONS),
                        };
                        let nonce = format!("{client_nonce}{}", B64.encode(random_bytes::<18>()));
                        let server_first =
                            format!("r={nonce},s={},i={iterations}", B64.encode(salt));
                        *self.step.lock().expect("login step") = Step::ScramFinal {
                            user,
                            verifier,
                            client_first_bare: bare.to_string(),
                            server_first: server_first.clone(),
                            nonce,
                        };
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(server_first.into_bytes().into()),
                            ))
                            .await?;
                        Ok(())
                    }
                    Step::ScramFinal {
                        user,
                        verifier,
                        client_first_bare,
                        server_first,
                        nonce,
                    } => {
                        let data = message.into_sasl_response()?.data;
                        let text = std::str::from_utf8(&data)
                            .map_err(|_| fatal("08P01", "SCRAM message is not UTF-8".into()))?;
                        let (without_proof, proof) = text
                            .rsplit_once(",p=")
                            .ok_or_else(|| fatal("08P01", "SCRAM proof missing".into()))?;
                        let binding_ok =
                            matches!(attribute(without_proof, 'c'), Some("biws" | "eSws"));
                        if !binding_ok || attribute(without_proof, 'r') != Some(nonce.as_str()) {
                            return Err(fatal(
                                "08P01",
                                "SCRAM nonce or channel binding does not match".into(),
                            ));
                        }
                        let proof = B64.decode(proof).unwrap_or_default();
                        let Some(v) = verifier else {
                            return Err(failed(&user, addr));
                        };
                        let auth_message =
                            format!("{client_first_bare},{server_first},{without_proof}");
                        let signature = hmac_sha256(&v.stored_key, auth_message.as_bytes());
                        if proof.len() != signature.len() {
                            return Err(failed(&user, addr));
                        }
                        let client_key: Vec<u8> =
                            proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
                        if same_bytes(&sha256(&client_key), &v.stored_key).is_err() {
                            return Err(failed(&user, addr));
                        }
                        let server_signature = hmac_sha256(&v.server_key, auth_message.as_bytes());
                        let last = format!("v={}", B64.encode(server_signature));
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLFinal(last.into_bytes().into()),
                            ))
                            .await?;
                        self.accept(client, &user).await
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

/// Gives a new cluster its first superuser, `admin`, with the configured password or a
/// generated one (written owner-readable to `<data dir>/admin_password` before the user
/// is committed, and printed once).
pub async fn ensure_admin(
    catalog: &crate::catalog::Catalog,
    configured: &str,
    data_dir: &std::path::Path,
) -> crate::error::Result<()> {
    use crate::error::Error;
    if !catalog.pin().users.is_empty() {
        return Ok(());
    }
    let generated = configured.is_empty();
    let password = if generated {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        let picks: String = random_bytes::<20>()
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect();
        // One of each class the password rules ask for, whatever the draw.
        format!("Bs{picks}7")
    } else {
        configured.to_string()
    };
    let file = data_dir.join("admin_password");
    if generated {
        blueshift_compute::secret::write_owner_only(&file, &format!("{password}\n"))
            .map_err(|e| Error::Io(format!("cannot write {}: {e}", file.display())))?;
    }
    let guard = catalog.begin_write().await;
    let mut next = (*catalog.pin()).clone();
    next.users.insert(
        crate::access::ADMIN.to_string(),
        crate::access::User {
            id: 100,
            superuser: true,
            createdb: true,
            password: Verifiers::new(crate::access::ADMIN, &password),
        },
    );
    catalog.commit(&guard, next)?;
    if generated {
        println!(
            "Created the superuser admin with the password {password} (kept in {}).",
            file.display()
        );
    } else {
        println!("Created the superuser admin with the configured admin_password.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_check_the_password_they_were_made_from() {
        let v = Verifiers::new("alice", "Secret123");
        assert!(v.matches_password("alice", "Secret123"));
        assert!(!v.matches_password("alice", "Secret124"));
        let md5_only =
            Verifiers::from_statement("alice", &format!("md5{}", md5_hex(b"Secret123alice")))
                .unwrap();
        assert!(md5_only.scram.is_none());
        assert!(md5_only.matches_password("alice", "Secret123"));
        // A SCRAM verifier made elsewhere (PostgreSQL's format) is kept as given.
        let scram = v.scram.clone().unwrap();
        let kept = Verifiers::from_statement("bob", &scram).unwrap();
        assert_eq!(kept.scram.as_deref(), Some(scram.as_str()));
        assert!(Verifiers::from_statement("bob", "SCRAM-SHA-256$x").is_none());
    }

    #[test]
    fn password_rules_are_redshifts() {
        assert!(check_password_rules("Secret123").is_ok());
        assert!(check_password_rules("short1A").is_err());
        assert!(check_password_rules("nouppercase1").is_err());
        assert!(check_password_rules("NOLOWER1").is_err());
        assert!(check_password_rules("NoNumberHere").is_err());
        assert!(check_password_rules("Has space1").is_err());
    }
}
