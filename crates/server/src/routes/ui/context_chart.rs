//! The session header's context-pressure block (issue #18): a small server-rendered SVG
//! of each agent's input tokens per message as a share of its model's context window,
//! with the 80% and 95% marks, a legend with each agent's latest share, and a warning
//! naming every agent whose latest input reached 80% ("Claude is at 86% of its 200k
//! context window"). Rendered for the page and for every `?view=ui` message update,
//! which the page swaps in as is. Pure functions of the series; every label escaped;
//! colours are the agent palette's classes (strict CSP, no inline style).

use std::fmt::Write as _;

use agentpipe_protocol::api::ParticipantView;
use agentpipe_protocol::context::{percent, ContextPoint};

use super::render::{escape, hash_colour, number, participant_styles, AgentStyle, PALETTE};

/// The share of the window from which an agent is warned about, percent.
pub const WARN_PERCENT: i64 = 80;
/// The share of the window from which the warning is critical, percent.
pub const CRITICAL_PERCENT: i64 = 95;

/// A context window in the providers' short form: `200k`, `128k`, `1M`, `2.1M`.
pub fn short_tokens(n: i64) -> String {
    if n >= 1_000_000 {
        let m = format!("{:.1}", n as f64 / 1e6);
        format!("{}M", m.trim_end_matches(".0"))
    } else if n >= 1_000 {
        format!("{}k", (n + 500) / 1_000)
    } else {
        number(n)
    }
}

/// One agent's points, in conversation order, with the index of each in the series.
struct Agent<'a> {
    id: &'a str,
    style: AgentStyle,
    points: Vec<(usize, &'a ContextPoint)>,
}

impl Agent<'_> {
    /// The newest point.
    fn latest(&self) -> Option<&ContextPoint> {
        self.points.last().map(|(_, p)| *p)
    }
}

/// The agents of `series` in order of first appearance.
fn agents<'a>(series: &'a [ContextPoint], participants: &[ParticipantView]) -> Vec<Agent<'a>> {
    let styles = participant_styles(participants);
    let mut out: Vec<Agent<'a>> = Vec::new();
    for (i, p) in series.iter().enumerate() {
        if let Some(a) = out.iter_mut().find(|a| a.id == p.agent_id) {
            a.points.push((i, p));
            continue;
        }
        let style = styles
            .iter()
            .find(|(id, _)| *id == p.agent_id)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| AgentStyle {
                c: hash_colour(&p.agent_id),
                i: String::new(),
                n: p.agent_id.clone(),
                t: String::new(),
            });
        out.push(Agent {
            id: &p.agent_id,
            style,
            points: vec![(i, p)],
        });
    }
    out
}

/// The warning text of an agent at `pct` percent of `limit`.
pub fn warning_text(name: &str, pct: i64, limit: i64) -> String {
    format!(
        "{name} is at {pct}% of its {} context window",
        short_tokens(limit)
    )
}

/// The block's inner HTML for `series` (empty when there is no point): warnings, chart
/// (when any point has a known window) and legend.
pub fn block(series: &[ContextPoint], participants: &[ParticipantView]) -> String {
    if series.is_empty() {
        return String::new();
    }
    let agents = agents(series, participants);
    let mut html = String::from(r#"<h2 class="cp-head">Context window</h2>"#);
    for a in &agents {
        let Some(p) = a.latest() else { continue };
        let Some(limit) = p.limit else { continue };
        let pct = percent(p.input_tokens, limit);
        if pct < WARN_PERCENT {
            continue;
        }
        let level = if pct >= CRITICAL_PERCENT {
            "critical"
        } else {
            "warn"
        };
        let _ = write!(
            html,
            r#"<p class="cp-warn" data-testid="context-warning" data-agent-id="{}" data-level="{level}" data-percent="{pct}">{}</p>"#,
            escape(a.id),
            escape(&warning_text(&a.style.n, pct, limit))
        );
    }
    html.push_str(&chart(series.len(), &agents));
    html.push_str(r#"<ul class="cp-legend">"#);
    for a in &agents {
        let Some(p) = a.latest() else { continue };
        let model = p
            .model
            .as_deref()
            .map(|m| format!(" · {}", escape(m)))
            .unwrap_or_default();
        let figure = match p.limit {
            Some(l) => format!(
                "{}% of {} ({} tokens)",
                percent(p.input_tokens, l),
                short_tokens(l),
                number(p.input_tokens)
            ),
            None => format!("{} tokens · context window unknown", number(p.input_tokens)),
        };
        let _ = write!(
            html,
            r#"<li class="a{}" data-agent-id="{}"{}><span class="swatch" aria-hidden="true"></span>{}{model} · {figure}</li>"#,
            a.style.c % PALETTE,
            escape(a.id),
            p.limit
                .map(|l| format!(r#" data-percent="{}""#, percent(p.input_tokens, l)))
                .unwrap_or_default(),
            escape(&a.style.n),
        );
    }
    html.push_str("</ul>");
    html
}

/// Most vertices of one agent's line: a longer series is drawn with the highest share of
/// each of this many equal stretches of it (the peaks are what the chart is for), so the
/// block of a 10,000-message session stays a few KB, page and live update alike (issue
/// #14; it was one dot per message, 482 KB of a 3,000-message session's page).
pub const MAX_LINE_POINTS: usize = 160;

/// Most dots (each with its hover text) of one agent: its newest points.
pub const MAX_DOTS: usize = 40;

/// At most `max` of `pts` (in order) for a line: all of them when they fit, else the
/// point with the highest share of each of `max` equal stretches.
fn thin<T: Copy>(pts: &[T], max: usize, share: impl Fn(&T) -> f64) -> Vec<T> {
    if pts.len() <= max || max == 0 {
        return pts.to_vec();
    }
    (0..max)
        .filter_map(|b| {
            let (lo, hi) = (b * pts.len() / max, (b + 1) * pts.len() / max);
            pts[lo..hi]
                .iter()
                .copied()
                .max_by(|x, y| share(x).total_cmp(&share(y)))
        })
        .collect()
}

/// The SVG: x is the point's place in the conversation (every agent on one axis), y the
/// share of the window (0 to 100%, more when a point exceeds it, at most 150%). Agents
/// without a known window are left out (the legend lists them). Empty when none has one.
/// Each agent's line has at most [`MAX_LINE_POINTS`] vertices and its newest
/// [`MAX_DOTS`] points are dots.
fn chart(n: usize, agents: &[Agent<'_>]) -> String {
    let known: Vec<&Agent<'_>> = agents
        .iter()
        .filter(|a| a.points.iter().any(|(_, p)| p.limit.is_some()))
        .collect();
    if known.is_empty() {
        return String::new();
    }
    const W: f64 = 480.0;
    const H: f64 = 130.0;
    const LEFT: f64 = 38.0;
    const RIGHT: f64 = 34.0;
    const TOP: f64 = 8.0;
    const BOTTOM: f64 = 8.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let share = |p: &ContextPoint| {
        p.limit
            .filter(|l| *l > 0)
            .map(|l| p.input_tokens.max(0) as f64 * 100.0 / l as f64)
    };
    let top = known
        .iter()
        .flat_map(|a| a.points.iter().filter_map(|(_, p)| share(p)))
        .fold(100.0_f64, f64::max)
        .min(150.0);
    let x = |i: usize| {
        if n <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y = |pct: f64| TOP + plot_h * (1.0 - pct.min(top) / top);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart cp-chart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="cp-title" xmlns="http://www.w3.org/2000/svg"><title id="cp-title">Input tokens per turn as a share of each agent's context window</title>"#
    );
    for (pct, class) in [
        (0.0, "grid"),
        (WARN_PERCENT as f64, "cp-mark cp-warn-mark"),
        (CRITICAL_PERCENT as f64, "cp-mark cp-critical-mark"),
        (100.0, "grid"),
    ] {
        let yy = y(pct);
        // 0% and 100% on the left, the marks on the right (95% and 100% are close).
        let (tx, anchor) = if class == "grid" {
            (LEFT - 5.0, "end")
        } else {
            (W - RIGHT + 4.0, "start")
        };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}"/><text class="chart-value axis" x="{tx:.1}" y="{:.1}" text-anchor="{anchor}">{pct}%</text>"#,
            W - RIGHT,
            yy + 3.5,
        );
    }
    for a in known {
        let pts: Vec<(f64, f64, &ContextPoint, f64)> = a
            .points
            .iter()
            .filter_map(|(i, p)| share(p).map(|s| (x(*i), y(s), *p, s)))
            .collect();
        let c = a.style.c % PALETTE;
        if pts.len() > 1 {
            let line: Vec<String> = thin(&pts, MAX_LINE_POINTS, |(_, _, _, s)| *s)
                .iter()
                .map(|(px, py, _, _)| format!("{px:.1},{py:.1}"))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline class="cp-line a{c}" points="{}"/>"#,
                line.join(" ")
            );
        }
        for (px, py, p, s) in &pts[pts.len().saturating_sub(MAX_DOTS)..] {
            let turn = p.turn.map(|t| format!(" · turn {t}")).unwrap_or_default();
            let _ = write!(
                svg,
                r#"<circle class="cp-dot a{c}" cx="{px:.1}" cy="{py:.1}" r="3" data-agent-id="{}"><title>{}{turn}: {} of {} tokens ({}%)</title></circle>"#,
                escape(a.id),
                escape(&a.style.n),
                number(p.input_tokens),
                number(p.limit.unwrap_or(0)),
                s.floor() as i64
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(agent: &str, input: i64, limit: Option<i64>) -> ContextPoint {
        ContextPoint {
            agent_id: agent.into(),
            turn: Some(1),
            input_tokens: input,
            model: Some("m<x>".into()),
            limit,
        }
    }

    #[test]
    fn short_forms() {
        assert_eq!(short_tokens(200_000), "200k");
        assert_eq!(short_tokens(128_000), "128k");
        assert_eq!(short_tokens(1_047_576), "1M");
        assert_eq!(short_tokens(2_097_152), "2.1M");
        assert_eq!(short_tokens(999), "999");
    }

    #[test]
    fn warns_from_80_percent_of_the_latest_point_and_escapes() {
        assert_eq!(block(&[], &[]), "");
        let s = [
            point("a<b", 190_000, Some(200_000)),
            point("a<b", 172_000, Some(200_000)),
            point("c", 159_999, Some(200_000)),
            point("d", 5, None),
        ];
        let h = block(&s, &[]);
        assert!(
            h.contains(r#"data-level="warn" data-percent="86">a&lt;b is at 86% of its 200k context window</p>"#),
            "{h}"
        );
        assert_eq!(h.matches("context-warning").count(), 1, "{h}");
        assert!(h.contains("m&lt;x&gt;"), "{h}");
        assert!(h.contains("5 tokens · context window unknown"), "{h}");
        assert_eq!(h.matches("<circle").count(), 3, "{h}");
        let h = block(&[point("c", 190_000, Some(200_000))], &[]);
        assert!(h.contains(r#"data-level="critical""#), "{h}");
        let h = block(&[point("d", 5, None)], &[]);
        assert!(!h.contains("<svg"), "{h}");
    }

    #[test]
    fn a_long_series_is_thinned_to_its_peaks_and_newest_dots() {
        // 10,000 points of one agent, one peak at 97% in the middle.
        let mut s: Vec<ContextPoint> = (0..10_000)
            .map(|i| point("a", 1_000 + i, Some(200_000)))
            .collect();
        s[5_000].input_tokens = 194_000;
        let h = block(&s, &[]);
        assert_eq!(h.matches("<circle").count(), MAX_DOTS, "{}", h.len());
        let line = h
            .split(r#"points=""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        assert_eq!(line.split(' ').count(), MAX_LINE_POINTS);
        // The peak is one of the vertices: its y is the highest point drawn (smallest y).
        let ys: Vec<f64> = line
            .split(' ')
            .filter_map(|xy| xy.split(',').nth(1)?.parse().ok())
            .collect();
        let min = ys.iter().copied().fold(f64::MAX, f64::min);
        assert!(min < 20.0, "peak not drawn: {min}");
        assert!(h.len() < 20_000, "{} bytes", h.len());
        // A short series is drawn whole.
        let h = block(&s[..30], &[]);
        assert_eq!(h.matches("<circle").count(), 30);
    }
}
