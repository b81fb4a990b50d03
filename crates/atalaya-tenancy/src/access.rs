//! Who is calling and what they may do: the one place where roles and tenant isolation are
//! decided. Every service function that reads or changes a tenant's data calls
//! [`Principal::authorize`] with the tenant the data belongs to.
//!
//! | action                                   | viewer | member | admin | platform admin |
//! |------------------------------------------|--------|--------|-------|----------------|
//! | call models, knowledge, guard (`/v1/…`)   |        | own    | own   | own            |
//! | read tenant, usage, audit, inference log  | own    | —      | own   | all            |
//! | create, revoke, rotate, update keys       | —      | —      | own   | all            |
//! | erase or export a data subject            | —      | —      | own   | all            |
//! | create, update, delete tenants            | —      | —      | —     | all            |
//! | verify and export the whole audit log     | —      | —      | —     | all            |
//!
//! "own" = the key's tenant. Another tenant's data answers 404 (its existence is not
//! revealed); a role that may not act answers 403.

use atalaya_store::{Limits, Role};

use crate::Error;

/// The tenant of the platform's operators: its admins manage every tenant.
pub const PLATFORM_TENANT: &str = "platform";
/// The tenant of keys configured in `auth.api_keys` and of unauthenticated local use.
pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The key's id (store keys), `static:<8 hex>` (configured keys) or `anonymous`.
    pub key_id: String,
    /// What logs and audit entries show: the key's visible prefix.
    pub display: String,
    pub tenant: String,
    pub role: Role,
    /// The key's own limits (the tenant's apply as well).
    pub limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Call the API: models, knowledge, guard.
    UseApi,
    /// Read a tenant's settings, usage, audit entries and inference log.
    Read,
    /// Create, revoke, rotate or update a tenant's keys.
    ManageKeys,
    /// Erase or export a data subject's records.
    ManageSubjects,
    /// Create, update or delete tenants.
    ManageTenants,
    /// Verify or export the whole audit log, rotate encryption keys.
    Operate,
}

impl Principal {
    /// The principal of requests served with authentication disabled (local development).
    pub fn anonymous() -> Self {
        Principal {
            key_id: "anonymous".into(),
            display: "anonymous".into(),
            tenant: DEFAULT_TENANT.into(),
            role: Role::Member,
            limits: Limits::default(),
        }
    }

    /// The principal of the local CLI (whoever can open the data directory).
    pub fn operator(name: &str) -> Self {
        Principal {
            key_id: format!("cli:{name}"),
            display: format!("cli:{name}"),
            tenant: PLATFORM_TENANT.into(),
            role: Role::Admin,
            limits: Limits::default(),
        }
    }

    pub fn is_platform_admin(&self) -> bool {
        self.role == Role::Admin && self.tenant == PLATFORM_TENANT
    }

    /// May this principal do `action` on `tenant`'s data (`None` = platform-wide)?
    pub fn authorize(&self, action: Action, tenant: Option<&str>) -> Result<(), Error> {
        if self.is_platform_admin() {
            return Ok(());
        }
        match tenant {
            // Another tenant's data does not exist for this key.
            Some(t) if t != self.tenant => {
                return Err(Error::NotFound(format!("tenant '{t}'")));
            }
            None if action != Action::UseApi => {
                return Err(self.denied(action));
            }
            _ => {}
        }
        let allowed = match action {
            Action::UseApi => matches!(self.role, Role::Member | Role::Admin),
            Action::Read => matches!(self.role, Role::Viewer | Role::Admin),
            Action::ManageKeys | Action::ManageSubjects => self.role == Role::Admin,
            Action::ManageTenants | Action::Operate => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(self.denied(action))
        }
    }

    fn denied(&self, action: Action) -> Error {
        let what = match action {
            Action::UseApi => "call the API (a viewer key reads usage and logs only)",
            Action::Read => "read this tenant's usage and logs",
            Action::ManageKeys => "manage keys",
            Action::ManageSubjects => "erase or export data subjects",
            Action::ManageTenants => "manage tenants (only a platform admin key can)",
            Action::Operate => "operate the platform (only a platform admin key can)",
        };
        Error::Forbidden(format!(
            "a key with role '{}' may not {what}",
            self.role.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(tenant: &str, role: Role) -> Principal {
        Principal {
            key_id: "k".into(),
            display: "atl_x".into(),
            tenant: tenant.into(),
            role,
            limits: Limits::default(),
        }
    }

    #[test]
    fn matrix() {
        use Action::*;
        let actions = [
            UseApi,
            Read,
            ManageKeys,
            ManageSubjects,
            ManageTenants,
            Operate,
        ];
        // (role, allowed actions on its own tenant)
        let table: [(Role, &[Action]); 3] = [
            (Role::Viewer, &[Read]),
            (Role::Member, &[UseApi]),
            (Role::Admin, &[UseApi, Read, ManageKeys, ManageSubjects]),
        ];
        for (role, allowed) in table {
            let who = p("acme", role);
            for a in actions {
                let own = who.authorize(a, Some("acme"));
                assert_eq!(own.is_ok(), allowed.contains(&a), "{role:?} {a:?} own");
                if let Err(e) = own {
                    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
                }
                let other = who.authorize(a, Some("globex"));
                assert!(
                    matches!(other, Err(Error::NotFound(_))),
                    "{role:?} {a:?} other"
                );
                if a != UseApi {
                    assert!(matches!(who.authorize(a, None), Err(Error::Forbidden(_))));
                }
            }
            // An admin of the platform tenant may do everything, everywhere.
            let platform = p(PLATFORM_TENANT, role);
            for a in actions {
                let ok = platform.authorize(a, Some("globex")).is_ok();
                assert_eq!(ok, role == Role::Admin, "{role:?} {a:?} platform");
            }
        }
    }
}
