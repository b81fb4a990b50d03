//! Push instead of poll: [`listen`] keeps one dedicated connection (not a pooled one: a
//! pool's connections drop asynchronous messages) in `LISTEN` on a channel, and wakes a
//! [`Notify`] on each notification. It reconnects on its own (with a growing pause, at most
//! 5 s) and wakes the `Notify` after each (re)connection, since a change may have been missed
//! while it was away; callers keep their periodic look as the backstop.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;
use tokio_postgres::{tls::MakeTlsConnect, AsyncMessage, Socket};

use crate::{describe, driver_config, tls_connector, Result, Settings};

/// Starts listening on `channel` (an identifier: letters, digits, `_`) in the background;
/// `notify` gets one permit per notification (and per reconnection). The task ends when
/// `notify` has no other owner.
pub fn listen(settings: &Settings, channel: &'static str, notify: Arc<Notify>) -> Result<()> {
    let config = driver_config(settings)?;
    let tls = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        Some(tls_connector(settings.tls_ca_file.as_deref())?)
    } else {
        None
    };
    let weak = Arc::downgrade(&notify);
    drop(notify);
    // Detached: it holds the Notify weakly and ends once its owners are gone; it writes
    // nothing.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        loop {
            let Some(n) = weak.upgrade() else { return };
            let r = match &tls {
                Some(t) => session(&config, t.clone(), channel, &n).await,
                None => session(&config, tokio_postgres::NoTls, channel, &n).await,
            };
            drop(n);
            if let Err(e) = r {
                tracing::debug!(error = %e, channel, "storage: change notifications interrupted; reconnecting");
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    });
    Ok(())
}

/// One connection's life: LISTEN, then a permit per notification until it closes.
async fn session<T>(
    config: &tokio_postgres::Config,
    tls: T,
    channel: &str,
    notify: &Notify,
) -> std::result::Result<(), String>
where
    T: MakeTlsConnect<Socket>,
{
    let (client, mut conn) = config.connect(tls).await.map_err(|e| describe(&e))?;
    let sql = format!("LISTEN {channel}");
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    loop {
        tokio::select! {
            r = &mut listen => {
                r.map_err(|e| describe(&e))?;
                break;
            }
            m = std::future::poll_fn(|cx| conn.poll_message(cx)) => match m {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(describe(&e)),
                None => return Err("the connection closed".into()),
            }
        }
    }
    // Whatever changed while this connection was not listening is looked for now.
    notify.notify_one();
    loop {
        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(_))) => notify.notify_one(),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(describe(&e)),
            None => return Err("the connection closed".into()),
        }
    }
}
