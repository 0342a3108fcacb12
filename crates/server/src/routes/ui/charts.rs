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
    // Tick labels that fit (issue #13): as many as there is room for, evenly spaced,
    // first and last included; the end ones anchored inside the chart.
    let widest = labels
        .iter()
        .map(|l| label_width(l, AXIS_FONT))
        .fold(0.0_f64, f64::max);
    let ticks = tick_indices(n, slot, widest + LABEL_GAP);
    // (index, x, anchor, left edge, right edge), end labels kept inside the chart; a
    // label that would touch the one before it is dropped (the previous one instead,
    // for the last label).
    let mut placed: Vec<(usize, f64, &str, f64, f64)> = Vec::new();
    for (k, &i) in ticks.iter().enumerate() {
        let centre = LEFT + slot * (i as f64 + 0.5);
        let w = label_width(&labels[i], AXIS_FONT);
        let (x, anchor, left) = if centre - w / 2.0 < 0.0 {
            (0.0, "start", 0.0)
        } else if centre + w / 2.0 > W {
            (W, "end", W - w)
        } else {
            (centre, "middle", centre - w / 2.0)
        };
        let last = k + 1 == ticks.len();
        while let Some(prev) = placed.last() {
            if left >= prev.4 + LABEL_GAP / 2.0 {
                break;
            }
            if last && placed.len() > 1 {
                placed.pop();
            } else {
                break;
            }
        }
        if placed
            .last()
            .is_some_and(|prev| left < prev.4 + LABEL_GAP / 2.0)
        {
            continue;
        }
        placed.push((i, x, anchor, left, left + w));
    }
    for (i, x, anchor, _, _) in placed {
        let _ = write!(
            svg,
            r#"<text class="chart-label axis" x="{x:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
            H - 8.0,
            escape(&labels[i])
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Font size of axis labels in the chart's units (`.chart .axis` in `app.css`).
const AXIS_FONT: f64 = 10.0;

/// Space kept between two tick labels, in the chart's units.
const LABEL_GAP: f64 = 8.0;

/// A generous estimate of a label's width at `font` (in the same units): digits and most
/// letters of the UI's sans-serif fonts (DejaVu Sans is among the widest) are about
/// 0.6 em wide, capitals 0.75 em, `m` and `W` up to 1 em.
pub fn label_width(label: &str, font: f64) -> f64 {
    label
        .chars()
        .map(|c| match c {
            ' ' | '.' | ',' | ':' | ';' | '\'' | '|' | 'i' | 'l' | 'j' | 'I' | '!' => 0.32,
            '-' | '(' | ')' | 'f' | 't' | 'r' => 0.42,
            'm' | 'w' | 'M' | 'W' | '@' | '%' => 1.0,
            c if c.is_ascii_uppercase() => 0.76,
            c if c.is_ascii_digit() => 0.64,
            c if c.is_ascii() => 0.62,
            _ => 1.0,
        })
        .sum::<f64>()
        * font
}

/// `label` cut to fit `max` units at `font`, with `…` when cut.
pub fn fit_label(label: &str, font: f64, max: f64) -> String {
    if label_width(label, font) <= max {
        return label.to_string();
    }
    let room = max - label_width("\u{2026}", font);
    let mut out = String::new();
    let mut used = 0.0;
    for c in label.chars() {
        let w = label_width(c.encode_utf8(&mut [0; 4]), font);
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    let mut out = out.trim_end().to_string();
    out.push('\u{2026}');
    out
}

/// Which of `n` buckets `slot` apart get a label `need` wide: every `k`-th, `k` the
/// smallest step that keeps neighbours `need` apart; the last bucket replaces the last
/// regular label when that is closer than `k` to it.
pub fn tick_indices(n: usize, slot: f64, need: f64) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let step = if slot > 0.0 {
        ((need / slot).ceil() as usize).max(1)
    } else {
        n
    };
    let mut out: Vec<usize> = (0..n).step_by(step).collect();
    let last = n - 1;
    if out.last() != Some(&last) {
        if out.len() > 1 {
            out.pop();
            out.push(last);
        } else if last >= step {
            out.push(last);
        }
    }
    out
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
        let name = fit_label(group, 12.0, LABEL_W - 8.0);
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
    fn tick_labels_never_crowd() {
        // 26 day buckets in 648 units: labels 5 characters wide need every 2nd slot at
        // least, and the last bucket is labelled without landing next to another.
        for n in 1..200 {
            let slot = 648.0 / n as f64;
            let need = label_width("11-04 13:00", 10.0) + 8.0;
            let ticks = tick_indices(n, slot, need);
            assert_eq!(ticks.first(), Some(&0), "n={n}");
            if n > 1 && slot * (n - 1) as f64 >= need {
                assert_eq!(ticks.last(), Some(&(n - 1)), "n={n}");
            }
            for w in ticks.windows(2) {
                assert!(
                    (w[1] - w[0]) as f64 * slot >= need,
                    "n={n}: {ticks:?} too close"
                );
            }
        }
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
