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
