//! Options of a configured estimator as `key=value` pairs: listed from its serde fields and
//! applied from a spec such as `p=0.2,s=20` (the bench's `--estimators mc_dropout:p=0.2,s=20`).
//! No estimator declares its options by hand: they are the fields of its config.

use serde_json::Value;

use crate::{EstimateError, EstimatorConfig};

impl EstimatorConfig {
    /// The options of this configuration as `(key, value)` in field order (`kind` excluded);
    /// values are JSON (`0.1`, `["transformer_mlp","hypernetwork"]`, `{"type":"probit"}`).
    /// `s` (the sample count, see [`EstimatorConfig::with_samples`]) is accepted besides them.
    pub fn options(&self) -> Vec<(String, String)> {
        if let Self::External(e) = self {
            return match &e.params {
                Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                _ => Vec::new(),
            };
        }
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m
                .into_iter()
                .filter(|(k, _)| k != "kind")
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// This configuration with the options of `spec` (`key=value` pairs separated by commas,
    /// commas inside `[]`, `{}` or quotes do not separate). `s=N` or `samples=N` sets the
    /// sample count; any other key must be one of [`EstimatorConfig::options`], and its value
    /// is JSON (a bare word is taken as a string, `[a,b]` as a list of strings).
    pub fn with_options(self, spec: &str) -> Result<Self, EstimateError> {
        let kind = match &self {
            Self::External(e) => e.name.clone(),
            _ => self.kind(),
        };
        let mut config = self;
        let mut patch = Vec::new();
        for item in split_top_level(spec)
            .into_iter()
            .filter(|s| !s.trim().is_empty())
        {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                EstimateError::config(
                    &kind,
                    format!("option `{item}` is not of the form key=value"),
                )
            })?;
            let (key, value) = (key.trim(), value.trim());
            if key == "s" || (key == "samples" && config.sample_count().is_some()) {
                let s: usize = value.parse().map_err(|_| {
                    EstimateError::config(&kind, format!("{key}={value}: not a sample count"))
                })?;
                if config.sample_count().is_none() {
                    return Err(EstimateError::config(&kind, "has no sample count (`s`)"));
                }
                config = config.with_samples(s);
            } else {
                patch.push((key.to_string(), parse_value(value)));
            }
        }
        if patch.is_empty() {
            return Ok(config);
        }
        if let Self::External(mut e) = config {
            let Value::Object(params) = &mut e.params else {
                return Err(EstimateError::config(&e.name, "has no options"));
            };
            for (key, value) in patch {
                if !params.contains_key(&key) {
                    let known: Vec<&String> = params.keys().collect();
                    return Err(EstimateError::config(
                        &e.name,
                        format!("unknown option `{key}`; options: {known:?}"),
                    ));
                }
                params.insert(key, value);
            }
            return Ok(Self::External(e));
        }
        let Ok(Value::Object(mut fields)) = serde_json::to_value(&config) else {
            return Err(EstimateError::config(&kind, "has no options"));
        };
        for (key, value) in patch {
            if key == "kind" || !fields.contains_key(&key) {
                let known: Vec<String> = config.options().into_iter().map(|(k, _)| k).collect();
                return Err(EstimateError::config(
                    &kind,
                    format!("unknown option `{key}`; options: s, {}", known.join(", ")),
                ));
            }
            fields.insert(key, value);
        }
        serde_json::from_value(Value::Object(fields))
            .map_err(|e| EstimateError::config(&kind, format!("options `{spec}`: {e}")))
    }

    /// The serde `kind` tag of this configuration (`mc_dropout`, `laplace_fit`, ...).
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(Value::as_str).map(String::from))
            .unwrap_or_default()
    }

    /// The sample count `S`, for the estimators that sample.
    pub fn sample_count(&self) -> Option<usize> {
        use crate::LaplacePredictive as P;
        let predictive = |p: &P| match p {
            P::Probit => None,
            P::Mc { samples } | P::PaperWeightSpace { samples } => Some(*samples),
        };
        match self {
            Self::Tta(c) => Some(c.samples),
            Self::PromptPerturbation(c) => Some(c.prompts),
            Self::McDropout(c) => Some(c.samples),
            Self::LaplaceFit(c) => predictive(&c.predictive),
            Self::Laplace(f) => f.predictive.as_ref().and_then(predictive),
            Self::External(e) => e
                .params
                .get("samples")
                .and_then(Value::as_u64)
                .and_then(|s| usize::try_from(s).ok()),
            _ => None,
        }
    }
}

/// A JSON value, else a bare word as a string, else `[a,b]` as a list of bare words.
fn parse_value(v: &str) -> Value {
    if let Ok(json) = serde_json::from_str(v) {
        return json;
    }
    if let Some(inner) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        return Value::Array(
            split_top_level(inner)
                .into_iter()
                .map(|s| parse_value(s.trim()))
                .collect(),
        );
    }
    Value::String(v.to_string())
}

/// Splits at commas outside brackets, braces and double quotes (`p=0.2,sites=[mlp,hyper]` is
/// two items); the `--estimators` spec syntax, also used by the bench to split its values.
pub fn split_top_level(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use crate::{DropoutSite, EstimatorConfig, McDropoutConfig};

    fn mc() -> EstimatorConfig {
        EstimatorConfig::preset("mc_dropout")
            .expect("preset")
            .config
    }

    #[test]
    fn options_set_fields_and_the_sample_count() {
        let c = mc().with_options("p=0.2,s=20").expect("options");
        assert_eq!(
            c,
            EstimatorConfig::McDropout(McDropoutConfig {
                p: 0.2,
                samples: 20,
                sites: vec![DropoutSite::TransformerMlp, DropoutSite::Hypernetwork],
            })
        );
        let c = mc()
            .with_options("sites=[token_attention]")
            .expect("list of words");
        let EstimatorConfig::McDropout(c) = c else {
            panic!("kind changed")
        };
        assert_eq!(c.sites, vec![DropoutSite::TokenAttention]);
    }

    #[test]
    fn bad_options_are_named() {
        let e = mc().with_options("q=1").unwrap_err().to_string();
        assert!(
            e.contains("unknown option `q`") && e.contains("sites"),
            "{e}"
        );
        let e = mc().with_options("p=abc").unwrap_err().to_string();
        assert!(e.contains("p=abc") && e.contains("mc_dropout"), "{e}");
        let e = EstimatorConfig::Entropy
            .with_options("s=3")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no sample count"), "{e}");
        let e = mc().with_options("p").unwrap_err().to_string();
        assert!(e.contains("key=value"), "{e}");
    }

    #[test]
    fn every_preset_lists_round_tripping_options() {
        for p in EstimatorConfig::presets() {
            let spec: Vec<String> = p
                .config
                .options()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let again = p
                .config
                .clone()
                .with_options(&spec.join(","))
                .expect(p.name);
            assert_eq!(again, p.config, "{}", p.name);
            assert_eq!(
                p.config.sample_count().is_some(),
                p.sampled || p.name == "tta_flip"
            );
        }
    }
}
