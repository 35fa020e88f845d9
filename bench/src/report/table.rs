//! The report as plain-text tables for the terminal.

use std::fmt::Write as _;

use crate::report::{Ratio, Report};
use crate::stats::Summary;

/// Lays out `rows` under `headers` in aligned columns.
pub fn grid(headers: &[String], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let padded: Vec<String> = (0..columns)
            .map(|i| {
                let cell = cells.get(i).map_or("", String::as_str);
                let width = widths.get(i).copied().unwrap_or(0);
                format!("{cell:<width$}")
            })
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule));
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

/// `median (min-max)` scaled by `scale`, with `digits` decimals.
pub fn spread(summary: Option<&Summary>, scale: f64, digits: usize) -> String {
    match summary {
        Some(s) if s.count > 1 => format!(
            "{:.digits$} ({:.digits$}-{:.digits$})",
            s.median / scale,
            s.min / scale,
            s.max / scale
        ),
        Some(s) => format!("{:.digits$}", s.median / scale),
        None => "-".to_owned(),
    }
}

/// `value` with `digits` decimals, or `-`.
fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// Every table of the report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.machine;
    let _ = writeln!(
        out,
        "eseg-bench {} on {} ({} cores, kernel {}, load {} at the start), {} repetition{}, {} s \
         per iperf3 run, systems interleaved\n",
        m.date,
        m.cpu_model,
        m.cores,
        m.kernel,
        m.load_average,
        report.options.repetitions,
        if report.options.repetitions == 1 {
            ""
        } else {
            "s"
        },
        report.options.duration_secs
    );
    for s in report.systems.iter().filter(|s| s.status != "ran") {
        let _ = writeln!(out, "not measured: {}: {}", s.label, s.status);
    }
    for i in &report.incidents {
        let _ = writeln!(
            out,
            "broke down: {} ({}): {}; {}{}",
            i.system,
            i.when,
            i.problem,
            i.recovery,
            if i.logs.is_empty() {
                String::new()
            } else {
                format!(" (logs: {})", i.logs.join(", "))
            }
        );
    }
    out.push_str(&throughput_table(report));
    out.push_str(&packet_rate_table(report));
    out.push_str(&ratio_table(&report.ratios));
    out.push_str(&latency_table(report));
    if !report.setup_rate.is_empty() {
        let headers = [
            "IKE SA setup (responder)",
            "SAs/s",
            "established/asked",
            "responder CPU s",
            "generator CPU s",
        ]
        .map(str::to_owned)
        .to_vec();
        let rows: Vec<Vec<String>> = report
            .setup_rate
            .iter()
            .map(|r| {
                let established: usize = r.batches.iter().map(|b| b.batch.established).sum();
                let asked: usize = r.batches.iter().map(|b| b.batch.requested).sum();
                let responder: Option<f64> = r.batches.iter().map(|b| b.responder_cpu_secs).sum();
                let generator: f64 = r.batches.iter().map(|b| b.batch.generator_cpu_secs).sum();
                vec![
                    r.system.clone(),
                    spread(r.rate_per_second.as_ref(), 1.0, 0),
                    format!("{established}/{asked}"),
                    opt(responder, 2),
                    format!("{generator:.2}"),
                ]
            })
            .collect();
        let _ = writeln!(out, "{}", grid(&headers, &rows));
    }
    out.push_str(&memory_table(report));
    if !report.tcp80_loss.is_empty() {
        let headers = [
            "TCP under outer loss",
            "loss %",
            "Mbit/s",
            "retransmits",
            "stalled s",
        ]
        .map(str::to_owned)
        .to_vec();
        let rows: Vec<Vec<String>> = report
            .tcp80_loss
            .iter()
            .map(|l| {
                let retransmits: Option<u64> = l.runs.iter().map(|r| r.retransmits).sum();
                vec![
                    l.system.clone(),
                    format!("{}", l.loss_percent),
                    spread(l.throughput_bps.as_ref(), 1e6, 0),
                    retransmits.map_or_else(|| "-".to_owned(), |r| r.to_string()),
                    l.stalled_intervals.to_string(),
                ]
            })
            .collect();
        let _ = writeln!(out, "{}", grid(&headers, &rows));
    }
    // Without TCP runs (the throughput phase skipped) nothing moved and there is no CPU table.
    if report.cpu.iter().any(|c| c.gigabytes > 0.0) {
        let headers = [
            "daemon CPU (TCP runs)",
            "CPU s",
            "GB moved",
            "CPU s per GB",
            "per repetition",
        ]
        .map(str::to_owned)
        .to_vec();
        let rows: Vec<Vec<String>> = report
            .cpu
            .iter()
            .map(|c| {
                vec![
                    c.system.clone(),
                    opt(c.cpu_seconds, 2),
                    format!("{:.2}", c.gigabytes),
                    c.cpu_seconds_per_gb
                        .map_or_else(|| "- (kernel only)".to_owned(), |v| format!("{v:.2}")),
                    {
                        let per_rep: Vec<f64> = c.per_repetition.iter().map(|(_, v)| *v).collect();
                        spread(Summary::of(&per_rep).as_ref(), 1.0, 2)
                    },
                ]
            })
            .collect();
        let _ = writeln!(out, "{}", grid(&headers, &rows));
    }
    out
}

/// TCP throughput per case and system, Mbit/s.
fn throughput_table(report: &Report) -> String {
    let tcp: Vec<_> = report
        .throughput
        .iter()
        .filter(|c| c.case.is_tcp())
        .collect();
    let Some(first) = tcp.first() else {
        return String::new();
    };
    let mut headers = vec!["TCP throughput, Mbit/s".to_owned()];
    headers.extend(first.systems.iter().map(|s| s.system.clone()));
    let rows: Vec<Vec<String>> = tcp
        .iter()
        .map(|case| {
            let mut row = vec![case.label.clone()];
            for s in &case.systems {
                let mut cell = spread(s.throughput_bps.as_ref(), 1e6, 0);
                if !s.errors.is_empty() {
                    let _ = write!(cell, " ({} failed)", s.errors.len());
                }
                row.push(cell);
            }
            row
        })
        .collect();
    format!("\n{}\n", grid(&headers, &rows))
}

/// UDP packets per second that arrived, per case and system, with the loss.
fn packet_rate_table(report: &Report) -> String {
    let udp: Vec<_> = report
        .throughput
        .iter()
        .filter(|c| !c.case.is_tcp())
        .collect();
    let Some(first) = udp.first() else {
        return String::new();
    };
    let mut headers = vec!["UDP received, kpps (loss %)".to_owned()];
    headers.extend(first.systems.iter().map(|s| s.system.clone()));
    let rows: Vec<Vec<String>> = udp
        .iter()
        .map(|case| {
            let mut row = vec![case.label.clone()];
            for s in &case.systems {
                let mut cell = spread(s.packets_per_second.as_ref(), 1e3, 1);
                if let Some(loss) = &s.loss_percent {
                    let _ = write!(cell, " ({:.1}%)", loss.median);
                }
                if !s.errors.is_empty() {
                    let _ = write!(cell, " ({} failed)", s.errors.len());
                }
                row.push(cell);
            }
            row
        })
        .collect();
    let note = if first.systems.iter().any(|s| s.system == "veth") {
        "(plain veth's column is the load generator's own limit: one iperf3 sender and one \
         receiver on the same CPUs)\n"
    } else {
        ""
    };
    format!("{}{note}\n", grid(&headers, &rows))
}

/// Memory per SA at each SA count, and the setup rate of every growth step on the way there.
fn memory_table(report: &Report) -> String {
    if report.memory_per_sa.is_empty() {
        return String::new();
    }
    let headers = [
        "memory (responder)",
        "SAs",
        "RSS MB",
        "bytes per SA",
        "generator RSS MB",
        "note",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut rows = Vec::new();
    let mut growth = String::new();
    for m in &report.memory_per_sa {
        for p in &m.points {
            let quiet = p.held.responder_requests == 0 && p.held.closed == 0;
            rows.push(vec![
                m.system.clone(),
                format!("{}/{}", p.established, p.target),
                format!("{:.1}", p.rss_bytes as f64 / 1e6),
                opt(p.bytes_per_sa, 0),
                opt(p.generator_rss_bytes.map(|b| b as f64 / 1e6), 1),
                if quiet {
                    String::new()
                } else {
                    format!(
                        "while held {:.0} s: {} requests from the responder, {} closed",
                        p.held.secs, p.held.responder_requests, p.held.closed
                    )
                },
            ]);
        }
        if let Some(note) = m.note.as_ref().or(m.errors.first()) {
            rows.push(vec![
                m.system.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                note.clone(),
            ]);
        }
        if !m.steps.is_empty() {
            let steps: Vec<String> = m
                .steps
                .iter()
                .map(|s| format!("{}: {:.0}", s.sas, s.batch.rate_per_second))
                .collect();
            let _ = writeln!(
                growth,
                "{} setup rate while growing (SAs: per second): {}",
                m.system,
                steps.join(", ")
            );
        }
    }
    format!("{}{growth}\n", grid(&headers, &rows))
}

/// A ratio as the median of its per-repetition ratios with their range, `1.79 [1.57-2.24]`; the
/// ratio of the medians when there are no per-repetition pairs.
fn ratio_cell(ratio: &Ratio) -> String {
    match &ratio.per_repetition {
        Some(s) if s.count > 1 => format!("{:.3} [{:.3}-{:.3}]", s.median, s.min, s.max),
        Some(s) => format!("{:.3}", s.median),
        None => format!("{:.3}", ratio.of_medians),
    }
}

/// Whether a ratio belongs in the per-case matrix (throughput and packet rate).
fn per_case(ratio: &Ratio) -> bool {
    ratio.metric == "throughput" || ratio.metric == "packet rate"
}

/// Every ratio: the per-case ones as a matrix (pairs down, cases across), the others (CPU, setup
/// rate, memory) as a list.
fn ratio_table(ratios: &[Ratio]) -> String {
    let mut out = String::new();
    let mut names: Vec<&str> = Vec::new();
    let mut cases: Vec<&str> = Vec::new();
    for r in ratios.iter().filter(|r| per_case(r)) {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
        if !cases.contains(&r.case.as_str()) {
            cases.push(&r.case);
        }
    }
    if !names.is_empty() {
        let mut headers = vec!["ratio: median [min-max] per repetition".to_owned()];
        headers.extend(cases.iter().map(|c| (*c).to_owned()));
        let rows: Vec<Vec<String>> = names
            .iter()
            .map(|name| {
                let mut row = vec![(*name).to_owned()];
                row.extend(cases.iter().map(|case| {
                    ratios
                        .iter()
                        .find(|r| per_case(r) && r.name == *name && r.case == *case)
                        .map_or_else(|| "-".to_owned(), ratio_cell)
                }));
                row
            })
            .collect();
        let _ = writeln!(out, "{}", grid(&headers, &rows));
    }
    let others: Vec<Vec<String>> = ratios
        .iter()
        .filter(|r| !per_case(r))
        .map(|r| {
            vec![
                r.name.clone(),
                r.metric.clone(),
                r.case.clone(),
                ratio_cell(r),
                format!("{:.3}", r.of_medians),
            ]
        })
        .collect();
    if !others.is_empty() {
        let headers = [
            "ratio",
            "metric",
            "of",
            "median [min-max] per repetition",
            "of medians",
        ]
        .map(str::to_owned)
        .to_vec();
        let _ = writeln!(out, "{}", grid(&headers, &others));
    }
    out
}

/// Ping RTT percentiles idle and loaded: median over the repetitions (min-max).
fn latency_table(report: &Report) -> String {
    if report.latency.is_empty() {
        return String::new();
    }
    let headers = [
        "ping RTT, ms",
        "idle p50",
        "idle p99",
        "loaded p50",
        "loaded p99",
        "replies",
    ]
    .map(str::to_owned)
    .to_vec();
    let rows: Vec<Vec<String>> = report
        .latency
        .iter()
        .map(|l| {
            let all = l.idle.runs.iter().chain(&l.loaded.runs);
            let sent: u32 = all.clone().map(|r| r.sent).sum();
            let received: usize = all.map(|r| r.received).sum();
            vec![
                l.system.clone(),
                spread(l.idle.p50_ms.as_ref(), 1.0, 2),
                spread(l.idle.p99_ms.as_ref(), 1.0, 2),
                spread(l.loaded.p50_ms.as_ref(), 1.0, 2),
                spread(l.loaded.p99_ms.as_ref(), 1.0, 2),
                format!("{received}/{sent}"),
            ]
        })
        .collect();
    format!("{}\n", grid(&headers, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_aligns_columns_and_pads_short_rows() {
        let text = grid(
            &["a".into(), "bbb".into()],
            &[vec!["long cell".into(), "x".into()], vec!["y".into()]],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "a          bbb");
        assert_eq!(lines[1], "---------  ---");
        assert_eq!(lines[2], "long cell  x");
        assert_eq!(lines[3], "y");
    }

    fn ratio(name: &str, metric: &str, case: &str, per_rep: &[f64]) -> Ratio {
        Ratio {
            name: name.into(),
            case: case.into(),
            metric: metric.into(),
            of_medians: 9.0,
            per_repetition: Summary::of(per_rep),
        }
    }

    #[test]
    fn ratios_per_case_form_a_matrix_and_the_others_a_list() {
        let ratios = [
            ratio("a / b", "throughput", "tcp x1 up", &[1.5, 2.0, 1.0]),
            ratio("a / b", "packet rate", "udp 64B max up", &[0.5]),
            ratio("c / b", "throughput", "tcp x1 up", &[3.0, 3.0]),
            ratio("a / b", "bytes per SA", "10000 SAs", &[]),
        ];
        let text = ratio_table(&ratios);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("tcp x1 up") && lines[0].contains("udp 64B max up"));
        assert!(lines[2].starts_with("a / b") && lines[2].contains("1.500 [1.000-2.000]"));
        assert!(lines[2].contains("0.500"));
        assert!(lines[3].starts_with("c / b") && lines[3].trim_end().ends_with('-'));
        let memory = lines.iter().find(|l| l.contains("bytes per SA")).unwrap();
        assert!(memory.contains("10000 SAs") && memory.contains("9.000"));
    }

    #[test]
    fn spreads_show_the_range_only_for_several_samples() {
        let one = Summary::of(&[2e6]).unwrap();
        let three = Summary::of(&[1e6, 2e6, 4e6]).unwrap();
        assert_eq!(spread(Some(&one), 1e6, 0), "2");
        assert_eq!(spread(Some(&three), 1e6, 1), "2.0 (1.0-4.0)");
        assert_eq!(spread(None, 1.0, 0), "-");
    }
}
