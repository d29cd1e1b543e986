//! `publish`/`subscribe`: where they may go, their keys, the topic rows, both sides present.

use super::*;

const SUB: &str =
    "{ sse = \"/b\", for = \"1m\", subscribe = { topic = \"alerts\", key = \"json:$.id\" } }";

#[test]
fn a_publisher_and_a_subscriber_share_the_topic_rows() {
    let plan = ok(&format!(
        "{HEAD}tasks = [ {{ post = \"/broadcast\", publish = {{ topic = \"alerts\", key = \"json:$.id\" }} }}, {SUB} ]\n"
    ));
    let steps = &plan.users[0].tasks;
    let publish = steps[0].steps[0].fanout.as_ref().expect("publish");
    let subscribe = steps[1].steps[0].fanout.as_ref().expect("subscribe");
    assert_eq!(
        (publish.role, subscribe.role),
        (FanoutRole::Publish, FanoutRole::Subscribe)
    );
    assert_eq!(publish.counts_row, subscribe.counts_row);
    assert_eq!(publish.delivery_row, subscribe.delivery_row);
    let name = |id: NameId| {
        let n = &plan.names[id.index()];
        format!("{} {}", n.kind, n.name)
    };
    assert_eq!(name(publish.counts_row), "FANOUT alerts");
    assert_eq!(name(publish.delivery_row), "FANOUT alerts [delivery]");
    assert_eq!(publish.key_text, "json:$.id");
    // ws subscribers and rpc publishers too; a regex key
    ok(&format!(
        "{HEAD}tasks = [ {{ rpc = \"notify\", publish = {{ topic = \"t\", key = \"regex:id.(\\\\d+)\" }} }}, \
         {{ ws = \"/w\", for = \"1m\", subscribe = {{ topic = \"t\", key = \"json:$.id\" }} }} ]\n"
    ));
}

#[test]
fn each_side_on_its_own_step_kinds() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ sse = \"/b\", for = \"1m\", publish = {{ topic = \"a\", key = \"json:$.id\" }} }}, {SUB} ]\n"
    ));
    assert!(
        e.starts_with("x.toml:3:37: expected one of events, for, post, headers, reconnect, min_events, subscribe,")
            && e.ends_with("found unknown key \"publish\""),
        "{e}"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ get = \"/\", subscribe = {{ topic = \"alerts\", key = \"json:$.id\" }} }}, {SUB} ]\n"
    ));
    assert!(e.contains("found unknown key \"subscribe\""), "{e}");
}

#[test]
fn a_topic_needs_both_sides() {
    let e = one_error(&format!("{HEAD}tasks = [ {SUB} ]\n"));
    assert_eq!(
        e,
        "x.toml:3:49: expected a publish = { topic = \"alerts\", .. } on an http or rpc step, \
         found topic \"alerts\" is subscribed to but nobody publishes it"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ post = \"/b\", publish = {{ topic = \"news\", key = \"json:$.id\" }} }} ]\n"
    ));
    assert!(
        e.ends_with("found topic \"news\" is published but nobody subscribes to it"),
        "{e}"
    );
}

#[test]
fn keys_and_topics_are_checked() {
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ post = \"/b\", publish = {{ topic = \"alerts\", key = \"json:$[*].id\" }} }}, {SUB} ]\n"
    ));
    assert!(
        e.contains("expected a singular JSONPath") && e.ends_with("found \"$[*].id\""),
        "{e}"
    );
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ post = \"/b\", publish = {{ topic = \"alerts\", key = \"status\" }} }}, {SUB} ]\n"
    ));
    assert!(e.contains("expected key: \"json:$.path\""), "{e}");
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ post = \"/b\", publish = {{ key = \"json:$.id\" }} }}, {SUB} ]\n"
    ));
    assert!(e.contains("expected topic: a name"), "{e}");
    let e = one_error(&format!(
        "{HEAD}tasks = [ {{ post = \"/b\", publish = {{ topic = \"alerts\", key = \"json:$.id\", qos = 1 }} }}, {SUB} ]\n"
    ));
    assert!(e.contains("found unknown key \"qos\""), "{e}");
}
