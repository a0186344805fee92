//! `trading-engine validate`: clean on every example strategy, and a clear
//! failure naming the file (and line) on broken ones.

mod common;
use common::{engine, stderr, stdout, workspace, write_file};

#[test]
fn every_example_strategy_validates_clean() {
    let dir = workspace().join("lua-strategies");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "lua") {
            seen += 1;
            let out = engine(&["validate", "--strategy", path.to_str().unwrap()]);
            let text = stdout(&out);
            assert_eq!(out.status.code(), Some(0), "{}:\n{text}{}", path.display(), stderr(&out));
            assert!(text.trim_end().ends_with("clean"), "{text}");
            if !path.ends_with("template.lua") {
                assert!(!text.contains("transitions: 0 setups"), "{} never traded:\n{text}", path.display());
            }
        }
    }
    assert_eq!(seen, 5, "template and four examples");
}

#[test]
fn broken_strategies_fail_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "function detect_opportunity(md, ctx, ind) return nil end\n\
              function filter_commitment(md, ctx, ind) return nil end\n\
              function manage_position(md, ctx, ind) return nil end\n";
    let cases = [
        ("syntax.lua", "function detect_opportunity(md, ctx, ind)\n  return {\nend\n".to_string(), "syntax.lua:3:"),
        (
            "missing.lua",
            ok.replace("function manage_position(md, ctx, ind) return nil end\n", ""),
            "missing.lua: manage_position is not defined",
        ),
        (
            "shell.lua",
            format!("{ok}local function f() os.execute('ls') end\n"),
            "shell.lua:4: the os library is not available",
        ),
        (
            "runtime.lua",
            ok.replace(
                "function detect_opportunity(md, ctx, ind) return nil end",
                "function detect_opportunity(md, ctx, ind) return md.nothing.x end",
            ),
            "runtime.lua:1:",
        ),
        (
            "badaction.lua",
            ok.replace(
                "function detect_opportunity(md, ctx, ind) return nil end",
                "function detect_opportunity(md, ctx, ind) return {} end",
            )
            .replace(
                "function filter_commitment(md, ctx, ind) return nil end",
                "function filter_commitment(md, ctx, ind) return {action = \"buy\"} end",
            ),
            "badaction.lua: filter_commitment returned a bad action: action is \"buy\"",
        ),
        (
            "wrongstop.lua",
            ok.replace(
                "function detect_opportunity(md, ctx, ind) return nil end",
                "function detect_opportunity(md, ctx, ind) return {} end",
            )
            .replace(
                "function filter_commitment(md, ctx, ind) return nil end",
                "function filter_commitment(md, ctx, ind) return {action = \"long\", stop = md.close * 1.1} end",
            ),
            "wrongstop.lua: filter_commitment entry refused (RISK_INVALID_INTENT): stop",
        ),
        (
            "wrongupdate.lua",
            ok.replace(
                "function detect_opportunity(md, ctx, ind) return nil end",
                "function detect_opportunity(md, ctx, ind) return {} end",
            )
            .replace(
                "function filter_commitment(md, ctx, ind) return nil end",
                "function filter_commitment(md, ctx, ind) return {action = \"long\", stop = md.close * 0.9} end",
            )
            .replace(
                "function manage_position(md, ctx, ind) return nil end",
                "function manage_position(md, ctx, ind) return {action = \"update\", stop = md.close * 1.5} end",
            ),
            "wrongupdate.lua: manage_position refused by execution: stop",
        ),
    ];
    for (name, source, expected) in cases {
        let path = write_file(dir.path(), name, &source);
        let out = engine(&["validate", "--strategy", path.to_str().unwrap()]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{name}:\n{text}{}", stderr(&out));
        assert!(text.contains(expected), "{name}: expected {expected:?} in\n{text}");
        assert!(!text.trim_end().ends_with("clean"));
    }
}

#[test]
fn params_reach_the_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "p.lua",
        "function init(p) if p.fast ~= 5 or p.name ~= 'x' then error('params not passed') end end\n\
         function detect_opportunity(md, ctx, ind) return nil end\n\
         function filter_commitment(md, ctx, ind) return nil end\n\
         function manage_position(md, ctx, ind) return nil end\n",
    );
    for params in ["fast=5,name=x", r#"{"fast": 5, "name": "x"}"#] {
        let out = engine(&["validate", "--strategy", path.to_str().unwrap(), "--params", params]);
        assert_eq!(out.status.code(), Some(0), "{params}: {}{}", stdout(&out), stderr(&out));
    }
    let out = engine(&["validate", "--strategy", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("params not passed"), "{}", stdout(&out));
}

#[test]
fn a_series_too_short_to_call_the_strategy_is_not_clean() {
    let strategy = workspace().join("lua-strategies/ema_crossover.lua");
    let out = engine(&["validate", "--strategy", strategy.to_str().unwrap(), "--synthetic", "bars=0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("the strategy was never called on 0 bars"), "{}", stdout(&out));
}
