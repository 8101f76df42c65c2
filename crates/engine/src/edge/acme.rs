//! Certificates from an ACME server (Let's Encrypt in production, Pebble in tests), by
//! HTTP-01 through Captain's own proxy: the challenge answer is pushed to the proxy and
//! confirmed there before the ACME server is told to look.
//!
//! One certificate per name, so adding or removing a domain never touches the others.
//! A background loop issues missing certificates and renews those close to expiry.

use super::EdgeStore;
use crate::ingress::IngressHandle;
use crate::secrets::{Secret, SecretStore};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

#[derive(Clone, Debug)]
pub struct AcmeOptions {
    pub directory: String,
    /// Extra root certificate (PEM) to trust for the ACME server's own HTTPS (test CAs).
    pub ca_file: Option<PathBuf>,
    pub contact_email: Option<String>,
    /// Renew a certificate once it has less than this left.
    pub renew_before: Duration,
    /// How often the renewal loop looks.
    pub check_every: Duration,
}

impl Default for AcmeOptions {
    fn default() -> Self {
        Self {
            directory: LETS_ENCRYPT.to_owned(),
            ca_file: None,
            contact_email: None,
            renew_before: Duration::from_secs(30 * 24 * 3600),
            check_every: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("the ACME server refused: {0}")]
    Acme(#[from] instant_acme::Error),
    #[error("the ACME server could not validate {domain}: {reason}")]
    Validation { domain: String, reason: String },
    #[error("the proxy did not take the challenge answer: {0}")]
    Proxy(#[source] std::io::Error),
    #[error("the ACME server sent a certificate that cannot be read: {0}")]
    Certificate(String),
    #[error("cannot keep the certificate: {0}")]
    Store(#[from] super::EdgeError),
    #[error("cannot keep the ACME account: {0}")]
    Secrets(String),
}

#[derive(Clone)]
pub struct CertIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    options: AcmeOptions,
    edge: EdgeStore,
    secrets: SecretStore,
    ingress: IngressHandle,
    /// One account per directory, created on first use; the lock also keeps two
    /// issuances of the same name from racing.
    account: tokio::sync::Mutex<Option<Account>>,
}

impl CertIssuer {
    pub fn new(
        options: AcmeOptions,
        edge: EdgeStore,
        secrets: SecretStore,
        ingress: IngressHandle,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                edge,
                secrets,
                ingress,
                account: tokio::sync::Mutex::new(None),
            }),
        }
    }

    fn account_secret_name(&self) -> String {
        format!("acme-account:{}", self.inner.options.directory)
    }

    fn builder(&self) -> Result<instant_acme::AccountBuilder, AcmeError> {
        Ok(match &self.inner.options.ca_file {
            Some(path) => Account::builder_with_root(path)?,
            None => Account::builder()?,
        })
    }

    async fn account(&self) -> Result<Account, AcmeError> {
        let mut slot = self.inner.account.lock().await;
        if let Some(account) = slot.as_ref() {
            return Ok(account.clone());
        }
        let name = self.account_secret_name();
        let stored = self
            .inner
            .secrets
            .get(&name)
            .map_err(|e| AcmeError::Secrets(e.to_string()))?;
        let account = match stored {
            Some(secret) => {
                let credentials: AccountCredentials = serde_json::from_str(secret.expose())
                    .map_err(|e| AcmeError::Secrets(e.to_string()))?;
                self.builder()?.from_credentials(credentials).await?
            }
            None => {
                let contact: Vec<String> = self
                    .inner
                    .options
                    .contact_email
                    .iter()
                    .map(|email| format!("mailto:{email}"))
                    .collect();
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let (account, credentials) = self
                    .builder()?
                    .create(
                        &NewAccount {
                            contact: &contact,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        self.inner.options.directory.clone(),
                        None,
                    )
                    .await?;
                let json = serde_json::to_string(&credentials)
                    .map_err(|e| AcmeError::Secrets(e.to_string()))?;
                self.inner
                    .secrets
                    .put(&name, &Secret::new(json))
                    .map_err(|e| AcmeError::Secrets(e.to_string()))?;
                account
            }
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    /// Issues (or renews) the certificate for one name and hands it to the proxy. A
    /// failure is recorded for the dashboard; a certificate already served stays served.
    pub async fn issue(&self, domain: &str) -> Result<(), AcmeError> {
        let result = self.order(domain).await;
        match &result {
            Ok(()) => tracing::info!(%domain, "certificate issued"),
            Err(error) => {
                tracing::warn!(%domain, %error, "certificate request failed");
                self.inner.edge.record_problem(domain, &error.to_string())?;
            }
        }
        self.inner.ingress.wake();
        result
    }

    async fn order(&self, domain: &str) -> Result<(), AcmeError> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(domain.to_owned())];
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
        let mut tokens = Vec::new();
        let mut authorizations = order.authorizations();
        let outcome = async {
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization?;
                match authorization.status {
                    AuthorizationStatus::Pending => {}
                    AuthorizationStatus::Valid => continue,
                    status => {
                        return Err(AcmeError::Validation {
                            domain: domain.to_owned(),
                            reason: format!("the authorization is {status:?}"),
                        })
                    }
                }
                let mut challenge =
                    authorization
                        .challenge(ChallengeType::Http01)
                        .ok_or_else(|| AcmeError::Validation {
                            domain: domain.to_owned(),
                            reason: "the server offered no HTTP-01 challenge".into(),
                        })?;
                let key_authorization = challenge.key_authorization().as_str().to_owned();
                tokens.push(challenge.token.clone());
                self.inner
                    .ingress
                    .set_challenge(&challenge.token, &key_authorization);
                self.inner
                    .ingress
                    .push_edge()
                    .await
                    .map_err(AcmeError::Proxy)?;
                challenge.set_ready().await?;
            }
            Ok(())
        }
        .await;
        if let Err(error) = outcome {
            self.clear_challenges(&tokens);
            return Err(error);
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(Duration::from_secs(90));
        let status = order.poll_ready(&retries).await;
        self.clear_challenges(&tokens);
        let status = status?;
        if status != OrderStatus::Ready {
            return Err(AcmeError::Validation {
                domain: domain.to_owned(),
                reason: failure_reason(&mut order).await,
            });
        }
        let key_pem = order.finalize().await?;
        let chain_pem = order.poll_certificate(&retries).await?;
        let not_after = not_after(&chain_pem)?;
        self.inner
            .edge
            .record_certificate(domain, &chain_pem, &Secret::new(key_pem), not_after)?;
        Ok(())
    }

    fn clear_challenges(&self, tokens: &[String]) {
        for token in tokens {
            self.inner.ingress.clear_challenge(token);
        }
    }

    /// Issues what is missing and renews what is due, then sleeps; forever.
    pub async fn renew_forever(self) {
        let window = self.inner.options.renew_before.as_secs() as i64;
        loop {
            if let Err(error) = self.inner.edge.prune() {
                tracing::warn!(%error, "cannot prune old certificates");
            }
            match self.inner.edge.wanting_certificates(window) {
                Ok(wanted) => {
                    for (_, domain) in wanted {
                        // Failures are recorded per name; the next round tries again.
                        let _ = self.issue(&domain).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "cannot list certificates to renew"),
            }
            tokio::time::sleep(self.inner.options.check_every).await;
        }
    }
}

/// The ACME server's own words on why validation failed.
async fn failure_reason(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(
                    problem
                        .detail
                        .clone()
                        .unwrap_or_else(|| problem.to_string()),
                );
            }
        }
    }
    if reasons.is_empty() {
        "the order did not become ready".into()
    } else {
        reasons.join("; ")
    }
}

/// Expiry of the first (leaf) certificate of a PEM chain, in Unix seconds.
pub fn not_after(chain_pem: &str) -> Result<i64, AcmeError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(chain_pem.as_bytes())
        .map_err(|e| AcmeError::Certificate(e.to_string()))?;
    let certificate = pem
        .parse_x509()
        .map_err(|e| AcmeError::Certificate(e.to_string()))?;
    Ok(certificate.validity().not_after.timestamp())
}
