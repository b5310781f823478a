//! Table tests of the settings: which layer wins, and that every range is the same for flags,
//! the file and `--help`.

use clap::{CommandFactory, Parser};

use super::*;
use crate::cli::{Cli, Command};

/// `socketlab serve ARGS`, parsed as the binary would (without reading the environment's
/// settings, which the process tests cover).
fn flags(args: &[&str]) -> Result<Settings, String> {
    let argv = ["socketlab", "serve"].iter().chain(args);
    match Cli::try_parse_from(argv).map_err(|e| e.to_string())?.command {
        Command::Serve(s) => Ok(*s),
        other => Err(format!("not serve: {other:?}")),
    }
}

fn resolve(file: &str, args: &[&str]) -> Result<Config, String> {
    let file = Settings::from_toml(file)?;
    let args = flags(args)?;
    let merged = file.overlay(&args).map_err(|e| e.to_string())?;
    merged.validate().map_err(|e| e.to_string())?;
    Ok(merged.apply(Config::default()))
}

#[test]
fn flags_beat_the_file_which_beats_the_defaults() {
    type Get = fn(&Config) -> String;
    let rows: [(&str, &[&str], Get, &str); 8] = [
        ("", &[], |c| c.limits.burst.to_string(), "60"),
        ("burst = 5", &[], |c| c.limits.burst.to_string(), "5"),
        ("burst = 5", &["--burst", "7"], |c| c.limits.burst.to_string(), "7"),
        ("", &["--burst", "7"], |c| c.limits.burst.to_string(), "7"),
        (
            "udp_port = 13000\ntcp_port = 13001",
            &["--tcp-port", "14000"],
            |c| format!("{} {}", c.udp_port, c.tcp_port),
            "13000 14000",
        ),
        ("observe_all = false", &[], |c| c.observe_all.to_string(), "false"),
        (
            "allowed_origins = [\"https://a.example\"]",
            &["--allowed-origins", "https://b.example,https://c.example"],
            |c| c.allowed_origins.join(" "),
            "https://b.example https://c.example",
        ),
        (
            "store_secs = 60\ncapture = \"off\"",
            &["--interface", "eth9"],
            |c| format!("{:?} {:?} {}", c.store_age, c.capture, c.interface),
            "60s Off eth9",
        ),
    ];
    for (file, args, get, want) in rows {
        let config = resolve(file, args).unwrap_or_else(|e| panic!("{file:?} {args:?}: {e}"));
        assert_eq!(get(&config), want, "file {file:?}, flags {args:?}");
    }
}

#[test]
fn the_file_is_read_from_the_config_flag_and_its_errors_name_it() {
    let dir = std::env::temp_dir().join(format!("socketlab-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("good.toml");
    std::fs::write(&good, "udp_port = 13000\nburst = 5\n").expect("write");
    let path = good.to_str().expect("utf-8 path");
    let c = Config::resolve(&flags(&["--config", path, "--burst", "6"]).expect("flags")).expect("valid");
    assert_eq!((c.udp_port, c.limits.burst, c.limits.rate_per_sec), (13000, 6, 20));

    let rows = [
        ("udp_prot = 1\n", "udp_prot"),
        ("burst = \"many\"\n", "burst"),
        ("config = \"other.toml\"\n", "config"),
        ("burst = 0\n", "burst = 0 is outside its range 1-1000000"),
        ("max_frame_bytes = 100\n", "max_frame_bytes = 100 is outside its range 1024-16777216"),
    ];
    for (text, want) in rows {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, text).expect("write");
        let args = flags(&["--config", bad.to_str().expect("utf-8 path")]).expect("flags");
        let err = Config::resolve(&args).expect_err(text).to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let url = resolve("public_name = \"https://lab.example.edu/\"", &[]).expect_err("a URL in the file");
    assert!(url.starts_with("setting public_name must be a host name"), "{url}");
    let url = flags(&["--public-name", "https://lab.example.edu/"]).expect_err("a URL as a flag");
    assert!(url.contains("is not a host name"), "{url}");
    let named = resolve("public_name = \"lab.example.edu\"", &["--public-name", "lab.example.edu:8443"]);
    assert_eq!(named.expect("valid").public_name.as_deref(), Some("lab.example.edu:8443"));

    let missing = Config::resolve(&flags(&["--config", "/nonexistent/socketlab.toml"]).expect("flags"));
    assert!(missing.expect_err("missing file").to_string().contains("/nonexistent/socketlab.toml"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_range_is_enforced_alike_on_flags_and_in_the_file_and_shown_in_help() {
    let serve = Cli::command();
    let serve = serve.find_subcommand("serve").expect("serve subcommand");
    for (name, _, range) in Settings::default().bounded() {
        let (lo, hi) = (*range.start(), *range.end());
        let flag = format!("--{}", name.replace('_', "-"));
        let arg = serve.get_arguments().find(|a| a.get_long() == Some(&flag[2..])).expect(name);
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains(&format!("[range: {lo}-{hi}]")), "{flag} help: {help}");
        for (value, ok) in [(lo, true), (hi, true), (lo - 1, false), (hi + 1, false)] {
            let by_flag = flags(&[&flag, &value.to_string()]);
            assert_eq!(by_flag.is_ok(), ok, "{flag} {value}: {by_flag:?}");
            let by_file = resolve(&format!("{name} = {value}"), &[]);
            assert_eq!(by_file.is_ok(), ok, "{name} = {value} in the file: {by_file:?}");
            if !ok {
                let err = by_file.expect_err("out of range");
                assert_eq!(err, format!("setting {name} = {value} is outside its range {lo}-{hi}"));
            }
        }
    }
}

#[test]
fn every_default_in_help_is_the_real_default() {
    let serve = Cli::command();
    let serve = serve.find_subcommand("serve").expect("serve subcommand");
    let mut checked = 0;
    for arg in serve.get_arguments() {
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let Some(default) = help.split("[default: ").nth(1).and_then(|rest| rest.split(']').next()) else {
            continue;
        };
        let name = arg.get_id().as_str();
        let value = if default.parse::<u64>().is_ok() || default.parse::<bool>().is_ok() {
            default.to_owned()
        } else {
            format!("{default:?}")
        };
        let set = resolve(&format!("{name} = {value}"), &[]).unwrap_or_else(|e| panic!("{name} = {value}: {e}"));
        assert_eq!(format!("{set:?}"), format!("{:?}", Config::default()), "--help says {name} defaults to {default}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} defaults found in --help");
}

#[test]
fn targets_come_from_the_files_table_only() {
    let file = "burst = 5\n[targets]\nmy-server = \"127.0.0.1:12001\"\nlab = \"127.0.0.1:12002\"\n";
    let config = resolve(file, &["--burst", "7"]).expect("valid");
    assert_eq!(config.targets.len(), 2);
    assert_eq!(config.targets["my-server"], SocketAddr::from(([127, 0, 0, 1], 12001)));
    assert_eq!(config.limits.burst, 7);
    assert!(resolve("", &[]).expect("valid").targets.is_empty());
    assert!(resolve("[targets]\nx = \"not an address\"\n", &[]).is_err());
    assert!(flags(&["--targets", "x=127.0.0.1:1"]).is_err(), "no flag can add a target");
}

#[test]
fn client_checks_listen_only_where_the_operator_said() {
    assert_eq!(resolve("", &[]).expect("valid").check_listen, None, "no client checks by default");
    let file = resolve("check_listen = \"127.0.0.1:12100\"\ncheck_wait_ms = 5000\n", &[]).expect("valid");
    assert_eq!(file.check_listen, Some(SocketAddr::from(([127, 0, 0, 1], 12100))));
    assert_eq!(file.check_wait, std::time::Duration::from_secs(5));
    let flag = resolve("check_listen = \"127.0.0.1:12100\"\n", &["--check-listen", "127.0.0.1:12200"]).expect("valid");
    assert_eq!(flag.check_listen, Some(SocketAddr::from(([127, 0, 0, 1], 12200))), "the flag wins over the file");
    assert!(resolve("check_listen = \"12100\"\n", &[]).is_err());
}
