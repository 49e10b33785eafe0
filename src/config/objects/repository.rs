//! `ImageRepository` → `ImageRepository` settings: image, interval and timeout, CA files and
//! certSecretRef, credentials (inline, secretRef), exclusion list, aliases, and what the image's
//! `registries:` entry supplies where the object says nothing.

use super::{declare, interval, object_key, positive_duration, refuse_credentials};
use crate::config::Context;
use crate::config::cluster::cluster_secret;
use crate::config::raw::RawRepository;
use crate::config::settings::{DEFAULT_PAGE_SIZE, ImageRepository, Origin, RegistryCredentials};
use crate::domain::{ImageRef, ObjectKey};

const REGISTRY_REMEDY: &str =
    "credentials: {username: USER, password: {fromEnv: VAR}} on the ImageRepository (or a secretRef)";

/// One `ImageRepository` (from either source) as an `ImageRepository`, with what its
/// registry's `registries:` entry supplies; `None` after recording why not.
pub fn repository(
    context: &mut Context<'_>,
    origin: Origin,
    mut raw: RawRepository,
) -> Option<ImageRepository> {
    let key = object_key(context, &origin, raw.namespace.as_deref(), &raw.name)?;
    if !declare(context, "ImageRepository", &key, &origin) {
        return None;
    }
    let image_at = context.at(&origin, &raw.image.referenced);
    let image = refuse_credentials(context, &image_at, "image", &raw.image.value, REGISTRY_REMEDY)
        .and_then(|()| {
            ImageRef::parse(&raw.image.value).map_err(|error| {
                context.problems.add(
                    context.at(&origin, &raw.image.referenced),
                    format!("image: {error}"),
                )
            })
        })
        .ok();
    let interval = interval(context, &origin, raw.interval.as_ref());
    let timeout = match &raw.timeout {
        None => crate::config::settings::DEFAULT_TIMEOUT,
        Some(timeout) => positive_duration(
            context,
            &origin,
            "timeout",
            timeout,
            crate::config::settings::DEFAULT_TIMEOUT,
        ),
    };
    let mut ca_files: Vec<_> = raw.ca_files.iter().map(|path| context.base.join(path)).collect();
    let mut ca_pems = std::mem::take(&mut raw.ca_pems);
    let referrer = format!("ImageRepository {key}");
    if let Some(reference) = &raw.cert_secret_ref {
        let secret_key = format!("{}/{}", key.namespace(), reference.name);
        match context.flux.secrets.get(&secret_key) {
            Some(secret) => match secret.data.get("ca.crt").or_else(|| secret.data.get("caFile")) {
                Some(pem) => ca_pems.push(pem.clone()),
                None => context.problems.add(
                    &secret.origin,
                    format!("Secret {secret_key} has no ca.crt (or caFile) key, which certSecretRef needs"),
                ),
            },
            None => {
                if let Some((secret_origin, secret)) = cluster_secret(
                    context,
                    &origin,
                    &referrer,
                    &secret_key,
                    "{caFile: /path/to/ca.crt}",
                ) {
                    match &secret.ca_file {
                        Some(path) => ca_files.push(context.base.join(path)),
                        None => context.problems.add(
                            &secret_origin,
                            format!(
                                "clusterSecrets.{secret_key} has no caFile, which the certSecretRef of {referrer} ({origin}) needs; \
                                 add caFile: /path/to/ca.crt to it"
                            ),
                        ),
                    }
                }
            }
        }
    }
    for path in &ca_files {
        if !path.is_file() {
            context.problems.add(
                &origin,
                format!(
                    "CA file {} does not exist; fix caFiles or clusterSecrets caFile",
                    path.display()
                ),
            );
        }
    }
    let credentials = credentials(context, &origin, &key, &raw);
    let exclusion_list = raw.exclusion_list.map_or_else(
        || {
            vec![regex::Regex::new(r"^.*\.sig$").ok()]
                .into_iter()
                .flatten()
                .collect()
        },
        |patterns| {
            patterns
                .iter()
                .filter_map(|pattern| {
                    regex::Regex::new(&pattern.value)
                        .map_err(|error| {
                            context.problems.add(
                                context.at(&origin, &pattern.referenced),
                                format!("exclusionList: {error}"),
                            )
                        })
                        .ok()
                })
                .collect()
        },
    );
    let page_size = raw.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if page_size == 0 {
        context
            .problems
            .add(&origin, "pageSize must be at least 1 (default 1000)");
    }
    let mut aliases = aliases(context, &origin, &raw.aliases);
    let image = image?;
    // What the image's registry entry says, where the repository says nothing.
    let inherited = context
        .registries
        .get(image.registry())
        .cloned()
        .unwrap_or_default();
    if ca_files.is_empty() && ca_pems.is_empty() {
        ca_files = inherited.ca_files;
    }
    for alias in inherited.aliases {
        if !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    Some(ImageRepository {
        key,
        image,
        interval,
        timeout,
        suspended: raw.suspend,
        insecure: raw.insecure.or(inherited.insecure).unwrap_or(false),
        ca_files,
        ca_pems,
        credentials: credentials.or(inherited.credentials),
        exclusion_list,
        page_size,
        aliases,
        endpoint: inherited.endpoint,
        origin,
    })
}

/// `aliases`: bare `host[:port]` names (lowercased), each a problem at its line when it is not.
fn aliases(context: &mut Context<'_>, origin: &Origin, raw: &[serde_saphyr::Spanned<String>]) -> Vec<String> {
    raw.iter()
        .filter_map(|alias| {
            let text = alias.value.trim().to_ascii_lowercase();
            let port_ok = text
                .rsplit_once(':')
                .is_none_or(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            let host_ok = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_' | '[' | ']'));
            if host_ok && port_ok {
                return Some(text);
            }
            context.problems.add(
                context.at(origin, &alias.referenced),
                // The value is not echoed: it may hold credentials (`https://user:password@…`).
                "aliases: this entry is not a registry host; write host or host:port as notifications name it (e.g. registry.internal:5000), without scheme, path or credentials".to_owned(),
            );
            None
        })
        .collect()
}

fn credentials(
    context: &mut Context<'_>,
    origin: &Origin,
    key: &ObjectKey,
    raw: &RawRepository,
) -> Option<RegistryCredentials> {
    if let Some(credentials) = &raw.credentials {
        return crate::config::registries::inline_credentials(
            context,
            origin,
            &format!("ImageRepository {key}"),
            credentials,
        );
    }
    let reference = raw.secret_ref.as_ref()?;
    let secret_key = format!("{}/{}", key.namespace(), reference.name);
    let referrer = format!("ImageRepository {key}");
    let example = "{dockerConfigJson: /path/to/config.json}";
    let (secret_origin, secret) = cluster_secret(context, origin, &referrer, &secret_key, example)?;
    if let Some(path) = &secret.docker_config_json {
        return Some(RegistryCredentials::DockerConfig {
            path: context.base.join(path),
        });
    }
    let Some(password) = &secret.password else {
        context.problems.add(
            &secret_origin,
            format!(
                "clusterSecrets.{secret_key} has neither dockerConfigJson nor password, so the secretRef of {referrer} \
                 ({origin}) would pull anonymously; add  dockerConfigJson: /path/to/config.json  (or username + password: {{fromEnv: VAR}})"
            ),
        );
        return None;
    };
    let password = context.secret(&secret_origin, password)?;
    Some(RegistryCredentials::Basic {
        username: secret.username.clone().unwrap_or_default(),
        password,
    })
}
