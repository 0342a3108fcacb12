//! Server-rendered SVG charts of the analytics page (issue #20): a stacked bar chart of
//! one figure per time bucket and group, and a share chart (each group's part of a total).
//! Pure functions of the numbers, every label escaped; colours are the agent palette's
//! classes (`a0`..`a7`), so the stylesheet decides them (no inline style, strict CSP).

use std::fmt::Write as _;

use super::render::{escape, PALETTE};

/// One group's values, one per bucket.
pub struct Stack<'a> {
    /// Group label.
    pub group: &'a str,
    /// Palette index (the group's colour class `a<colour>`).
    pub colour: usize,
    /// Value per bucket, aligned with the chart's bucket labels.
    pub values: Vec<f64>,
}

/// A stacked bar chart: one bar per bucket, one segment per group. `labels` are the
/// bucket names (a few are printed under the axis), `fmt` formats values for the axis
/// and tooltips. Returns an empty string when there is nothing to draw.
pub fn stacked_bars(
    id: &str,
    title: &str,
    labels: &[String],
    stacks: &[Stack<'_>],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    if labels.is_empty() {
        return String::new();
    }
    const W: f64 = 720.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 64.0;
    const BOTTOM: f64 = 28.0;
    const TOP: f64 = 10.0;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let n = labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            stacks
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0_f64, f64::max);
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart tchart" id="{}" viewBox="0 0 {W} {H}" role="img" aria-labelledby="{}-t" xmlns="http://www.w3.org/2000/svg" data-groups="{}"><title id="{}-t">{}</title>"#,
        escape(id),
        escape(id),
        escape(
            &stacks
                .iter()
                .map(|s| s.group)
                .collect::<Vec<_>>()
                .join("\u{1f}")
        ),
        escape(id),
        escape(title)
    );
    // axis: 0, half, max
    for frac in [0.0, 0.5, 1.0] {
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="chart-value axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - 8.0,
            LEFT - 6.0,
            y + 4.0,
            escape(&fmt(max * frac))
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut y = TOP + plot_h;
        for s in stacks {
            let v = s.values.get(i).copied().unwrap_or(0.0).max(0.0);
            if v <= 0.0 || max <= 0.0 {
                continue;
            }
            let h = plot_h * v / max;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect class="seg a{}" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}"><title>{} · {}: {}</title></rect>"#,
                s.colour % PALETTE,
                escape(s.group),
                escape(label),
                escape(&fmt(v))
            );
        }
    }
    // a label every few buckets, first and last included
    let every = n.div_ceil(8).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % every != 0 && i != n - 1 {
            continue;
        }
        let x = LEFT + slot * (i as f64 + 0.5);
        let _ = write!(
            svg,
            r#"<text class="chart-label axis" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            H - 8.0,
            escape(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A share chart: one horizontal bar per group, its length its part of the total, with
/// the percentage and value printed. `items` are (group, colour, value).
pub fn shares(
    id: &str,
    title: &str,
    items: &[(&str, usize, f64)],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    if items.is_empty() {
        return String::new();
    }
    const W: f64 = 480.0;
    const ROW: f64 = 24.0;
    const LABEL_W: f64 = 140.0;
    const VALUE_W: f64 = 130.0;
    let total: f64 = items.iter().map(|i| i.2.max(0.0)).sum();
    let h = ROW * items.len() as f64 + 4.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart share" id="{}" viewBox="0 0 {W} {h}" role="img" aria-labelledby="{}-t" xmlns="http://www.w3.org/2000/svg"><title id="{}-t">{}</title>"#,
        escape(id),
        escape(id),
        escape(id),
        escape(title)
    );
    for (r, (group, colour, v)) in items.iter().enumerate() {
        let share = if total > 0.0 { v.max(0.0) / total } else { 0.0 };
        let y = r as f64 * ROW;
        let bw = ((W - LABEL_W - VALUE_W) * share).max(if share > 0.0 { 2.0 } else { 0.0 });
        let text = format!("{:.1}% · {}", share * 100.0, fmt(*v));
        let name: String = group.chars().take(18).collect();
        let _ = write!(
            svg,
            r#"<text class="chart-label" x="0" y="{:.1}">{}</text><rect class="bar a{}" x="{LABEL_W}" y="{:.1}" width="{bw:.1}" height="{:.1}" rx="3"><title>{}: {}</title></rect><text class="chart-value" x="{:.1}" y="{:.1}">{}</text>"#,
            y + 16.0,
            escape(&name),
            colour % PALETTE,
            y + 4.0,
            ROW - 8.0,
            escape(group),
            escape(&text),
            LABEL_W + bw + 6.0,
            y + 16.0,
            escape(&text)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_bars_scale_to_the_largest_bucket_and_escape() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let stacks = [
            Stack {
                group: "<x>",
                colour: 0,
                values: vec![1.0, 3.0],
            },
            Stack {
                group: "y",
                colour: 1,
                values: vec![1.0, 0.0],
            },
        ];
        let svg = stacked_bars("c", "Cost", &labels, &stacks, &|v| format!("{v}"));
        assert!(svg.contains("&lt;x&gt;"), "{svg}");
        assert!(!svg.contains("<x>"), "{svg}");
        // the tallest bar (3.0 in bucket b) fills the plot height
        assert!(
            svg.contains(r#"height="182.0"><title>&lt;x&gt; · b: 3"#),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect").count(), 3);
        assert_eq!(stacked_bars("c", "t", &[], &stacks, &|v| v.to_string()), "");
    }

    #[test]
    fn shares_add_up() {
        let svg = shares("s", "Share", &[("a", 0, 3.0), ("b", 1, 1.0)], &|v| {
            format!("{v}")
        });
        assert!(svg.contains("75.0% · 3"), "{svg}");
        assert!(svg.contains("25.0% · 1"), "{svg}");
    }
}
