//! What Kubernetes accepts as a name, a quantity, a ConfigMap key or a mounted path, checked here
//! so that a bad value is refused by `hornet` naming its flag, not later by the API server.
//! Each check returns the reason without the flag: the caller names it.

use std::collections::BTreeSet;
use std::path::{Component, Path};

/// `--name`: a DNS-1035 label short enough that the agents' pods, named `NAME-agents-INDEX`
/// by the Indexed Job (index up to 999), still have a hostname of at most 63 characters.
pub const MAX_NAME_LEN: usize = 52;

/// A DNS-1123 label's length (namespaces).
pub const MAX_LABEL_LEN: usize = 63;

/// A ConfigMap key's length.
const MAX_KEY_LEN: usize = 253;

/// The name the objects are called by: a DNS-1035 label (a Service's name must be one) of at
/// most [`MAX_NAME_LEN`] characters.
pub fn check_name(s: &str) -> Result<(), String> {
    label(s, MAX_NAME_LEN, true).map_err(|why| {
        format!(
            "{why}: it names Services and a Job, so it must be a DNS-1035 label (lower-case \
             letters, digits and '-', starting with a letter, ending with a letter or digit, at \
             most {MAX_NAME_LEN} characters so the pods NAME-agents-INDEX stay within 63)"
        )
    })
}

/// A namespace: a DNS-1123 label.
pub fn check_namespace(s: &str) -> Result<(), String> {
    label(s, MAX_LABEL_LEN, false).map_err(|why| {
        format!(
            "{why}: a namespace must be a DNS-1123 label (lower-case letters, digits and '-', \
             starting and ending with a letter or digit, at most {MAX_LABEL_LEN} characters)"
        )
    })
}

fn label(s: &str, max: usize, letter_first: bool) -> Result<(), String> {
    let Some(first) = s.chars().next() else {
        return Err("it is empty".into());
    };
    if s.len() > max {
        return Err(format!("{s:?} has {} characters", s.len()));
    }
    if let Some(bad) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("{s:?} has {bad:?}"));
    }
    if letter_first && !first.is_ascii_lowercase() {
        return Err(format!("{s:?} does not start with a letter"));
    }
    if first == '-' {
        return Err(format!("{s:?} starts with '-'"));
    }
    if s.ends_with('-') {
        return Err(format!("{s:?} ends with '-'"));
    }
    Ok(())
}

/// A container image reference: not empty, no white space (the registry checks the rest).
pub fn check_image(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(
            "the image is empty: give the image both the coordinator and the agents \
                    run, e.g. registry.example.com/hornet:0.1.0"
                .into(),
        );
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!("{s:?} has white space"));
    }
    Ok(())
}

/// A bearer token: visible ASCII (it travels in an `Authorization` header), not empty.
pub fn check_token(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the token is empty (leave the flag out to get a random one)".into());
    }
    if let Some(bad) = s.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "the token has {bad:?}: use visible ASCII characters only (it is sent in an \
             Authorization header)"
        ));
    }
    Ok(())
}

/// A resource quantity as Kubernetes writes them (`1`, `500m`, `1.5`, `512Mi`, `2G`, `1e3`),
/// greater than zero.
pub fn check_quantity(s: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "{s:?} is not a Kubernetes quantity greater than 0 (e.g. 1, 500m, 2 for CPU; \
             512Mi, 1Gi for memory)"
        )
    };
    let unsigned = s.strip_prefix('+').unwrap_or(s);
    let digits_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(digits_end);
    let well_formed_number = number.chars().filter(|&c| c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let known_suffix = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    ) || exponent(suffix);
    let positive = number.chars().any(|c| ('1'..='9').contains(&c));
    if well_formed_number && known_suffix && positive {
        Ok(())
    } else {
        Err(bad())
    }
}

/// `e3`, `E-2`: a decimal exponent suffix.
fn exponent(suffix: &str) -> bool {
    let Some(rest) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A ConfigMap key for the file `path` (a relative path with `/`): its base name with every
/// character a key may not hold (`[-._a-zA-Z0-9]`) turned into `_`, made unique among `taken`
/// with `-2`, `-3`... before the extension. The mount maps the key back to the path.
pub fn configmap_key(path: &str, taken: &BTreeSet<String>) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut key: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." (and keys starting with "..") are refused.
    if key.is_empty() || key.starts_with("..") || key == "." {
        key.insert(0, 'f');
    }
    // Leave room for a "-NNNN" suffix.
    key.truncate(MAX_KEY_LEN - 8);
    if !taken.contains(&key) {
        return key;
    }
    let (stem, ext) = match key.rfind('.') {
        Some(dot) if dot > 0 => key.split_at(dot),
        _ => (key.as_str(), ""),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|k| !taken.contains(k))
        .unwrap_or_default()
}

/// Where a data file goes under the plans folder: its path relative to the plan's folder
/// (`plan_dir`), as the plan names it, with `/` separators. Refused when the file is not inside
/// that folder (an absolute path elsewhere, or `..`): in the cluster the plan sits in `/plans`
/// and may read only what is mounted beside it.
pub fn mount_path(plan_dir: &Path, file: &Path) -> Result<String, String> {
    let outside = || {
        format!(
            "{} is not inside the plan's folder {}: in the cluster the plan is mounted at \
             /plans with its data files beside it, so name them by a path relative to the \
             plan, inside its folder",
            file.display(),
            if plan_dir.as_os_str().is_empty() {
                ".".into()
            } else {
                plan_dir.display().to_string()
            }
        )
    };
    let relative = file.strip_prefix(plan_dir).map_err(|_| outside())?;
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(
                part.to_str()
                    .ok_or_else(|| format!("{}: the path is not UTF-8", file.display()))?,
            ),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside())
            }
        }
    }
    if parts.is_empty() {
        return Err(outside());
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_1035_labels_that_leave_room_for_the_pod_index() {
        assert_eq!(check_name("hornet"), Ok(()));
        assert_eq!(check_name("load-test-2"), Ok(()));
        assert_eq!(check_name(&"a".repeat(MAX_NAME_LEN)), Ok(()));
        for bad in ["", "Hornet", "2hornet", "-x", "x-", "a_b", "a.b"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        let long = check_name(&"a".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert!(long.contains("has 53 characters"), "{long}");
        assert!(check_name("a_b").unwrap_err().contains("has '_'"));
    }

    #[test]
    fn namespaces_are_dns_1123_labels() {
        assert_eq!(check_namespace("load-tests"), Ok(()));
        assert_eq!(check_namespace("2024-q3"), Ok(()), "may start with a digit");
        for bad in ["", "Load", "a.b", "-a", "a-", &"a".repeat(64)] {
            assert!(check_namespace(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn quantities() {
        for good in [
            "1", "500m", "0.5", "1.5", "512Mi", "1Gi", "2G", "1e3", "+2", ".5",
        ] {
            assert_eq!(check_quantity(good), Ok(()), "{good:?}");
        }
        for bad in [
            "", "0", "0m", "-1", "1.2.3", "512MB", "lots", "1 Gi", "Mi", "1e",
        ] {
            assert!(check_quantity(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn images_and_tokens() {
        assert_eq!(check_image("registry.example.com/hornet:0.1"), Ok(()));
        assert!(check_image(" ").is_err());
        assert!(check_image("a b").is_err());
        assert_eq!(check_token("s3cret-Token_1"), Ok(()));
        assert!(check_token("").is_err());
        assert!(check_token("two words").is_err());
        assert!(check_token("tab\t").is_err());
    }

    #[test]
    fn keys_keep_the_base_name_and_stay_unique() {
        let mut taken = BTreeSet::new();
        let mut key = |path: &str| {
            let k = configmap_key(path, &taken);
            taken.insert(k.clone());
            k
        };
        assert_eq!(key("demo.toml"), "demo.toml");
        assert_eq!(key("data/users.csv"), "users.csv");
        assert_eq!(key("more/users.csv"), "users-2.csv");
        assert_eq!(key("x/users.csv"), "users-3.csv");
        assert_eq!(key("data/my users (1).csv"), "my_users__1_.csv");
        assert_eq!(key("data/..hidden"), "f..hidden");
        assert_eq!(key("data/README"), "README");
        assert_eq!(key("other/README"), "README-2");
        assert_eq!(key("été.csv"), "_t_.csv");
    }

    #[test]
    fn mount_paths_are_relative_to_the_plan_and_inside_its_folder() {
        let dir = Path::new("/work/plans");
        assert_eq!(
            mount_path(dir, Path::new("/work/plans/data/users.csv")),
            Ok("data/users.csv".into())
        );
        assert_eq!(
            mount_path(dir, &dir.join("./data/./users.csv")),
            Ok("data/users.csv".into())
        );
        assert_eq!(
            mount_path(Path::new(""), Path::new("users.csv")),
            Ok("users.csv".into())
        );
        let up = mount_path(dir, &dir.join("../users.csv")).unwrap_err();
        assert!(
            up.contains("not inside the plan's folder /work/plans"),
            "{up}"
        );
        assert!(mount_path(dir, Path::new("/etc/users.csv")).is_err());
    }
}
