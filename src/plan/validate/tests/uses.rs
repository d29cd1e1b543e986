//! Template variables: each name used must be defined where the template is.

use super::*;

#[test]
fn unknown_template_variables_point_into_the_string() {
    let text = format!("{HEAD}tasks = [ {{ get = \"/tools/{{{{ tool }}}}\" }} ]\n");
    let e = one_error(&text);
    assert_eq!(
        e,
        "x.toml:3:30: expected a defined variable (none is defined here: [vars], [data.NAME] and \
         capture define them), found undefined variable \"tool\""
    );
    let text = "[vars]\nbase = \"{{ token }}\"\ntoken = \"x\"\n[[users]]\nname = \"A\"\ntasks = [ { get = \"/{{ tool_id }}\" } ]\n[[users]]\nname = \"B\"\ntasks = [ { get = \"/\", capture.tool_id = \"json:$.id\" } ]\n";
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        e[0],
        "x.toml:2:12: expected a defined variable (none is defined here: [vars], [data.NAME] and \
         capture define them), found undefined variable \"token\", defined later in [vars]"
    );
    assert_eq!(
        e[1],
        "x.toml:6:24: expected a defined variable (one of base, token), found undefined variable \
         \"tool_id\", captured only by class B"
    );
}

#[test]
fn known_variables_pass() {
    let plan = ok(r#"
[vars]
token = "{{ env('T', 'x') }}"
auth = "Bearer {{ token }}"
[data.tz]
values = ["UTC", "CET"]
[defaults]
headers = { Authorization = "{{ auth }}", X-Session = "{{ session }}" }
[[users]]
name = "A"
on_start = [ { post = "/login", capture.session = "header:x-session" } ]
tasks = [ { steps = [ { get = "/t", capture.id = "json:$[0].id" }, { get = "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}" } ] } ]
"#);
    assert_eq!(plan.vars.len(), 2);
    assert_eq!(plan.vars[0].0, "token");
    assert_eq!(plan.users[0].tasks[0].name, "task 1");
    assert_eq!(plan.names.len(), 3);
    assert_eq!(
        plan.names[2].name,
        "/t/{{ id }}?tz={{ tz.value }}&u={{ uuid() }}"
    );
}

#[test]
fn requires_names_vars_and_captures_of_the_class() {
    let plan = ok(r#"
setup = [ { get = "/tools", capture.tool_ids = "json:$[*].id" } ]
[vars]
token = "x"
[[users]]
name = "A"
on_start = [ { get = "/me", capture.servers = "json:$.servers[*]" } ]
tasks = [
  { get = "/tools/{{ pick(tool_ids) }}", name = "/tools/[id]", requires = ["tool_ids"] },
  { name = "both", requires = ["servers", "token"], steps = [ { get = "/s/{{ pick(servers) }}" } ] },
  { get = "/health" },
]
"#);
    let requires: Vec<&[String]> = plan.users[0]
        .tasks
        .iter()
        .map(|t| t.requires.as_slice())
        .collect();
    assert_eq!(
        requires,
        [
            &["tool_ids".to_string()][..],
            &["servers".to_string(), "token".to_string()][..],
            &[][..],
        ]
    );
}

#[test]
fn requires_errors_point_at_the_name() {
    // Unknown, captured only by another class, a data source, not a name, twice, not a list.
    let text = r#"[data.tz]
values = ["UTC"]
[[users]]
name = "A"
tasks = [ { get = "/", requires = ["tool_idz"] }, { get = "/b", requires = ["ids", "tz"] } ]
[[users]]
name = "B"
tasks = [ { get = "/", capture.ids = "json:$[*]", requires = ["a-b", "tz"] } ]
[[users]]
name = "C"
tasks = [ { get = "/", requires = "ids" }, { get = "/c", requires = [ 1 ] } ]
"#;
    let e = errors(text);
    assert_eq!(
        e,
        [
            "x.toml:5:37: expected a defined variable (none is defined here: [vars], [data.NAME] \
             and capture define them), found undefined variable \"tool_idz\"",
            "x.toml:5:78: expected a defined variable (none is defined here: [vars], [data.NAME] \
             and capture define them), found undefined variable \"ids\", captured only by class B",
            "x.toml:5:85: expected a defined variable (none is defined here: [vars], [data.NAME] \
             and capture define them), found undefined variable \"tz\" (a data source: its row is \
             taken when the task starts, after requires is checked)",
            "x.toml:8:63: expected a variable name (letters, digits and _, not starting with a \
             digit), found \"a-b\"",
            "x.toml:8:71: expected a defined variable (one of ids), found undefined variable \
             \"tz\" (a data source: its row is taken when the task starts, after requires is \
             checked)",
            "x.toml:11:35: expected requires: an array of variable names, e.g. [\"tool_ids\"], \
             found the string \"ids\"",
            "x.toml:11:71: expected a variable name (a string), found the integer 1",
        ]
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", capture.a = \"status\", requires = [\"a\", \"a\"] }} ]\n"
    ));
    assert_eq!(
        e,
        "x.toml:3:63: expected each variable once, found \"a\" again"
    );
}
