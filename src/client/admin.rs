//! Commands sent to every server: `stats`, `version`, `flush_all`, and one-line classic
//! commands (the pymemcache layer's `cache_memlimit`, `raw_command` ...).

use super::Client;
use crate::cluster::Batch;
use crate::error::{Error, Result};
use crate::protocol::reply::Expect;
use crate::protocol::text::{self, TextReply};
use crate::transport::Transport;
use bytes::Bytes;

/// One result per server, by server name, in configuration order.
pub type PerServer<T> = Vec<(String, Result<T>)>;

/// `stats` lines as (name, value).
pub type StatLines = Vec<(String, String)>;

impl<T: Transport> Client<T> {
    /// Send a classic command to every server in parallel; `pick` takes what each reply should
    /// be (anything else is an `UnexpectedReply`, an error line a `ServerErrorReply`).
    async fn broadcast<R>(
        &self,
        encode: impl Fn(&mut Vec<u8>),
        expect: Expect,
        pick: impl Fn(TextReply) -> std::result::Result<R, TextReply>,
    ) -> PerServer<R> {
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
                let reply = result.and_then(|r| match r.text.map(&pick) {
                    Some(Ok(reply)) => Ok(reply),
                    Some(Err(TextReply::Failure(message))) => Err(Error::ServerErrorReply {
                        server: name.clone(),
                        message,
                    }),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{:?}", other.and_then(|r| r.err())),
                    }),
                });
                (name, reply)
            })
            .collect()
    }

    /// `stats [group]` from every server.
    pub async fn stats(&self, group: Option<&str>) -> PerServer<StatLines> {
        self.broadcast(
            |buf| text::encode_stats(group, buf),
            Expect::Stats,
            |reply| match reply {
                TextReply::Stats(stats) => Ok(stats),
                other => Err(other),
            },
        )
        .await
    }

    /// `version` from every server.
    pub async fn version(&self) -> PerServer<String> {
        self.broadcast(text::encode_version, Expect::Line, |reply| match reply {
            TextReply::Line(line) if line.starts_with("VERSION ") => Ok(line["VERSION ".len()..].to_owned()),
            other => Err(other),
        })
        .await
    }

    /// A classic command (`cache_memlimit 64`, `stats detail dump`) on every server: each
    /// server's reply up to `end` (exclusive), or its one-line reply without `end`. `line`
    /// must already be validated (printable, no CR/LF). Bytes after `end` mean the reply was
    /// longer than the caller said: the connection is out of step and is retired.
    pub async fn text_command(&self, line: &str, end: Option<Bytes>) -> PerServer<Vec<u8>> {
        let encode = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(line.as_bytes());
            buf.extend_from_slice(b"\r\n");
        };
        let expect = end.map_or(Expect::Line, Expect::Segment);
        self.broadcast(encode, expect, |reply| match reply {
            TextReply::Line(line) => Ok(line.into_bytes()),
            TextReply::Segment(bytes) => Ok(bytes),
            other => Err(other),
        })
        .await
    }

    /// `flush_all [delay]` on every server.
    pub async fn flush_all(&self, delay: u32) -> PerServer<()> {
        if let Some(local) = &self.hot.local {
            local.clear();
        }
        self.broadcast(
            |buf| text::encode_flush_all(delay, buf),
            Expect::Line,
            |reply| match reply {
                TextReply::Line(line) if line == "OK" => Ok(()),
                other => Err(other),
            },
        )
        .await
    }
}
