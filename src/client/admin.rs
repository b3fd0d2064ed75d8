//! Commands sent to every server: `stats`, `version`, `flush_all`.

use super::Client;
use crate::cluster::Batch;
use crate::error::{Error, Result};
use crate::protocol::text::{self, TextReply};
use crate::reply::Expect;
use crate::transport::Transport;

/// One result per server, by server name, in configuration order.
pub type PerServer<T> = Vec<(String, Result<T>)>;

/// `stats` lines as (name, value).
pub type StatLines = Vec<(String, String)>;

impl<T: Transport> Client<T> {
    /// Send a classic command to every server in parallel.
    async fn broadcast(&self, encode: impl Fn(&mut Vec<u8>), expect: Expect) -> PerServer<TextReply> {
        let mut bytes = Vec::new();
        encode(&mut bytes);
        let batches = (0..self.cluster().server_count())
            .map(|server| Batch {
                server,
                expect: expect.clone(),
                bytes: bytes.clone(),
            })
            .collect();
        self.transport
            .exchange(batches)
            .await
            .into_iter()
            .enumerate()
            .map(|(server, result)| {
                let name = self.cluster().server_name(server).to_string();
                let reply = result.and_then(|r| match r.text {
                    Some(TextReply::Failure(message)) => Err(Error::ServerErrorReply {
                        server: name.clone(),
                        message,
                    }),
                    Some(reply) => Ok(reply),
                    None => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: "no reply".into(),
                    }),
                });
                (name, reply)
            })
            .collect()
    }

    /// `stats [group]` from every server.
    pub async fn stats(&self, group: Option<&str>) -> PerServer<StatLines> {
        self.broadcast(|buf| text::encode_stats(group, buf), Expect::Stats)
            .await
            .into_iter()
            .map(|(name, reply)| {
                let stats = reply.and_then(|r| match r {
                    TextReply::Stats(stats) => Ok(stats),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, stats)
            })
            .collect()
    }

    /// `version` from every server.
    pub async fn version(&self) -> PerServer<String> {
        self.broadcast(text::encode_version, Expect::Line)
            .await
            .into_iter()
            .map(|(name, reply)| {
                let version = reply.and_then(|r| match r {
                    TextReply::Line(line) if line.starts_with("VERSION ") => Ok(line["VERSION ".len()..].to_owned()),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, version)
            })
            .collect()
    }

    /// A one-line classic command (`cache_memlimit 64`, `verbosity 1`) on every server: each
    /// server's one-line reply. `line` must already be validated (printable, no CR/LF).
    pub async fn text_command(&self, line: &str) -> PerServer<String> {
        let encode = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
        };
        self.broadcast(encode, Expect::Line)
            .await
            .into_iter()
            .map(|(name, reply)| {
                let line = reply.and_then(|r| match r {
                    TextReply::Line(line) => Ok(line),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, line)
            })
            .collect()
    }

    /// `flush_all [delay]` on every server.
    pub async fn flush_all(&self, delay: u32) -> PerServer<()> {
        if let Some(local) = &self.hot.local {
            local.clear();
        }
        self.broadcast(|buf| text::encode_flush_all(delay, buf), Expect::Line)
            .await
            .into_iter()
            .map(|(name, reply)| {
                let ok = reply.and_then(|r| match r {
                    TextReply::Line(line) if line == "OK" => Ok(()),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, ok)
            })
            .collect()
    }
}
