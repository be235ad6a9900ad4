//! Analyzer throughput against the dev stack: transactions per second from records waiting on
//! the topic to verdicts acknowledged.
//!
//! ```text
//! cargo run -p analyzer --release --example throughput -- [transactions] [partitions] \
//!     [--graph neo4j|neo4j-latest|falkordb] [--kafka apache|apache-cluster|mock] [--embedded] \
//!     [--analyzers N] [--delivery exactly-once|at-least-once]
//! ```
//!
//! Starts a dev stack, by default the real one (Neo4j 5.26 and one Apache Kafka node, each in
//! its own JVM); `--embedded` is FalkorDB behind the bolt-proxy bridge with Kafka's mock cluster,
//! and `--graph` / `--kafka` (or `DEVSTACK_GRAPH` / `DEVSTACK_KAFKA`, as for `devstack`) choose
//! each half. It produces
//! `transactions` (default 5,000) ordinary transactions from the fixtures' generator to a
//! topic of `partitions` (default 3) partitions, then starts the analyzer with telemetry
//! installed (spans created, not exported, as with no `OTEL_EXPORTER_OTLP_ENDPOINT`) and times
//! it until the last verdict is on the verdict topic (read `read_committed`). `--analyzers N`
//! starts N analyzers in one consumer group (in this process, each with its own producer,
//! consumer, graph pool and instance id: the group's scaling on this machine's cores);
//! `--delivery` chooses exactly-once (the default) or at-least-once. Prints the figure and the
//! top queries of the first analyzer's `GET /stats`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use analyzer::{Analyzer, Config};
use fixtures::transactions::{Dataset, DatasetOptions};
use fixtures::{DevStack, DevStackOptions, GraphChoice, KafkaChoice};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let (wanted, partitions) = (args.transactions, args.partitions);

    let _telemetry = telemetry::Builder::new("analyzer-throughput")
        .without_otlp()
        .with_log_filter("warn")
        .install()?;
    let stack = DevStack::start(
        DevStackOptions::default()
            .with_graph(args.graph)
            .with_kafka(args.kafka),
    )
    .await?;
    let described = format!("--graph {} --kafka {}", args.graph, args.kafka);
    eprintln!("stack: {described}");
    let run = std::process::id();
    let topic = format!("throughput.new.{run}");
    let verdict_topic = format!("throughput.verdicts.{run}");
    let dlq_topic = format!("throughput.dlq.{run}");
    // Apache Kafka's admin calls block until the partitions have leaders.
    tokio::task::block_in_place(|| -> fixtures::Result<()> {
        stack.kafka().create_topic(&topic, partitions)?;
        stack.kafka().create_topic(&verdict_topic, 1)?;
        stack.kafka().create_topic(&dlq_topic, 1)
    })?;

    // Ordinary traffic only: every transaction runs the full pipeline (write, three rules,
    // mark, verdict); fraud scenarios cost the same.
    let per_customer = 5;
    let dataset = Dataset::generate(
        &DatasetOptions::new(11)
            .with_namespace(format!("tp{run}"))
            .with_customers(wanted.div_ceil(per_customer))
            .with_transactions_per_customer(per_customer)
            .with_fraud_repetitions(0)
            .without_near_misses(),
    )?;
    let transactions: Vec<_> = dataset.transactions().into_iter().take(wanted).collect();
    let total = transactions.len();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack.kafka_brokers())
        .set("linger.ms", "5")
        .create()?;
    // Enqueue everything first (send_result does not wait), then collect the acks.
    let mut deliveries = Vec::with_capacity(total);
    for t in &transactions {
        let payload = t.to_json();
        let record = FutureRecord::to(&topic)
            .key(t.id.as_bytes())
            .payload(&payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(e, _)| e)?;
    }
    eprintln!("{total} transactions waiting on {topic} ({partitions} partitions)");

    let mut vars: HashMap<&str, String> = stack.env().into_iter().collect();
    vars.extend([
        ("KAFKA_TOPIC", topic.clone()),
        ("KAFKA_GROUP", format!("throughput-{run}")),
        ("KAFKA_VERDICT_TOPIC", verdict_topic.clone()),
        ("KAFKA_DLQ_TOPIC", dlq_topic),
        ("ANALYZER_STATS_ADDR", "127.0.0.1:0".to_string()),
        ("ANALYZER_DELIVERY", args.delivery.clone()),
    ]);

    let verdicts: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack.kafka_brokers())
        .set("group.id", format!("throughput-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .create()?;
    verdicts.subscribe(&[verdict_topic.as_str()])?;

    let mut analyzers = Vec::new();
    for n in 0..args.analyzers {
        let mut vars = vars.clone();
        vars.insert("ANALYZER_INSTANCE_ID", format!("throughput-{run}-{n}"));
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        analyzers.push(Analyzer::start(config).await?);
    }
    let stats_addr = analyzers[0].stats_addr();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = analyzers
        .into_iter()
        .map(|analyzer| {
            let mut stopped = stopped.clone();
            tokio::spawn(analyzer.run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        })
        .collect();

    let mut seen = 0usize;
    let mut first_at = None;
    while seen < total {
        match tokio::time::timeout(Duration::from_secs(120), verdicts.recv()).await {
            Ok(Ok(_)) => {
                seen += 1;
                first_at.get_or_insert_with(|| started.elapsed());
            }
            Ok(Err(e)) => anyhow::bail!("reading verdicts: {e}"),
            Err(_) => anyhow::bail!(
                "no verdict for 120 s after {seen} of {total}; {}",
                graph_report(&stack)
            ),
        }
    }
    let elapsed = started.elapsed();
    let stats: serde_json::Value = reqwest::get(format!("http://{stats_addr}/stats"))
        .await?
        .json()
        .await?;
    stop.send_replace(true);
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await??);
    }
    let sum = |f: fn(&analyzer::Counts) -> u64| counts.iter().map(f).sum::<u64>();

    let first = first_at.unwrap_or_default();
    let steady = elapsed.saturating_sub(first).as_secs_f64();
    println!(
        "analyzer throughput ({described}; {} analyzer(s), {}): {total} transactions in {:.2} s \
         = {:.0} transactions/s ({:.0}/s after the first verdict at {:.2} s; {partitions} \
         partitions; {} verdicts, {} dead-lettered, {} retries, {} FalkorDB restarts)",
        args.analyzers,
        args.delivery,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        (total.saturating_sub(1)) as f64 / steady.max(1e-9),
        first.as_secs_f64(),
        sum(|c| c.verdicts),
        sum(|c| c.dead_lettered),
        sum(|c| c.retries),
        stack.falkordb_restarts(),
    );
    if let Some(queries) = stats["queries"].as_array() {
        println!("top queries by total time:");
        for q in queries.iter().take(5) {
            println!(
                "  {:>8.0} ms  {:>6} calls  p50 {:>6.2} ms  p99 {:>6.2} ms  {}",
                q["total_ms"].as_f64().unwrap_or_default(),
                q["calls"].as_u64().unwrap_or_default(),
                q["p50_ms"].as_f64().unwrap_or_default(),
                q["p99_ms"].as_f64().unwrap_or_default(),
                q["summary"].as_str().unwrap_or_default(),
            );
        }
    }
    stack.shutdown().await;
    Ok(())
}

/// The command line: `[transactions] [partitions]` and the stack's choices.
struct Args {
    transactions: usize,
    partitions: i32,
    graph: GraphChoice,
    kafka: KafkaChoice,
    analyzers: usize,
    delivery: String,
}

impl Args {
    fn parse() -> anyhow::Result<Args> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut graph: GraphChoice = from_env("DEVSTACK_GRAPH")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or_default();
        let mut kafka: KafkaChoice = from_env("DEVSTACK_KAFKA")
            .map(|v| v.parse())
            .transpose()?
            .unwrap_or_default();
        let mut numbers = Vec::new();
        let mut analyzers = 1;
        let mut delivery = "exactly-once".to_owned();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
            };
            match arg.as_str() {
                "--graph" => graph = value("--graph")?.parse()?,
                "--kafka" => kafka = value("--kafka")?.parse()?,
                "--analyzers" => analyzers = value("--analyzers")?.parse::<usize>()?.max(1),
                "--delivery" => delivery = value("--delivery")?,
                "--embedded" => {
                    graph = GraphChoice::FalkorDb;
                    kafka = KafkaChoice::Mock;
                }
                number => numbers.push(number.to_string()),
            }
        }
        let mut numbers = numbers.into_iter();
        Ok(Args {
            transactions: numbers
                .next()
                .map(|a| a.parse())
                .transpose()?
                .unwrap_or(5_000),
            partitions: numbers.next().map(|a| a.parse()).transpose()?.unwrap_or(3),
            graph,
            kafka,
            analyzers,
            delivery,
        })
    }
}

/// Whether the graph server still runs, and the end of its log.
fn graph_report(stack: &DevStack) -> String {
    if let Some(falkordb) = stack.falkordb() {
        // FalkorDB's crash report starts long before the end of its log.
        let log = falkordb.log_tail(5_000);
        let report = log
            .find("BUG REPORT START")
            .map_or(log.as_str(), |at| &log[at..]);
        let report: String = report.lines().take(80).collect::<Vec<_>>().join("\n");
        return format!(
            "FalkorDB running: {}; its log:\n{report}",
            falkordb.is_running()
        );
    }
    match stack.neo4j() {
        Some(neo4j) => format!(
            "Neo4j running: {}; its log:\n{}",
            neo4j.is_running(),
            neo4j.log_tail(80)
        ),
        None => "no graph server".into(),
    }
}
