//! Intake wire formats: the bytes senders post, parsed into plain values.

pub mod forgejo;
pub mod push;
pub mod registry;

/// `host` or `host:port` of a URL as notifications name a registry (`None` when it has no host).
/// The scheme's default port is dropped, as `url` normalises it.
pub fn url_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let host = url.host_str()?;
    Some(
        url.port()
            .map_or_else(|| host.to_owned(), |port| format!("{host}:{port}")),
    )
}
