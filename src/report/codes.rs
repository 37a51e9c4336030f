//! Meta's error codes in words: the one table the summary line, the CSV's readers, the HTML page
//! and `flowc send` (when the provider answers a request with one of them) all explain failures
//! with, so that a code never reads two ways.
//!
//! A `failed` callback carries Meta's numeric code and a terse English title ("Re-engagement
//! message"); what a sender needs is what it means for the campaign. The meanings summarise Meta's
//! "Error codes" page (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)
//! and the provider's copy of it (https://developers.kaleyra.io/docs/cloud-api-error-codes); the
//! template codes (`131008`, `131009`, `132xxx`) come back in the answer to the request or later in
//! a callback, and where the two pages read differently the stricter reading is kept;
//! `WAV2101` is the provider's own, on its "not sent" callback
//! (https://developers.kaleyra.io/docs/wa-status-update-webhooks-payload-v2-daily-limit-reached). A
//! code not in the table is shown with the title the callback gave.

/// One code: a few words for a summary line, a sentence for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MetaCode {
    pub(crate) code: &'static str,
    /// Fits in a summary line: `131047 outside the 24-hour window: 700`.
    pub(crate) short: &'static str,
    /// What happened and what to do about it.
    pub(crate) meaning: &'static str,
    /// What the code means for a campaign when it answers the request itself.
    pub(crate) at_send: AtSend,
}

/// What `flowc send` does when the provider answers a request with the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtSend {
    /// Explained when a callback brings it; an answer to the request with it is read as any
    /// other answer is (`send::response`).
    Callback,
    /// The row's own message is wrong: the row fails and the campaign goes on.
    FailsTheRow,
    /// The template or the Flow is unusable: every later row would fail alike, so the campaign
    /// stops with its rows pending.
    StopsTheCampaign,
    /// Every later row would fail for a while: the campaign stops, rows pending, and may go on
    /// once this many seconds have passed.
    StopsFor { seconds: u64 },
}

const CODES: [MetaCode; 19] = [
    MetaCode {
        code: "131047",
        short: "outside the 24-hour window",
        meaning: "more than 24 hours since the person last wrote to the business: a Flow message is a session message, so it cannot open a conversation. Final for this row.",
        at_send: AtSend::Callback,
    },
    MetaCode {
        code: "131026",
        short: "undeliverable",
        meaning: "the message could not be delivered: the number is not on WhatsApp, its app is too old, or it cannot receive this message. Final.",
        at_send: AtSend::Callback,
    },
    MetaCode {
        code: "131049",
        short: "per-user marketing limit",
        meaning: "Meta held it back \"to maintain healthy ecosystem engagement\": the person has had their share of business messages for now. Final for now.",
        at_send: AtSend::Callback,
    },
    MetaCode {
        code: "131056",
        short: "pair rate limit",
        meaning: "too many messages to the same person in a short time (about one per 6 seconds): do not send one person several messages back to back.",
        at_send: AtSend::Callback,
    },
    MetaCode {
        code: "130429",
        short: "throughput limit",
        meaning: "the business number's messages-per-second limit was reached: send the campaign more slowly (--rate).",
        at_send: AtSend::Callback,
    },
    MetaCode {
        code: "131048",
        short: "spam rate limit",
        meaning: "too many of the number's messages were blocked or reported (its quality rating): stop the campaign and have a person look before sending more.",
        at_send: AtSend::Callback,
    },
    // The provider's own code on a `not sent` callback ("Not Sent – Daily Limit Reached").
    MetaCode {
        code: "WAV2101",
        short: "account daily limit reached",
        meaning: "the provider did not pass the message to Meta: the account's daily limit of messages was reached. Resume the next day, or after the limit is raised.",
        // The answer to a request, too: every later row would get it.
        at_send: AtSend::StopsTheCampaign,
    },
    MetaCode {
        code: "131021",
        short: "own number",
        meaning: "the recipient is the business number itself. Final.",
        at_send: AtSend::Callback,
    },
    // Template messages: the row's own message does not fit the approved template.
    MetaCode {
        code: "131008",
        short: "required parameter missing",
        meaning: "a parameter the template needs is missing (a template with a FLOW button needs its button component, with a non-empty flow_token): add it to the template message. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    MetaCode {
        code: "131009",
        short: "parameter value not valid",
        meaning: "a parameter's value is not valid (an empty or missing Flow button, a value of the wrong kind; the provider's detail names it): fix the template message or the row's value. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    MetaCode {
        code: "132000",
        short: "parameter count mismatch",
        meaning: "the message's parameters do not match the approved template's placeholders (the detail names the component: header, body or a button, each counted apart; a button's values go in its own component, never in the body): make the template message's parameters match the approved template. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    MetaCode {
        code: "132005",
        short: "hydrated text too long",
        meaning: "the template's text with the row's values filled in is longer than allowed (a text header 60 characters, the body 1,024): shorten the row's values. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    MetaCode {
        code: "132007",
        short: "format or character policy violated",
        meaning: "the template's text with the row's values breaks WhatsApp's format or character policy: change the row's values. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    MetaCode {
        code: "132012",
        short: "parameter format mismatch",
        meaning: "the values are not in the style the template was approved with (named, each with its parameter_name, or positional {{1}}, {{2}} without): send them in the approved template's style. Final for this row.",
        at_send: AtSend::FailsTheRow,
    },
    // Template messages: the template or its Flow is unusable, for every row alike.
    MetaCode {
        code: "132001",
        short: "template not found in that language",
        meaning: "the template does not exist in that language, or is not approved: every message with it fails. Check its name and language code against the account's approved templates (WhatsApp Manager, or flowc templates pull); a template message corrected after rows went out resumes with --changed-template.",
        at_send: AtSend::StopsTheCampaign,
    },
    MetaCode {
        code: "132015",
        short: "template paused (low quality)",
        meaning: "Meta paused the template for its low quality rating (people block or report it): every message with it fails while it is paused (3 hours the first time, 6 the second; a third pause disables it). See its quality in WhatsApp Manager and improve it; the rest can be sent once the pause has ended.",
        at_send: AtSend::StopsTheCampaign,
    },
    MetaCode {
        code: "132016",
        short: "template disabled",
        meaning: "Meta disabled the template after repeated pauses for low quality: it cannot be sent again. Have a new template approved (with the Flow button) and send with it (the template message changed after rows went out resumes with --changed-template).",
        at_send: AtSend::StopsTheCampaign,
    },
    MetaCode {
        code: "132068",
        short: "Flow blocked",
        meaning: "Meta blocked the Flow the message opens: every message with it fails. Look at the Flow's status in WhatsApp Manager and fix it before sending more.",
        at_send: AtSend::StopsTheCampaign,
    },
    MetaCode {
        code: "132069",
        short: "Flow throttled",
        meaning: "Meta throttled the Flow the message opens: only 10 messages an hour may carry it. Send the rest an hour later, or fix the Flow's status in WhatsApp Manager.",
        at_send: AtSend::StopsFor { seconds: 3_600 },
    },
];

/// The words for a code Meta documents, or `None`.
pub(crate) fn explain(code: &str) -> Option<&'static MetaCode> {
    CODES.iter().find(|known| known.code == code.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_every_documented_code_has_its_words() {
        for (code, short) in [
            ("131047", "outside the 24-hour window"),
            ("131026", "undeliverable"),
            ("131049", "per-user marketing limit"),
            ("131056", "pair rate limit"),
            ("130429", "throughput limit"),
            ("131048", "spam rate limit"),
            ("131021", "own number"),
            ("WAV2101", "account daily limit reached"),
            ("131008", "required parameter missing"),
            ("131009", "parameter value not valid"),
            ("132000", "parameter count mismatch"),
            ("132001", "template not found in that language"),
            ("132005", "hydrated text too long"),
            ("132007", "format or character policy violated"),
            ("132012", "parameter format mismatch"),
            ("132015", "template paused (low quality)"),
            ("132016", "template disabled"),
            ("132068", "Flow blocked"),
            ("132069", "Flow throttled"),
        ] {
            assert_eq!(explain(code).map(|known| known.short), Some(short), "{code}");
        }
        assert_eq!(explain(" 131047 ").map(|known| known.code), Some("131047"));
        assert_eq!(explain("131000"), None);
    }

    /// A code that fails every later row stops the campaign; one about the row's own values
    /// fails that row; the throttle says how long to wait.
    #[test]
    fn template_codes_say_what_they_do_to_a_campaign() {
        for code in ["132001", "132015", "132016", "132068", "WAV2101"] {
            assert_eq!(
                explain(code).map(|known| known.at_send),
                Some(AtSend::StopsTheCampaign),
                "{code}"
            );
        }
        assert_eq!(
            explain("132069").map(|known| known.at_send),
            Some(AtSend::StopsFor { seconds: 3_600 })
        );
        for code in ["132000", "132005", "132007", "132012", "131008", "131009"] {
            assert_eq!(
                explain(code).map(|known| known.at_send),
                Some(AtSend::FailsTheRow),
                "{code}"
            );
        }
        let codes: std::collections::HashSet<&str> = CODES.iter().map(|known| known.code).collect();
        assert_eq!(codes.len(), CODES.len(), "each code once");
    }
}
