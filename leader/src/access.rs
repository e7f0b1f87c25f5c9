//! Users, groups and privileges, as part of the committed catalog state (so they commit,
//! crash and restore like tables do), and the one check every statement path asks.
//!
//! A user is a superuser (Redshift's CREATEUSER) or not. Every table and view has an
//! owner: its creator. The owner and superusers may do anything to it; anyone else needs
//! a grant to themselves, to a group they are in, or to PUBLIC. Dropping, truncating,
//! altering and granting on an object are its owner's (or a superuser's) alone. A view
//! reads its tables with its owner's privileges, so a grant on a view is enough to read it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::auth::Verifiers;
use crate::catalog::ClusterState;
use crate::error::{Error, Result};

/// The superuser every cluster starts with.
pub const ADMIN: &str = "admin";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// `usesysid`: 100 for the first user, as Redshift numbers them.
    pub id: u32,
    pub superuser: bool,
    /// May create databases (recorded for `pg_user`; there is one database).
    #[serde(default)]
    pub createdb: bool,
    pub password: Verifiers,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: u32,
    pub members: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    /// On a schema: may name the objects in it.
    Usage,
    /// On a schema: may create objects in it.
    Create,
}

impl Privilege {
    pub const ALL: [Privilege; 4] = [
        Privilege::Select,
        Privilege::Insert,
        Privilege::Update,
        Privilege::Delete,
    ];

    /// What `ALL [PRIVILEGES]` on a schema grants.
    pub const SCHEMA: [Privilege; 2] = [Privilege::Usage, Privilege::Create];

    pub fn name(self) -> &'static str {
        match self {
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
        }
    }

    pub fn parse(word: &str) -> Option<Privilege> {
        Privilege::ALL
            .into_iter()
            .chain(Privilege::SCHEMA)
            .find(|p| p.name().eq_ignore_ascii_case(word))
    }
}

/// Who a grant is to. Stored as `user:<name>`, `group:<name>` or `public` (a map key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Grantee {
    User(String),
    Group(String),
    Public,
}

impl From<Grantee> for String {
    fn from(g: Grantee) -> String {
        match g {
            Grantee::User(u) => format!("user:{u}"),
            Grantee::Group(g) => format!("group:{g}"),
            Grantee::Public => "public".into(),
        }
    }
}

impl TryFrom<String> for Grantee {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        if s == "public" {
            return Ok(Grantee::Public);
        }
        if let Some(u) = s.strip_prefix("user:") {
            return Ok(Grantee::User(u.to_string()));
        }
        s.strip_prefix("group:")
            .map(|g| Grantee::Group(g.to_string()))
            .ok_or_else(|| format!("not a grantee: {s:?}"))
    }
}

/// One table's or view's owner and grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: String,
    pub grants: BTreeMap<Grantee, BTreeSet<Privilege>>,
}

impl Acl {
    pub fn owned_by(owner: &str) -> Self {
        Acl {
            owner: owner.to_string(),
            grants: BTreeMap::new(),
        }
    }
}

/// What a snapshot keeps of users and privileges, so a restored cluster has them too.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Security {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub acl: BTreeMap<String, Acl>,
    /// Schemas other than `public`, with their owners and grants.
    #[serde(default)]
    pub schemas: BTreeMap<String, Acl>,
}

impl Security {
    pub fn of(state: &ClusterState) -> Self {
        Security {
            users: state.users.clone(),
            groups: state.groups.clone(),
            acl: state.acl.clone(),
            schemas: state.schemas.clone(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("users and grants serialize")
    }

    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        serde_json::from_value(value)
            .map_err(|e| Error::InvalidInput(format!("snapshot's users and grants: {e}")))
    }
}

impl ClusterState {
    pub fn is_superuser(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.superuser)
    }

    /// The owner of table or view `name` (objects made before users existed belong to
    /// the first superuser).
    pub fn owner_of(&self, name: &str) -> &str {
        self.acl.get(name).map_or(ADMIN, |a| a.owner.as_str())
    }

    /// Whether `user` holds `privilege` on table or view `name` (a catalog key: outside
    /// `public`, also USAGE on its schema).
    pub fn allowed(&self, user: &str, name: &str, privilege: Privilege) -> bool {
        if self.is_superuser(user) {
            return true;
        }
        let (schema, _) = crate::schema::split_key(name);
        if schema != crate::schema::PUBLIC && !self.schema_allowed(user, schema, Privilege::Usage) {
            return false;
        }
        self.owner_of(name) == user
            || self
                .acl
                .get(name)
                .is_some_and(|a| self.holds(a, user, privilege))
    }

    /// Whether `user` holds `privilege` (USAGE or CREATE) on schema `schema`. Everyone may
    /// use and create in `public`, as in Redshift.
    pub fn schema_allowed(&self, user: &str, schema: &str, privilege: Privilege) -> bool {
        if schema == crate::schema::PUBLIC || self.is_superuser(user) {
            return true;
        }
        self.schemas
            .get(schema)
            .is_some_and(|a| a.owner == user || self.holds(a, user, privilege))
    }

    /// 42501 unless `user` may create a relation with catalog key `key` (CREATE on its
    /// schema).
    pub fn require_create_in(&self, user: &str, key: &str) -> Result<()> {
        let (schema, _) = crate::schema::split_key(key);
        if self.schema_allowed(user, schema, Privilege::Create) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "permission denied for schema {schema}"
        )))
    }

    /// Whether `acl` grants `privilege` to `user`, to a group of theirs, or to PUBLIC.
    fn holds(&self, acl: &Acl, user: &str, privilege: Privilege) -> bool {
        acl.grants.iter().any(|(who, privileges)| {
            privileges.contains(&privilege)
                && match who {
                    Grantee::Public => true,
                    Grantee::User(u) => u == user,
                    Grantee::Group(g) => {
                        self.groups.get(g).is_some_and(|g| g.members.contains(user))
                    }
                }
        })
    }

    /// 42501 unless `user` holds `privilege` on `name`.
    pub fn require(&self, user: &str, name: &str, privilege: Privilege) -> Result<()> {
        if self.allowed(user, name, privilege) {
            return Ok(());
        }
        let kind = if self.views.contains_key(name) {
            "view"
        } else {
            "relation"
        };
        Err(Error::PermissionDenied(format!(
            "permission denied for {kind} {name}"
        )))
    }

    /// 42501 unless `user` owns `name` or is a superuser (DROP, TRUNCATE, ALTER, GRANT).
    pub fn require_owner(&self, user: &str, name: &str) -> Result<()> {
        if self.is_superuser(user) || self.owner_of(name) == user {
            return Ok(());
        }
        let kind = if self.views.contains_key(name) {
            "view"
        } else {
            "table"
        };
        Err(Error::PermissionDenied(format!(
            "must be owner of {kind} {name}"
        )))
    }

    /// 42501 unless `user` is a superuser; `what` names the action.
    pub fn require_superuser(&self, user: &str, what: &str) -> Result<()> {
        if self.is_superuser(user) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!(
            "permission denied: {what} requires a superuser"
        )))
    }

    /// The next free user or group id.
    pub fn next_principal_id(&self) -> u32 {
        self.users
            .values()
            .map(|u| u.id)
            .chain(self.groups.values().map(|g| g.id))
            .max()
            .map_or(100, |m| m + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_superusers_grants_groups_and_public() {
        let mut s = ClusterState::new(
            "x".into(),
            blueshift_storage::placement::Topology {
                nodes: 1,
                slices_per_node: 1,
            },
        );
        for (name, superuser) in [
            (ADMIN, true),
            ("alice", false),
            ("bob", false),
            ("carol", false),
        ] {
            s.users.insert(
                name.into(),
                User {
                    id: s.next_principal_id(),
                    superuser,
                    createdb: false,
                    password: Verifiers::default(),
                },
            );
        }
        s.groups.insert(
            "readers".into(),
            Group {
                id: 200,
                members: ["bob".to_string()].into(),
            },
        );
        let mut acl = Acl::owned_by("alice");
        acl.grants
            .insert(Grantee::Group("readers".into()), [Privilege::Select].into());
        acl.grants
            .insert(Grantee::Public, [Privilege::Insert].into());
        s.acl.insert("t".into(), acl);
        assert!(s.allowed("alice", "t", Privilege::Delete));
        assert!(s.allowed(ADMIN, "t", Privilege::Delete));
        assert!(s.allowed("bob", "t", Privilege::Select));
        assert!(!s.allowed("bob", "t", Privilege::Delete));
        assert!(!s.allowed("carol", "t", Privilege::Select));
        assert!(s.allowed("carol", "t", Privilege::Insert));
        assert!(s.require_owner("bob", "t").is_err());
        // An object from before users existed belongs to the first superuser.
        assert_eq!(s.owner_of("old"), ADMIN);
        assert!(!s.allowed("alice", "old", Privilege::Select));
    }
}
