//! The edge: which names each app answers at, whether it is served over HTTPS, and the
//! certificates that make that possible.
//!
//! Every app answers at `APP.<root domain>`; custom domains are stored only after they
//! were checked to point at this installation ([`verify`]). Certificates come from an
//! ACME server ([`acme`]); their chains live in the `certificates` table and their private
//! keys sealed in `secrets`, so the database never holds a usable key in the clear.

pub mod acme;
pub mod dns;
pub mod verify;

use crate::auth::now_unix;
use crate::secrets::{Secret, SecretStore};
use crate::store::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use types::validate::{self, Invalid};
use types::{AppEdge, CertificateInfo, DomainInfo};

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("there is no app named {0}")]
    NoApp(String),
    #[error("{domain} is already served by the app {app}")]
    Taken { domain: String, app: String },
    #[error("{0} is not a custom domain of this app")]
    NotCustom(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot read a certificate key: {0}")]
    Secret(#[from] crate::secrets::SecretLookupError),
}

impl From<rusqlite::Error> for EdgeError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sql(error))
    }
}

/// A certificate ready to hand to the proxy.
pub struct ServedCertificate {
    pub domain: String,
    pub chain_pem: String,
    pub key: Secret,
}

#[derive(Clone)]
pub struct EdgeStore {
    store: Store,
    secrets: SecretStore,
    root_domain: String,
}

/// The owner name the dashboard's domain goes by (a reserved app name, so no app has it).
pub const DASHBOARD: &str = "captain";
const DASHBOARD_HTTPS: &str = "edge.dashboard_https";

fn key_name(domain: &str) -> String {
    format!("tls-key:{domain}")
}

impl EdgeStore {
    pub fn new(store: Store, secrets: SecretStore, root_domain: &str) -> Self {
        Self {
            store,
            secrets,
            root_domain: root_domain.to_ascii_lowercase(),
        }
    }

    /// Where Captain's own dashboard answers through the proxy: `captain.<root domain>`.
    pub fn dashboard_domain(&self) -> String {
        format!("captain.{}", self.root_domain)
    }

    /// Whether the dashboard is served over HTTPS (and redirected to it).
    pub fn dashboard_https(&self) -> Result<bool, EdgeError> {
        Ok(self.store.setting(DASHBOARD_HTTPS)?.as_deref() == Some("on"))
    }

    pub fn set_dashboard_https(&self, on: bool) -> Result<(), EdgeError> {
        self.store
            .set_setting(DASHBOARD_HTTPS, if on { "on" } else { "off" })?;
        Ok(())
    }

    /// Every HTTPS site: each HTTPS app with its domains and redirect flag, and the
    /// dashboard when it is on (always redirected).
    fn https_sites(&self) -> Result<Vec<(String, Vec<String>, bool)>, EdgeError> {
        let mut sites = Vec::new();
        for (app, force_https) in self.https_apps()? {
            let domains = self.domains_of(&app)?.into_iter().map(|(d, _)| d).collect();
            sites.push((app, domains, force_https));
        }
        if self.dashboard_https()? {
            sites.push((DASHBOARD.to_owned(), vec![self.dashboard_domain()], true));
        }
        Ok(sites)
    }

    pub fn default_domain(&self, app: &str) -> String {
        format!("{app}.{}", self.root_domain)
    }

    /// Normalises and validates a domain a user typed.
    pub fn parse_domain(value: &str) -> Result<String, Invalid> {
        let domain = value.trim().trim_end_matches('.').to_ascii_lowercase();
        validate::domain(&domain)?;
        Ok(domain)
    }

    /// The app that answers at `domain`, by default name or custom domain.
    pub fn owner_of(&self, domain: &str) -> Result<Option<String>, EdgeError> {
        if domain == self.dashboard_domain() {
            return Ok(Some(DASHBOARD.to_owned()));
        }
        if let Some(app) = domain
            .strip_suffix(&self.root_domain)
            .and_then(|rest| rest.strip_suffix('.'))
        {
            if !app.contains('.') && self.app_exists(app)? {
                return Ok(Some(app.to_owned()));
            }
        }
        Ok(self.store.with(|db| {
            db.query_row("SELECT app FROM domains WHERE name = ?1", [domain], |r| {
                r.get(0)
            })
            .optional()
        })?)
    }

    fn app_exists(&self, app: &str) -> Result<bool, EdgeError> {
        Ok(self
            .store
            .with(|db| {
                db.query_row("SELECT 1 FROM apps WHERE name = ?1", [app], |_| Ok(()))
                    .optional()
            })?
            .is_some())
    }

    /// Stores a custom domain that was already checked to point here.
    pub fn add_custom(&self, app: &str, domain: &str) -> Result<(), EdgeError> {
        let domain = Self::parse_domain(domain)?;
        if !self.app_exists(app)? {
            return Err(EdgeError::NoApp(app.to_owned()));
        }
        if let Some(owner) = self.owner_of(&domain)? {
            return Err(EdgeError::Taken { domain, app: owner });
        }
        let under_root = domain
            .strip_suffix(&self.root_domain)
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|label| !label.contains('.'));
        if under_root || domain == self.root_domain {
            return Err(Invalid {
                field: "domain",
                message: format!(
                    "names directly under {} are the apps' own names; pick another",
                    self.root_domain
                ),
            }
            .into());
        }
        self.store.with(|db| {
            db.execute(
                "INSERT INTO domains (name, app, added_at) VALUES (?1, ?2, ?3)",
                params![domain, app, now_unix()],
            )
        })?;
        Ok(())
    }

    pub fn remove_custom(&self, app: &str, domain: &str) -> Result<(), EdgeError> {
        let removed = self.store.with(|db| {
            db.execute(
                "DELETE FROM domains WHERE name = ?1 AND app = ?2",
                params![domain, app],
            )
        })?;
        if removed == 0 {
            return Err(EdgeError::NotCustom(domain.to_owned()));
        }
        self.forget_certificate(domain)?;
        Ok(())
    }

    fn forget_certificate(&self, domain: &str) -> Result<(), EdgeError> {
        self.store
            .with(|db| db.execute("DELETE FROM certificates WHERE domain = ?1", [domain]))?;
        self.secrets.delete(&key_name(domain))?;
        Ok(())
    }

    /// Every name the app answers at: its default name first, then custom domains.
    pub fn domains_of(&self, app: &str) -> Result<Vec<(String, bool)>, EdgeError> {
        let mut names = vec![(self.default_domain(app), false)];
        let custom: Vec<String> = self.store.with(|db| {
            let mut statement =
                db.prepare("SELECT name FROM domains WHERE app = ?1 ORDER BY name")?;
            let rows = statement.query_map([app], |r| r.get(0))?;
            rows.collect()
        })?;
        names.extend(custom.into_iter().map(|name| (name, true)));
        Ok(names)
    }

    /// `(https, force_https)` for an app; both off until the user turns them on.
    pub fn https_of(&self, app: &str) -> Result<(bool, bool), EdgeError> {
        Ok(self
            .store
            .with(|db| {
                db.query_row(
                    "SELECT https, force_https FROM app_edge WHERE app = ?1",
                    [app],
                    |r| Ok((r.get::<_, bool>(0)?, r.get::<_, bool>(1)?)),
                )
                .optional()
            })?
            .unwrap_or((false, false)))
    }

    pub fn set_https(&self, app: &str, https: bool, force_https: bool) -> Result<(), EdgeError> {
        if !self.app_exists(app)? {
            return Err(EdgeError::NoApp(app.to_owned()));
        }
        // Forcing HTTPS without serving it would lock every visitor out.
        let force_https = https && force_https;
        self.store.with(|db| {
            db.execute(
                "INSERT INTO app_edge (app, https, force_https) VALUES (?1, ?2, ?3)
                 ON CONFLICT(app) DO UPDATE SET https = excluded.https,
                                                force_https = excluded.force_https",
                params![app, https, force_https],
            )
        })?;
        Ok(())
    }

    pub fn certificate_info(
        &self,
        domain: &str,
    ) -> Result<(Option<CertificateInfo>, Option<String>), EdgeError> {
        let row = self.store.with(|db| {
            db.query_row(
                "SELECT issued_at, not_after, problem FROM certificates WHERE domain = ?1",
                [domain],
                |r| {
                    Ok((
                        r.get::<_, Option<i64>>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                },
            )
            .optional()
        })?;
        Ok(match row {
            Some((Some(issued_at), Some(not_after), problem)) => (
                Some(CertificateInfo {
                    issued_at,
                    not_after,
                }),
                problem,
            ),
            Some((_, _, problem)) => (None, problem),
            None => (None, None),
        })
    }

    pub fn app_edge(
        &self,
        app: &str,
        http_port: u16,
        https_port: u16,
    ) -> Result<AppEdge, EdgeError> {
        if !self.app_exists(app)? {
            return Err(EdgeError::NoApp(app.to_owned()));
        }
        let (https, force_https) = self.https_of(app)?;
        let mut domains = Vec::new();
        for (name, custom) in self.domains_of(app)? {
            let (certificate, problem) = self.certificate_info(&name)?;
            domains.push(DomainInfo {
                name,
                custom,
                certificate,
                problem,
            });
        }
        Ok(AppEdge {
            https,
            force_https,
            domains,
            http_port,
            https_port,
        })
    }

    pub fn record_certificate(
        &self,
        domain: &str,
        chain_pem: &str,
        key: &Secret,
        not_after: i64,
    ) -> Result<(), EdgeError> {
        // The key first: a chain without its key would be served to no one, but a key
        // without its chain is simply replaced on the next attempt.
        self.secrets.put(&key_name(domain), key)?;
        self.store.with(|db| {
            db.execute(
                "INSERT INTO certificates (domain, chain_pem, not_after, issued_at, problem)
                 VALUES (?1, ?2, ?3, ?4, NULL)
                 ON CONFLICT(domain) DO UPDATE SET chain_pem = excluded.chain_pem,
                    not_after = excluded.not_after, issued_at = excluded.issued_at, problem = NULL",
                params![domain, chain_pem, not_after, now_unix()],
            )
        })?;
        Ok(())
    }

    /// Remembers why a request failed, keeping any certificate still being served.
    pub fn record_problem(&self, domain: &str, problem: &str) -> Result<(), EdgeError> {
        self.store.with(|db| {
            db.execute(
                "INSERT INTO certificates (domain, problem) VALUES (?1, ?2)
                 ON CONFLICT(domain) DO UPDATE SET problem = excluded.problem",
                params![domain, problem],
            )
        })?;
        Ok(())
    }

    /// Drops certificates (and their keys) of names no app answers at any more.
    pub fn prune(&self) -> Result<usize, EdgeError> {
        let domains: Vec<String> = self.store.with(|db| {
            let mut statement = db.prepare("SELECT domain FROM certificates")?;
            let rows = statement.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        let mut pruned = 0;
        for domain in domains {
            if self.owner_of(&domain)?.is_none() {
                self.forget_certificate(&domain)?;
                pruned += 1;
            }
        }
        Ok(pruned)
    }

    /// Names of HTTPS-enabled apps, each with its domains.
    fn https_apps(&self) -> Result<Vec<(String, bool)>, EdgeError> {
        Ok(self.store.with(|db| {
            let mut statement =
                db.prepare("SELECT app, force_https FROM app_edge WHERE https = 1 ORDER BY app")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })?)
    }

    /// Certificates the proxy should serve, and the hosts it should redirect to HTTPS
    /// (only those that have a certificate: a redirect to a failing handshake helps no one).
    pub fn served(&self) -> Result<(Vec<ServedCertificate>, Vec<String>), EdgeError> {
        let mut certificates = Vec::new();
        let mut forced = Vec::new();
        for (_, domains, force_https) in self.https_sites()? {
            for domain in domains {
                let chain: Option<String> = self
                    .store
                    .with(|db| {
                        db.query_row(
                            "SELECT chain_pem FROM certificates WHERE domain = ?1",
                            [&domain],
                            |r| r.get(0),
                        )
                        .optional()
                    })?
                    .flatten();
                let (Some(chain_pem), Some(key)) = (chain, self.secrets.get(&key_name(&domain))?)
                else {
                    continue;
                };
                if force_https {
                    forced.push(domain.clone());
                }
                certificates.push(ServedCertificate {
                    domain,
                    chain_pem,
                    key,
                });
            }
        }
        Ok((certificates, forced))
    }

    /// Domains of HTTPS apps that need a certificate now: none yet, or expiring within
    /// `renew_before_secs`. Each with its app.
    pub fn wanting_certificates(
        &self,
        renew_before_secs: i64,
    ) -> Result<Vec<(String, String)>, EdgeError> {
        let now = now_unix();
        let mut wanted = Vec::new();
        for (app, domains, _) in self.https_sites()? {
            for domain in domains {
                let (certificate, _) = self.certificate_info(&domain)?;
                let due = certificate.is_none_or(|c| c.not_after - now < renew_before_secs);
                if due {
                    wanted.push((app.clone(), domain));
                }
            }
        }
        Ok(wanted)
    }
}

#[cfg(test)]
mod tests;
