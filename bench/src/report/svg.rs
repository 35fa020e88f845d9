//! The comparison charts as small self-contained SVGs: one group of bars per case, one bar per
//! system at its median, a whisker from min to max, on a logarithmic axis (plain veth is tens of
//! times faster than any tunnel, so a linear axis would hide the tunnels). `throughput.svg` shows
//! the TCP cases in Mbit/s, `packet-rate.svg` the UDP cases in packets per second received.

use std::fmt::Write as _;

use crate::stats::Summary;
use crate::throughput::{CaseResult, SystemCase};

/// What a chart's axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Bars in Mbit/s.
    MegabitsPerSecond,
    /// Bars in thousands of packets per second.
    KiloPacketsPerSecond,
}

impl Unit {
    /// The grid label of `value` (in this unit).
    fn label(self, value: f64) -> String {
        match self {
            Unit::MegabitsPerSecond if value >= 1000.0 => format!("{} Gbit/s", value / 1000.0),
            Unit::MegabitsPerSecond => format!("{value} Mbit/s"),
            Unit::KiloPacketsPerSecond if value >= 1000.0 => format!("{} Mpps", value / 1000.0),
            Unit::KiloPacketsPerSecond => format!("{value} kpps"),
        }
    }

    /// The unit's name in bar tooltips.
    fn name(self) -> &'static str {
        match self {
            Unit::MegabitsPerSecond => "Mbit/s",
            Unit::KiloPacketsPerSecond => "kpps",
        }
    }
}

/// One bar: a system's figure in the chart's unit.
struct Bar {
    system: String,
    value: Option<Summary>,
}

/// The bars of one case.
struct Group {
    label: String,
    bars: Vec<Bar>,
}

/// `summary` divided by `scale`.
fn scaled(summary: Option<&Summary>, scale: f64) -> Option<Summary> {
    summary.map(|s| Summary {
        min: s.min / scale,
        median: s.median / scale,
        max: s.max / scale,
        count: s.count,
    })
}

/// The groups of the cases `keep` selects, each bar `figure(system) / scale`.
fn groups(
    results: &[CaseResult],
    keep: impl Fn(&CaseResult) -> bool,
    figure: impl Fn(&SystemCase) -> Option<&Summary>,
    scale: f64,
) -> Vec<Group> {
    results
        .iter()
        .filter(|r| keep(r))
        .map(|r| Group {
            label: r.label.clone(),
            bars: r
                .systems
                .iter()
                .map(|s| Bar {
                    system: s.system.clone(),
                    value: scaled(figure(s), scale),
                })
                .collect(),
        })
        .collect()
}

/// The TCP throughput chart of `results` (Mbit/s), titled `title`.
pub fn throughput_chart(results: &[CaseResult], title: &str) -> String {
    let groups = groups(
        results,
        |r| r.case.is_tcp(),
        |s| s.throughput_bps.as_ref(),
        1e6,
    );
    chart(&groups, title, Unit::MegabitsPerSecond)
}

/// The UDP packet-rate chart of `results` (kpps received), titled `title`.
pub fn packet_rate_chart(results: &[CaseResult], title: &str) -> String {
    let groups = groups(
        results,
        |r| !r.case.is_tcp(),
        |s| s.packets_per_second.as_ref(),
        1e3,
    );
    chart(&groups, title, Unit::KiloPacketsPerSecond)
}

/// Bar colours, one per system in order.
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

const BAR: f64 = 18.0;
const GROUP_GAP: f64 = 22.0;
/// Smallest room left of the plot (the axis labels).
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const PLOT_HEIGHT: f64 = 300.0;
const BOTTOM: f64 = 90.0;
/// Room per legend entry.
const LEGEND_STEP: f64 = 130.0;
/// The narrowest chart.
const MIN_WIDTH: f64 = 640.0;
/// Average advance of an 11-pixel sans-serif character, and of the 14-pixel title's.
const CHAR_WIDTH: f64 = 6.5;
const TITLE_CHAR_WIDTH: f64 = 8.0;
/// Case labels are rotated by this many degrees.
const LABEL_ANGLE: f64 = 35.0;

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The bar chart of `groups` in `unit`, titled `title`.
fn chart(results: &[Group], title: &str, unit: Unit) -> String {
    let systems: Vec<String> = results
        .first()
        .map(|r| r.bars.iter().map(|s| s.system.clone()).collect())
        .unwrap_or_default();
    let values = results
        .iter()
        .flat_map(|r| &r.bars)
        .filter_map(|s| s.value.as_ref())
        .flat_map(|s| [s.min, s.max])
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
    let y = |value: f64| {
        let e = value.max(10f64.powi(lo_exp)).log10();
        TOP + PLOT_HEIGHT * (1.0 - (e - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp))
    };
    let group_width = BAR * systems.len() as f64 + GROUP_GAP;
    // The first case label, rotated about the middle of its group, must not run off the left.
    let longest_label = results
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0) as f64;
    let label_reach = longest_label * CHAR_WIDTH * LABEL_ANGLE.to_radians().cos();
    let left = LEFT.max(label_reach - group_width / 2.0 + 10.0);
    let width = (left + group_width * results.len().max(1) as f64 + 20.0)
        .max(left + LEGEND_STEP * systems.len() as f64)
        .max(left + TITLE_CHAR_WIDTH * title.chars().count() as f64)
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
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left:.1}\" y=\"18\" \
         font-size=\"14\">{}</text>",
        escape(title)
    );
    for (i, system) in systems.iter().enumerate() {
        let x = left + LEGEND_STEP * i as f64;
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
        let value = 10f64.powi(exp);
        let gy = y(value);
        let label = unit.label(value);
        let _ = writeln!(
            svg,
            "<line x1=\"{left:.1}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            width - 20.0,
            left - 4.0,
            gy + 4.0
        );
    }
    let base = TOP + PLOT_HEIGHT;
    for (g, result) in results.iter().enumerate() {
        let gx = left + GROUP_GAP / 2.0 + group_width * g as f64;
        for (i, s) in result.bars.iter().enumerate() {
            let Some(summary) = &s.value else {
                continue;
            };
            let x = gx + BAR * i as f64;
            let top = y(summary.median);
            let colour = PALETTE[i % PALETTE.len()];
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{}: {}: {:.1} {unit} (min {:.1}, max {:.1})</title></rect>",
                BAR - 2.0,
                (base - top).max(0.0),
                escape(&s.system),
                escape(&result.label),
                summary.median,
                summary.min,
                summary.max,
                unit = unit.name(),
            );
            let cx = x + (BAR - 2.0) / 2.0;
            let (y_min, y_max) = (y(summary.min), y(summary.max));
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
            "<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"end\" transform=\"rotate(-{LABEL_ANGLE} {lx:.1} {:.1})\">{}</text>",
            base + 14.0,
            base + 14.0,
            escape(&result.label)
        );
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{left:.1}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\" stroke=\"black\"/>\n</svg>",
        width - 20.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::OfferedRate;
    use crate::throughput::{Case, Direction};

    fn case(label: &str, bars: &[(&str, &[f64])]) -> CaseResult {
        CaseResult {
            label: label.into(),
            case: Case {
                protocol: "tcp",
                streams: 1,
                direction: Direction::Up,
                offered: None,
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
    fn the_packet_rate_chart_shows_only_udp_cases_in_kpps() {
        let mut udp = case("udp 64B max up", &[("veth", &[9e6]), ("eseg-udp", &[2e6])]);
        udp.case.protocol = "udp";
        udp.case.offered = Some(OfferedRate::Max);
        udp.case.packet_size = Some(64);
        for (system, pps) in udp.systems.iter_mut().zip([[60e3, 70e3], [20e3, 25e3]]) {
            system.packets_per_second = Summary::of(&pps);
        }
        let results = vec![
            case("tcp x1 up", &[("veth", &[15e9]), ("eseg-udp", &[5e8])]),
            udp,
        ];
        let pps = packet_rate_chart(&results, "pps");
        assert_eq!(pps.matches("<title>").count(), 2);
        assert!(pps.contains("udp 64B max up") && !pps.contains("tcp x1 up"));
        assert!(pps.contains("eseg-udp: udp 64B max up: 22.5 kpps (min 20.0, max 25.0)"));
        assert!(pps.contains("10 kpps") && pps.contains("100 kpps"));
        let tcp = throughput_chart(&results, "tcp");
        assert!(tcp.contains("tcp x1 up") && !tcp.contains("udp 64B"));
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
