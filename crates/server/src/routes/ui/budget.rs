//! The session page's budget bar (issue #18, `data-testid="budget"`): spent against the
//! budget, a marker at the projection, amber from 80 % spent and red from 100 %, and the
//! line "$1.20 of $2.50 · projected $3.10". Drawn as SVG with attributes only (the CSP
//! allows no inline styles); `app.js` redraws it from every live update's
//! `ui.session.budget` the same way (kept in step with `drawBudget` there).

use agentpipe_protocol::budget::Budget;

/// `$1.20`: dollars with two decimals.
pub fn money(x: f64) -> String {
    if x.is_finite() {
        format!("${x:.2}")
    } else {
        "$0.00".into()
    }
}

/// The bar's line of text.
pub fn text(b: &Budget) -> String {
    format!(
        "{} of {} \u{b7} projected {}",
        money(b.spent_usd),
        money(b.usd),
        money(b.projected_usd)
    )
}

/// `ok`, `amber` (>= 80 %) or `red` (>= 100 %) for `value` against `usd`.
pub fn level(value: f64, usd: f64) -> &'static str {
    let (v, u) = ((value * 1e6).round(), (usd * 1e6).round());
    if v >= u {
        "red"
    } else if v * 10.0 >= u * 8.0 {
        "amber"
    } else {
        "ok"
    }
}

/// Positions on the bar, in percent of its width: (spent, budget line, projection). The
/// bar spans the largest of budget, spent and projection.
pub fn positions(b: &Budget) -> (f64, f64, f64) {
    let scale = b.usd.max(b.spent_usd).max(b.projected_usd);
    if scale.is_nan() || scale <= 0.0 {
        return (0.0, 100.0, 0.0);
    }
    let pct = |x: f64| ((x / scale) * 1000.0).round() / 10.0;
    (pct(b.spent_usd), pct(b.usd), pct(b.projected_usd))
}

/// The bar's HTML (hidden without a budget, so a budget set later can appear live).
pub fn html(b: Option<&Budget>) -> String {
    let empty = Budget {
        usd: 0.0,
        spent_usd: 0.0,
        projected_usd: 0.0,
        projection: String::new(),
        remaining_turns: 0,
    };
    let shown = b.unwrap_or(&empty);
    let (spent, line, projected) = positions(shown);
    let hidden = if b.is_some() { "" } else { " hidden" };
    format!(
        concat!(
            "<div class=\"budget\" id=\"budget\" data-testid=\"budget\" data-level=\"{level}\" ",
            "data-projected-level=\"{plevel}\" role=\"status\" aria-live=\"polite\"{hidden}>",
            "<p class=\"budget-line\"><span class=\"muted\">Budget</span> ",
            "<span class=\"budget-text\">{text}</span></p>",
            "<svg class=\"budget-bar\" viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\">",
            "<rect class=\"budget-track\" x=\"0\" y=\"2\" width=\"100\" height=\"6\" rx=\"1\"></rect>",
            "<rect class=\"budget-spent\" x=\"0\" y=\"2\" width=\"{spent}\" height=\"6\" rx=\"1\"></rect>",
            "<rect class=\"budget-limit\" x=\"{limit_x}\" y=\"0\" width=\"0.6\" height=\"10\"></rect>",
            "<rect class=\"budget-projected\" x=\"{proj_x}\" y=\"0\" width=\"1\" height=\"10\"></rect>",
            "</svg></div>"
        ),
        level = level(shown.spent_usd, shown.usd),
        plevel = level(shown.projected_usd, shown.usd),
        hidden = hidden,
        text = if b.is_some() { text(shown) } else { String::new() },
        spent = spent,
        limit_x = (line - 0.6).max(0.0),
        proj_x = (projected - 1.0).max(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(usd: f64, spent: f64, projected: f64) -> Budget {
        Budget {
            usd,
            spent_usd: spent,
            projected_usd: projected,
            projection: "maxTurns".into(),
            remaining_turns: 2,
        }
    }

    #[test]
    fn text_levels_and_positions() {
        assert_eq!(
            text(&b(2.5, 1.2, 3.1)),
            "$1.20 of $2.50 \u{b7} projected $3.10"
        );
        assert_eq!(level(1.99, 2.5), "ok");
        assert_eq!(level(2.0, 2.5), "amber");
        assert_eq!(level(2.5, 2.5), "red");
        assert_eq!(positions(&b(2.0, 1.0, 1.5)), (50.0, 100.0, 75.0));
        assert_eq!(positions(&b(2.0, 1.0, 4.0)), (25.0, 50.0, 100.0));
        let h = html(None);
        assert!(
            h.contains(" hidden>") && h.contains("data-testid=\"budget\""),
            "{h}"
        );
        let h = html(Some(&b(2.5, 2.0, 2.5)));
        assert!(h.contains("data-level=\"amber\"") && h.contains("data-projected-level=\"red\""));
        // Shown: no `hidden` attribute (the bar's SVG is `aria-hidden`, which is not one).
        assert!(
            !h.contains(" hidden>") && !h.contains(" hidden ") && !h.contains("style"),
            "{h}"
        );
    }
}
