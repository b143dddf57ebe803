//! The arguments that say how to reach one Odoo (`--url`, `--db`, `--login`, the secret,
//! `--protocol`), shared by `sync` and `inspect`, and how they become a `ConnectionInfo`:
//! without `--login`, an API key names its user over JSON-2, which is the one protocol
//! that authenticates by the key alone.

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use shared::odoo::{
    http_client, ClientSettings, ConnectionInfo, Credential, DatabaseName, KeyOwnerError,
    OdooClient, OdooUrl, Protocol,
};

/// The protocol to speak: detected, or the one named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// JSON-2 when the server has it (19+) and an API key is given, else XML-RPC, else JSON-RPC.
    Auto,
    /// JSON-2 (Odoo 19+, API keys only).
    Json2,
    /// XML-RPC (`/xmlrpc/2`).
    Xmlrpc,
    /// JSON-RPC (`/jsonrpc`).
    Jsonrpc,
}

impl ProtocolArg {
    pub fn protocol(self) -> Option<Protocol> {
        match self {
            ProtocolArg::Auto => None,
            ProtocolArg::Json2 => Some(Protocol::Json2),
            ProtocolArg::Xmlrpc => Some(Protocol::XmlRpc),
            ProtocolArg::Jsonrpc => Some(Protocol::JsonRpc),
        }
    }
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("secret").required(true).args(["password", "api_key"])))]
pub struct OdooArgs {
    /// The Odoo server's URL, e.g. https://acme.odoo.com
    #[arg(long)]
    pub url: String,
    /// The Odoo database.
    #[arg(long)]
    pub db: String,
    /// The Odoo user's login (not needed with an API key over JSON-2: the key names its user).
    #[arg(long)]
    pub login: Option<String>,
    /// The user's password (or set ODOO_PASSWORD, which keeps it out of shell history).
    #[arg(long, env = "ODOO_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// An API key of the user (Odoo 14+; or set ODOO_API_KEY).
    #[arg(long, env = "ODOO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The protocol: detected (auto), or the one named.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Auto)]
    pub protocol: ProtocolArg,
}

impl OdooArgs {
    /// The secret given: the API key when both are set (as before `--protocol` existed).
    fn credential(&self) -> anyhow::Result<Credential> {
        Ok(match (&self.password, &self.api_key) {
            (_, Some(key)) => Credential::api_key(key)?,
            (Some(password), None) => Credential::password(password)?,
            (None, None) => bail!("give --password or --api-key"),
        })
    }

    /// The connection: checked before any call (JSON-2 takes only API keys; XML-RPC and
    /// JSON-RPC need a login); without `--login`, the login the API key belongs to, asked
    /// once over JSON-2.
    pub async fn connection(&self, settings: &ClientSettings) -> anyhow::Result<ConnectionInfo> {
        let credential = self.credential()?;
        let forced = self.protocol.protocol();
        if forced == Some(Protocol::Json2) && !credential.is_api_key() {
            bail!(
                "--protocol json2 needs an API key (--api-key or ODOO_API_KEY): JSON-2 does not take passwords"
            );
        }
        let login = match &self.login {
            Some(login) => login.clone(),
            None => self.login_of_key(settings, &credential, forced).await?,
        };
        Ok(ConnectionInfo::parse(&self.url, &self.db, &login, credential)?.with_protocol(forced))
    }

    async fn login_of_key(
        &self,
        settings: &ClientSettings,
        credential: &Credential,
        forced: Option<Protocol>,
    ) -> anyhow::Result<String> {
        if !credential.is_api_key() {
            bail!(
                "--login is needed with a password (only an API key names its user, over JSON-2)"
            );
        }
        if let Some(protocol @ (Protocol::XmlRpc | Protocol::JsonRpc)) = forced {
            bail!(
                "--login is needed for --protocol {protocol}: XML-RPC and JSON-RPC log in with the \
                 login and the secret; only JSON-2 authenticates by the API key alone"
            );
        }
        let url = OdooUrl::parse(&self.url)?;
        let db = DatabaseName::parse(&self.db)?;
        match OdooClient::login_of_api_key(http_client(settings)?, &url, &db, credential, settings)
            .await
        {
            Ok((_, login)) => {
                // The client that connects next keeps its own politeness gap, from now.
                tokio::time::sleep(settings.call_delay).await;
                Ok(login.as_str().to_string())
            }
            Err(KeyOwnerError::NoJson2(detail)) => bail!(
                "--login is needed: {url} does not offer JSON-2 ({detail}), and XML-RPC and \
                 JSON-RPC log in with the login and the secret"
            ),
            Err(KeyOwnerError::Odoo(e)) => {
                Err(e).context("asking Odoo which user the API key belongs to")
            }
            Err(e) => Err(e.into()),
        }
    }
}
