//! The throughput comparison as a small self-contained SVG: one group of bars per case, one bar
//! per system at its median, a whisker from min to max, on a logarithmic Mbit/s axis (plain veth
//! is tens of times faster than any tunnel, so a linear axis would hide the tunnels).

use std::fmt::Write as _;

use crate::throughput::CaseResult;

/// Bar colours, one per system in order.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

const BAR: f64 = 18.0;
const GROUP_GAP: f64 = 22.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const PLOT_HEIGHT: f64 = 300.0;
const BOTTOM: f64 = 90.0;
/// Room per legend entry.
const LEGEND_STEP: f64 = 130.0;
/// Wide enough for the title.
const MIN_WIDTH: f64 = 640.0;

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart of `results` (throughput in Mbit/s), titled `title`.
pub fn throughput_chart(results: &[CaseResult], title: &str) -> String {
    let systems: Vec<String> = results
        .first()
        .map(|r| r.systems.iter().map(|s| s.system.clone()).collect())
        .unwrap_or_default();
    let values = results
        .iter()
        .flat_map(|r| &r.systems)
        .filter_map(|s| s.throughput_bps.as_ref())
        .flat_map(|s| [s.min, s.max])
        .map(|bps| bps / 1e6)
        .filter(|m| *m > 0.0);
    let (mut low, mut high) = (f64::MAX, f64::MIN);
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if low > high {
        (low, high) = (1.0, 10.0);
    }
    let lo_exp = low.log10().floor() as i32;
    let hi_exp = (high.log10().ceil() as i32).max(lo_exp + 1);
    let y = |mbps: f64| {
        let e = mbps.max(10f64.powi(lo_exp)).log10();
        TOP + PLOT_HEIGHT * (1.0 - (e - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp))
    };
    let group_width = BAR * systems.len() as f64 + GROUP_GAP;
    let width = (LEFT + group_width * results.len().max(1) as f64 + 20.0)
        .max(LEFT + LEGEND_STEP * systems.len() as f64)
        .max(MIN_WIDTH);
    let height = TOP + PLOT_HEIGHT + BOTTOM;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{LEFT}\" y=\"18\" \
         font-size=\"14\">{}</text>",
        escape(title)
    );
    for (i, system) in systems.iter().enumerate() {
        let x = LEFT + LEGEND_STEP * i as f64;
        let colour = PALETTE[i % PALETTE.len()];
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"28\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"37\">{}</text>",
            x + 14.0,
            escape(system)
        );
    }
    for exp in lo_exp..=hi_exp {
        let mbps = 10f64.powi(exp);
        let gy = y(mbps);
        let label = if mbps >= 1000.0 {
            format!("{} Gbit/s", mbps / 1000.0)
        } else {
            format!("{mbps} Mbit/s")
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            width - 20.0,
            LEFT - 4.0,
            gy + 4.0
        );
    }
    let base = TOP + PLOT_HEIGHT;
    for (g, result) in results.iter().enumerate() {
        let gx = LEFT + GROUP_GAP / 2.0 + group_width * g as f64;
        for (i, s) in result.systems.iter().enumerate() {
            let Some(summary) = &s.throughput_bps else {
                continue;
            };
            let x = gx + BAR * i as f64;
            let top = y(summary.median / 1e6);
            let colour = PALETTE[i % PALETTE.len()];
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{}: {}: {:.1} Mbit/s (min {:.1}, max {:.1})</title></rect>",
                BAR - 2.0,
                (base - top).max(0.0),
                escape(&s.system),
                escape(&result.label),
                summary.median / 1e6,
                summary.min / 1e6,
                summary.max / 1e6
            );
            let cx = x + (BAR - 2.0) / 2.0;
            let (y_min, y_max) = (y(summary.min / 1e6), y(summary.max / 1e6));
            let _ = writeln!(
                svg,
                "<path d=\"M{cx:.1} {y_min:.1}V{y_max:.1}M{:.1} {y_min:.1}h6M{:.1} {y_max:.1}h6\" \
                 stroke=\"black\" fill=\"none\"/>",
                cx - 3.0,
                cx - 3.0
            );
        }
        let lx = gx + (group_width - GROUP_GAP) / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-35 {lx:.1} {:.1})\">{}</text>",
            base + 14.0,
            base + 14.0,
            escape(&result.label)
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"black\"/>\n</svg>",
        width - 20.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;
    use crate::throughput::{Case, Direction, SystemCase};

    fn case(label: &str, bars: &[(&str, &[f64])]) -> CaseResult {
        CaseResult {
            label: label.into(),
            case: Case {
                protocol: "tcp",
                streams: 1,
                direction: Direction::Up,
                offered_mbps: None,
                packet_size: None,
            },
            systems: bars
                .iter()
                .map(|(name, samples)| SystemCase {
                    system: (*name).into(),
                    runs: Vec::new(),
                    errors: Vec::new(),
                    throughput_bps: Summary::of(samples),
                    packets_per_second: None,
                    loss_percent: None,
                })
                .collect(),
        }
    }

    #[test]
    fn one_bar_and_whisker_per_measured_system_and_escaped_labels() {
        let results = vec![
            case(
                "tcp x1 up",
                &[("veth", &[15e9, 16e9]), ("eseg<udp>", &[5e8])],
            ),
            case("tcp x4 up", &[("veth", &[]), ("eseg<udp>", &[4e8, 6e8])]),
        ];
        let svg = throughput_chart(&results, "a & b");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>").count(), 3);
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("a &amp; b") && svg.contains("eseg&lt;udp&gt;"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains("10 Gbit/s") && svg.contains("100 Mbit/s"));
    }

    #[test]
    fn empty_results_still_make_a_valid_chart() {
        let svg = throughput_chart(&[], "nothing");
        assert!(svg.contains("</svg>") && !svg.contains("NaN"));
    }
}
