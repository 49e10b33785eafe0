//! `Settings` values for tests that build them directly instead of loading a file.

use pushdeploy::config::{ApiSettings, IntakeSettings, ServerSettings, Settings};
use std::path::Path;
use std::time::Duration;

pub fn empty(data_dir: &Path) -> Settings {
    Settings {
        data_dir: data_dir.to_owned(),
        server: ServerSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: None,
            limits: Default::default(),
        },
        repositories: Default::default(),
        policies: Default::default(),
        automations: Default::default(),
        intake: IntakeSettings {
            registry_authorization: Vec::new(),
            forgejo_secrets: Vec::new(),
            senders: Default::default(),
            body_limit: 1024 * 1024,
            coalesce_window: Duration::ZERO,
            journal_max_age: Duration::from_secs(3600),
            journal_max_count: 1000,
            journal_url: None,
        },
        api: ApiSettings::default(),
        registries: Default::default(),
        trust_notifications: false,
        notifications: Default::default(),
    }
}
