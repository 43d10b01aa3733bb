//! The client commands: `append`, `read`, `tail`, `streams`. Each is one call of the HTTP API.

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use skald_core::{
    AsOf, Direction, ExpectedVersion, Json, NewEvent, ReadOptions, RecordedEvent, Selector, SubscribeFrom, Timestamp,
};

use crate::api::client;
use crate::Remote;

#[derive(Args)]
pub struct AppendArgs {
    /// The stream to append to.
    stream: String,
    /// The event type, e.g. OrderPlaced.
    #[arg(long = "type", short = 't')]
    event_type: String,
    /// The event data as JSON.
    #[arg(long, short = 'd', default_value = "{}")]
    data: String,
    /// The event metadata as a JSON object.
    #[arg(long, default_value = "{}")]
    metadata: String,
    /// `any`, `no_stream`, `exists` or the version of the last event you saw.
    #[arg(long, default_value = "any")]
    expected_version: String,
    /// The event id (idempotency key); a new one by default.
    #[arg(long)]
    id: Option<skald_core::Uuid>,
    #[command(flatten)]
    remote: Remote,
}

/// Which events to read: a stream by default, or one of the flags.
#[derive(Args)]
pub struct Source {
    /// A stream name.
    stream: Option<String>,
    /// Read the whole log instead.
    #[arg(long, conflicts_with_all = ["stream", "category", "event_type"])]
    all: bool,
    /// Read every stream of a category instead.
    #[arg(long, conflicts_with_all = ["stream", "event_type"])]
    category: Option<String>,
    /// Read every event of a type instead.
    #[arg(long = "type", conflicts_with = "stream")]
    event_type: Option<String>,
}

impl Source {
    fn selector(&self) -> anyhow::Result<Selector> {
        Ok(match (&self.stream, self.all, &self.category, &self.event_type) {
            (Some(stream), _, _, _) => Selector::Stream(stream.clone()),
            (None, true, _, _) => Selector::All,
            (None, false, Some(category), _) => Selector::Category(category.clone()),
            (None, false, None, Some(event_type)) => Selector::Type(event_type.clone()),
            _ => anyhow::bail!("say what to read: a stream name, --all, --category NAME or --type NAME"),
        })
    }
}

#[derive(Args)]
pub struct ReadArgs {
    #[command(flatten)]
    source: Source,
    /// First cursor: a version for a stream, a position otherwise.
    #[arg(long)]
    from: Option<u64>,
    /// Most events to print.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Newest first.
    #[arg(long)]
    backward: bool,
    /// Read as the store was when this position was the newest.
    #[arg(long, conflicts_with = "as_of_time")]
    as_of_position: Option<u64>,
    /// Read as the store was at this RFC 3339 time.
    #[arg(long)]
    as_of_time: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct TailArgs {
    #[command(flatten)]
    source: Source,
    /// Keep following new events (otherwise print what is stored and stop).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Start at this global position instead of the end (with -f) or the start.
    #[arg(long)]
    from: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
pub struct StreamsArgs {
    /// List streams after this name.
    #[arg(long)]
    after: Option<String>,
    /// Most streams to list.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    remote: Remote,
}

pub async fn append(args: AppendArgs) -> anyhow::Result<()> {
    let data = Json::from_slice(args.data.as_bytes()).context("--data is not valid JSON")?;
    let metadata = Json::from_slice(args.metadata.as_bytes()).context("--metadata is not valid JSON")?;
    let expected = ExpectedVersion::parse(&args.expected_version)?;
    let mut event = NewEvent::new(args.event_type, data).with_metadata(metadata);
    if let Some(id) = args.id {
        event = event.with_id(id);
    }
    let client = client(&args.remote)?;
    let outcome = client.append(&args.stream, expected, vec![event]).await?;
    if args.remote.json {
        println!("{}", serde_json::to_string(&outcome)?);
    } else {
        let what = if outcome.replayed { "already stored (idempotent retry)" } else { "appended" };
        println!("{what}: {} version {} at position {}", outcome.stream, outcome.last_version, outcome.last_position);
    }
    Ok(())
}

pub async fn read(args: ReadArgs) -> anyhow::Result<()> {
    let selector = args.source.selector()?;
    let as_of = match (args.as_of_position, &args.as_of_time) {
        (Some(position), _) => Some(AsOf::Position(position)),
        (None, Some(time)) => Some(AsOf::Time(Timestamp::parse_rfc3339(time)?)),
        (None, None) => None,
    };
    let direction = if args.backward { Direction::Backward } else { Direction::Forward };
    let options = ReadOptions { from: args.from, direction, limit: args.limit, as_of };
    let page = client(&args.remote)?.read(&selector, options).await?;
    if args.remote.json {
        println!("{}", serde_json::to_string(&page)?);
        return Ok(());
    }
    print_header();
    for event in &page.events {
        print_row(event);
    }
    match page.next {
        Some(next) => println!("(more: --from {next})"),
        None => println!("({} events, end)", page.events.len()),
    }
    Ok(())
}

pub async fn tail(args: TailArgs) -> anyhow::Result<()> {
    let selector = args.source.selector()?;
    let client = client(&args.remote)?;
    if !args.follow {
        let options = ReadOptions { from: args.from, ..ReadOptions::default() };
        let page = client.read(&selector, options).await?;
        for event in &page.events {
            print_event(event, args.remote.json)?;
        }
        return Ok(());
    }
    let from = args.from.map_or(SubscribeFrom::End, SubscribeFrom::Position);
    let mut events = client.subscribe(selector, from);
    if !args.remote.json {
        eprintln!("following (Ctrl-C to stop)…");
    }
    while let Some(event) = events.next().await {
        print_event(&event?, args.remote.json)?;
    }
    Ok(())
}

pub async fn streams(args: StreamsArgs) -> anyhow::Result<()> {
    let list = client(&args.remote)?.list_streams(args.after.as_deref(), args.limit).await?;
    if args.remote.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    println!("{:<40} {:>12} {:>14}", "STREAM", "HEAD VERSION", "HEAD POSITION");
    for stream in &list.streams {
        println!("{:<40} {:>12} {:>14}", stream.stream, stream.head_version, stream.head_position);
    }
    if let Some(after) = list.next_after {
        println!("(more: --after {after})");
    }
    Ok(())
}

fn print_event(event: &RecordedEvent, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(event)?);
    } else {
        print_row(event);
    }
    Ok(())
}

fn print_header() {
    println!("{:>10}  {:<28} {:>7}  {:<24} {:<27} DATA", "POSITION", "STREAM", "VERSION", "TYPE", "TIMESTAMP");
}

fn print_row(event: &RecordedEvent) {
    let data = String::from_utf8_lossy(event.data.as_bytes());
    let data: String =
        if data.chars().count() > 60 { data.chars().take(57).chain("...".chars()).collect() } else { data.into() };
    println!(
        "{:>10}  {:<28} {:>7}  {:<24} {:<27} {}",
        event.position, event.stream, event.version, event.event_type, event.timestamp, data
    );
}
