//! Scripts that run a planned evaluation on a cluster with its own
//! scheduler: one Slurm batch script per stage, a job array of the
//! stage's unfinished jobs, chained with `afterok`; and one Kubernetes
//! Indexed Job per stage. Written from the plan alone (pure text);
//! submitting them is the caller's. Every job is `honeyimage eval run-job`
//! on the shared run folder.
use std::path::{Path, PathBuf};

use serde_json::json;

use super::jobs::{JobPlan, Stage, State};
use crate::{Error, Result};

/// One script or manifest to write into the run folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Its stage (`merge` for the last one).
    pub stage: String,
    /// File name (in `slurm/` or `k8s/`).
    pub file: String,
    /// Contents.
    pub text: String,
    /// Jobs it runs.
    pub jobs: usize,
}

/// `#SBATCH` settings of every stage.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// The `honeyimage` binary as the compute nodes see it.
    pub binary: PathBuf,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (per array task).
    pub time: Option<String>,
    /// `--cpus-per-task` (also the job's libtorch threads).
    pub cpus_per_task: usize,
    /// `--mem` (per array task).
    pub mem: Option<String>,
    /// `--gres`, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// At most this many tasks of an array at once (`%P`).
    pub max_parallel: Option<usize>,
}

/// Ids as Slurm's `--array` writes them: `0-3,7,9-10`.
pub fn array_spec(ids: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        parts.push(if j > i { format!("{}-{}", ids[i], ids[j]) } else { ids[i].to_string() });
        i = j + 1;
    }
    parts.join(",")
}

/// The unfinished jobs of a stage.
fn unfinished(stage: &Stage, states: &[State]) -> Vec<usize> {
    (stage.first..stage.first + stage.len).filter(|&i| !matches!(states[i], State::Done(_))).collect()
}

/// A path for an `#SBATCH` line or a shell word: absolute, and free of
/// what those cannot hold.
fn plain_path(what: &str, p: &Path) -> Result<String> {
    let s = p.display().to_string();
    if !p.is_absolute() || s.chars().any(|c| c.is_whitespace() || "'\"\\$`%".contains(c)) {
        return Err(Error::invalid(what, format!("{s}: cluster scripts need an absolute path without spaces, quotes, '$', '%' or '\\'")));
    }
    Ok(s)
}

/// The `#SBATCH` lines shared by every stage.
fn sbatch_header(name: &str, output: &str, o: &SlurmOptions) -> String {
    let mut h = format!("#!/bin/bash\n#SBATCH --job-name=honeyimage-{name}\n#SBATCH --output={output}\n#SBATCH --cpus-per-task={}\n", o.cpus_per_task.max(1));
    let opt = [("partition", &o.partition), ("time", &o.time), ("mem", &o.mem), ("gres", &o.gres), ("account", &o.account)];
    for (flag, value) in opt {
        if let Some(v) = value {
            h.push_str(&format!("#SBATCH --{flag}={v}\n"));
        }
    }
    h
}

/// One batch script per stage with unfinished jobs (an array of exactly
/// those jobs), then one for `merge`. Submitted in order, each with
/// `--dependency=afterok:` on the one before, a re-submission runs only
/// what is missing.
pub fn slurm_scripts(plan: &JobPlan, states: &[State], run_dir: &Path, o: &SlurmOptions) -> Result<Vec<Script>> {
    let (run, bin) = (plain_path("run folder", run_dir)?, plain_path("binary", &o.binary)?);
    let mut out = Vec::new();
    for (n, stage) in plan.stages.iter().enumerate() {
        let ids = unfinished(stage, states);
        if ids.is_empty() {
            continue;
        }
        let throttle = o.max_parallel.map(|p| format!("%{p}")).unwrap_or_default();
        let mut text = sbatch_header(&stage.name, &format!("{run}/logs/{}-%a.log", stage.name), o);
        text.push_str(&format!("#SBATCH --array={}{throttle}\n", array_spec(&ids)));
        text.push_str(&format!("# honeyimage evaluation {run}, stage {}: {} of its {} jobs (written by `honeyimage eval slurm`)\n", stage.name, ids.len(), stage.len));
        text.push_str(&format!("set -eu\nexec {bin} --quiet eval run-job {run} --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"\n"));
        out.push(Script { stage: stage.name.clone(), file: format!("{}-{}.sbatch", n + 1, stage.name), text, jobs: ids.len() });
    }
    let mut text = sbatch_header("merge", &format!("{run}/logs/merge.log"), &SlurmOptions { gres: None, ..o.clone() });
    text.push_str(&format!("# honeyimage evaluation {run}: results and report once every job has finished\nset -eu\nexec {bin} --quiet eval merge {run}\n"));
    out.push(Script { stage: "merge".into(), file: format!("{}-merge.sbatch", plan.stages.len() + 1), text, jobs: 1 });
    Ok(out)
}

/// Kubernetes settings of every stage's Indexed Job.
#[derive(Debug, Clone, Default)]
pub struct K8sOptions {
    /// Container image with `honeyimage` on its PATH.
    pub image: String,
    /// PersistentVolumeClaim holding the run folder (and the dataset),
    /// mounted at `mount`.
    pub claim: String,
    /// Where the claim is mounted; the run folder must lie inside it.
    pub mount: PathBuf,
    /// Pods of a stage at once.
    pub parallelism: usize,
    /// CPUs per pod (also its libtorch threads).
    pub cpus: usize,
    /// Memory per pod, e.g. `8Gi`.
    pub memory: String,
    /// GPUs per pod (`nvidia.com/gpu`).
    pub gpus: usize,
}

/// A DNS-1123 name: lowercase letters, digits and '-', at most 63 long.
fn dns_name(parts: &[&str]) -> String {
    let raw: String = parts.join("-").to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let squeezed = raw.split('-').filter(|s| !s.is_empty()).collect::<Vec<_>>().join("-");
    squeezed.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
}

/// One Indexed Job manifest (JSON, which `kubectl apply -f` reads) per
/// stage, then `apply.sh`, which applies them in order and waits for each
/// to complete. Every index of a stage runs; finished jobs exit at once.
pub fn k8s_manifests(plan: &JobPlan, run_dir: &Path, o: &K8sOptions) -> Result<Vec<Script>> {
    let run = plain_path("run folder", run_dir)?;
    let mount = plain_path("mount", &o.mount)?;
    if !run_dir.starts_with(&o.mount) {
        return Err(Error::invalid("mount", format!("the run folder {run} is not inside the mounted claim {mount}")));
    }
    let run_name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut out = Vec::new();
    let mut apply = String::from("#!/bin/sh\n# Applies the stages in order, each after the previous one completed (written by `honeyimage eval k8s`).\nset -eu\ncd \"$(dirname \"$0\")\"\n");
    for (n, stage) in plan.stages.iter().enumerate() {
        let name = dns_name(&["honeyimage", &run_name, &stage.name]);
        let mut limits = json!({ "cpu": o.cpus.max(1).to_string(), "memory": o.memory });
        if o.gpus > 0 {
            limits["nvidia.com/gpu"] = json!(o.gpus.to_string());
        }
        let cmd = ["honeyimage", "--quiet", "eval", "run-job", &run, "--stage", &stage.name, "--threads", &o.cpus.max(1).to_string()];
        let manifest = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": { "name": name, "labels": { "app": "honeyimage", "honeyimage/stage": stage.name } },
            "spec": {
                "completions": stage.len,
                "parallelism": o.parallelism.max(1).min(stage.len),
                "completionMode": "Indexed",
                "backoffLimit": 3 * stage.len.max(1),
                "template": { "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "honeyimage",
                        "image": o.image,
                        "command": cmd,
                        "resources": { "requests": limits.clone(), "limits": limits },
                        "volumeMounts": [{ "name": "run", "mountPath": mount }],
                    }],
                    "volumes": [{ "name": "run", "persistentVolumeClaim": { "claimName": o.claim } }],
                }},
            },
        });
        let file = format!("{}-{}.json", n + 1, stage.name);
        apply.push_str(&format!("kubectl apply -f {file}\nkubectl wait --for=condition=complete --timeout=-1s job/{name}\n"));
        out.push(Script { stage: stage.name.clone(), file, text: serde_json::to_string_pretty(&manifest).expect("serialisable") + "\n", jobs: stage.len });
    }
    apply.push_str(&format!("echo \"all stages complete; run: honeyimage eval merge {run}\"\n"));
    out.push(Script { stage: "apply".into(), file: "apply.sh".into(), text: apply, jobs: 0 });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::jobs::{Done, Unit, Work};

    fn plan() -> JobPlan {
        let unit = |id: usize, stage: &str| Unit { id, name: format!("u{id}"), stage: stage.into(), work: Work::Data, after: vec![] };
        JobPlan {
            units: vec![unit(0, "data"), unit(1, "proxies"), unit(2, "proxies"), unit(3, "proxies"), unit(4, "proxies")],
            stages: vec![Stage { name: "data".into(), first: 0, len: 1 }, Stage { name: "proxies".into(), first: 1, len: 4 }],
        }
    }

    fn done(id: usize) -> State {
        State::Done(Done { id, name: String::new(), seconds: 1.0, peak_mib: 0.0, host: String::new(), threads: 1 })
    }

    #[test]
    fn array_specs_are_compact() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(array_spec(&[5]), "5");
        assert_eq!(array_spec(&[]), "");
    }

    #[test]
    fn slurm_scripts_hold_only_unfinished_jobs() {
        let o = SlurmOptions { binary: "/opt/hi/honeyimage".into(), cpus_per_task: 2, partition: Some("cpu".into()), max_parallel: Some(8), ..Default::default() };
        let st = vec![done(0), State::Pending, done(2), State::Pending, State::Pending];
        let s = slurm_scripts(&plan(), &st, Path::new("/shared/run"), &o).unwrap();
        let files: Vec<&str> = s.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(files, ["2-proxies.sbatch", "3-merge.sbatch"]);
        let t = &s[0].text;
        for line in ["#SBATCH --array=1,3-4%8", "#SBATCH --partition=cpu", "#SBATCH --cpus-per-task=2", "#SBATCH --output=/shared/run/logs/proxies-%a.log", "exec /opt/hi/honeyimage --quiet eval run-job /shared/run --threads"] {
            assert!(t.contains(line), "{line} not in\n{t}");
        }
        assert!(s[1].text.contains("eval merge /shared/run"));
        let err = slurm_scripts(&plan(), &st, Path::new("/shared/my run"), &o).unwrap_err().to_string();
        assert!(err.contains("my run") && err.contains("spaces"), "{err}");
    }

    #[test]
    fn k8s_manifests_are_indexed_jobs_on_the_shared_claim() {
        let o = K8sOptions { image: "reg/honeyimage:1".into(), claim: "runs".into(), mount: "/shared".into(), parallelism: 3, cpus: 2, memory: "8Gi".into(), gpus: 1 };
        let m = k8s_manifests(&plan(), Path::new("/shared/Run_7"), &o).unwrap();
        let v: serde_json::Value = serde_json::from_str(&m[1].text).unwrap();
        assert_eq!(v["metadata"]["name"], "honeyimage-run-7-proxies");
        assert_eq!((v["spec"]["completions"].as_u64(), v["spec"]["parallelism"].as_u64()), (Some(4), Some(3)));
        assert_eq!(v["spec"]["completionMode"], "Indexed");
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"][4], "/shared/Run_7");
        assert_eq!((c["command"][5].as_str(), c["command"][6].as_str()), (Some("--stage"), Some("proxies")));
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert!(m[2].text.contains("kubectl wait --for=condition=complete --timeout=-1s job/honeyimage-run-7-data"));
        assert!(k8s_manifests(&plan(), Path::new("/elsewhere/run"), &o).unwrap_err().to_string().contains("not inside"));
    }
}
