//! Hand-made argument parsing: positional arguments, `--option VALUE`,
//! `--option=VALUE`, `--flag`, and `--` to end the options.

use std::collections::HashMap;

use networkzero::Wait;

/// A subcommand's options: those that take a value, and flags.
pub struct Spec {
    /// Options followed by a value (`--wait`).
    pub values: &'static [&'static str],
    /// Options standing alone (`--echo`).
    pub flags: &'static [&'static str],
    /// How many positional arguments: at least, at most.
    pub positional: (usize, usize),
}

/// Parsed arguments.
#[derive(Debug, Default)]
pub struct Args {
    /// Positional arguments, in order.
    pub positional: Vec<String>,
    values: HashMap<&'static str, String>,
    flags: Vec<&'static str>,
}

/// True for arguments that ask for help.
pub fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "--help" | "help")
}

impl Args {
    /// Parses `args` (after the subcommand) by `spec`; `Err` says what is wrong.
    pub fn parse(args: &[String], spec: &Spec) -> Result<Args, String> {
        let mut parsed = Args::default();
        let mut options_ended = false;
        let mut i = 0;
        while let Some(arg) = args.get(i) {
            i += 1;
            if options_ended || !arg.starts_with("--") {
                parsed.positional.push(arg.clone());
                continue;
            }
            if arg == "--" {
                options_ended = true;
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (arg.as_str(), None),
            };
            if let Some(&known) = spec.values.iter().find(|v| **v == name) {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        let v = args.get(i).ok_or_else(|| format!("{name} needs a value"))?;
                        i += 1;
                        v.clone()
                    }
                };
                if parsed.values.insert(known, value).is_some() {
                    return Err(format!("{name} is given twice"));
                }
            } else if let Some(&known) = spec.flags.iter().find(|f| **f == name) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                parsed.flags.push(known);
            } else {
                return Err(format!(
                    "unknown option {name} (to pass a value starting with --, put -- before it)"
                ));
            }
        }
        let (least, most) = spec.positional;
        let n = parsed.positional.len();
        if n < least {
            return Err("missing arguments".into());
        }
        if n > most {
            let extra = parsed
                .positional
                .get(most)
                .map(String::as_str)
                .unwrap_or_default();
            return Err(format!(
                "too many arguments, from '{extra}' on (quote JSON with spaces: '{{\"a\": 1}}')"
            ));
        }
        Ok(parsed)
    }

    /// The positional argument `i`, if given.
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.positional.get(i).map(String::as_str)
    }

    /// Whether `--flag` was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(&name)
    }

    /// The text given for `--option`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `--option` as a wait (seconds or `forever`), or `default`.
    pub fn wait(&self, name: &str, default: Wait) -> Result<Wait, String> {
        self.value(name)
            .map_or(Ok(default), |text| parse_wait(name, text))
    }

    /// `--option` as seconds (a number ≥ 0), or `default`.
    pub fn seconds(&self, name: &str, default: f64) -> Result<f64, String> {
        match self.value(name) {
            None => Ok(default),
            Some(text) => match parse_wait(name, text)? {
                Wait::Seconds(s) => Ok(s),
                _ => Err(format!("{name} needs a number of seconds, not '{text}'")),
            },
        }
    }

    /// `--option` as a count ≥ 1; `None` when not given.
    pub fn count(&self, name: &str) -> Result<Option<u64>, String> {
        match self.value(name) {
            None => Ok(None),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(Some(n)),
                _ => Err(format!("{name} needs a whole number ≥ 1, not '{text}'")),
            },
        }
    }
}

/// Seconds (`5`, `0.5`) or `forever`.
fn parse_wait(name: &str, text: &str) -> Result<Wait, String> {
    if matches!(text, "forever" | "inf" | "FOREVER") {
        return Ok(Wait::Forever);
    }
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(Wait::Seconds(s)),
        _ => Err(format!(
            "{name} needs a number of seconds (like 5 or 0.5) or 'forever', not '{text}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        values: &["--wait", "--count"],
        flags: &["--echo"],
        positional: (1, 2),
    };

    fn parse(args: &[&str]) -> Result<Args, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Args::parse(&args, &SPEC)
    }

    #[test]
    fn options_values_and_positionals() {
        let a = parse(&["x", "--wait", "2.5", "--echo", "-1"]).unwrap();
        assert_eq!(a.positional, ["x", "-1"]);
        assert!(a.flag("--echo"));
        assert_eq!(a.wait("--wait", Wait::Forever).unwrap(), Wait::Seconds(2.5));
        let a = parse(&["x", "--wait=forever", "--count=3"]).unwrap();
        assert_eq!(a.wait("--wait", Wait::Seconds(1.0)).unwrap(), Wait::Forever);
        assert_eq!(a.count("--count").unwrap(), Some(3));
        let a = parse(&["x", "--", "--echo"]).unwrap();
        assert_eq!(a.positional, ["x", "--echo"]);
        assert!(!a.flag("--echo"));
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(parse(&[]).unwrap_err().contains("missing"));
        assert!(parse(&["a", "b", "c"]).unwrap_err().contains("too many"));
        assert!(parse(&["a", "--nope"])
            .unwrap_err()
            .contains("unknown option --nope"));
        assert!(parse(&["a", "--wait"])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["a", "--echo=1"])
            .unwrap_err()
            .contains("takes no value"));
        let a = parse(&["a", "--wait", "soon", "--count", "0"]).unwrap();
        assert!(a.wait("--wait", Wait::Forever).is_err());
        assert!(a.count("--count").is_err());
        assert!(parse(&["a", "--wait", "1", "--wait", "2"]).is_err());
    }

    #[test]
    fn help_is_asked_three_ways() {
        for asked in ["-h", "--help", "help"] {
            assert!(is_help(asked), "{asked}");
        }
        for not in ["send", "-help", "--h", ""] {
            assert!(!is_help(not), "{not}");
        }
    }

    #[test]
    fn positionals_by_index() {
        let a = parse(&["first", "second"]).unwrap();
        assert_eq!(a.arg(0), Some("first"));
        assert_eq!(a.arg(1), Some("second"));
        assert_eq!(a.arg(2), None);
        assert_eq!(a.value("--wait"), None);
    }

    #[test]
    fn seconds_are_a_number_never_forever() {
        let a = parse(&["x", "--wait", "0.25"]).unwrap();
        assert_eq!(a.seconds("--wait", 1.0), Ok(0.25));
        assert_eq!(a.seconds("--count", 1.5), Ok(1.5), "not given: the default");
        let a = parse(&["x", "--wait", "forever"]).unwrap();
        assert!(a
            .seconds("--wait", 1.0)
            .unwrap_err()
            .contains("number of seconds"));
    }

    #[test]
    fn a_wait_is_finite_and_not_negative() {
        for bad in ["-1", "NaN", "infinity", "1e999"] {
            let a = parse(&["x", "--wait", bad]).unwrap();
            assert!(a.wait("--wait", Wait::Forever).is_err(), "{bad}");
        }
        let a = parse(&["x", "--wait", "0"]).unwrap();
        assert_eq!(a.wait("--wait", Wait::Forever), Ok(Wait::Seconds(0.0)));
    }
}
