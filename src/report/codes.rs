//! Meta's error codes after acceptance, in words: the one table the summary line, the CSV's
//! readers and the HTML page all explain failures with.
//!
//! A `failed` callback carries Meta's numeric code and a terse English title ("Re-engagement
//! message"); what a sender needs is what it means for the campaign. The meanings summarise Meta's
//! "Error codes" page (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)
//! and the provider's copy of it (https://developers.kaleyra.io/docs/cloud-api-error-codes);
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
}

const CODES: [MetaCode; 8] = [
    MetaCode {
        code: "131047",
        short: "outside the 24-hour window",
        meaning: "more than 24 hours since the person last wrote to the business: a Flow message is a session message, so it cannot open a conversation. Final for this row.",
    },
    MetaCode {
        code: "131026",
        short: "undeliverable",
        meaning: "the message could not be delivered: the number is not on WhatsApp, its app is too old, or it cannot receive this message. Final.",
    },
    MetaCode {
        code: "131049",
        short: "per-user marketing limit",
        meaning: "Meta held it back \"to maintain healthy ecosystem engagement\": the person has had their share of business messages for now. Final for now.",
    },
    MetaCode {
        code: "131056",
        short: "pair rate limit",
        meaning: "too many messages to the same person in a short time (about one per 6 seconds): do not send one person several messages back to back.",
    },
    MetaCode {
        code: "130429",
        short: "throughput limit",
        meaning: "the business number's messages-per-second limit was reached: send the campaign more slowly (--rate).",
    },
    MetaCode {
        code: "131048",
        short: "spam rate limit",
        meaning: "too many of the number's messages were blocked or reported (its quality rating): stop the campaign and have a person look before sending more.",
    },
    // The provider's own code on a `not sent` callback ("Not Sent – Daily Limit Reached").
    MetaCode {
        code: "WAV2101",
        short: "account daily limit reached",
        meaning: "the provider did not pass the message to Meta: the account's daily limit of messages was reached. Resume the next day, or after the limit is raised.",
    },
    MetaCode {
        code: "131021",
        short: "own number",
        meaning: "the recipient is the business number itself. Final.",
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
        ] {
            assert_eq!(explain(code).map(|known| known.short), Some(short), "{code}");
        }
        assert_eq!(explain(" 131047 ").map(|known| known.code), Some("131047"));
        assert_eq!(explain("131000"), None);
    }
}
