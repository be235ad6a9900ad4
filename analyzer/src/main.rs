//! The analyzer service: configuration from the environment, telemetry, run until SIGTERM.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Dropped last: flushes the spans of everything below, the shutdown included.
    let telemetry = telemetry::init("analyzer").context("telemetry set-up")?;
    let config = analyzer::Config::from_env()?;
    tracing::info!(
        topic = config.kafka.topic.as_str(),
        group = config.kafka.group.as_str(),
        "analyzer starting"
    );
    let analyzer = analyzer::Analyzer::start(config).await?;
    tracing::info!(stats = %analyzer.stats_addr(), "analyzer consuming");
    analyzer.run(analyzer::shutdown_signal()).await?;
    drop(telemetry);
    Ok(())
}
