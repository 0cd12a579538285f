//! How a run's wall time divides over machines, from each job's measured
//! seconds: the total work, the critical path (the longest chain of jobs
//! that need each other: no number of machines finishes sooner), and the
//! wall time on W workers as Slurm runs the plan (a stage's array starts
//! when the previous stage has finished) and as the local runner does (a
//! job starts as soon as the jobs it needs have finished). Jobs not yet
//! measured take the median of measured jobs of the same kind.
use std::collections::BTreeMap;

use super::jobs::{JobPlan, State, Unit, Work};
use super::releases::ReleaseRef;

/// Jobs that cost about the same: same stage and architecture (and attack).
pub fn kind(unit: &Unit) -> String {
    match &unit.work {
        Work::Data => "data".into(),
        // `proxy/honeyimage/fold0-small-cnn`: its architecture.
        Work::Proxy { .. } => format!("proxy {}", unit.name.rsplit('/').next().and_then(|s| s.split_once('-')).map_or("", |(_, a)| a)),
        Work::Release { release: ReleaseRef::Key(_) } => "release key".into(),
        Work::Release { release } => format!("release {}", release.label()),
        Work::Suspect { suspect } => {
            let parts: Vec<&str> = suspect.split('/').collect();
            let attack = parts.get(4).map(|a| format!(" {a}")).unwrap_or_default();
            format!("{} {}{attack}", unit.stage, parts.get(2).copied().unwrap_or_default())
        }
        Work::External { .. } => "external".into(),
    }
}

/// Each job's seconds, measured or estimated, and how many were estimated
/// (None: some kind has no measured job at all).
pub fn seconds(plan: &JobPlan, states: &[State]) -> Option<(Vec<f64>, usize)> {
    let mut measured: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (u, s) in plan.units.iter().zip(states) {
        if let State::Done(d) = s {
            measured.entry(kind(u)).or_default().push(d.seconds);
        }
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut estimated = 0;
    let secs = plan.units.iter().zip(states).map(|(u, s)| match s {
        State::Done(d) => Some(d.seconds),
        _ => {
            estimated += 1;
            measured.get(&kind(u)).map(median)
        }
    });
    let secs = secs.collect::<Option<Vec<f64>>>()?;
    Some((secs, estimated))
}

/// The longest chain of jobs that need each other, seconds.
pub fn critical_path(plan: &JobPlan, secs: &[f64]) -> f64 {
    let mut finish = vec![0.0f64; plan.units.len()];
    for u in &plan.units {
        finish[u.id] = secs[u.id] + u.after.iter().map(|&a| finish[a]).fold(0.0, f64::max);
    }
    finish.into_iter().fold(0.0, f64::max)
}

/// Greedy list scheduling in plan order on `workers` workers: each job
/// starts on the first free worker once it is ready. Returns the end.
fn list_schedule(jobs: impl Iterator<Item = (f64, f64)>, workers: usize, free: &mut [f64]) -> Vec<f64> {
    jobs.map(|(ready, secs)| {
        let w = (0..workers).min_by(|&a, &b| free[a].total_cmp(&free[b])).expect("at least one worker");
        free[w] = free[w].max(ready) + secs;
        free[w]
    })
    .collect()
}

/// Wall time on `workers` workers, stage after stage (Slurm arrays with
/// `afterok` between stages).
pub fn staged(plan: &JobPlan, secs: &[f64], workers: usize) -> f64 {
    let mut end = 0.0;
    for s in &plan.stages {
        let mut free = vec![end; workers.max(1)];
        let ends = list_schedule((s.first..s.first + s.len).map(|i| (end, secs[i])), workers.max(1), &mut free);
        end = ends.into_iter().fold(end, f64::max);
    }
    end
}

/// Wall time on `workers` workers, each job started when the jobs it
/// needs have finished (the local runner, `eval --jobs`).
pub fn by_job(plan: &JobPlan, secs: &[f64], workers: usize) -> f64 {
    let mut free = vec![0.0; workers.max(1)];
    let mut finish = vec![0.0f64; plan.units.len()];
    for u in &plan.units {
        let ready = u.after.iter().map(|&a| finish[a]).fold(0.0, f64::max);
        finish[u.id] = list_schedule(std::iter::once((ready, secs[u.id])), workers.max(1), &mut free)[0];
    }
    finish.into_iter().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::jobs::Stage;

    fn unit(id: usize, stage: &str, after: Vec<usize>) -> Unit {
        Unit { id, name: format!("u{id}"), stage: stage.into(), work: Work::Data, after }
    }

    /// a(2) -> {b(4), c(1), d(1)} -> e(3)
    fn diamond() -> JobPlan {
        let units = vec![unit(0, "a", vec![]), unit(1, "b", vec![0]), unit(2, "b", vec![0]), unit(3, "b", vec![0]), unit(4, "c", vec![2])];
        let stages = vec![Stage { name: "a".into(), first: 0, len: 1 }, Stage { name: "b".into(), first: 1, len: 3 }, Stage { name: "c".into(), first: 4, len: 1 }];
        JobPlan { units, stages }
    }

    #[test]
    fn critical_path_and_makespans_of_a_small_plan() {
        let (p, secs) = (diamond(), [2.0, 4.0, 1.0, 1.0, 3.0]);
        assert_eq!(critical_path(&p, &secs), 6.0);
        // One worker: all the work, however it is ordered.
        assert_eq!(staged(&p, &secs, 1), 11.0);
        assert_eq!(by_job(&p, &secs, 1), 11.0);
        // Two workers: stage b takes 4 s ({b0} and {b1, b2}), then e.
        assert_eq!(staged(&p, &secs, 2), 9.0);
        // Job by job, e needs only c (done at 4): it runs beside b0.
        assert_eq!(by_job(&p, &secs, 2), 7.0);
        assert_eq!(by_job(&p, &secs, 8), 6.0);
    }

    #[test]
    fn unmeasured_jobs_take_the_median_of_their_kind() {
        let p = diamond();
        let done = |s: f64| State::Done(crate::eval::jobs::Done { id: 0, name: String::new(), seconds: s, peak_mib: 0.0, host: String::new(), threads: 1 });
        let states = vec![done(2.0), done(4.0), State::Pending, done(1.0), State::Pending];
        // Every unit here is of kind "data".
        let (secs, estimated) = seconds(&p, &states).unwrap();
        assert_eq!((secs, estimated), (vec![2.0, 4.0, 2.0, 1.0, 2.0], 2));
        assert!(seconds(&p, &vec![State::Pending; 5]).is_none());
    }
}
