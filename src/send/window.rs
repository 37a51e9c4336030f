//! Quiet hours: `--window 09:00-20:00 [--tz Asia/Kolkata]`. Messages go out only inside the
//! window (its end excluded; a window may cross midnight, `21:00-02:00`), in the given IANA
//! zone or the machine's. Outside it the campaign pauses until the window opens, or, with
//! `--exit-outside-window`, stops cleanly and resumably. Time zones and their daylight-saving
//! rules come from `jiff` (the system's tz database, with a bundled copy where it has none).

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("--window `{0}`: write HH:MM-HH:MM, e.g. 09:00-20:00")]
    Syntax(String),
    #[error("--window `{0}`: the start and the end are the same time")]
    Empty(String),
    #[error("--tz `{0}` is not a time zone name the tz database knows (write an IANA name such as Asia/Kolkata)")]
    UnknownZone(String),
    #[error("the machine's time zone cannot be found: pass --tz ZONE (an IANA name such as Asia/Kolkata)")]
    NoSystemZone,
}

/// The hours in which messages may go out.
#[derive(Debug, Clone)]
pub struct Window {
    start: Time,
    end: Time,
    zone: TimeZone,
    zone_name: String,
    text: String,
}

impl Window {
    /// Parses `HH:MM-HH:MM` in the zone `tz` (an IANA name) or the machine's.
    pub fn parse(text: &str, tz: Option<&str>) -> Result<Window, WindowError> {
        let syntax = || WindowError::Syntax(text.to_owned());
        let (start, end) = text.split_once('-').ok_or_else(syntax)?;
        let time = |part: &str| -> Result<Time, WindowError> {
            let (hours, minutes) = part.trim().split_once(':').ok_or_else(syntax)?;
            let hours: i8 = hours.parse().map_err(|_| syntax())?;
            let minutes: i8 = minutes.parse().map_err(|_| syntax())?;
            // 24:00 is the end of the day.
            if hours == 24 && minutes == 0 {
                return Ok(Time::MIN);
            }
            Time::new(hours, minutes, 0, 0).map_err(|_| syntax())
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(WindowError::Empty(text.to_owned()));
        }
        let (zone, zone_name) = match tz {
            Some(name) => (
                TimeZone::get(name).map_err(|_| WindowError::UnknownZone(name.to_owned()))?,
                name.to_owned(),
            ),
            None => {
                let zone = TimeZone::try_system().map_err(|_| WindowError::NoSystemZone)?;
                let name = zone.iana_name().unwrap_or("the machine's time zone").to_owned();
                (zone, name)
            }
        };
        Ok(Window {
            start,
            end,
            zone,
            zone_name,
            text: text.to_owned(),
        })
    }

    fn contains(&self, time: Time) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            // Crosses midnight.
            time >= self.start || time < self.end
        }
    }

    /// `None` when `now` is inside the window; otherwise when it next opens.
    pub fn next_opening(&self, now: Timestamp) -> Option<Zoned> {
        let here = now.to_zoned(self.zone.clone());
        if self.contains(here.time()) {
            return None;
        }
        let today = here.date().to_datetime(self.start).to_zoned(self.zone.clone()).ok()?;
        if today > here {
            return Some(today);
        }
        let tomorrow = here.date().tomorrow().ok()?;
        tomorrow.to_datetime(self.start).to_zoned(self.zone.clone()).ok()
    }

    /// How the opening reads in messages: `09:00 Asia/Kolkata (in 3h 12m)`.
    pub fn describe_opening(&self, opening: &Zoned, now: Timestamp) -> String {
        let seconds = opening.timestamp().as_second().saturating_sub(now.as_second()).max(0) as u64;
        format!(
            "{} {} ({})",
            opening.strftime("%Y-%m-%d %H:%M"),
            self.zone_name,
            crate::words::about_duration(seconds).replacen("about", "in about", 1)
        )
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(window: &Window, text: &str) -> Timestamp {
        let civil: jiff::civil::DateTime = text.parse().expect("a civil date-time");
        civil.to_zoned(window.zone.clone()).expect("in the zone").timestamp()
    }

    #[test]
    fn inside_outside_and_across_midnight() {
        let day = Window::parse("09:00-20:00", Some("Asia/Kolkata")).expect("valid");
        assert!(day.next_opening(at(&day, "2026-11-29T12:00")).is_none());
        assert!(
            day.next_opening(at(&day, "2026-11-29T20:00")).is_some(),
            "the end is excluded"
        );
        let opening = day.next_opening(at(&day, "2026-11-29T03:00")).expect("closed");
        assert_eq!(opening.strftime("%Y-%m-%d %H:%M").to_string(), "2026-11-29 09:00");
        let evening = day.next_opening(at(&day, "2026-11-29T21:00")).expect("closed");
        assert_eq!(evening.strftime("%Y-%m-%d %H:%M").to_string(), "2026-11-30 09:00");
        let night = Window::parse("21:00-02:00", Some("Europe/Berlin")).expect("valid");
        assert!(night.next_opening(at(&night, "2026-11-29T23:30")).is_none());
        assert!(night.next_opening(at(&night, "2026-11-30T01:59")).is_none());
        assert!(night.next_opening(at(&night, "2026-11-30T02:00")).is_some());
    }

    #[test]
    fn bad_windows_and_zones_are_refused() {
        assert!(matches!(Window::parse("9-20", None), Err(WindowError::Syntax(_))));
        assert!(matches!(
            Window::parse("25:00-20:00", None),
            Err(WindowError::Syntax(_))
        ));
        assert!(matches!(Window::parse("09:00-09:00", None), Err(WindowError::Empty(_))));
        assert!(matches!(
            Window::parse("09:00-20:00", Some("Mars/Base")),
            Err(WindowError::UnknownZone(_))
        ));
    }
}
