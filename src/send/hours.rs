//! Quiet hours: `--window 09:00-20:00 [--tz Asia/Kolkata]`. Messages go out only inside the
//! window (its end excluded; a window may cross midnight, `21:00-02:00`), in the given IANA
//! zone or the machine's. Outside it the campaign pauses until the window opens, or, with
//! `--exit-outside-window`, stops cleanly and resumably. Time zones and their daylight-saving
//! rules come from `jiff` (the system's tz database, with a bundled copy where it has none).

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HoursError {
    #[error("--window `{0}`: write HH:MM-HH:MM, e.g. 09:00-20:00")]
    Syntax(String),
    #[error("--window `{0}`: the start and the end are the same time, so it never opens; for the whole day leave out --window (or write 00:00-24:00)")]
    Empty(String),
    #[error("--tz `{0}` is not a time zone name the tz database knows (write an IANA name such as Asia/Kolkata)")]
    UnknownZone(String),
    #[error("the machine's time zone cannot be found: pass --tz ZONE (an IANA name such as Asia/Kolkata)")]
    NoSystemZone,
    #[error("TZ names the file `{path}`, which cannot be read as a time zone: {reason}; pass --tz ZONE (an IANA name such as Asia/Kolkata)")]
    TzFile { path: String, reason: String },
}

/// Minutes in a day: `24:00`, the end of the day.
const DAY_MINUTES: u16 = 24 * 60;

/// The hours in which messages may go out.
#[derive(Debug, Clone)]
pub(crate) struct SendingHours {
    /// Minutes from midnight, 0 to 1439.
    start: u16,
    /// Minutes from midnight, 0 to 1440 (24:00, the end of the day): excluded.
    end: u16,
    zone: TimeZone,
    zone_name: String,
    text: String,
}

impl SendingHours {
    /// Parses `HH:MM-HH:MM` in the zone `tz` (an IANA name) or the machine's.
    pub(crate) fn parse(text: &str, tz: Option<&str>) -> Result<SendingHours, HoursError> {
        let syntax = || HoursError::Syntax(text.to_owned());
        let (start, end) = text.split_once('-').ok_or_else(syntax)?;
        let minutes = |part: &str| -> Result<u16, HoursError> {
            let (hours, minutes) = part.trim().split_once(':').ok_or_else(syntax)?;
            let hours: u16 = hours.parse().map_err(|_| syntax())?;
            let minutes: u16 = minutes.parse().map_err(|_| syntax())?;
            // 24:00 is the end of the day.
            if hours > 24 || minutes > 59 || (hours == 24 && minutes > 0) {
                return Err(syntax());
            }
            Ok(hours * 60 + minutes)
        };
        let (written_start, end) = (minutes(start)?, minutes(end)?);
        // A window starts at 24:00 only as it starts at 00:00.
        let start = written_start % DAY_MINUTES;
        // `24:00-24:00` is as empty as `00:00-00:00`; only `00:00-24:00` is the whole day.
        if start == end || written_start == end {
            return Err(HoursError::Empty(text.to_owned()));
        }
        let (zone, zone_name) = if let Some(name) = tz {
            (
                TimeZone::get(name).map_err(|_| HoursError::UnknownZone(name.to_owned()))?,
                name.to_owned(),
            )
        } else {
            check_tz_file()?;
            let zone = TimeZone::try_system().map_err(|_| HoursError::NoSystemZone)?;
            let name = system_zone_name(&zone);
            (zone, name)
        };
        Ok(SendingHours {
            start,
            end,
            zone,
            zone_name,
            text: text.to_owned(),
        })
    }

    fn contains(&self, time: Time) -> bool {
        let minute = u16::try_from(time.hour()).unwrap_or(0) * 60 + u16::try_from(time.minute()).unwrap_or(0);
        if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            // Crosses midnight.
            minute >= self.start || minute < self.end
        }
    }

    /// `None` when `now` is inside the window; otherwise when it next opens: the first moment
    /// after `now` whose local time is inside it. On a day the clocks skip the start (a
    /// daylight-saving gap, `02:30` in `02:00-03:00`), that is when they jump, if the time
    /// they jump to is inside the window; on a day the start comes twice, the first after `now`.
    pub(crate) fn next_opening(&self, now: Timestamp) -> Option<Zoned> {
        let here = now.to_zoned(self.zone.clone());
        if self.contains(here.time()) {
            return None;
        }
        let start = Time::new(
            i8::try_from(self.start / 60).ok()?,
            i8::try_from(self.start % 60).ok()?,
            0,
            0,
        )
        .ok()?;
        let mut date = here.date();
        // A day whose start falls in a gap the window cannot open in is skipped: two more
        // days always hold an opening.
        for _ in 0..3 {
            let ambiguous = self.zone.to_ambiguous_zoned(date.to_datetime(start));
            let candidates = match ambiguous.offset() {
                jiff::tz::AmbiguousOffset::Gap { .. } => {
                    // Before the gap, then the first transition after it: when the clocks jump.
                    let before = ambiguous.earlier().ok()?.timestamp();
                    let jump = self.zone.following(before).next().map(|t| t.timestamp());
                    vec![jump.map(|jump| jump.to_zoned(self.zone.clone()))]
                }
                _ => vec![ambiguous.clone().earlier().ok(), ambiguous.later().ok()],
            };
            for candidate in candidates.into_iter().flatten() {
                if candidate.timestamp() > now && self.contains(candidate.time()) {
                    return Some(candidate);
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// How the opening reads in messages: `09:00 Asia/Kolkata (in 3h 12m)`.
    pub(crate) fn describe_opening(&self, opening: &Zoned, now: Timestamp) -> String {
        describe_zoned(opening, &self.zone_name, now)
    }

    /// The window and its zone as the plan shows them, with whether it is open at `now`:
    /// `09:00-20:00 Asia/Kolkata (open now)`.
    pub(crate) fn describe(&self, now: Timestamp) -> String {
        match self.next_opening(now) {
            None => format!("{} {} (open now)", self.text, self.zone_name),
            Some(opening) => {
                let seconds = opening.timestamp().as_second().saturating_sub(now.as_second()).max(0) as u64;
                format!(
                    "{} {} (closed now; opens {}, {})",
                    self.text,
                    self.zone_name,
                    opening.strftime("%Y-%m-%d %H:%M"),
                    crate::words::about_duration(seconds).replacen("about", "in about", 1)
                )
            }
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn zone_name(&self) -> &str {
        &self.zone_name
    }
}

/// A later moment as messages show it, in the `--window`'s zone or else the machine's (UTC
/// when the machine has none): `2026-12-07 15:05 Asia/Kolkata (in about 1h 00m)`.
pub(crate) fn describe_moment(at: Timestamp, hours: Option<&SendingHours>, now: Timestamp) -> String {
    let (zone, name) = match hours {
        Some(hours) => (hours.zone.clone(), hours.zone_name.clone()),
        None => match check_tz_file().ok().and_then(|()| TimeZone::try_system().ok()) {
            Some(zone) => {
                let name = system_zone_name(&zone);
                (zone, name)
            }
            None => (TimeZone::UTC, "UTC".to_owned()),
        },
    };
    describe_zoned(&at.to_zoned(zone), &name, now)
}

fn describe_zoned(at: &Zoned, zone_name: &str, now: Timestamp) -> String {
    let seconds = at.timestamp().as_second().saturating_sub(now.as_second()).max(0) as u64;
    format!(
        "{} {} ({})",
        at.strftime("%Y-%m-%d %H:%M"),
        zone_name,
        crate::words::about_duration(seconds).replacen("about", "in about", 1)
    )
}

/// Refuses a `TZ` naming a file (`/path` or `:/path`) that is not a regular file: the tz
/// reader would wait forever on a named pipe with no writer.
fn check_tz_file() -> Result<(), HoursError> {
    let Some(rule) = std::env::var_os("TZ") else {
        return Ok(());
    };
    let rule = rule.to_string_lossy();
    let path = rule.strip_prefix(':').unwrap_or(&rule);
    if !path.starts_with('/') {
        return Ok(());
    }
    match crate::input::open(std::path::Path::new(path)) {
        Ok(_) => Ok(()),
        // A missing file is the tz reader's to report (it falls back or fails as it does).
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(HoursError::TzFile {
            path: crate::words::printable(path).into_owned(),
            reason: error.to_string(),
        }),
    }
}

/// The machine's zone by name: its IANA name, else the `TZ` rule it was read from (a POSIX
/// rule such as `IST-5:30` has no IANA name), else its offset now.
fn system_zone_name(zone: &TimeZone) -> String {
    if let Some(name) = zone.iana_name() {
        return name.to_owned();
    }
    match std::env::var("TZ") {
        Ok(rule) if !rule.trim().is_empty() => format!("TZ={}", crate::words::printable(rule.trim())),
        _ => format!("the machine's time zone (UTC{} now)", zone.to_offset(Timestamp::now())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(window: &SendingHours, text: &str) -> Timestamp {
        let civil: jiff::civil::DateTime = text.parse().expect("a civil date-time");
        civil.to_zoned(window.zone.clone()).expect("in the zone").timestamp()
    }

    #[test]
    fn inside_outside_and_across_midnight() {
        let day = SendingHours::parse("09:00-20:00", Some("Asia/Kolkata")).expect("valid");
        assert!(day.next_opening(at(&day, "2026-11-29T12:00")).is_none());
        assert!(
            day.next_opening(at(&day, "2026-11-29T20:00")).is_some(),
            "the end is excluded"
        );
        let opening = day.next_opening(at(&day, "2026-11-29T03:00")).expect("closed");
        assert_eq!(opening.strftime("%Y-%m-%d %H:%M").to_string(), "2026-11-29 09:00");
        let evening = day.next_opening(at(&day, "2026-11-29T21:00")).expect("closed");
        assert_eq!(evening.strftime("%Y-%m-%d %H:%M").to_string(), "2026-11-30 09:00");
        let night = SendingHours::parse("21:00-02:00", Some("Europe/Berlin")).expect("valid");
        assert!(night.next_opening(at(&night, "2026-11-29T23:30")).is_none());
        assert!(night.next_opening(at(&night, "2026-11-30T01:59")).is_none());
        assert!(night.next_opening(at(&night, "2026-11-30T02:00")).is_some());
    }

    #[test]
    fn a_start_in_a_daylight_saving_gap_opens_when_the_clocks_jump() {
        // Berlin skips 02:00-03:00 on 2026-03-29: at 02:00 CET the clocks read 03:00 CEST.
        let window = SendingHours::parse("02:30-05:00", Some("Europe/Berlin")).expect("valid");
        let now = at(&window, "2026-03-29T01:00");
        let opening = window.next_opening(now).expect("closed at 01:00");
        assert_eq!(
            opening.strftime("%Y-%m-%d %H:%M %Z").to_string(),
            "2026-03-29 03:00 CEST"
        );
        assert_eq!(opening.timestamp().as_second() - now.as_second(), 3600);
        // A window the gap swallows whole opens the next day.
        let swallowed = SendingHours::parse("02:10-02:50", Some("Europe/Berlin")).expect("valid");
        let opening = swallowed.next_opening(now).expect("closed");
        assert_eq!(opening.strftime("%Y-%m-%d %H:%M").to_string(), "2026-03-30 02:10");
    }

    #[test]
    fn a_start_the_clocks_repeat_opens_at_its_next_occurrence() {
        // Berlin repeats 02:00-03:00 on 2026-10-25; at the second 02:10 the window opens again.
        let window = SendingHours::parse("02:30-02:45", Some("Europe/Berlin")).expect("valid");
        let first = at(&window, "2026-10-25T02:30").as_second();
        // 02:50 CEST, the first pass: 40 minutes later the clocks read 02:30 again (CET).
        let now = Timestamp::from_second(first + 20 * 60).expect("valid");
        let opening = window.next_opening(now).expect("closed");
        assert_eq!(opening.timestamp().as_second() - now.as_second(), 40 * 60);
    }

    #[test]
    fn a_whole_day_window_ends_at_24_00() {
        let day = SendingHours::parse("00:00-24:00", Some("Asia/Kolkata")).expect("24:00 is the end of the day");
        for time in ["2026-11-29T00:00", "2026-11-29T12:00", "2026-11-29T23:59"] {
            assert!(day.next_opening(at(&day, time)).is_none(), "{time}");
        }
        let evening = SendingHours::parse("18:00-24:00", Some("Asia/Kolkata")).expect("valid");
        assert!(evening.next_opening(at(&evening, "2026-11-29T23:59")).is_none());
        assert!(evening.next_opening(at(&evening, "2026-11-30T00:00")).is_some());
    }

    #[test]
    fn bad_windows_and_zones_are_refused() {
        assert!(matches!(SendingHours::parse("9-20", None), Err(HoursError::Syntax(_))));
        assert!(matches!(
            SendingHours::parse("25:00-20:00", None),
            Err(HoursError::Syntax(_))
        ));
        assert!(matches!(
            SendingHours::parse("09:00-09:00", None),
            Err(HoursError::Empty(_))
        ));
        assert!(matches!(
            SendingHours::parse("09:00-24:01", None),
            Err(HoursError::Syntax(_))
        ));
        assert!(matches!(
            SendingHours::parse("09:00-20:00", Some("Mars/Base")),
            Err(HoursError::UnknownZone(_))
        ));
    }
}
