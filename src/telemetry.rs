//! Logging (`telemetry/logging`): level, prefix, stdout, format (`default` or `logstash`
//! JSON lines), on `tracing`. Lines look like KrakenD's: `2025/01/02 15:04:05 TENTACLE INFO: ...`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::ExtraConfig;

/// What `telemetry/logging` asks for.
#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: Level,
    pub prefix: String,
    pub stdout: bool,
    pub json: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: Level::INFO,
            prefix: String::new(),
            stdout: true,
            json: false,
        }
    }
}

impl LogSettings {
    pub fn from_extra(extra: &ExtraConfig) -> LogSettings {
        let mut s = LogSettings::default();
        let Some(v) = extra.get("telemetry/logging") else {
            return s;
        };
        if let Some(level) = v.get("level").and_then(Value::as_str) {
            s.level = match level.to_ascii_uppercase().as_str() {
                "DEBUG" => Level::DEBUG,
                "INFO" => Level::INFO,
                "WARNING" | "WARN" => Level::WARN,
                _ => Level::ERROR, // ERROR, CRITICAL
            };
        }
        if let Some(p) = v.get("prefix").and_then(Value::as_str) {
            s.prefix = p.to_string();
        }
        s.stdout = v.get("stdout").and_then(Value::as_bool).unwrap_or(true);
        s.json = v.get("format").and_then(Value::as_str) == Some("logstash");
        s
    }
}

struct KrakendFormat {
    prefix: String,
    json: bool,
}

fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let stamp = crate::vocab::go::go_now(std::time::Instant::now());
    let _ = now;
    // "YYYY-MM-DD HH:MM:SS.nnn..." → "YYYY/MM/DD HH:MM:SS"
    let date = stamp.get(..10).unwrap_or("").replace('-', "/");
    let time = stamp.get(11..19).unwrap_or("");
    format!("{date} {time}")
}

impl<S, N> FormatEvent<S, N> for KrakendFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARNING",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "DEBUG",
        };
        if self.json {
            let mut msg = String::new();
            ctx.format_fields(Writer::new(&mut msg), event)?;
            let line = serde_json::json!({
                "@timestamp": timestamp(),
                "level": level,
                "module": self.prefix,
                "message": msg,
            });
            return writeln!(writer, "{line}");
        }
        if !self.prefix.is_empty() {
            write!(writer, "{} ", self.prefix)?;
        }
        write!(writer, "{} TENTACLE {level}: ", timestamp())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Installs the global subscriber (once; later calls are ignored).
pub fn init(settings: &LogSettings) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(settings.level)
        .with_ansi(false)
        .event_format(KrakendFormat {
            prefix: settings.prefix.clone(),
            json: settings.json,
        });
    let _ = if settings.stdout {
        builder.with_writer(std::io::stdout).try_init()
    } else {
        builder.with_writer(std::io::stderr).try_init()
    };
}
