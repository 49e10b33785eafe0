//! Amazon ECR image actions as EventBridge delivers them to an API destination (the event itself,
//! no input transformer): `source: aws.ecr`, `detail-type: ECR Image Action`, and in `detail` the
//! `action-type` (`PUSH`, `DELETE`), `result` (`SUCCESS`, `FAILURE`), `repository-name`,
//! `image-digest` and, for tagged pushes only, `image-tag`. The registry host is not in the event:
//! it is built from `account` and `region`.

use super::fields::{self, Fields};
use super::push::{Pushed, Unused};

const SENDER: &str = "ecr";

/// The tag a successful ECR push event names, on `<account>.dkr.ecr.<region>.amazonaws.com`
/// (`.amazonaws.com.cn` in the China regions).
pub fn parse(body: &[u8]) -> Result<Vec<Pushed>, Unused> {
    let value = fields::json(SENDER, body)?;
    let root = Fields::root(SENDER, &value)?;
    let source = root.str("source")?;
    let detail_type = root.str("detail-type")?;
    if source != "aws.ecr" || detail_type != "ECR Image Action" {
        return Err(Unused::Ignored(format!(
            "ecr: {source}/{detail_type:?} is not aws.ecr/\"ECR Image Action\""
        )));
    }
    let detail = root.object("detail")?;
    let action = detail.str("action-type")?;
    let result = detail.str("result")?;
    if action != "PUSH" || result != "SUCCESS" {
        return Err(Unused::Ignored(format!(
            "ecr: {action} {result} is not PUSH SUCCESS"
        )));
    }
    let host = registry(&root)?;
    let repository = detail.non_empty_str("repository-name")?;
    let tag = fields::tag(SENDER, "detail.image-tag", detail.optional_str("image-tag")?)
        .map_err(Unused::Ignored)?;
    Ok(vec![Pushed {
        host,
        path: repository.to_owned(),
        tag: tag.to_owned(),
        digest: fields::non_empty(detail.optional_str("image-digest")?).map(str::to_owned),
        id: fields::non_empty(root.optional_str("id")?).map(str::to_owned),
    }])
}

/// The private registry of the event's account in its region.
fn registry(root: &Fields<'_>) -> Result<String, Unused> {
    let label = |key: &str| -> Result<String, Unused> {
        let text = root.non_empty_str(key)?;
        if text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            Ok(text.to_ascii_lowercase())
        } else {
            Err(root.malformed(key, &format!("{text:?} is not a host label")))
        }
    };
    let account = label("account")?;
    let region = label("region")?;
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(format!("{account}.dkr.ecr.{region}.{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fields::testing;

    macro_rules! golden {
        ($file:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/senders/ecr/",
                $file
            ))
        };
    }

    const PUSH: &[u8] = golden!("image_push.json");
    const DELETE: &[u8] = golden!("image_delete.json");

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).expect("fixtures are UTF-8")
    }

    #[test]
    fn the_documented_push_names_the_account_registry_repository_tag_digest_and_event_id() {
        assert_eq!(
            parse(PUSH),
            Ok(vec![Pushed {
                host: "123456789012.dkr.ecr.us-west-2.amazonaws.com".into(),
                path: "my-repo".into(),
                tag: "latest".into(),
                digest: Some("sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234".into()),
                id: Some("13cde686-328b-6117-af20-0e5566167482".into()),
            }])
        );
    }

    #[test]
    fn china_regions_use_the_china_partition_domain() {
        let body = text(PUSH).replace("us-west-2", "cn-north-1");
        assert_eq!(
            parse(body.as_bytes()).expect("a push")[0].host,
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn deletes_failures_untagged_pushes_and_other_events_are_ignored() {
        assert_eq!(
            parse(DELETE),
            Err(Unused::Ignored("ecr: DELETE SUCCESS is not PUSH SUCCESS".into()))
        );
        let failed = text(PUSH).replace("\"SUCCESS\"", "\"FAILURE\"");
        assert_eq!(
            parse(failed.as_bytes()),
            Err(Unused::Ignored("ecr: PUSH FAILURE is not PUSH SUCCESS".into()))
        );
        let untagged = text(PUSH).replace(",\n        \"image-tag\": \"latest\"", "");
        assert_eq!(
            parse(untagged.as_bytes()),
            Err(Unused::Ignored(
                "ecr: detail.image-tag is empty: an untagged push".into()
            ))
        );
        let scan = text(PUSH).replace("ECR Image Action", "ECR Image Scan");
        assert_eq!(
            parse(scan.as_bytes()),
            Err(Unused::Ignored(
                "ecr: aws.ecr/\"ECR Image Scan\" is not aws.ecr/\"ECR Image Action\"".into()
            ))
        );
    }

    #[test]
    fn events_without_detail_account_or_repository_are_malformed() {
        assert!(matches!(parse(b"}"), Err(Unused::Malformed(m)) if m.starts_with("ecr: not JSON")));
        assert_eq!(
            parse(br#"{"source":"aws.ecr","detail-type":"ECR Image Action"}"#),
            Err(Unused::Malformed("ecr: detail is missing".into()))
        );
        let no_account = text(PUSH).replace("\"account\": \"123456789012\",\n", "");
        assert_eq!(
            parse(no_account.as_bytes()),
            Err(Unused::Malformed("ecr: account is missing".into()))
        );
        let odd_region = text(PUSH).replace("\"us-west-2\"", "\"us-west-2/x\"");
        assert_eq!(
            parse(odd_region.as_bytes()),
            Err(Unused::Malformed(
                "ecr: region \"us-west-2/x\" is not a host label".into()
            ))
        );
        let no_repository = text(PUSH).replace("\"repository-name\"", "\"repository\"");
        assert_eq!(
            parse(no_repository.as_bytes()),
            Err(Unused::Malformed("ecr: detail.repository-name is missing".into()))
        );
    }

    #[test]
    fn truncated_and_mangled_deliveries_never_panic() {
        testing::never_panics(parse, &[PUSH, DELETE]);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            testing::keeps_the_rules(&parse(&bytes));
        }
    }
}
