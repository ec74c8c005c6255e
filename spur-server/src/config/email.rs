//! Email: the shop's mailboxes (`EMAIL_ADDRESS`, or several as the TOML
//! file's `[[channels.email]]`), the inbound webhook's token and the SMTP
//! server replies go out through.

use secrecy::{ExposeSecret, SecretString};
use spur_core::channels::email::EmailAccount;

use super::{ConfigError, bad};

/// One mailbox of `[[channels.email]]`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxFile {
    pub address: String,
    /// The name replies come from.
    #[serde(default)]
    pub name: Option<String>,
}

/// Email, when configured.
pub struct EmailSettings {
    /// `POST /webhooks/email` must present it (Bearer, or as the password
    /// of Basic auth, which inbound-mail services put in the URL).
    pub webhook_token: SecretString,
    /// lettre's URL form; it may hold the SMTP password.
    pub smtp_url: SecretString,
    pub accounts: Vec<EmailAccount>,
}

impl std::fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSettings")
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

/// What the environment (or flags) said about email.
pub struct EmailInput {
    pub address: Option<String>,
    pub name: Option<String>,
    pub webhook_token: Option<SecretString>,
    pub smtp_url: Option<SecretString>,
}

/// Email's settings, or `None` when nothing about it is set; part of a
/// configuration is an error naming what is missing.
pub fn email(
    input: EmailInput,
    listed: &[MailboxFile],
) -> Result<Option<EmailSettings>, ConfigError> {
    let mut accounts = Vec::new();
    if let Some(address) = input.address.filter(|a| !a.trim().is_empty()) {
        accounts.push(mailbox(&address, input.name, "EMAIL_ADDRESS")?);
    }
    for listed in listed {
        accounts.push(mailbox(
            &listed.address,
            listed.name.clone(),
            "channels.email",
        )?);
    }
    let token = input
        .webhook_token
        .filter(|t| !t.expose_secret().is_empty());
    let smtp = input.smtp_url.filter(|u| !u.expose_secret().is_empty());
    if accounts.is_empty() && token.is_none() && smtp.is_none() {
        return Ok(None);
    }
    if accounts.is_empty() {
        return Err(bad("EMAIL_ADDRESS", "no mailbox to answer from"));
    }
    let webhook_token =
        token.ok_or_else(|| bad("EMAIL_WEBHOOK_TOKEN", "is needed to receive email"))?;
    if webhook_token.expose_secret().len() < 16 {
        return Err(bad("EMAIL_WEBHOOK_TOKEN", "needs at least 16 characters"));
    }
    let smtp_url = smtp.ok_or_else(|| bad("SMTP_URL", "is needed to send replies"))?;
    let scheme = smtp_url.expose_secret().split("://").next().unwrap_or("");
    if !matches!(scheme, "smtp" | "smtps") {
        return Err(bad("SMTP_URL", "must be an smtp:// or smtps:// URL"));
    }
    let mut addresses: Vec<&str> = accounts.iter().map(|a| a.address.as_str()).collect();
    addresses.sort_unstable();
    if addresses.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad("channels.email", "a mailbox is listed twice"));
    }
    Ok(Some(EmailSettings {
        webhook_token,
        smtp_url,
        accounts,
    }))
}

fn mailbox(
    address: &str,
    name: Option<String>,
    setting: &'static str,
) -> Result<EmailAccount, ConfigError> {
    let address = spur_core::validate::check_email(address)
        .map_err(|e| bad(setting, format!("{address:?}: {e}")))?;
    Ok(EmailAccount {
        address: address.to_lowercase(),
        name: name.filter(|n| !n.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(address: Option<&str>, token: Option<&str>, smtp: Option<&str>) -> EmailInput {
        EmailInput {
            address: address.map(Into::into),
            name: Some("Acme Support".into()),
            webhook_token: token.map(|t| SecretString::from(t.to_string())),
            smtp_url: smtp.map(|u| SecretString::from(u.to_string())),
        }
    }

    const TOKEN: &str = "a-long-webhook-token";

    #[test]
    fn nothing_set_is_no_email() {
        assert!(email(input(None, None, None), &[]).unwrap().is_none());
    }

    #[test]
    fn a_partial_configuration_names_what_is_missing() {
        let missing = |i, listed: &[MailboxFile]| email(i, listed).unwrap_err().setting;
        let smtp = Some("smtp://127.0.0.1:2525");
        assert_eq!(
            missing(input(None, Some(TOKEN), smtp), &[]),
            "EMAIL_ADDRESS"
        );
        assert_eq!(
            missing(input(Some("s@acme.example"), None, smtp), &[]),
            "EMAIL_WEBHOOK_TOKEN"
        );
        assert_eq!(
            missing(input(Some("s@acme.example"), Some("short"), smtp), &[]),
            "EMAIL_WEBHOOK_TOKEN"
        );
        assert_eq!(
            missing(input(Some("s@acme.example"), Some(TOKEN), None), &[]),
            "SMTP_URL"
        );
        assert_eq!(
            missing(
                input(Some("s@acme.example"), Some(TOKEN), Some("http://x")),
                &[]
            ),
            "SMTP_URL"
        );
        assert_eq!(
            missing(input(Some("not an address"), Some(TOKEN), smtp), &[]),
            "EMAIL_ADDRESS"
        );
        let twice = [MailboxFile {
            address: "S@acme.example".into(),
            name: None,
        }];
        assert_eq!(
            missing(input(Some("s@acme.example"), Some(TOKEN), smtp), &twice),
            "channels.email"
        );
    }

    #[test]
    fn mailboxes_come_from_the_environment_and_the_file() {
        let listed = [MailboxFile {
            address: "Sales@Acme.example".into(),
            name: None,
        }];
        let settings = email(
            input(
                Some("support@acme.example"),
                Some(TOKEN),
                Some("smtp://u:pw@mail:587"),
            ),
            &listed,
        )
        .unwrap()
        .unwrap();
        let addresses: Vec<_> = settings
            .accounts
            .iter()
            .map(|a| a.address.as_str())
            .collect();
        assert_eq!(addresses, ["support@acme.example", "sales@acme.example"]);
        // Neither secret shows in the debug form.
        let shown = format!("{settings:?}");
        assert!(!shown.contains(TOKEN) && !shown.contains("pw"), "{shown}");
    }
}
