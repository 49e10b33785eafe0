//! A full rescan of 100 repositories × 500 tags on the real docker-registry: wall time and HTTP
//! requests (goal ≤ 2 s, requests = pages), and the registry gateway's resident memory with those
//! repositories (goal ≤ 60 MB). Floor in the same run: the same number of plain GETs of
//! `tags/list` with one reqwest client. Run: `cargo bench --bench registry_scan`.
// A benchmark that cannot set up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../tests/api/support/mod.rs"]
mod support;

use pushdeploy::config::ImageRepository;
use pushdeploy::domain::{ImageRef, ObjectKey};
use pushdeploy::registry::Gateway;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::registry::{Options, Registry};

const REPOSITORIES: usize = 100;
const TAGS: usize = 500;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

/// Tag every repository 500 times by mounting repo0's blobs and PUTting its manifest.
async fn populate(client: &reqwest::Client, base: &str, layout_digest: &str) {
    let manifest = client
        .get(format!("{base}/v2/repo0/manifests/{layout_digest}"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let blobs: Vec<String> = std::iter::once(parsed["config"]["digest"].as_str().unwrap().to_owned())
        .chain(
            parsed["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|layer| layer["digest"].as_str().unwrap().to_owned()),
        )
        .collect();
    for repository in 0..REPOSITORIES {
        for blob in &blobs {
            let url = format!("{base}/v2/repo{repository}/blobs/uploads/?mount={blob}&from=repo0");
            client.post(url).send().await.unwrap();
        }
        for chunk in (0..TAGS).collect::<Vec<_>>().chunks(25) {
            let puts: Vec<_> = chunk
                .iter()
                .map(|tag| {
                    let url = format!("{base}/v2/repo{repository}/manifests/{tag}-{repository:04x}");
                    Box::pin(
                        client
                            .put(url)
                            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                            .body(manifest.clone())
                            .send(),
                    )
                })
                .collect();
            for put in join_all(puts).await {
                assert!(put.unwrap().status().is_success());
            }
        }
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), Options::default());
    let digest = registry.push("repo0", "seed", "a");
    let base = format!("http://{}", registry.host());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::builder().build().unwrap();
    let started = Instant::now();
    runtime.block_on(populate(&client, &base, &digest));
    println!(
        "populated {REPOSITORIES} repositories x {TAGS} tags in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut settings = support::settings::empty(dir.path());
    for repository in 0..REPOSITORIES {
        let key = ObjectKey::parse(&format!("bench:repo{repository}")).unwrap();
        let image = ImageRef::parse(&format!("{}/repo{repository}", registry.host())).unwrap();
        let config = ImageRepository {
            insecure: true,
            ..ImageRepository::plain(key.clone(), image)
        };
        settings.repositories.insert(key, config);
    }
    let rss_before = rss_mb();
    let (sender, _receiver) = tokio::sync::mpsc::unbounded_channel();
    let _inside = runtime.enter();
    let gateway = Gateway::new(&settings, sender).unwrap();
    let keys: Vec<ObjectKey> = settings.repositories.keys().cloned().collect();
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut requests = 0;
    for round in 0..5 {
        if round > 0 {
            // A rescan happens once per interval (1 m); let the per-host request budget
            // (10 req/s, burst 100) refill as it would between two scheduled rescans.
            std::thread::sleep(Duration::from_secs(10));
        }
        let clients: Vec<_> = keys.iter().map(|key| gateway.client(key).unwrap()).collect();
        let before: u64 = clients
            .iter()
            .map(|client| client.requests.load(Ordering::Relaxed))
            .sum();
        let start = Instant::now();
        runtime.block_on(async {
            let scans = keys.iter().map(|key| gateway.scan_once(key));
            for result in futures_like(scans).await {
                // repo0 also holds the seed tag.
                assert!(result.unwrap().tags.len() >= TAGS);
            }
        });
        ours.push(start.elapsed());
        requests = clients
            .iter()
            .map(|client| client.requests.load(Ordering::Relaxed))
            .sum::<u64>()
            - before;
        let start = Instant::now();
        runtime.block_on(async {
            for repository in 0..REPOSITORIES {
                let body = client
                    .get(format!("{base}/v2/repo{repository}/tags/list?n=1000"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                assert!(body.len() > TAGS * 5);
            }
        });
        floor.push(start.elapsed());
    }
    ours.sort();
    floor.sort();
    let (ours, floor) = (ours[2], floor[2]);
    println!(
        "full rescan (registry gateway, 4 requests in flight per host): {:>7.1} ms, {requests} HTTP requests for {REPOSITORIES} pages (goal <= 2000 ms, requests = pages)",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "floor (sequential plain GETs, one client):          {:>7.1} ms  -> ratio {:.2}x",
        floor.as_secs_f64() * 1e3,
        ours.as_secs_f64() / floor.as_secs_f64()
    );
    println!(
        "resident memory: {:.1} MB before the registry gateway, {:.1} MB with it after the scans (goal <= 60 MB)",
        rss_before,
        rss_mb()
    );
}

async fn futures_like<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut outputs = Vec::new();
    let pinned: Vec<_> = futures.map(Box::pin).collect();
    // Run them concurrently: the per-host semaphore in the gateway caps requests in flight.
    let mut set = Vec::new();
    for future in pinned {
        set.push(future);
    }
    let results = join_all(set).await;
    outputs.extend(results);
    outputs
}

async fn join_all<F: std::future::Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (index, slot) in futures.iter_mut().enumerate() {
            if let Some(future) = slot {
                match std::pin::Pin::new(future).poll(context) {
                    std::task::Poll::Ready(output) => {
                        slots[index] = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots.into_iter().map(Option::unwrap).collect()
}
