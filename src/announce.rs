//! What a waiting caller hears, as prompt ids: position, estimated wait, an apology when the
//! wait has run far past what was told, and the callback offer — in French or English, with
//! numbers spoken correctly (genders: "une minute", "vingt et une minutes"; every position up
//! to 9 999) and waits rounded to steps a caller can use.
//!
//! Pure: the call flow turns an `acd::Announcement` into a playlist with [`prompts`], and the
//! integration tests use the same function to know what to listen for. Nothing here plays,
//! logs or reads the clock. The prompt ids exist in `prompts/prompts.toml` (a unit test checks
//! every id this module can produce against the catalogue).

use crate::acd::Announcement;
use crate::event::EventKind;
use crate::media::prompt::Lang;

/// The `announced` event of an announcement in `queue` (the server and the simulator log the
/// same shape; `report::waits` reads it). `callback_offered`: the offer was actually played.
pub fn event(queue: &str, a: &Announcement, callback_offered: bool) -> EventKind {
    let secs = |ms: u64| u32::try_from(ms / 1000).unwrap_or(u32::MAX);
    EventKind::Announced {
        queue: queue.to_string(),
        position: a.position,
        estimate_s: a.estimate_ms.map(secs),
        agents: a.agents,
        agents_later: a.agents_later,
        aht_s: secs(a.aht_ms),
        first_free_s: secs(a.first_free_ms),
        patience_s: a.patience_ms.map(secs),
        callback_offered,
        late: a.late,
    }
}

/// A wait as it is said, after rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Told {
    /// Under 60 s: "less than a minute".
    UnderAMinute,
    /// About this many minutes: 1–10 to the minute, then 15, 20 … 30 by five, 40, 50, 60.
    Minutes(u32),
    /// Over 60 minutes: "more than an hour".
    OverAnHour,
}

/// Round an estimate to what is said. Steps widen with the wait: a caller can act on "about
/// 25 minutes" but not on "about 23" — the estimate is not that precise (docs/acd.md gives its
/// measured error), and a precise-sounding number promises more than it can keep.
pub fn told(estimate_ms: u64) -> Told {
    let m = estimate_ms as f64 / 60_000.0;
    let step = |m: f64, s: f64| ((m / s).round() * s) as u32;
    if m < 1.0 {
        Told::UnderAMinute
    } else if m < 10.5 {
        Told::Minutes(step(m, 1.0))
    } else if m < 32.5 {
        Told::Minutes(step(m, 5.0))
    } else if m <= 60.0 {
        Told::Minutes(step(m, 10.0))
    } else {
        Told::OverAnHour
    }
}

/// Grammatical gender of what is counted (French only): positions are masculine ("en position
/// vingt et un"), minutes feminine ("vingt et une minutes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Masculine,
    Feminine,
}

/// The largest number said; larger ones are said as this.
pub const MAX_SPOKEN: u32 = 9_999;

/// Prompt ids that say `n` (0–9 999; larger is said as 9 999). Whole words are recorded for
/// 0–99 (French numbers are irregular there: "soixante et onze", "quatre-vingt-dix-neuf"),
/// hundreds in two forms where French needs them ("deux cents" alone, "deux cent trois"),
/// thousands as "<n> mille" / "<n> thousand". In French, a number ending in "un" takes the
/// feminine form before a feminine noun (une, vingt et une … quatre-vingt-une, cent une).
pub fn number(n: u32, lang: Lang, gender: Gender) -> Vec<String> {
    let n = n.min(MAX_SPOKEN);
    let mut ids = Vec::with_capacity(4);
    let (thousands, rest) = (n / 1000, n % 1000);
    if thousands == 1 && lang == Lang::Fr {
        ids.push("num_thousand".to_string());
    } else if thousands >= 1 {
        ids.push(format!("num_{thousands}"));
        ids.push("num_thousand".to_string());
    }
    let (hundreds, tens) = (rest / 100, rest % 100);
    if hundreds >= 1 {
        if tens == 0 {
            ids.push(format!("num_{}", hundreds * 100));
        } else {
            ids.push(format!("num_h{hundreds}"));
        }
    }
    if tens > 0 || n == 0 {
        let fem = lang == Lang::Fr
            && gender == Gender::Feminine
            && tens % 10 == 1
            && !matches!(tens, 11 | 71 | 91);
        ids.push(if fem {
            format!("num_{tens}_fem")
        } else {
            format!("num_{tens}")
        });
    }
    ids
}

/// The playlist of one announcement. `callback_offered`: the ACD asked for the offer and the
/// call has a number to call back. Position 1 is "your call will be the next one answered".
pub fn prompts(lang: Lang, a: &Announcement, callback_offered: bool) -> Vec<String> {
    let mut ids = Vec::with_capacity(10);
    if a.late {
        ids.push("queue_sorry_longer".to_string());
    }
    if a.position <= 1 {
        ids.push("queue_next".to_string());
    } else {
        ids.push("queue_position".to_string());
        ids.extend(number(a.position, lang, Gender::Masculine));
    }
    if let Some(ms) = a.estimate_ms {
        match told(ms) {
            Told::UnderAMinute => {
                ids.push("queue_estimate_is".into());
                ids.push("less_than_a_minute".into());
            }
            Told::Minutes(m) => {
                ids.push("queue_estimate".into());
                ids.extend(number(m, lang, Gender::Feminine));
                ids.push(if m == 1 { "minute" } else { "minutes" }.into());
            }
            Told::OverAnHour => {
                ids.push("queue_estimate_is".into());
                ids.push("more_than_an_hour".into());
            }
        }
    }
    if callback_offered {
        ids.push("callback_offer".to_string());
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(n: u32, g: Gender) -> Vec<String> {
        number(n, Lang::Fr, g)
    }

    #[test]
    fn french_numbers_agree_with_what_they_count() {
        use Gender::*;
        assert_eq!(fr(1, Feminine), ["num_1_fem"]);
        assert_eq!(fr(1, Masculine), ["num_1"]);
        assert_eq!(fr(21, Feminine), ["num_21_fem"]);
        assert_eq!(fr(11, Feminine), ["num_11"]);
        assert_eq!(fr(71, Feminine), ["num_71"], "soixante et onze");
        assert_eq!(fr(81, Feminine), ["num_81_fem"], "quatre-vingt-une");
        assert_eq!(fr(91, Feminine), ["num_91"]);
        assert_eq!(fr(0, Masculine), ["num_0"]);
        assert_eq!(fr(100, Masculine), ["num_100"]);
        assert_eq!(fr(101, Feminine), ["num_h1", "num_1_fem"], "cent une");
        assert_eq!(fr(200, Masculine), ["num_200"], "deux cents");
        assert_eq!(
            fr(234, Masculine),
            ["num_h2", "num_34"],
            "deux cent trente-quatre"
        );
        assert_eq!(fr(1000, Masculine), ["num_thousand"], "mille");
        assert_eq!(fr(2001, Masculine), ["num_2", "num_thousand", "num_1"]);
        assert_eq!(fr(50_000, Masculine), fr(9_999, Masculine));
        let en = number(1, Lang::En, Gender::Feminine);
        assert_eq!(en, ["num_1"]);
        assert_eq!(
            number(1000, Lang::En, Gender::Masculine),
            ["num_1", "num_thousand"]
        );
    }

    #[test]
    fn waits_are_rounded_to_steps_that_widen() {
        let min = |m: f64| (m * 60_000.0) as u64;
        assert_eq!(told(0), Told::UnderAMinute);
        assert_eq!(told(min(0.99)), Told::UnderAMinute);
        assert_eq!(told(min(1.2)), Told::Minutes(1));
        assert_eq!(told(min(7.6)), Told::Minutes(8));
        assert_eq!(told(min(10.4)), Told::Minutes(10));
        assert_eq!(told(min(11.0)), Told::Minutes(10));
        assert_eq!(told(min(13.0)), Told::Minutes(15));
        assert_eq!(told(min(23.0)), Told::Minutes(25));
        assert_eq!(told(min(33.0)), Told::Minutes(30));
        assert_eq!(told(min(47.0)), Told::Minutes(50));
        assert_eq!(told(min(60.0)), Told::Minutes(60));
        assert_eq!(told(min(61.0)), Told::OverAnHour);
    }

    #[test]
    fn an_announcement_in_order() {
        let a = Announcement {
            position: 3,
            estimate_ms: Some(61_000),
            ..Announcement::default()
        };
        assert_eq!(
            prompts(Lang::Fr, &a, true),
            [
                "queue_position",
                "num_3",
                "queue_estimate",
                "num_1_fem",
                "minute",
                "callback_offer"
            ]
        );
        let late = Announcement {
            position: 1,
            estimate_ms: Some(20_000),
            late: true,
            ..Announcement::default()
        };
        assert_eq!(
            prompts(Lang::En, &late, false),
            [
                "queue_sorry_longer",
                "queue_next",
                "queue_estimate_is",
                "less_than_a_minute"
            ]
        );
        let unknown = Announcement {
            position: 21,
            estimate_ms: None,
            ..Announcement::default()
        };
        assert_eq!(
            prompts(Lang::Fr, &unknown, false),
            ["queue_position", "num_21"]
        );
    }

    /// Every id this module can say is in the catalogue (so `gen-prompts` makes its WAVs and
    /// `--check` finds them).
    #[test]
    fn every_id_said_is_in_the_catalogue() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/prompts.toml"),
        )
        .unwrap();
        let cat: toml::Table = toml::from_str(&text).unwrap();
        let mut ids: Vec<String> = Vec::new();
        for lang in Lang::ALL {
            for n in (0..=1100).chain([1999, 2000, 2021, 9999]) {
                ids.extend(number(n, lang, Gender::Masculine));
                ids.extend(number(n, lang, Gender::Feminine));
            }
            for s in (0..=4000).step_by(15) {
                for late in [false, true] {
                    let a = Announcement {
                        position: 2,
                        estimate_ms: Some(s * 1000),
                        late,
                        ..Announcement::default()
                    };
                    ids.extend(prompts(lang, &a, true));
                }
            }
            ids.extend(prompts(lang, &Announcement::default(), false));
        }
        ids.sort();
        ids.dedup();
        let missing: Vec<&String> = ids.iter().filter(|i| !cat.contains_key(*i)).collect();
        assert!(missing.is_empty(), "not in prompts.toml: {missing:?}");
    }
}
