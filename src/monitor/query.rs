//! A Prometheus server's instant query API: `GET <url>/api/v1/query?query=<PromQL>`, every
//! series of the answer summed into one value.

use serde_json::Value;

/// The URL of the instant query for `promql` on the server at `base`.
pub fn query_url(base: &str, promql: &str) -> Result<String, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    let path = format!("{}/api/v1/query", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.query_pairs_mut().clear().append_pair("query", promql);
    Ok(url.into())
}

/// The sum of an answer's values (a vector of series, or a scalar); Err with the server's own
/// error, or when the answer is not what the API documents.
pub fn answer_value(body: &[u8]) -> Result<f64, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a query API answer: {e}"))?;
    if v["status"] != "success" {
        return Err(format!(
            "query failed: {} {}",
            v["errorType"].as_str().unwrap_or("error"),
            v["error"].as_str().unwrap_or("")
        ));
    }
    let data = &v["data"];
    let sample = |pair: &Value| -> Result<f64, String> {
        pair.get(1)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| format!("a sample that is not [time, \"value\"]: {pair}"))
    };
    match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"]
                .as_array()
                .ok_or_else(|| "a vector answer without a result list".to_string())?;
            if result.is_empty() {
                return Err("the query matched no series".to_string());
            }
            result.iter().map(|s| sample(&s["value"])).sum()
        }
        Some("scalar") => sample(&data["result"]),
        other => Err(format!(
            "a {} answer (an instant vector or a scalar was expected)",
            other.unwrap_or("missing")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_sum_their_series() {
        // as Prometheus 2.42 answered `demo_leaked_bytes` and `sum by (job) (up)`
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"a"},"value":[1700000000.123,"1"]},
            {"metric":{"__name__":"up","job":"b"},"value":[1700000000.123,"2.5"]}]}}"#;
        assert_eq!(answer_value(vector), Ok(3.5));
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.5,"42"]}}"#;
        assert_eq!(answer_value(scalar), Ok(42.0));
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(
            answer_value(empty),
            Err("the query matched no series".into())
        );
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        assert_eq!(
            answer_value(bad),
            Err("query failed: bad_data parse error at char 4".into())
        );
        assert_eq!(
            query_url("http://127.0.0.1:9090/", "sum(x{a=\"b\"})").unwrap(),
            "http://127.0.0.1:9090/api/v1/query?query=sum%28x%7Ba%3D%22b%22%7D%29"
        );
    }
}
