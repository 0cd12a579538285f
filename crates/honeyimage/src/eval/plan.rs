//! The plan of an evaluation: which methods run and which suspects are
//! trained, on what data, judged by which methods' keys. Pure: no data is
//! touched, so the population can be checked before hours of training.
use crate::config::{Arch, ArchSpec, Attack, EvalConfig};
use honeyimage_report::{Method, Role};

/// Where a suspect's training data comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DataRef {
    /// A method's release.
    Release(Method),
    /// Same-distribution data disjoint from the private set.
    Disjoint,
    /// The HoneyImage release minus R (the hardest negative).
    MinusHoney,
    /// The private data itself (harmlessness reference).
    Original,
}

/// One suspect to train and judge.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Unique name; `all/` stands for every method that judges it.
    pub name: String,
    /// Its training data.
    pub data: DataRef,
    /// Infringing or clean.
    pub role: Role,
    /// Architecture.
    pub arch: Arch,
    /// Width parameter (None: the paper's).
    pub width: Option<usize>,
    /// Training seed.
    pub seed: u64,
    /// Methods whose keys judge this model.
    pub judged_by: Vec<Method>,
    /// The robustness attack it goes through (None: trained plainly).
    pub attack: Option<Attack>,
}

impl Job {
    /// `arch` or `arch-wW`, as results name it.
    pub fn arch_label(&self) -> String {
        format!("{}{}", self.arch, self.width.map(|w| format!("-w{w}")).unwrap_or_default())
    }

    /// The name under which `method` reports this suspect.
    pub fn result_name(&self, method: Method) -> String {
        self.name.replace("all/", &format!("{method}/"))
    }

    /// File-system safe name of the cached result.
    pub fn file_stem(&self) -> String {
        self.name.replace('/', "__")
    }

    /// The same suspect without its attack (whose model the model- and
    /// query-side attacks start from).
    pub fn unattacked(&self) -> Job {
        let name = match &self.attack {
            Some(a) => self.name.trim_end_matches(&format!("/{}", a.label())).to_string(),
            None => self.name.clone(),
        };
        Job { name, attack: None, ..self.clone() }
    }
}

/// The methods and suspects of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// HoneyImage first, then the enabled baselines.
    pub methods: Vec<Method>,
    /// Every suspect, in the order they are trained.
    pub jobs: Vec<Job>,
}

/// The methods a configuration enables, HoneyImage first.
pub fn methods(config: &EvalConfig) -> Vec<Method> {
    let b = &config.baselines;
    let mut m = vec![Method::HoneyImage];
    for (on, method) in [(b.random_pgd, Method::RandomPgd), (b.hard_unperturbed, Method::HardUnperturbed), (b.badnets, Method::BadNets)] {
        if on {
            m.push(method);
        }
    }
    m
}

/// One suspect of `spec`'s architecture, with its attack if any.
fn suspect(spec: &ArchSpec, prefix: &str, role: Role, data: DataRef, seed: u64, judged_by: Vec<Method>, attack: Option<&Attack>) -> Job {
    let arch = format!("{}{}", spec.arch, spec.width.map(|w| format!("-w{w}")).unwrap_or_default());
    let suffix = attack.map(|a| format!("/{}", a.label())).unwrap_or_default();
    Job { name: format!("{prefix}/{role}/{arch}/s{seed}{suffix}"), data, role, arch: spec.arch, width: spec.width, seed, judged_by, attack: attack.cloned() }
}

/// The whole population.
pub fn plan(config: &EvalConfig) -> Plan {
    let methods = methods(config);
    let honey = Method::HoneyImage;
    let mut jobs = Vec::new();
    for spec in &config.archs {
        let mk = |prefix: &str, role: Role, data: DataRef, seed: u64, judged_by: Vec<Method>| suspect(spec, prefix, role, data, seed, judged_by, None);
        for &seed in &spec.seeds {
            jobs.push(mk(honey.as_str(), Role::Infringing, DataRef::Release(honey), seed, vec![honey]));
            jobs.push(mk("all", Role::CleanDisjoint, DataRef::Disjoint, seed, methods.clone()));
            if config.minus_honey {
                jobs.push(mk(honey.as_str(), Role::CleanMinusHoney, DataRef::MinusHoney, seed, vec![honey]));
            }
            if spec.seeds.iter().take(config.original_seeds.max(1)).any(|&s| s == seed) {
                jobs.push(mk("all", Role::Original, DataRef::Original, seed, methods.clone()));
            }
        }
        for &seed in spec.seeds.iter().take(config.baselines.seeds_per_arch) {
            for &m in &methods[1..] {
                jobs.push(mk(m.as_str(), Role::Infringing, DataRef::Release(m), seed, vec![m]));
            }
        }
    }
    jobs.extend(attack_jobs(config, &methods));
    Plan { methods, jobs }
}

/// The robustness suite: per attack, architecture and attacked seed, one
/// infringing suspect per method and one clean suspect judged by all.
fn attack_jobs(config: &EvalConfig, methods: &[Method]) -> Vec<Job> {
    let mut jobs = Vec::new();
    // Suspect by suspect, then attack by attack: a run stopped early has
    // the whole suite for its first suspects.
    for spec in &config.archs {
        for &seed in spec.seeds.iter().take(config.attack_seeds.max(1)) {
            for attack in &config.attacks {
                for &m in methods {
                    jobs.push(suspect(spec, m.as_str(), Role::Infringing, DataRef::Release(m), seed, vec![m], Some(attack)));
                }
                jobs.push(suspect(spec, "all", Role::CleanDisjoint, DataRef::Disjoint, seed, methods.to_vec(), Some(attack)));
            }
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ArchSpec;

    #[test]
    fn population_of_the_default_experiment() {
        let c = EvalConfig { archs: vec![ArchSpec { arch: Arch::SmallCnn, width: None, seeds: vec![0, 1] }], ..EvalConfig::default() };
        let p = plan(&c);
        assert_eq!(p.methods, vec![Method::HoneyImage, Method::RandomPgd, Method::HardUnperturbed, Method::BadNets]);
        let names: Vec<&str> = p.jobs.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "honeyimage/infringing/small-cnn/s0",
                "all/clean-disjoint/small-cnn/s0",
                "honeyimage/clean-minus-honey/small-cnn/s0",
                "all/original/small-cnn/s0",
                "honeyimage/infringing/small-cnn/s1",
                "all/clean-disjoint/small-cnn/s1",
                "honeyimage/clean-minus-honey/small-cnn/s1",
                "random-pgd/infringing/small-cnn/s0",
                "hard-unperturbed/infringing/small-cnn/s0",
                "badnets/infringing/small-cnn/s0",
            ]
        );
        assert_eq!(p.jobs[1].result_name(Method::BadNets), "badnets/clean-disjoint/small-cnn/s0");
        assert!(p.jobs.iter().filter(|j| j.role.is_clean()).all(|j| j.data != DataRef::Release(Method::HoneyImage)));
    }

    #[test]
    fn attacks_add_one_infringing_suspect_per_method_and_a_clean_one() {
        let c = EvalConfig {
            archs: vec![ArchSpec { arch: Arch::SmallCnn, width: None, seeds: vec![0, 1] }],
            attacks: vec![Attack::Jpeg { quality: 75 }],
            baselines: crate::config::Baselines { random_pgd: false, badnets: false, ..Default::default() },
            ..EvalConfig::default()
        };
        let p = plan(&c);
        let attacked: Vec<&Job> = p.jobs.iter().filter(|j| j.attack.is_some()).collect();
        let names: Vec<&str> = attacked.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names, ["honeyimage/infringing/small-cnn/s0/jpeg-q75", "hard-unperturbed/infringing/small-cnn/s0/jpeg-q75", "all/clean-disjoint/small-cnn/s0/jpeg-q75"]);
        assert_eq!(attacked[2].judged_by, vec![Method::HoneyImage, Method::HardUnperturbed]);
        let base = attacked[0].unattacked();
        assert_eq!((base.name.as_str(), base.attack.is_none()), ("honeyimage/infringing/small-cnn/s0", true));
        assert!(p.jobs.iter().any(|j| j.name == base.name && *j == base));
    }
}
