//! `socketlab class`: creating a class and rotating its instructor secret from the command
//! line, straight on the store the gateways share (no gateway needs to run, and no operator
//! token is needed: whoever can open the store is the operator).

use clap::{Args, Subcommand};

use crate::cli::CliError;

/// `class` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClassCommand {
    /// Create a class; prints its join code and the instructor's link (keep that private).
    Create(ClassCreateArgs),
    /// Replace a class's instructor secret (a leaked link, a new term); prints the new link.
    RotateSecret(ClassRotateArgs),
}

/// `class rotate-secret` flags.
#[derive(Debug, Args)]
pub struct ClassRotateArgs {
    /// The class's id, as `class create` printed it.
    pub id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The store the gateways use.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store, as given to `serve`.
    #[arg(long, env = "SOCKETLAB_DATA_DIR", default_value = "socketlab-data")]
    pub data_dir: std::path::PathBuf,
    /// The PostgreSQL URL the gateways share, as given to `serve`.
    #[arg(long, env = "SOCKETLAB_DATABASE")]
    pub database: Option<String>,
    /// The gateway's public host name, to print the link in full.
    #[arg(long, env = "SOCKETLAB_PUBLIC_NAME")]
    pub public_name: Option<String>,
}

/// `class create` flags: the store the gateways use.
#[derive(Debug, Args)]
pub struct ClassCreateArgs {
    /// The class's name, 1 to 40 characters.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

async fn open_store(a: &StoreArgs) -> Result<std::sync::Arc<dyn crate::db::Store>, CliError> {
    if a.database.as_deref().is_some_and(|u| !crate::db::is_postgres_url(u)) {
        return Err(crate::db::StoreError::Url.into());
    }
    Ok(crate::db::open(&a.data_dir, a.database.as_deref()).await?)
}

fn print_link(a: &StoreArgs, url: &str) {
    println!("instructor link: {url}");
    if let Some(host) = &a.public_name {
        println!("                 https://{host}{url}");
    }
    println!("keep the instructor link private: its key is the class's instructor secret");
}

pub async fn create(a: ClassCreateArgs) -> Result<(), CliError> {
    let store = open_store(&a.store).await?;
    let signer = crate::gateway::classes::signer_of(store.as_ref()).await?;
    let created = crate::gateway::classes::create_class(store.as_ref(), &signer, &a.name).await;
    store.close().await?;
    let c = created.map_err(|e| CliError::Class(e.message))?;
    println!("class {:?} created", c.name);
    println!("join code:       {}", c.join_code);
    println!("class id:        {}", c.id);
    print_link(&a.store, &c.instructor_url);
    Ok(())
}

pub async fn rotate(a: ClassRotateArgs) -> Result<(), CliError> {
    let store = open_store(&a.store).await?;
    let signer = crate::gateway::classes::signer_of(store.as_ref()).await?;
    let rotated = match store.class(&a.id).await {
        Ok(Some(class)) => {
            crate::gateway::instructor::rotate_secret(store.as_ref(), &signer, &class).await.map_err(|e| e.message)
        }
        Ok(None) => Err(format!("no class has the id {:?}", a.id)),
        Err(e) => Err(e.to_string()),
    };
    store.close().await?;
    let r = rotated.map_err(CliError::Class)?;
    println!("the old instructor secret and link no longer work");
    print_link(&a.store, &r.instructor_url);
    Ok(())
}
