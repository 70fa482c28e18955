//! A data node fails while points are written and queried: killed, frozen,
//! cut off the network, or its disk wiped. Every query keeps answering
//! (within 2 s) from the other replica, nothing acknowledged is lost, and
//! the node, once back, catches up to the same digest as its peer.

use std::time::{Duration, Instant};

use itests::{assert_nothing_lost, Cluster, ClusterSpec, LoadReport, Service};

/// Which data nodes play which part: `victim` owns the shard, the
/// coordinator (which takes the writes and queries) is another node,
/// preferably one that owns nothing, so every read crosses the network.
struct Roles {
    victim: usize,
    coordinator: usize,
}

/// Writes a first point (so the shard group exists) and picks the roles.
async fn roles(cluster: &Cluster) -> anyhow::Result<Roles> {
    cluster.write(0, "m,w=first v=0i\n".into()).await?;
    let owners = cluster.owners().await?;
    let (_, shard_owners) = owners.iter().next().expect("a shard");
    let victim = cluster.index_of(shard_owners[0])?;
    let coordinator = (0..cluster.data_nodes.len())
        .filter(|&i| i != victim)
        .min_by_key(|&i| {
            let id = cluster.node_id(i).unwrap_or_default();
            shard_owners.contains(&id)
        })
        .expect("another node");
    println!(
        "shard owners {shard_owners:?}: victim {}, coordinator {}",
        cluster.data_nodes[victim].name, cluster.data_nodes[coordinator].name
    );
    Ok(Roles {
        victim,
        coordinator,
    })
}

fn assert_clean(report: &LoadReport) {
    println!(
        "load: {} points acknowledged, {} queries, slowest {:?}",
        report.acked.len(),
        report.queries,
        report.slowest_query
    );
    assert!(
        report.write_errors.is_empty(),
        "writes failed: {:?}",
        report.write_errors
    );
    assert!(
        report.query_errors.is_empty(),
        "queries failed: {:?}",
        report.query_errors
    );
    assert!(
        report.queries > 10,
        "too few queries ran: {}",
        report.queries
    );
}

/// After the fault: the victim catches up, holds every acknowledged point,
/// and every shard's replicas have one digest.
async fn assert_healed(
    cluster: &Cluster,
    roles: &Roles,
    report: &LoadReport,
    healed_from: Instant,
) -> anyhow::Result<Duration> {
    cluster
        .wait_healthy(roles.victim, Duration::from_secs(60))
        .await?;
    cluster.wait_caught_up(Duration::from_secs(60)).await?;
    let heal = healed_from.elapsed();
    for i in [roles.coordinator, roles.victim] {
        let held = assert_nothing_lost(cluster, i, "m", report).await?;
        println!("{} holds {held} points", cluster.data_nodes[i].name);
    }
    cluster.verify_all().await?;
    Ok(heal)
}

/// What happens to the victim, and how it comes back.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL, then started again.
    Kill,
    /// Frozen (`docker pause`), then thawed.
    Pause,
    /// Cut off the network, then put back.
    Disconnect,
    /// Stopped, its data directory emptied, started again.
    Wipe,
}

impl Fault {
    async fn inject(self, cluster: &Cluster, victim: &Service) -> anyhow::Result<()> {
        match self {
            Fault::Kill => cluster.kill(victim, "SIGKILL").await,
            Fault::Pause => cluster.pause(victim).await,
            Fault::Disconnect => cluster.disconnect(victim).await,
            Fault::Wipe => {
                let took = cluster.stop(victim).await?;
                println!("stopped {} (SIGTERM) in {took:?}", victim.name);
                cluster.wipe(victim)
            }
        }
    }

    async fn heal(self, cluster: &Cluster, victim: &Service) -> anyhow::Result<()> {
        match self {
            Fault::Kill | Fault::Wipe => cluster.restart(victim).await,
            Fault::Pause => cluster.unpause(victim).await,
            Fault::Disconnect => cluster.connect(victim).await,
        }
    }
}

/// Writes and queries through the coordinator while `fault` befalls an
/// owner of the shard for `outage`: no write or query fails (each query
/// within 2 s), and once healed the victim catches up to its peer's
/// digest holding every acknowledged point; prints how long that took.
async fn survive(name: &'static str, fault: Fault, outage: Duration) -> anyhow::Result<()> {
    let cluster = Cluster::start(ClusterSpec::new(name)).await?;
    let roles = roles(&cluster).await?;
    let victim = &cluster.data_nodes[roles.victim];
    let load = cluster
        .load(roles.coordinator, roles.coordinator, "m")
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fault.inject(&cluster, victim).await?;
    println!("{fault:?}: {}", victim.name);
    tokio::time::sleep(outage).await;
    let during = load.report();
    let healed = Instant::now();
    fault.heal(&cluster, victim).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.stop().await;
    println!(
        "during the fault: {} queries, slowest {:?}",
        during.queries, during.slowest_query
    );
    assert_clean(&report);
    let heal = assert_healed(&cluster, &roles, &report, healed).await?;
    println!("HEAL {name}: caught up to its peer's digest {heal:?} after the fault ended");
    Ok(())
}

#[tokio::test]
async fn kill_a_data_node_mid_ingest() -> anyhow::Result<()> {
    survive("kill", Fault::Kill, Duration::from_secs(5)).await
}

#[tokio::test]
async fn pause_a_data_node() -> anyhow::Result<()> {
    survive("pause", Fault::Pause, Duration::from_secs(8)).await
}

#[tokio::test]
async fn disconnect_a_data_node() -> anyhow::Result<()> {
    survive("disconnect", Fault::Disconnect, Duration::from_secs(8)).await
}

#[tokio::test]
async fn wipe_a_replica() -> anyhow::Result<()> {
    survive("wipe", Fault::Wipe, Duration::from_secs(2)).await
}
