//! The one estimator registry of a run: the built-in presets of
//! [`EstimatorConfig::presets`] (names, defaults and options come from there alone) plus the
//! estimators a third-party crate registers through [`ExternalEstimators`]; `--estimators`
//! specs (`mc_dropout:p=0.2,s=20`, a JSON / TOML file of configs) select and configure them,
//! and every selected one is built as a plain [`UncertaintyEstimator`].

use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use serde::Deserialize;
use uncertsam_estimate::{
    EstimatorConfig, ExternalConfig, FitSample, Segmenter, UncertaintyEstimator,
};

use crate::args::BenchArgs;

/// Estimators a crate outside this workspace adds to the benchmark (see
/// `docs/adding-an-estimator.md`): it lists named presets, each an
/// [`EstimatorConfig::External`] config, and builds them for a run's model. Pass it to
/// [`crate::run_with`] from the crate's own small binary.
pub trait ExternalEstimators {
    /// The presets, in table order after the built-ins. Their `params` are the options a
    /// `--estimators name:key=value` spec may set (`s` sets `params.samples` when present).
    fn presets(&self) -> Vec<ExternalPreset>;

    /// Builds the estimator `config` (one of the presets, options applied) for `ctx.model`.
    fn build<B: Backend>(
        &self,
        config: &ExternalConfig,
        ctx: &BuildContext<'_, B>,
    ) -> Result<Box<dyn UncertaintyEstimator<B>>>;
}

/// A registered third-party estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct ExternalPreset {
    /// The name `--estimators` selects it by; also the `name` of its [`ExternalConfig`].
    pub name: String,
    /// One line on what it is.
    pub about: String,
    /// Its default options (a JSON object).
    pub params: serde_json::Value,
}

/// No third-party estimators: the `uncertsam` binary.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoExternal;

impl ExternalEstimators for NoExternal {
    fn presets(&self) -> Vec<ExternalPreset> {
        Vec::new()
    }

    fn build<B: Backend>(
        &self,
        config: &ExternalConfig,
        _ctx: &BuildContext<'_, B>,
    ) -> Result<Box<dyn UncertaintyEstimator<B>>> {
        bail!("no external estimator `{}` is registered", config.name)
    }
}

/// What an external estimator is built from: the run's model and options, and its data.
pub struct BuildContext<'a, B: Backend> {
    /// The run's model.
    pub model: &'a dyn Segmenter<B>,
    /// The run's options (`--seed`, `--quick`, `--data`, ...).
    pub args: &'a BenchArgs,
}

impl<B: Backend> BuildContext<'_, B> {
    /// The first `images` clean training images (`Synth-Clean/train` under `--data`), each
    /// encoded once, with one tight box per mask: data to fit on.
    pub fn fit_samples(&self, images: usize) -> Result<impl Iterator<Item = FitSample<B>> + '_> {
        crate::fitted::fit_samples(self.model, &self.args.data, Some(images), self.args.seed)
    }
}

/// One selectable estimator.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// One line on what it is.
    pub about: String,
    /// Whether `--samples` sets its sample count.
    pub sampled: bool,
    /// Its default configuration.
    pub config: EstimatorConfig,
}

/// The built-in estimators and those of `external`.
pub struct Registry<'a, E: ExternalEstimators> {
    external: &'a E,
}

/// A file of estimator configs: a JSON list (or `{"estimators": [...]}`), or TOML with
/// `[[estimators]]` tables; each is an [`EstimatorConfig`] (`kind` plus its fields).
#[derive(Deserialize)]
#[serde(untagged)]
enum ConfigFile {
    List(Vec<EstimatorConfig>),
    Table { estimators: Vec<EstimatorConfig> },
}

impl<'a, E: ExternalEstimators> Registry<'a, E> {
    /// The registry of the built-ins plus `external`.
    pub fn new(external: &'a E) -> Self {
        Self { external }
    }

    /// Every estimator, in table order: the built-ins, then the external ones.
    pub fn entries(&self) -> Vec<Entry> {
        let builtin = EstimatorConfig::presets().into_iter().map(|p| Entry {
            name: p.name.to_string(),
            about: p.about.to_string(),
            sampled: p.sampled,
            config: p.config,
        });
        let external = self.external.presets().into_iter().map(|p| Entry {
            sampled: p.params.get("samples").is_some(),
            config: EstimatorConfig::External(ExternalConfig {
                name: p.name.clone(),
                params: p.params,
            }),
            name: p.name,
            about: p.about,
        });
        builtin.chain(external).collect()
    }

    /// `--list-estimators`: each name, what it is, and its options with their defaults.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for e in self.entries() {
            out.push_str(&format!("{:<24} {}\n", e.name, e.about));
            let options: Vec<String> = e
                .config
                .options()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let s = if e.sampled { "s (--samples), " } else { "" };
            if !options.is_empty() || e.sampled {
                out.push_str(&format!("{:<24}   options: {s}{}\n", "", options.join(" ")));
            }
        }
        out.push_str(
            "\nselect with --estimators NAME[:key=value,...],... or a .json / .toml file of \
             configs\n",
        );
        out
    }

    /// The configurations `args.estimators` selects (all entries when empty), sample counts
    /// from `--samples` for the sampled presets and options applied. Named specs come in table
    /// order (as given for repeats of one name), then the configs of files in file order.
    pub fn select(&self, args: &BenchArgs) -> Result<Vec<EstimatorConfig>> {
        let entries = self.entries();
        let s = args.samples.max(1);
        let preset = |e: &Entry| {
            if e.sampled {
                e.config.clone().with_samples(s)
            } else {
                e.config.clone()
            }
        };
        if args.estimators.is_empty() {
            return Ok(entries.iter().map(preset).collect());
        }
        let mut named: Vec<(usize, EstimatorConfig)> = Vec::new();
        let mut from_files = Vec::new();
        for spec in specs(&args.estimators) {
            if is_config_file(&spec) {
                from_files.extend(read_config_file(Path::new(&spec))?);
                continue;
            }
            let (name, options) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
            let Some(index) = entries.iter().position(|e| e.name == name) else {
                let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
                bail!(
                    "unknown estimator `{name}`; available: {} (or a .json / .toml file)",
                    names.join(", ")
                );
            };
            let config = preset(&entries[index])
                .with_options(options)
                .with_context(|| format!("--estimators `{spec}`"))?;
            if !named.iter().any(|(_, c)| *c == config) {
                named.push((index, config));
            }
        }
        named.sort_by_key(|(i, _)| *i);
        Ok(named
            .into_iter()
            .map(|(_, c)| c)
            .chain(from_files)
            .collect())
    }

    /// Builds the selected estimators for `sam`: files the run's model needs are resolved
    /// (embedded fits, or Laplace fitted once per run; an ensemble or variance network this
    /// model lacks is skipped with a note), external ones built by their crate.
    pub fn build<B: Backend>(
        &self,
        sam: &dyn Segmenter<B>,
        args: &BenchArgs,
    ) -> Result<Vec<Box<dyn UncertaintyEstimator<B>>>> {
        let mut out = Vec::new();
        for config in self.select(args)? {
            let kind = config.kind();
            let Some(config) = crate::fitted::resolve(sam, args, config)? else {
                continue;
            };
            let built = match &config {
                EstimatorConfig::External(e) => {
                    let ctx = BuildContext { model: sam, args };
                    self.external
                        .build(&e.clone(), &ctx)
                        .with_context(|| format!("building external estimator `{}`", e.name))?
                }
                EstimatorConfig::Laplace(f) => config
                    .build(sam)
                    .with_context(|| format!("loading {}", f.dir.display()))?,
                _ => config
                    .build(sam)
                    .with_context(|| format!("building estimator `{kind}`"))?,
            };
            out.push(built);
        }
        Ok(out)
    }
}

/// Whether an `--estimators` item names a config file.
fn is_config_file(spec: &str) -> bool {
    [".json", ".toml"].iter().any(|x| spec.ends_with(x)) && !spec.contains(':')
}

/// The estimator configs of a `.json` or `.toml` file.
fn read_config_file(path: &Path) -> Result<Vec<EstimatorConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: ConfigFile = if path.extension().is_some_and(|x| x == "toml") {
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    } else {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    };
    Ok(match file {
        ConfigFile::List(l) | ConfigFile::Table { estimators: l } => l,
    })
}

/// The specs of `--estimators` values: split at top-level commas, where an item with `=` but
/// no `:` continues the previous spec's options (`mc_dropout:p=0.2,s=20` is one spec).
pub fn specs(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        for item in uncertsam_estimate::split_top_level(value) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(last) if item.contains('=') && !item.contains(':') && last.contains(':') => {
                    last.push(',');
                    last.push_str(item);
                }
                _ => out.push(item.to_string()),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(estimators: &[&str]) -> BenchArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let mut argv = vec!["bench".to_string(), "--samples".into(), "4".into()];
        for e in estimators {
            argv.push("--estimators".into());
            argv.push((*e).into());
        }
        Cli::parse_from(argv).bench
    }

    #[test]
    fn specs_keep_options_together() {
        let v = vec!["entropy,mc_dropout:p=0.2,s=20,tta:sites=[a,b],iou_head".to_string()];
        assert_eq!(
            specs(&v),
            [
                "entropy",
                "mc_dropout:p=0.2,s=20",
                "tta:sites=[a,b]",
                "iou_head"
            ]
        );
    }

    #[test]
    fn selection_is_in_table_order_with_samples_and_options() {
        let reg = Registry::new(&NoExternal);
        let all = reg.select(&args(&[])).expect("all");
        assert_eq!(all.len(), reg.entries().len());
        assert_eq!(
            all[6].sample_count(),
            Some(4),
            "--samples applies to mc_dropout"
        );
        let two = reg
            .select(&args(&["mc_dropout:p=0.2,s=20,entropy"]))
            .expect("two");
        assert_eq!(two[0], EstimatorConfig::Entropy);
        assert_eq!(two[1].sample_count(), Some(20));
        assert!(two[1].options().contains(&("p".into(), "0.2".into())));
        let e = reg.select(&args(&["nope"])).unwrap_err().to_string();
        assert!(
            e.contains("unknown estimator `nope`") && e.contains("mc_dropout"),
            "{e}"
        );
        let e = format!("{:#}", reg.select(&args(&["mc_dropout:q=1"])).unwrap_err());
        assert!(e.contains("unknown option `q`"), "{e}");
    }

    #[test]
    fn config_files_list_estimators() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = dir.path().join("e.json");
        std::fs::write(
            &json,
            r#"[{"kind": "entropy"}, {"kind": "mc_dropout", "p": 0.3, "samples": 5}]"#,
        )
        .expect("write");
        let toml = dir.path().join("e.toml");
        std::fs::write(
            &toml,
            "[[estimators]]\nkind = \"mc_dropout\"\np = 0.3\nsamples = 5\n",
        )
        .expect("write");
        let reg = Registry::new(&NoExternal);
        let from_json = reg
            .select(&args(&[json.to_str().expect("utf-8")]))
            .expect("json");
        assert_eq!(from_json.len(), 2);
        let from_toml = reg
            .select(&args(&[toml.to_str().expect("utf-8")]))
            .expect("toml");
        assert_eq!(from_toml, from_json[1..]);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"[{"kind": "nope"}]"#).expect("write");
        let e = format!(
            "{:#}",
            reg.select(&args(&[bad.to_str().expect("utf-8")]))
                .unwrap_err()
        );
        assert!(e.contains("bad.json"), "{e}");
    }

    #[test]
    fn the_listing_names_every_estimator_and_its_options() {
        let text = Registry::new(&NoExternal).describe();
        for p in EstimatorConfig::presets() {
            assert!(text.contains(p.name), "{}", p.name);
        }
        assert!(text.contains("p=0.1"), "{text}");
    }
}
