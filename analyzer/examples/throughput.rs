//! Analyzer throughput against the dev stack, side by side: one, two or three `analyzer`
//! processes in one consumer group, exactly-once and at-least-once, each combination measured
//! several times in interleaved order on the same servers.
//!
//! ```text
//! cargo build --release -p analyzer --bins --examples && \
//!   target/release/examples/throughput [transactions] [partitions] \
//!     [--analyzers 1,2,3] [--delivery exactly-once,at-least-once] [--rounds 5] [--warmup 10000] \
//!     [--graph neo4j|neo4j-latest|falkordb] [--kafka apache|apache-cluster|mock] [--embedded]
//! ```
//!
//! Starts a dev stack, by default the real one (Neo4j 5.26 and one Apache Kafka node, each in
//! its own JVM); `--embedded` is FalkorDB behind the bolt-proxy bridge with Kafka's mock
//! cluster, and `--graph` / `--kafka` (or `DEVSTACK_GRAPH` / `DEVSTACK_KAFKA`) choose each
//! half. The built `analyzer` binary runs as child processes, configured by environment as an
//! operator runs it (no OTLP endpoint: spans are made, not exported).
//!
//! A warm-up first (`--warmup` transactions through one analyzer, half exactly-once and half
//! at-least-once, not reported): a fresh Neo4j's JIT compiler needs thousands of transactions
//! before its figures are its steady state, and the first transactional producer makes Kafka
//! create its transaction log. Then, per round and per combination (the order turns each round, so no
//! combination always runs first), on topics of its own: the processes start, the group
//! settles (every partition of `partitions`, default 6, assigned), `transactions` (default
//! 3,000) new ordinary transactions are produced, and the time from the first send to the last
//! verdict read (`read_committed`) gives transactions per second. Prints each measurement, the
//! median per combination, exactly-once against at-least-once per process count, and each
//! count against one process.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fixtures::transactions::{Dataset, DatasetOptions};
use fixtures::{DevStack, DevStackOptions, GraphChoice, KafkaChoice, Service};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// The longest wait for the next verdict before the measurement fails.
const STALL: Duration = Duration::from_secs(120);
/// The longest wait for a group to assign every partition.
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let stack = DevStack::start(
        DevStackOptions::default()
            .with_graph(args.graph)
            .with_kafka(args.kafka),
    )
    .await?;
    let described = format!("--graph {} --kafka {}", args.graph, args.kafka);
    eprintln!("stack: {described}");
    let analyzer = fixtures::sibling_binary("analyzer")
        .context("the analyzer binary (cargo build --release -p analyzer --bins --examples)")?;
    let bench = Bench {
        stack: &stack,
        analyzer,
        partitions: args.partitions,
        run: std::process::id(),
    };

    // Half of the warm-up exactly-once: the first transactional producer of a cluster makes
    // the coordinator create its `__transaction_state` topic, seconds no measurement should
    // carry.
    for (number, delivery) in [(1, "exactly-once"), (2, "at-least-once")] {
        let transactions = args.warmup / 2;
        if transactions > 0 {
            let warm = bench.measure(number, 1, delivery, transactions).await?;
            eprintln!("warm-up: {transactions} transactions {delivery}, {warm:.0} tx/s");
        }
    }
    let combinations: Vec<(usize, &str)> = args
        .analyzers
        .iter()
        .flat_map(|n| args.delivery.iter().map(move |d| (*n, d.as_str())))
        .collect();
    let mut figures: BTreeMap<(usize, &str), Vec<f64>> = BTreeMap::new();
    let mut measurement = 2;
    for round in 0..args.rounds {
        for i in 0..combinations.len() {
            let (n, delivery) = combinations[(i + round) % combinations.len()];
            measurement += 1;
            let rate = bench
                .measure(measurement, n, delivery, args.transactions)
                .await?;
            println!(
                "round {} {n} analyzer(s) {delivery}: {rate:.1} tx/s",
                round + 1
            );
            figures.entry((n, delivery)).or_default().push(rate);
        }
    }

    println!(
        "analyzer throughput ({described}; {} transactions per measurement, {} partitions, \
         {} rounds, medians):",
        args.transactions, args.partitions, args.rounds
    );
    let median_of = |key: &(usize, &str)| figures.get(key).map(|v| median(v.clone()));
    for (key, rates) in &figures {
        println!(
            "  {} analyzer(s) {:<14} {:>6.1} tx/s  (runs: {})",
            key.0,
            key.1,
            median(rates.clone()),
            rates
                .iter()
                .map(|r| format!("{r:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for n in &args.analyzers {
        if let (Some(eos), Some(alo)) = (
            median_of(&(*n, "exactly-once")),
            median_of(&(*n, "at-least-once")),
        ) {
            println!(
                "  {n} analyzer(s): exactly-once / at-least-once = {:.2}",
                eos / alo
            );
        }
    }
    for delivery in &args.delivery {
        let Some(one) = median_of(&(1, delivery.as_str())) else {
            continue;
        };
        for n in args.analyzers.iter().filter(|n| **n > 1) {
            if let Some(many) = median_of(&(*n, delivery.as_str())) {
                println!("  {delivery}: {n} analyzers / 1 = {:.2}", many / one);
            }
        }
    }
    stack.shutdown().await;
    Ok(())
}

/// What every measurement shares.
struct Bench<'a> {
    stack: &'a DevStack,
    analyzer: std::path::PathBuf,
    partitions: i32,
    run: u32,
}

impl Bench<'_> {
    /// One measurement: `processes` analyzers with `delivery` judge `transactions` new
    /// transactions on topics of their own; returns transactions per second from the first
    /// send to the last verdict.
    async fn measure(
        &self,
        number: usize,
        processes: usize,
        delivery: &str,
        transactions: usize,
    ) -> anyhow::Result<f64> {
        let name = format!("{}.{number}", self.run);
        let topic = format!("throughput.new.{name}");
        let verdict_topic = format!("throughput.verdicts.{name}");
        let dlq_topic = format!("throughput.dlq.{name}");
        // Apache Kafka's admin calls block until the partitions have leaders.
        tokio::task::block_in_place(|| -> fixtures::Result<()> {
            let kafka = self.stack.kafka();
            kafka.create_topic(&topic, self.partitions)?;
            kafka.create_topic(&verdict_topic, 1)?;
            kafka.create_topic(&dlq_topic, 1)
        })?;

        let mut ports = Vec::new();
        let mut services = Vec::new();
        for n in 0..processes {
            let port = fixtures::free_port()?;
            let mut env = self.stack.env();
            env.extend([
                ("KAFKA_TOPIC", topic.clone()),
                ("KAFKA_GROUP", format!("throughput-{name}")),
                ("KAFKA_VERDICT_TOPIC", verdict_topic.clone()),
                ("KAFKA_DLQ_TOPIC", dlq_topic.clone()),
                ("ANALYZER_STATS_ADDR", format!("127.0.0.1:{port}")),
                ("ANALYZER_DELIVERY", delivery.to_owned()),
                ("ANALYZER_INSTANCE_ID", format!("a{n}")),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", String::new()),
                ("RUST_LOG", "warn".to_owned()),
            ]);
            services.push(Service::start(&self.analyzer, &env)?);
            ports.push(port);
        }
        self.wait_for_assignment(&ports).await?;

        let verdicts: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.stack.kafka_brokers())
            .set("group.id", format!("throughput-reader-{name}"))
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "5")
            .create()?;
        verdicts.subscribe(&[verdict_topic.as_str()])?;

        // New ids every measurement: a transaction already in the graph would cost less.
        let per_customer = 5;
        let dataset = Dataset::generate(
            &DatasetOptions::new(11)
                .with_namespace(format!("tp{name}").replace('.', "_"))
                .with_customers(transactions.div_ceil(per_customer))
                .with_transactions_per_customer(per_customer)
                .with_fraud_repetitions(0)
                .without_near_misses(),
        )?;
        let records: Vec<_> = dataset
            .transactions()
            .into_iter()
            .take(transactions)
            .collect();
        let total = records.len();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", self.stack.kafka_brokers())
            .set("linger.ms", "5")
            .create()?;
        let started = Instant::now();
        // Enqueue everything (send_result does not wait), then collect the acks.
        let mut deliveries = Vec::with_capacity(total);
        for t in &records {
            let payload = t.to_json();
            let record = FutureRecord::to(&topic)
                .key(t.id.as_bytes())
                .payload(&payload);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
        }
        for delivery in deliveries {
            delivery.await?.map_err(|(e, _)| e)?;
        }

        let mut seen = 0usize;
        while seen < total {
            match tokio::time::timeout(STALL, verdicts.recv()).await {
                Ok(Ok(_)) => seen += 1,
                Ok(Err(e)) => bail!("reading verdicts: {e}"),
                Err(_) => bail!(
                    "no verdict for {STALL:?} after {seen} of {total} \
                     ({processes} analyzer(s), {delivery}); {}",
                    graph_report(self.stack)
                ),
            }
        }
        let elapsed = started.elapsed();
        for mut service in services {
            service.stop();
        }
        Ok(total as f64 / elapsed.as_secs_f64())
    }

    /// Waits until the analyzers on `ports` hold every partition between them.
    async fn wait_for_assignment(&self, ports: &[u16]) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + SETTLE;
        loop {
            let mut assigned = 0;
            for port in ports {
                let stats: Option<serde_json::Value> = match http
                    .get(format!("http://127.0.0.1:{port}/stats"))
                    .send()
                    .await
                {
                    Ok(response) => response.json().await.ok(),
                    Err(_) => None,
                };
                assigned += stats
                    .and_then(|s| s["assignment"].as_array().map(Vec::len))
                    .unwrap_or(0);
            }
            if assigned == self.partitions as usize {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} analyzer(s) hold {assigned} of {} partitions after {SETTLE:?}",
                    ports.len(),
                    self.partitions
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The command line.
struct Args {
    transactions: usize,
    partitions: i32,
    graph: GraphChoice,
    kafka: KafkaChoice,
    analyzers: Vec<usize>,
    delivery: Vec<String>,
    rounds: usize,
    warmup: usize,
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
        let mut analyzers = vec![1, 2, 3];
        let mut delivery = vec!["exactly-once".to_owned(), "at-least-once".to_owned()];
        let mut rounds = 5;
        let mut warmup = 10_000;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |flag: &str| {
                args.next()
                    .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
            };
            match arg.as_str() {
                "--graph" => graph = value("--graph")?.parse()?,
                "--kafka" => kafka = value("--kafka")?.parse()?,
                "--analyzers" => {
                    analyzers = value("--analyzers")?
                        .split(',')
                        .map(|n| n.trim().parse::<usize>().map(|n| n.max(1)))
                        .collect::<Result<_, _>>()?;
                }
                "--delivery" => {
                    delivery = value("--delivery")?
                        .split(',')
                        .map(|d| d.trim().to_owned())
                        .collect();
                    if let Some(bad) = delivery
                        .iter()
                        .find(|d| !matches!(d.as_str(), "exactly-once" | "at-least-once"))
                    {
                        bail!("--delivery: {bad:?} is neither exactly-once nor at-least-once");
                    }
                }
                "--rounds" => rounds = value("--rounds")?.parse::<usize>()?.max(1),
                "--warmup" => warmup = value("--warmup")?.parse()?,
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
                .unwrap_or(3_000),
            partitions: numbers.next().map(|a| a.parse()).transpose()?.unwrap_or(6),
            graph,
            kafka,
            analyzers,
            delivery,
            rounds,
            warmup,
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
