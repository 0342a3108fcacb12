//! 10,000 SSE connect/disconnect cycles leave memory and task counts at baseline
//! (issue 3). A test binary of its own: it measures the whole process, so no other test
//! may run beside it.

use std::time::{Duration, Instant};

use agentpipe_server::testing::TestServer;

async fn server_connections(http: &reqwest::Client, server: &TestServer) -> u64 {
    match http.get(server.url("/api/health")).send().await {
        Ok(r) => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["sse"]["connections"].as_u64())
            .unwrap_or(u64::MAX),
        Err(_) => u64::MAX,
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connect_disconnect_cycles_return_to_baseline() {
    let server = TestServer::start().await;
    let probe = reqwest::Client::new();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = server.url("/api/realtime/stream");
    let metrics = tokio::runtime::Handle::current().metrics();
    let cycle = |n: usize| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let http = http.clone();
                let url = url.clone();
                tasks.push(tokio::spawn(async move {
                    let mut r = http.get(&url).send().await.expect("connect");
                    assert_eq!(r.status().as_u16(), 200);
                    r.chunk().await.expect("first chunk");
                }));
                if tasks.len() == 40 {
                    for t in tasks.drain(..) {
                        t.await.expect("task");
                    }
                }
            }
            for t in tasks {
                t.await.expect("task");
            }
        }
    };
    // Warm up allocator and pools, then take the baseline.
    cycle(500).await;
    let settle = || async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while server_connections(&probe, &server).await > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    settle().await;
    let base_tasks = metrics.num_alive_tasks();
    let base_rss = rss_kb();
    cycle(10_000).await;
    settle().await;
    assert_eq!(server_connections(&probe, &server).await, 0);
    let tasks = metrics.num_alive_tasks();
    let rss = rss_kb();
    assert!(tasks <= base_tasks + 2, "tasks {base_tasks} -> {tasks}");
    assert!(
        rss < base_rss + 20_000,
        "RSS grew from {base_rss} kB to {rss} kB"
    );
}
