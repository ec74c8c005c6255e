//! Channels other than the web chat: WhatsApp numbers from the environment
//! (one) or the TOML file's `[[channels.whatsapp]]` (several), their
//! access tokens read from environment variables named there.

use secrecy::{ExposeSecret, SecretString};
use spur_core::channels::graph::DEFAULT_GRAPH_URL;
use spur_core::channels::messenger::{INSTAGRAM, MESSENGER, MetaAccount};
use spur_core::channels::whatsapp::{Template, WhatsAppAccount};

use super::{ConfigError, bad};

/// `[channels]` in the TOML file.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsFile {
    pub whatsapp: Vec<WhatsAppNumber>,
    pub messenger: Vec<MetaAccountFile>,
    pub instagram: Vec<MetaAccountFile>,
    pub email: Vec<super::MailboxFile>,
}

/// One Page of `[[channels.messenger]]` or Instagram account of `[[channels.instagram]]`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaAccountFile {
    pub id: String,
    pub access_token_env: String,
}

/// Messenger and Instagram, when configured.
pub struct MetaSettings {
    pub verify_token: SecretString,
    pub app_secret: SecretString,
    pub graph_url: String,
    pub accounts: Vec<MetaAccount>,
}

impl std::fmt::Debug for MetaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaSettings")
            .field("graph_url", &self.graph_url)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

/// What the environment said about Messenger and Instagram.
pub struct MetaInput {
    pub verify_token: Option<SecretString>,
    pub app_secret: Option<SecretString>,
    pub messenger_page_id: Option<String>,
    pub messenger_access_token: Option<SecretString>,
    pub instagram_account_id: Option<String>,
    pub instagram_access_token: Option<SecretString>,
    pub graph_url: Option<String>,
}

/// Messenger's and Instagram's settings, or `None` when nothing is set.
pub fn meta(
    input: MetaInput,
    file: &ChannelsFile,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<MetaSettings>, ConfigError> {
    let mut accounts = Vec::new();
    let from_env = [
        (
            MESSENGER,
            input.messenger_page_id,
            input.messenger_access_token,
            ("MESSENGER_PAGE_ID", "MESSENGER_ACCESS_TOKEN"),
        ),
        (
            INSTAGRAM,
            input.instagram_account_id,
            input.instagram_access_token,
            ("INSTAGRAM_ACCOUNT_ID", "INSTAGRAM_ACCESS_TOKEN"),
        ),
    ];
    for (channel, id, token, names) in from_env {
        if let Some((id, token)) = pair(id, token, names)? {
            accounts.push(meta_account(channel, &id, &token, names.0)?);
        }
    }
    for (channel, listed, setting) in [
        (MESSENGER, &file.messenger, "channels.messenger"),
        (INSTAGRAM, &file.instagram, "channels.instagram"),
    ] {
        for account in listed {
            let token = listed_token(&env, &account.access_token_env, &account.id, setting)?;
            accounts.push(meta_account(channel, &account.id, &token, setting)?);
        }
    }
    let Some((verify_token, app_secret)) = secrets(
        input.verify_token,
        input.app_secret,
        accounts.is_empty(),
        ["META_VERIFY_TOKEN", "META_APP_SECRET", "MESSENGER_PAGE_ID"],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(MetaSettings {
        verify_token,
        app_secret,
        graph_url: graph_url(input.graph_url)?,
        accounts,
    }))
}

/// An id and its token from the environment: both or neither.
fn pair(
    id: Option<String>,
    token: Option<SecretString>,
    (id_name, token_name): (&'static str, &'static str),
) -> Result<Option<(String, String)>, ConfigError> {
    let token = token.filter(|t| !t.expose_secret().is_empty());
    match (id.filter(|i| !i.is_empty()), token) {
        (Some(id), Some(token)) => Ok(Some((id, token.expose_secret().to_string()))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad(token_name, format!("is needed with {id_name}"))),
        (None, Some(_)) => Err(bad(id_name, format!("is needed with {token_name}"))),
    }
}

/// A listed account's token, from the variable the file names.
fn listed_token(
    env: &impl Fn(&str) -> Option<String>,
    variable: &str,
    id: &str,
    setting: &'static str,
) -> Result<String, ConfigError> {
    env(variable).filter(|t| !t.is_empty()).ok_or_else(|| {
        bad(
            setting,
            format!("{variable} is not set (access_token_env of {id})"),
        )
    })
}

/// A webhook's verify token and app secret: `None` when neither they nor
/// an account is set; otherwise both, and an account, are needed. `names`:
/// the verify token's, the secret's and the account's settings.
fn secrets(
    verify_token: Option<SecretString>,
    app_secret: Option<SecretString>,
    no_account: bool,
    [verify_name, secret_name, account_name]: [&'static str; 3],
) -> Result<Option<(SecretString, SecretString)>, ConfigError> {
    let verify_token = verify_token.filter(|s| !s.expose_secret().is_empty());
    let app_secret = app_secret.filter(|s| !s.expose_secret().is_empty());
    if no_account && verify_token.is_none() && app_secret.is_none() {
        return Ok(None);
    }
    let verify_token = verify_token
        .ok_or_else(|| bad(verify_name, "is needed to receive the channel's messages"))?;
    let app_secret =
        app_secret.ok_or_else(|| bad(secret_name, "is needed to check Meta's signatures"))?;
    if no_account {
        return Err(bad(account_name, "no account to answer from"));
    }
    Ok(Some((verify_token, app_secret)))
}

fn graph_url(given: Option<String>) -> Result<String, ConfigError> {
    let url = given
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_GRAPH_URL.into());
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(bad("META_GRAPH_URL", "must be an http(s) URL"));
    }
    Ok(url)
}

/// One WhatsApp number of `[[channels.whatsapp]]`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppNumber {
    pub phone_number_id: String,
    /// The environment variable holding its access token (secrets stay
    /// out of files).
    pub access_token_env: String,
    /// The approved template replies go out as outside the 24-hour window.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub template_language: Option<String>,
}

/// WhatsApp, when configured: the webhook's secrets and the numbers replies
/// go out from.
pub struct WhatsAppSettings {
    /// Meta's subscription handshake must present it.
    pub verify_token: SecretString,
    /// Every webhook POST is signed with it.
    pub app_secret: SecretString,
    pub graph_url: String,
    pub accounts: Vec<WhatsAppAccount>,
}

impl std::fmt::Debug for WhatsAppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppSettings")
            .field("graph_url", &self.graph_url)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

/// What the environment (or flags) said about WhatsApp.
pub struct WhatsAppInput {
    pub verify_token: Option<SecretString>,
    pub app_secret: Option<SecretString>,
    pub access_token: Option<SecretString>,
    pub phone_number_id: Option<String>,
    pub graph_url: Option<String>,
    /// The approved template replies go out as outside the 24-hour window.
    pub template: Option<String>,
    pub template_language: Option<String>,
}

/// WhatsApp's settings, or `None` when nothing about it is set; part of a
/// configuration is an error naming what is missing.
pub fn whatsapp(
    input: WhatsAppInput,
    file: &ChannelsFile,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<WhatsAppSettings>, ConfigError> {
    let mut accounts = Vec::new();
    let names = ("WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN");
    if let Some((id, token)) = pair(input.phone_number_id, input.access_token, names)? {
        let template = template(input.template, input.template_language, "WHATSAPP_TEMPLATE")?;
        accounts.push(account(&id, &token, template, names.0)?);
    }
    for number in &file.whatsapp {
        let token = listed_token(
            &env,
            &number.access_token_env,
            &number.phone_number_id,
            "channels.whatsapp",
        )?;
        let template = template(
            number.template.clone(),
            number.template_language.clone(),
            "channels.whatsapp",
        )?;
        accounts.push(account(
            &number.phone_number_id,
            &token,
            template,
            "channels.whatsapp",
        )?);
    }
    let Some((verify_token, app_secret)) = secrets(
        input.verify_token,
        input.app_secret,
        accounts.is_empty(),
        [
            "WHATSAPP_VERIFY_TOKEN",
            "WHATSAPP_APP_SECRET",
            "WHATSAPP_PHONE_NUMBER_ID",
        ],
    )?
    else {
        return Ok(None);
    };
    let mut ids: Vec<&str> = accounts
        .iter()
        .map(|a| a.phone_number_id.as_str())
        .collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad(
            "channels.whatsapp",
            "a phone_number_id is listed twice",
        ));
    }
    Ok(Some(WhatsAppSettings {
        verify_token,
        app_secret,
        graph_url: graph_url(input.graph_url)?,
        accounts,
    }))
}

fn account(
    id: &str,
    token: &str,
    template: Option<Template>,
    setting: &'static str,
) -> Result<WhatsAppAccount, ConfigError> {
    digits(id, setting)?;
    Ok(WhatsAppAccount {
        phone_number_id: id.to_string(),
        access_token: token.to_string(),
        template,
    })
}

/// A template's name (Meta's rule: lowercase letters, digits, `_`) and
/// language code (default `en`).
fn template(
    name: Option<String>,
    language: Option<String>,
    setting: &'static str,
) -> Result<Option<Template>, ConfigError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let named = name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !named {
        return Err(bad(
            setting,
            format!("{name:?} is not a template name (a-z, 0-9, _)"),
        ));
    }
    let language = language
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "en".into());
    let coded = (2..=8).contains(&language.len())
        && language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_');
    if !coded {
        return Err(bad(
            setting,
            format!("{language:?} is not a language code (en, en_US)"),
        ));
    }
    Ok(Some(Template { name, language }))
}

fn meta_account(
    channel: &str,
    id: &str,
    token: &str,
    setting: &'static str,
) -> Result<MetaAccount, ConfigError> {
    digits(id, setting)?;
    Ok(MetaAccount {
        channel: channel.to_string(),
        id: id.to_string(),
        access_token: token.to_string(),
    })
}

/// Meta's ids are digits, and go into the Graph URL's path.
fn digits(id: &str, setting: &'static str) -> Result<(), ConfigError> {
    match !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        true => Ok(()),
        false => Err(bad(setting, format!("{id:?} is not an id (digits)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> WhatsAppInput {
        WhatsAppInput {
            verify_token: Some("v".to_string().into()),
            app_secret: Some("s".to_string().into()),
            access_token: Some("t".to_string().into()),
            phone_number_id: Some("1065".into()),
            graph_url: None,
            template: None,
            template_language: None,
        }
    }

    #[test]
    fn one_number_from_the_environment_and_more_from_the_file() {
        let file = ChannelsFile {
            whatsapp: vec![WhatsAppNumber {
                phone_number_id: "2000".into(),
                access_token_env: "SECOND_TOKEN".into(),
                template: Some("support_reply".into()),
                template_language: Some("en_US".into()),
            }],
            ..ChannelsFile::default()
        };
        let env = |name: &str| (name == "SECOND_TOKEN").then(|| "t2".to_string());
        let settings = whatsapp(input(), &file, env).unwrap().unwrap();
        let ids: Vec<_> = settings
            .accounts
            .iter()
            .map(|a| a.phone_number_id.as_str())
            .collect();
        assert_eq!(ids, ["1065", "2000"]);
        assert_eq!(settings.accounts[1].access_token, "t2");
        assert_eq!(settings.accounts[0].template, None);
        assert_eq!(
            settings.accounts[1].template,
            Some(Template {
                name: "support_reply".into(),
                language: "en_US".into()
            })
        );
        assert_eq!(settings.graph_url, DEFAULT_GRAPH_URL);
        assert!(
            !format!("{settings:?}").contains("t2"),
            "tokens stay out of logs"
        );
    }

    #[test]
    fn templates_are_named_as_meta_names_them() {
        let with = |name: &str, language: Option<&str>| WhatsAppInput {
            template: Some(name.into()),
            template_language: language.map(Into::into),
            ..input()
        };
        let file = ChannelsFile::default();
        let settings = whatsapp(with("support_reply", None), &file, |_| None)
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.accounts[0].template.as_ref().unwrap().language,
            "en"
        );
        for (name, language) in [("Support Reply", None), ("ok", Some("en-US; x"))] {
            let error = whatsapp(with(name, language), &file, |_| None).unwrap_err();
            assert_eq!(error.setting, "WHATSAPP_TEMPLATE");
        }
    }

    #[test]
    fn nothing_set_is_off_and_half_set_names_what_is_missing() {
        let none = WhatsAppInput {
            verify_token: None,
            app_secret: None,
            access_token: None,
            phone_number_id: None,
            graph_url: None,
            template: None,
            template_language: None,
        };
        assert!(
            whatsapp(none, &ChannelsFile::default(), |_| None)
                .unwrap()
                .is_none()
        );
        let missing = |input: WhatsAppInput| {
            whatsapp(input, &ChannelsFile::default(), |_| None)
                .unwrap_err()
                .setting
        };
        assert_eq!(
            missing(WhatsAppInput {
                app_secret: None,
                ..input()
            }),
            "WHATSAPP_APP_SECRET"
        );
        assert_eq!(
            missing(WhatsAppInput {
                verify_token: None,
                ..input()
            }),
            "WHATSAPP_VERIFY_TOKEN"
        );
        assert_eq!(
            missing(WhatsAppInput {
                access_token: None,
                ..input()
            }),
            "WHATSAPP_ACCESS_TOKEN"
        );
        assert_eq!(
            missing(WhatsAppInput {
                phone_number_id: Some("../x".into()),
                ..input()
            }),
            "WHATSAPP_PHONE_NUMBER_ID"
        );
        let unset = ChannelsFile {
            whatsapp: vec![WhatsAppNumber {
                phone_number_id: "2000".into(),
                access_token_env: "NOT_SET".into(),
                template: None,
                template_language: None,
            }],
            ..ChannelsFile::default()
        };
        assert_eq!(
            whatsapp(input(), &unset, |_| None).unwrap_err().setting,
            "channels.whatsapp"
        );
    }

    #[test]
    fn messenger_and_instagram_need_the_app_secret_and_token_pairs() {
        let input = || MetaInput {
            verify_token: Some("v".to_string().into()),
            app_secret: Some("s".to_string().into()),
            messenger_page_id: Some("111".into()),
            messenger_access_token: Some("t".to_string().into()),
            instagram_account_id: None,
            instagram_access_token: None,
            graph_url: None,
        };
        let settings = meta(input(), &ChannelsFile::default(), |_| None)
            .unwrap()
            .unwrap();
        assert_eq!(settings.accounts.len(), 1);
        assert_eq!(settings.accounts[0].channel, MESSENGER);
        assert!(!format!("{settings:?}").contains("\"t\""));
        let missing = |input: MetaInput| {
            meta(input, &ChannelsFile::default(), |_| None)
                .unwrap_err()
                .setting
        };
        assert_eq!(
            missing(MetaInput {
                app_secret: None,
                ..input()
            }),
            "META_APP_SECRET"
        );
        assert_eq!(
            missing(MetaInput {
                messenger_access_token: None,
                ..input()
            }),
            "MESSENGER_ACCESS_TOKEN"
        );
        assert_eq!(
            missing(MetaInput {
                instagram_account_id: Some("9".into()),
                ..input()
            }),
            "INSTAGRAM_ACCESS_TOKEN"
        );
        let file = ChannelsFile {
            instagram: vec![MetaAccountFile {
                id: "222".into(),
                access_token_env: "IG".into(),
            }],
            ..ChannelsFile::default()
        };
        let both = meta(input(), &file, |n| (n == "IG").then(|| "ig".to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(both.accounts[1].channel, INSTAGRAM);
        let none = MetaInput {
            verify_token: None,
            app_secret: None,
            messenger_page_id: None,
            messenger_access_token: None,
            instagram_account_id: None,
            instagram_access_token: None,
            graph_url: None,
        };
        assert!(
            meta(none, &ChannelsFile::default(), |_| None)
                .unwrap()
                .is_none()
        );
    }
}
