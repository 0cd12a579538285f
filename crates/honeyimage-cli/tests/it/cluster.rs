//! The evaluation as a plan of jobs: run here by separate processes
//! (`eval --jobs 2`) and by a real Slurm (the single-node cluster of
//! scripts/slurm-local.sh, which the test command starts) as job arrays,
//! with one task killed mid-run and the run re-submitted. Both must give
//! the results of the same configuration run in one process.
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// Two architectures, two keys, a baseline, BadNets and one attack, on a
/// tiny real subset: every stage of the plan has jobs.
fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("exp.toml");
    let text = format!(
        r#"
data = "{FMNIST}"
private_size = 400
test_limit = 200
curve_epochs = []
keys = 2
[protect]
count = 10
steps = 3
folds = 2
random_baseline = false
[protect.proxy_train]
epochs = 1
[suspect_train]
epochs = 3
[[archs]]
arch = "small-cnn"
seeds = [0, 1]
[[archs]]
arch = "vit"
seeds = [0]
[baselines]
random_pgd = false
[[attacks]]
kind = "jpeg"
quality = 75
"#
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn results(run: &Path) -> serde_json::Value {
    let mut r: serde_json::Value = serde_json::from_slice(&std::fs::read(run.join("results.json")).unwrap()).unwrap();
    // Wall time and the merging process's thread count are the only
    // fields allowed to differ.
    let o = r.as_object_mut().unwrap();
    o.remove("wall_seconds");
    o.remove("versions");
    r
}

/// One libtorch thread everywhere: the same arithmetic in every process.
fn one_thread(args: &[&str]) -> std::process::Output {
    bin().args(args).env("OMP_NUM_THREADS", "1").output().unwrap()
}

/// `Some(())` when a Slurm cluster answers; a missing one fails the test
/// when the test command started one (HONEYIMAGE_REQUIRE_SLURM=1).
fn slurm() -> Option<()> {
    let up = Command::new("sinfo").arg("-h").output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(std::env::var("HONEYIMAGE_REQUIRE_SLURM").is_err(), "HONEYIMAGE_REQUIRE_SLURM is set but sinfo finds no cluster (SLURM_CONF={:?})", std::env::var("SLURM_CONF"));
        eprintln!("skipped: no Slurm cluster (scripts/slurm-local.sh start, then source its env.sh)");
    }
    up.then_some(())
}

/// Lines of `squeue` for our jobs (`%i %T %j`).
fn queue(ids: &[String]) -> Vec<String> {
    let o = Command::new("squeue").args(["-h", "-o", "%i %T %j"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| ids.iter().any(|id| l.starts_with(&format!("{id}_")) || l.starts_with(&format!("{id} ")))).map(str::to_string).collect()
}

/// Waits until none of `ids` is queued or running.
fn wait_for(ids: &[String]) {
    let t = Instant::now();
    while !queue(ids).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(1200), "Slurm jobs still queued: {:?}", queue(ids));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Submits the run's unfinished stages; returns (stage, job id, jobs).
fn submit(run: &Path) -> Vec<(String, String, usize)> {
    let o = run_ok(&["eval", "slurm", run.to_str().unwrap(), "--max-parallel", "2", "--submit"]);
    stdout(&o)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[2].trim_start_matches('(').parse().unwrap())
        })
        .collect()
}

fn run_ok(args: &[&str]) -> std::process::Output {
    let o = run(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    o
}

#[test]
fn jobs_here_and_on_slurm_give_the_one_process_results() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let one = dir.path().join("one");
    let o = one_thread(&["eval", "--config", cfg, "--out", one.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reference = results(&one);

    // Separate processes here, two at a time.
    let local = dir.path().join("local");
    let o = one_thread(&["eval", "--config", cfg, "--out", local.to_str().unwrap(), "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(results(&local), reference);
    let o = run_ok(&["eval", "status", local.to_str().unwrap(), "--workers", "1,4"]);
    let s = stdout(&o);
    assert!(s.contains("critical path") && !s.contains("not run yet"), "{s}");

    let Some(()) = slurm() else { return };
    let arr = dir.path().join("slurm");
    let arr_s = arr.to_str().unwrap();
    run_ok(&["eval", "plan", "--config", cfg, "--out", arr_s]);
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(arr.join("plan.json")).unwrap()).unwrap();
    let units = plan["units"].as_array().unwrap();
    let stages = submit(&arr);
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["data", "proxies", "releases", "baselines", "suspects", "attacks", "merge"]);
    let ids: Vec<String> = stages.iter().map(|s| s.1.clone()).collect();

    // Kill a ViT suspect (the longest jobs) while it runs.
    let suspects_job = &stages[4].1;
    let vit: Vec<u64> = units.iter().filter(|u| u["stage"] == "suspects" && u["name"].as_str().unwrap().contains("/vit/")).map(|u| u["id"].as_u64().unwrap()).collect();
    let t = Instant::now();
    let killed = loop {
        assert!(t.elapsed() < Duration::from_secs(900), "no ViT suspect ever ran: {:?}", queue(&ids));
        let running = queue(&ids).into_iter().filter(|l| l.contains(" RUNNING ")).find_map(|l| {
            let task: u64 = l.split_whitespace().next()?.strip_prefix(&format!("{suspects_job}_"))?.parse().ok()?;
            vit.contains(&task).then_some(task)
        });
        if let Some(task) = running {
            std::thread::sleep(Duration::from_millis(1500));
            assert!(Command::new("scancel").arg(format!("{suspects_job}_{task}")).status().unwrap().success());
            break task;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    wait_for(&ids);
    let killed_name = units[killed as usize]["name"].as_str().unwrap();
    let marker = arr.join("jobs/done").join(format!("{}.json", killed_name.replace('/', "__")));
    assert!(!marker.exists(), "{killed_name} finished before it was killed");
    // The stages after it were cancelled (afterok), so nothing was merged.
    assert!(!arr.join("results.json").exists());
    let o = run(&["eval", "merge", arr_s]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("pending {killed:>5} {killed_name}")) && err.contains("log "), "{err}");

    // Re-submitting runs only what is missing: the killed job, the attacks, the merge.
    let again = submit(&arr);
    let names: Vec<(&str, usize)> = again.iter().map(|s| (s.0.as_str(), s.2)).collect();
    let attacks = units.iter().filter(|u| u["stage"] == "attacks").count();
    assert_eq!(names, [("suspects", 1), ("attacks", attacks), ("merge", 1)]);
    let script = std::fs::read_to_string(arr.join("slurm/5-suspects.sbatch")).unwrap();
    assert!(script.contains(&format!("#SBATCH --array={killed}%2")), "{script}");
    wait_for(&again.iter().map(|s| s.1.clone()).collect::<Vec<_>>());
    assert!(arr.join("results.json").exists(), "merge job: {}", std::fs::read_to_string(arr.join("logs/merge.log")).unwrap_or_default());
    assert_eq!(results(&arr), reference);
}

/// Jobs 0 and 1 of `protect ARGS FLAG` at once: job 0 by number, job 1 as a
/// Slurm array task. Both must succeed; returns job 1's output.
fn jobs_0_and_1(args: &[String], flag: &str) -> std::process::Output {
    let first = bin().args(args).args([flag, "0"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let second = bin().args(args).args([flag, "array"]).env("SLURM_ARRAY_TASK_ID", "1").output().unwrap();
    let first = first.wait_with_output().unwrap();
    for o in [&first, &second] {
        assert!(o.status.success(), "{flag}: {}", stderr(o));
    }
    second
}

/// `protect --proxy I` trains one proxy per process (two at once, one of
/// them taking I from a Slurm array index); the same protect then finds
/// them and writes the release and key of a one-process protect.
#[test]
fn protect_proxies_as_separate_jobs_give_the_one_process_release() {
    let dir = tempfile::tempdir().unwrap();
    let data = fmnist_subset(dir.path(), 1200);
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let args = |out: &str, key: &str, work: &str| -> Vec<String> {
        let a = ["protect", "--data", data.to_str().unwrap(), "--out", out, "--key", key, "--work", work, "--count", "10", "--folds", "2", "--proxy-epochs", "1", "--steps", "3", "--seed", "5", "--no-baseline", "--threads", "1"];
        a.iter().map(|s| s.to_string()).collect()
    };
    let one = args(&p("one"), &p("one.key"), &p("one.work"));
    let o = bin().args(&one).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let split = args(&p("split"), &p("split.key"), &p("split.work"));
    let second = jobs_0_and_1(&split, "--proxy");
    assert!(stdout(&second).contains("proxy fold 1 small-cnn") && stdout(&second).contains("trained in"), "{}", stdout(&second));
    assert!(!Path::new(&p("split")).exists() && !Path::new(&p("split.key")).exists(), "a proxy job wrote a release or key");
    let weights = Path::new(&p("split.work")).join("proxy-fold1-small-cnn/model.safetensors");
    let before = std::fs::read(&weights).unwrap();
    let o = bin().args(&split).args(["--proxy", "1"]).output().unwrap();
    assert!(stdout(&o).contains("already there"), "{}", stdout(&o));
    // Then each fold's share of the optimisation, two processes at once.
    let second = jobs_0_and_1(&split, "--optimise-fold");
    assert!(stdout(&second).contains("optimisation of fold 1") && stdout(&second).contains("done in"), "{}", stdout(&second));
    let fold1 = Path::new(&p("split.work")).join("honey-fold1.json");
    let fold1_before = std::fs::read(&fold1).unwrap();
    let o = bin().args(&split).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&weights).unwrap(), before, "the final protect retrained a proxy");
    assert_eq!(std::fs::read(&fold1).unwrap(), fold1_before, "the final protect optimised fold 1 again");
    assert_eq!(sha(Path::new(&p("split"))), sha(Path::new(&p("one"))));
    let (a, b) = (honeyimage::key::load(Path::new(&p("one.key"))).unwrap(), honeyimage::key::load(Path::new(&p("split.key"))).unwrap());
    assert_eq!((a.released, a.withheld), (b.released, b.withheld));

    let o = bin().args(&args(&p("x"), &p("x.key"), &p("x.work"))).args(["--proxy", "2"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--proxy 2") && stderr(&o).contains("0..1"), "{}", stderr(&o));
    let o = bin().args(&args(&p("x"), &p("x.key"), &p("x.work"))).args(["--optimise-fold", "array"]).env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("SLURM_ARRAY_TASK_ID"), "{}", stderr(&o));
}
