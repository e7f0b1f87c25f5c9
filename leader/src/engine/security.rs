//! Users, groups and grants, in Redshift's syntax:
//!
//! ```text
//!  CREATE USER name [WITH] PASSWORD {'password' | 'md5…' | DISABLE} [option …]
//!      option: CREATEUSER | NOCREATEUSER | SUPERUSER | NOSUPERUSER | CREATEDB | NOCREATEDB
//!            | IN GROUP g [, …] | VALID UNTIL '…' | CONNECTION LIMIT {n | UNLIMITED}
//!            | SYSLOG ACCESS {RESTRICTED | UNRESTRICTED}
//!  ALTER USER name [WITH] {option | PASSWORD …} …  |  ALTER USER name RENAME TO new
//!  DROP USER [IF EXISTS] name [, …]
//!  CREATE GROUP g [[WITH] USER u [, …]]
//!  ALTER GROUP g {ADD | DROP} USER u [, …]  |  ALTER GROUP g RENAME TO new
//!  DROP GROUP g
//!  GRANT {privilege [, …] | ALL [PRIVILEGES]} ON {[TABLE] t [, …] | ALL TABLES IN SCHEMA s}
//!        TO {u | GROUP g | PUBLIC} [, …]
//!  GRANT {USAGE | CREATE [, …] | ALL} ON SCHEMA s [, …] TO …
//!  REVOKE … ON … FROM {u | GROUP g | PUBLIC} [, …] [CASCADE | RESTRICT]
//!  ALTER TABLE t OWNER TO u  (also ALTER VIEW)
//! ```
//!
//! Users and groups are a superuser's to manage (a user may change their own password);
//! grants on an object are its owner's. Each statement is one commit. They do not run
//! inside a transaction block (25001): a grant is in force the moment it is answered.

use datafusion::sql::sqlparser::tokenizer::Token;

use super::copy::sql::Tokens;
use super::{Engine, Output, Session};
use crate::access::{Acl, Grantee, Group, Privilege, User};
use crate::auth::{Verifiers, check_password_rules};
use crate::catalog::ClusterState;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum SecurityStatement {
    CreateUser {
        name: String,
        options: Vec<UserOption>,
    },
    AlterUser {
        name: String,
        options: Vec<UserOption>,
    },
    RenameUser {
        name: String,
        to: String,
    },
    DropUsers {
        names: Vec<String>,
        if_exists: bool,
    },
    CreateGroup {
        name: String,
        users: Vec<String>,
    },
    AlterGroup {
        name: String,
        add: bool,
        users: Vec<String>,
    },
    RenameGroup {
        name: String,
        to: String,
    },
    DropGroup {
        name: String,
    },
    Grant {
        grant: bool,
        privileges: Vec<Privilege>,
        objects: Objects,
        grantees: Vec<Grantee>,
    },
    Owner {
        object: String,
        owner: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Objects {
    /// Tables and views as written (resolved along the search path when run).
    Tables(Vec<String>),
    AllInSchema(String),
    Schemas(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum UserOption {
    /// `None`: PASSWORD DISABLE.
    Password(Option<String>),
    Superuser(bool),
    CreateDb(bool),
    InGroups(Vec<String>),
    /// Accepted and not enforced (noted to the client).
    Ignored(&'static str),
}

/// The statement, when `sql` is one of these.
pub fn parse(sql: &str) -> Option<Result<SecurityStatement>> {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next()?;
    let second = words.next().unwrap_or_default();
    let ours = match first.as_str() {
        "CREATE" | "DROP" => matches!(second.as_str(), "USER" | "GROUP"),
        "ALTER" => {
            matches!(second.as_str(), "USER" | "GROUP")
                || (matches!(second.as_str(), "TABLE" | "VIEW")
                    && sql.to_ascii_uppercase().contains(" OWNER "))
        }
        "GRANT" | "REVOKE" => true,
        _ => false,
    };
    ours.then(|| parse_tokens(sql))
}

fn parse_tokens(sql: &str) -> Result<SecurityStatement> {
    let mut t = Tokens::new(sql)?;
    let verb = t.peek_word().unwrap_or_default();
    t.next();
    let stmt = match verb.as_str() {
        "CREATE" if t.eat_word("USER") => {
            let name = t.ident()?;
            let options = user_options(&mut t)?;
            if !options.iter().any(|o| matches!(o, UserOption::Password(_))) {
                return Err(Error::syntax(
                    "CREATE USER needs PASSWORD 'password' (or PASSWORD DISABLE)",
                ));
            }
            SecurityStatement::CreateUser { name, options }
        }
        "CREATE" => {
            t.expect_word("GROUP")?;
            let name = t.ident()?;
            t.eat_word("WITH");
            let users = if t.eat_word("USER") {
                name_list(&mut t)?
            } else {
                vec![]
            };
            SecurityStatement::CreateGroup { name, users }
        }
        "ALTER" if t.eat_word("USER") => {
            let name = t.ident()?;
            if t.eat_word("RENAME") {
                t.expect_word("TO")?;
                let to = t.ident()?;
                SecurityStatement::RenameUser { name, to }
            } else {
                let options = user_options(&mut t)?;
                if options.is_empty() {
                    return Err(t.unexpected("expected an option of ALTER USER"));
                }
                SecurityStatement::AlterUser { name, options }
            }
        }
        "ALTER" if t.eat_word("GROUP") => {
            let name = t.ident()?;
            if t.eat_word("RENAME") {
                t.expect_word("TO")?;
                let to = t.ident()?;
                SecurityStatement::RenameGroup { name, to }
            } else {
                let add = if t.eat_word("ADD") {
                    true
                } else if t.eat_word("DROP") {
                    false
                } else {
                    return Err(t.unexpected("expected ADD USER or DROP USER"));
                };
                t.expect_word("USER")?;
                let users = name_list(&mut t)?;
                SecurityStatement::AlterGroup { name, add, users }
            }
        }
        "ALTER" => {
            if !t.eat_word("TABLE") {
                t.expect_word("VIEW")?;
            }
            let object = t.object_name()?;
            t.expect_word("OWNER")?;
            t.expect_word("TO")?;
            let owner = t.ident()?;
            SecurityStatement::Owner { object, owner }
        }
        "DROP" if t.eat_word("USER") => {
            let if_exists = t.eat_word("IF") && {
                t.expect_word("EXISTS")?;
                true
            };
            let names = name_list(&mut t)?;
            SecurityStatement::DropUsers { names, if_exists }
        }
        "DROP" => {
            t.expect_word("GROUP")?;
            let name = t.ident()?;
            SecurityStatement::DropGroup { name }
        }
        "GRANT" | "REVOKE" => {
            let grant = verb == "GRANT";
            if !grant && t.eat_word("GRANT") {
                t.expect_word("OPTION")?;
                t.expect_word("FOR")?;
            }
            let mut privileges = privilege_list(&mut t)?;
            t.expect_word("ON")?;
            let objects = if t.eat_word("ALL") {
                t.expect_word("TABLES")?;
                t.expect_word("IN")?;
                t.expect_word("SCHEMA")?;
                Objects::AllInSchema(t.ident()?)
            } else if t.eat_word("SCHEMA") {
                Objects::Schemas(name_list(&mut t)?)
            } else {
                if t.peek_word().as_deref() == Some("DATABASE")
                    || t.peek_word().as_deref() == Some("FUNCTION")
                {
                    return Err(Error::NotSupported(format!(
                        "GRANT ON {} is not supported: grants are on tables, views and schemas",
                        t.peek_word().unwrap_or_default()
                    )));
                }
                t.eat_word("TABLE");
                let mut names = vec![t.object_name()?];
                while t.eat(&Token::Comma) {
                    names.push(t.object_name()?);
                }
                Objects::Tables(names)
            };
            let on_schemas = matches!(objects, Objects::Schemas(_));
            if on_schemas && privileges == Privilege::ALL {
                privileges = Privilege::SCHEMA.to_vec();
            }
            if let Some(p) = privileges
                .iter()
                .find(|p| Privilege::SCHEMA.contains(p) != on_schemas)
            {
                return Err(Error::InvalidGrant(format!(
                    "invalid privilege type {} for {}",
                    p.name(),
                    if on_schemas { "schema" } else { "relation" }
                )));
            }
            t.expect_word(if grant { "TO" } else { "FROM" })?;
            let mut grantees = vec![grantee(&mut t)?];
            while t.eat(&Token::Comma) {
                grantees.push(grantee(&mut t)?);
            }
            if grant && t.eat_word("WITH") {
                return Err(Error::NotSupported(
                    "WITH GRANT OPTION is not supported: an object's owner grants on it".into(),
                ));
            }
            if !grant {
                let _ = t.eat_word("CASCADE") || t.eat_word("RESTRICT");
            }
            SecurityStatement::Grant {
                grant,
                privileges,
                objects,
                grantees,
            }
        }
        _ => return Err(t.unexpected("expected a user, group or grant statement")),
    };
    if !t.done() {
        return Err(t.unexpected("expected end of statement"));
    }
    Ok(stmt)
}

/// Grants `privileges` to `grantees` on one object (or revokes them).
fn apply_grant(acl: &mut Acl, grantees: &[Grantee], privileges: &[Privilege], grant: bool) {
    for g in grantees {
        let held = acl.grants.entry(g.clone()).or_default();
        for p in privileges {
            if grant {
                held.insert(*p);
            } else {
                held.remove(p);
            }
        }
        if held.is_empty() {
            acl.grants.remove(g);
        }
    }
}

fn name_list(t: &mut Tokens) -> Result<Vec<String>> {
    let mut names = vec![t.ident()?];
    while t.eat(&Token::Comma) {
        names.push(t.ident()?);
    }
    Ok(names)
}

fn grantee(t: &mut Tokens) -> Result<Grantee> {
    if t.eat_word("PUBLIC") {
        return Ok(Grantee::Public);
    }
    if t.eat_word("GROUP") {
        return Ok(Grantee::Group(t.ident()?));
    }
    Ok(Grantee::User(t.ident()?))
}

fn privilege_list(t: &mut Tokens) -> Result<Vec<Privilege>> {
    if t.eat_word("ALL") {
        t.eat_word("PRIVILEGES");
        return Ok(Privilege::ALL.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let word = t.peek_word().unwrap_or_default();
        match Privilege::parse(&word) {
            Some(p) => {
                t.next();
                out.push(p);
            }
            None if matches!(
                word.as_str(),
                "REFERENCES" | "TRIGGER" | "TRUNCATE" | "DROP" | "ALTER"
            ) =>
            {
                return Err(Error::NotSupported(format!(
                    "the {word} privilege is not supported: SELECT, INSERT, UPDATE, DELETE or ALL"
                )));
            }
            None => {
                return Err(
                    t.unexpected("expected SELECT, INSERT, UPDATE, DELETE, USAGE, CREATE or ALL")
                );
            }
        }
        if !t.eat(&Token::Comma) {
            return Ok(out);
        }
    }
}

fn user_options(t: &mut Tokens) -> Result<Vec<UserOption>> {
    t.eat_word("WITH");
    let mut out = Vec::new();
    while let Some(word) = t.peek_word() {
        t.next();
        out.push(match word.as_str() {
            "PASSWORD" => {
                if t.eat_word("DISABLE") {
                    UserOption::Password(None)
                } else {
                    UserOption::Password(Some(t.string("PASSWORD")?))
                }
            }
            "CREATEUSER" | "SUPERUSER" => UserOption::Superuser(true),
            "NOCREATEUSER" | "NOSUPERUSER" => UserOption::Superuser(false),
            "CREATEDB" => UserOption::CreateDb(true),
            "NOCREATEDB" => UserOption::CreateDb(false),
            "IN" => {
                t.expect_word("GROUP")?;
                UserOption::InGroups(name_list(t)?)
            }
            "VALID" => {
                t.expect_word("UNTIL")?;
                t.string("VALID UNTIL")?;
                UserOption::Ignored("VALID UNTIL")
            }
            "CONNECTION" => {
                t.expect_word("LIMIT")?;
                if !t.eat_word("UNLIMITED") {
                    t.number("CONNECTION LIMIT")?;
                }
                UserOption::Ignored("CONNECTION LIMIT")
            }
            "SYSLOG" => {
                t.expect_word("ACCESS")?;
                if !t.eat_word("RESTRICTED") {
                    t.expect_word("UNRESTRICTED")?;
                }
                UserOption::Ignored("SYSLOG ACCESS")
            }
            "LOGIN" | "NOINHERIT" | "INHERIT" => UserOption::Ignored("LOGIN"),
            _ => {
                return Err(Error::syntax(format!(
                    "syntax error at or near \"{word}\": not an option of CREATE/ALTER USER"
                )));
            }
        });
    }
    Ok(out)
}

fn undefined_user(name: &str) -> Error {
    Error::UndefinedObject(format!("user \"{name}\" does not exist"))
}

fn undefined_group(name: &str) -> Error {
    Error::UndefinedObject(format!("group \"{name}\" does not exist"))
}

/// Whether a name is taken by a user or a group (they share one name space, as roles do).
fn role_exists(state: &ClusterState, name: &str) -> bool {
    state.users.contains_key(name) || state.groups.contains_key(name)
}

/// Applies user options to `user` (named `name`); notes what is accepted but not enforced.
fn apply_options(
    state: &mut ClusterState,
    session: &Session,
    name: &str,
    options: &[UserOption],
) -> Result<()> {
    for option in options {
        match option {
            UserOption::Password(Some(text)) => {
                let verifiers = Verifiers::from_statement(name, text).ok_or_else(|| {
                    Error::InvalidParameter("malformed SCRAM-SHA-256 verifier".into())
                })?;
                // A ready verifier has no password to check the rules on.
                if verifiers.scram.is_some() && verifiers.md5.is_some() {
                    check_password_rules(text).map_err(Error::InvalidParameter)?;
                }
                user_mut(state, name)?.password = verifiers;
            }
            UserOption::Password(None) => user_mut(state, name)?.password = Verifiers::default(),
            UserOption::Superuser(on) => user_mut(state, name)?.superuser = *on,
            UserOption::CreateDb(on) => user_mut(state, name)?.createdb = *on,
            UserOption::InGroups(groups) => {
                for g in groups {
                    state
                        .groups
                        .get_mut(g)
                        .ok_or_else(|| undefined_group(g))?
                        .members
                        .insert(name.to_string());
                }
            }
            UserOption::Ignored(what) => {
                session.notice(&format!("{what} is accepted and not enforced"));
            }
        }
    }
    Ok(())
}

fn user_mut<'a>(state: &'a mut ClusterState, name: &str) -> Result<&'a mut User> {
    state
        .users
        .get_mut(name)
        .ok_or_else(|| undefined_user(name))
}

impl Engine {
    pub(crate) async fn security_statement(
        &self,
        session: &Session,
        stmt: SecurityStatement,
    ) -> Result<Output> {
        if session.in_block() {
            return Err(Error::ActiveTransaction("a user, group or grant statement"));
        }
        let guard = self.catalog.begin_write().await;
        let current = self.catalog.pin();
        let me = session.user.as_str();
        let mut next = (*current).clone();
        let tag = match stmt {
            SecurityStatement::CreateUser { name, options } => {
                current.require_superuser(me, "CREATE USER")?;
                if role_exists(&current, &name) {
                    return Err(Error::DuplicateObject(format!(
                        "user \"{name}\" already exists"
                    )));
                }
                next.users.insert(
                    name.clone(),
                    User {
                        id: current.next_principal_id(),
                        superuser: false,
                        createdb: false,
                        password: Verifiers::default(),
                    },
                );
                apply_options(&mut next, session, &name, &options)?;
                "CREATE USER"
            }
            SecurityStatement::AlterUser { name, options } => {
                let own_password = name == me
                    && options
                        .iter()
                        .all(|o| matches!(o, UserOption::Password(Some(_))));
                if !own_password {
                    current.require_superuser(me, "ALTER USER")?;
                }
                if !current.users.contains_key(&name) {
                    return Err(undefined_user(&name));
                }
                apply_options(&mut next, session, &name, &options)?;
                "ALTER USER"
            }
            SecurityStatement::RenameUser { name, to } => {
                current.require_superuser(me, "ALTER USER")?;
                if name == me {
                    return Err(Error::PermissionDenied(
                        "session user cannot be renamed".into(),
                    ));
                }
                let mut user = next
                    .users
                    .remove(&name)
                    .ok_or_else(|| undefined_user(&name))?;
                if role_exists(&next, &to) {
                    return Err(Error::DuplicateObject(format!(
                        "user \"{to}\" already exists"
                    )));
                }
                // The md5 hash is salted with the name; it no longer matches (as in
                // PostgreSQL, which clears it). SCRAM still does.
                user.password.md5 = None;
                next.users.insert(to.clone(), user);
                for g in next.groups.values_mut() {
                    if g.members.remove(&name) {
                        g.members.insert(to.clone());
                    }
                }
                for acl in next.acl.values_mut().chain(next.schemas.values_mut()) {
                    if acl.owner == name {
                        acl.owner = to.clone();
                    }
                    if let Some(p) = acl.grants.remove(&Grantee::User(name.clone())) {
                        acl.grants.insert(Grantee::User(to.clone()), p);
                    }
                }
                "ALTER USER"
            }
            SecurityStatement::DropUsers { names, if_exists } => {
                current.require_superuser(me, "DROP USER")?;
                for name in &names {
                    if !next.users.contains_key(name) {
                        if if_exists {
                            session.notice(&format!("user \"{name}\" does not exist, skipping"));
                            continue;
                        }
                        return Err(undefined_user(name));
                    }
                    if name == me {
                        return Err(Error::PermissionDenied(
                            "current user cannot be dropped".into(),
                        ));
                    }
                    let owned: Vec<&String> = next
                        .tables
                        .keys()
                        .chain(next.views.keys())
                        .filter(|o| next.owner_of(o) == name)
                        .collect();
                    if let Some(o) = owned.first() {
                        return Err(Error::DependentObjects(format!(
                            "user \"{name}\" cannot be dropped because the user owns some object (\"{o}\" and {} more); ALTER TABLE … OWNER TO another user first",
                            owned.len() - 1
                        )));
                    }
                    if let Some((s, _)) = next.schemas.iter().find(|(_, a)| a.owner == *name) {
                        return Err(Error::DependentObjects(format!(
                            "user \"{name}\" cannot be dropped because the user owns schema \"{s}\"; drop the schema first"
                        )));
                    }
                    next.users.remove(name);
                    for g in next.groups.values_mut() {
                        g.members.remove(name);
                    }
                    for acl in next.acl.values_mut().chain(next.schemas.values_mut()) {
                        acl.grants.remove(&Grantee::User(name.clone()));
                    }
                }
                "DROP USER"
            }
            SecurityStatement::CreateGroup { name, users } => {
                current.require_superuser(me, "CREATE GROUP")?;
                if role_exists(&current, &name) {
                    return Err(Error::DuplicateObject(format!(
                        "group \"{name}\" already exists"
                    )));
                }
                for u in &users {
                    if !current.users.contains_key(u) {
                        return Err(undefined_user(u));
                    }
                }
                next.groups.insert(
                    name,
                    Group {
                        id: current.next_principal_id(),
                        members: users.into_iter().collect(),
                    },
                );
                "CREATE GROUP"
            }
            SecurityStatement::AlterGroup { name, add, users } => {
                current.require_superuser(me, "ALTER GROUP")?;
                let group = next
                    .groups
                    .get_mut(&name)
                    .ok_or_else(|| undefined_group(&name))?;
                for u in users {
                    if !current.users.contains_key(&u) {
                        return Err(undefined_user(&u));
                    }
                    if add {
                        group.members.insert(u);
                    } else {
                        group.members.remove(&u);
                    }
                }
                "ALTER GROUP"
            }
            SecurityStatement::RenameGroup { name, to } => {
                current.require_superuser(me, "ALTER GROUP")?;
                let group = next
                    .groups
                    .remove(&name)
                    .ok_or_else(|| undefined_group(&name))?;
                if role_exists(&next, &to) {
                    return Err(Error::DuplicateObject(format!(
                        "group \"{to}\" already exists"
                    )));
                }
                next.groups.insert(to.clone(), group);
                for acl in next.acl.values_mut().chain(next.schemas.values_mut()) {
                    if let Some(p) = acl.grants.remove(&Grantee::Group(name.clone())) {
                        acl.grants.insert(Grantee::Group(to.clone()), p);
                    }
                }
                "ALTER GROUP"
            }
            SecurityStatement::DropGroup { name } => {
                current.require_superuser(me, "DROP GROUP")?;
                next.groups
                    .remove(&name)
                    .ok_or_else(|| undefined_group(&name))?;
                for acl in next.acl.values_mut().chain(next.schemas.values_mut()) {
                    acl.grants.remove(&Grantee::Group(name.clone()));
                }
                "DROP GROUP"
            }
            SecurityStatement::Grant {
                grant,
                privileges,
                objects,
                grantees,
            } => {
                for g in &grantees {
                    match g {
                        Grantee::User(u) if !current.users.contains_key(u) => {
                            return Err(undefined_user(u));
                        }
                        Grantee::Group(n) if !current.groups.contains_key(n) => {
                            return Err(undefined_group(n));
                        }
                        _ => {}
                    }
                }
                let names: Vec<String> = match objects {
                    Objects::Tables(names) => names
                        .iter()
                        .map(|n| session.resolve_written(&current, n, false))
                        .collect::<Result<_>>()?,
                    Objects::AllInSchema(schema) => {
                        if schema != crate::schema::PUBLIC && !current.schemas.contains_key(&schema)
                        {
                            return Err(crate::schema::no_schema(&schema));
                        }
                        // Tables and views alike, as PostgreSQL's ALL TABLES IN SCHEMA;
                        // those the session may not grant on are left out.
                        current
                            .tables
                            .keys()
                            .chain(current.views.keys())
                            .filter(|n| crate::schema::split_key(n).0 == schema)
                            .filter(|n| current.require_owner(me, n).is_ok())
                            .cloned()
                            .collect()
                    }
                    Objects::Schemas(schemas) => {
                        for schema in schemas {
                            let Some(acl) = current.schemas.get(&schema) else {
                                return Err(crate::schema::no_schema(&schema));
                            };
                            if !current.is_superuser(me) && acl.owner != me {
                                return Err(Error::PermissionDenied(format!(
                                    "must be owner of schema {schema}"
                                )));
                            }
                            let acl = next.schemas.get_mut(&schema).expect("checked");
                            apply_grant(acl, &grantees, &privileges, grant);
                        }
                        vec![]
                    }
                };
                for name in &names {
                    if !current.tables.contains_key(name) && !current.views.contains_key(name) {
                        return Err(Error::UndefinedTable(name.clone()));
                    }
                    current.require_owner(me, name)?;
                    let owner = current.owner_of(name).to_string();
                    let acl = next
                        .acl
                        .entry(name.clone())
                        .or_insert_with(|| Acl::owned_by(&owner));
                    apply_grant(acl, &grantees, &privileges, grant);
                }
                if grant { "GRANT" } else { "REVOKE" }
            }
            SecurityStatement::Owner { object, owner } => {
                let object = session.resolve_written(&current, &object, false)?;
                if !current.tables.contains_key(&object) && !current.views.contains_key(&object) {
                    return Err(Error::UndefinedTable(object));
                }
                current.require_superuser(me, "changing an object's owner")?;
                if !current.users.contains_key(&owner) {
                    return Err(undefined_user(&owner));
                }
                let previous = current.owner_of(&object).to_string();
                next.acl
                    .entry(object)
                    .or_insert_with(|| Acl::owned_by(&previous))
                    .owner = owner;
                "ALTER TABLE"
            }
        };
        self.catalog.commit(&guard, next)?;
        Ok(Output::Command {
            tag: tag.into(),
            rows: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(sql: &str) -> SecurityStatement {
        parse(sql).expect("ours").expect("parses")
    }

    #[test]
    fn redshift_forms_parse() {
        assert_eq!(
            p("CREATE USER dbuser WITH PASSWORD 'abcD1234' CREATEDB CONNECTION LIMIT 30"),
            SecurityStatement::CreateUser {
                name: "dbuser".into(),
                options: vec![
                    UserOption::Password(Some("abcD1234".into())),
                    UserOption::CreateDb(true),
                    UserOption::Ignored("CONNECTION LIMIT"),
                ],
            }
        );
        assert_eq!(
            p("grant select, insert on table public.t, u to group readers, bob, public"),
            SecurityStatement::Grant {
                grant: true,
                privileges: vec![Privilege::Select, Privilege::Insert],
                objects: Objects::Tables(vec!["public.t".into(), "u".into()]),
                grantees: vec![
                    Grantee::Group("readers".into()),
                    Grantee::User("bob".into()),
                    Grantee::Public
                ],
            }
        );
        assert_eq!(
            p("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM bob CASCADE"),
            SecurityStatement::Grant {
                grant: false,
                privileges: Privilege::ALL.to_vec(),
                objects: Objects::AllInSchema("public".into()),
                grantees: vec![Grantee::User("bob".into())],
            }
        );
        assert_eq!(
            p("ALTER GROUP g ADD USER a, b"),
            SecurityStatement::AlterGroup {
                name: "g".into(),
                add: true,
                users: vec!["a".into(), "b".into()],
            }
        );
        assert_eq!(
            p("alter table t owner to bob"),
            SecurityStatement::Owner {
                object: "t".into(),
                owner: "bob".into()
            }
        );
        assert!(parse("ALTER TABLE t ADD COLUMN c int").is_none());
        assert!(parse("CREATE TABLE t (a int)").is_none());
        assert!(parse("CREATE USER x").unwrap().is_err());
        assert!(parse("GRANT TRUNCATE ON t TO x").unwrap().is_err());
    }
}
