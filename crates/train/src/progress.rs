//! The live progress bar of an epoch, on a terminal only.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A live progress bar for one epoch when stdout is a terminal (`None` otherwise: logs and
/// CI get the one line per epoch only). indicatif draws it at most a few times a second.
pub(crate) fn progress_bar(
    epoch: usize,
    epochs: usize,
    batches: usize,
    batch_size: usize,
) -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    progress_bar_to(ProgressDrawTarget::stdout(), epoch, epochs, batches, batch_size)
}

/// [`progress_bar`] drawn on `target`.
///
/// The line is `epoch   3/10 [=====>    ] 420/938  1,927 samples/s  loss 0.1234  acc 96.10%`:
/// the bar takes what the terminal's width leaves (`wide_bar`), so the whole line fits an
/// 80-column terminal, and the rate counts samples (batches times the batch size), with
/// its thousands grouped.
fn progress_bar_to(
    target: ProgressDrawTarget,
    epoch: usize,
    epochs: usize,
    batches: usize,
    batch_size: usize,
) -> Option<ProgressBar> {
    let bar = ProgressBar::with_draw_target(Some(batches as u64), target);
    let style = ProgressStyle::with_template(&format!(
        "epoch {epoch:>3}/{epochs} [{{wide_bar}}] {{pos}}/{{len}}  {{rate}}  {{msg}}"
    ))
    .ok()?
    .with_key("rate", move |state: &ProgressState, out: &mut dyn std::fmt::Write| {
        let _ = out.write_str(&samples_per_second(state.per_sec() * batch_size as f64));
    })
    .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

/// `1927.4` → `"1,927 samples/s"`.
pub(crate) fn samples_per_second(rate: f64) -> String {
    if !rate.is_finite() {
        return "- samples/s".into();
    }
    format!("{} samples/s", percept_nn::group_thousands(rate.max(0.0).round() as usize))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressDrawTarget, TermLike};

    use super::{progress_bar_to, samples_per_second};

    #[test]
    fn the_rate_groups_thousands() {
        assert_eq!(samples_per_second(1927.4), "1,927 samples/s");
        assert_eq!(samples_per_second(999.6), "1,000 samples/s");
        assert_eq!(samples_per_second(12.0), "12 samples/s");
        assert_eq!(samples_per_second(1_234_567.0), "1,234,567 samples/s");
        assert_eq!(samples_per_second(f64::NAN), "- samples/s");
    }

    /// An 80-column terminal that keeps what is written on each line.
    #[derive(Debug, Default, Clone)]
    struct Terminal(Arc<Mutex<Vec<String>>>);

    impl Terminal {
        fn push(&self, text: &str, newline: bool) {
            let mut lines = self.0.lock().expect("not poisoned");
            if lines.is_empty() {
                lines.push(String::new());
            }
            lines.last_mut().expect("one line").push_str(text);
            if newline {
                lines.push(String::new());
            }
        }
    }

    impl TermLike for Terminal {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(s, true);
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(s, false);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            let mut lines = self.0.lock().expect("not poisoned");
            if let Some(line) = lines.last_mut() {
                line.clear();
            }
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Drawn on an 80-column terminal, with the widest figures a long run shows, the bar's
    /// line stays within 80 columns and shows the rate in samples per second.
    #[test]
    fn the_bar_fits_80_columns() {
        let terminal = Terminal::default();
        let target = ProgressDrawTarget::term_like(Box::new(terminal.clone()));
        let bar = progress_bar_to(target, 100, 100, 60_000, 64).expect("a valid template");
        bar.set_message("loss 12.3456  acc 100.00%");
        for _ in 0..3 {
            bar.inc(20_000);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        bar.tick();
        let lines = terminal.0.lock().expect("not poisoned").clone();
        let drawn: Vec<&String> = lines.iter().filter(|l| l.contains("epoch 100/100")).collect();
        assert!(!drawn.is_empty(), "nothing drawn: {lines:?}");
        for line in drawn {
            // Strip the terminal's colour codes, if any, before counting columns.
            let visible: String = strip_escapes(line);
            assert!(visible.chars().count() <= 80, "{} columns: {visible:?}", visible.chars().count());
            assert!(visible.contains(" samples/s  loss 12.3456"), "{visible:?}");
            assert!(visible.contains("60000/60000") || visible.contains("/60000"), "{visible:?}");
        }
    }

    fn strip_escapes(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
