//! Money per currency: the float amounts Odoo sends are summed exactly (as decimals), kept
//! apart per currency (never added across currencies) and rounded to each currency's ISO 4217
//! minor unit when shown: JPY 0 decimals, USD 2, KWD 3, unknown codes 2.

use std::collections::BTreeMap;

use iso_currency::Currency;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

/// The code of amounts whose document names no currency (ISO 4217's "no currency").
pub const NO_CURRENCY: &str = "XXX";

/// Decimals of codes ISO 4217 does not know, or gives no minor unit (XXX, XAU).
const DEFAULT_DIGITS: u32 = 2;

/// The currency's decimals (its ISO 4217 minor unit), 2 for codes ISO 4217 does not define.
pub fn minor_digits(code: &str) -> u32 {
    Currency::from_code(code)
        .and_then(|c| c.exponent())
        .map_or(DEFAULT_DIGITS, u32::from)
}

/// A float amount as Odoo sent it, as the decimal it stands for (`0.1` is 0.1, not
/// 0.1000000000000000055...). Not-a-number and infinities, which Odoo never sends, count 0.
pub fn decimal(amount: f64) -> Decimal {
    Decimal::from_f64(amount).unwrap_or_default()
}

/// `amount` rounded to the currency's minor unit (half away from zero), as the float a JSON
/// number carries: it prints as the rounded decimal (1382227.64, not 1382227.6400000006).
pub fn rounded(code: &str, amount: Decimal) -> f64 {
    amount
        .round_dp_with_strategy(minor_digits(code), RoundingStrategy::MidpointAwayFromZero)
        .to_f64()
        .unwrap_or(0.0)
}

/// Exact sums keyed by ISO 4217 code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerCurrency(BTreeMap<String, Decimal>);

impl PerCurrency {
    pub fn add(&mut self, currency: &str, amount: Decimal) {
        *self.0.entry(currency.to_string()).or_default() += amount;
    }

    /// The sum in one currency (zero when there is none).
    pub fn get(&self, currency: &str) -> Decimal {
        self.0.get(currency).copied().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Currency and exact sum, by code.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Decimal)> {
        self.0.iter().map(|(code, amount)| (code.as_str(), *amount))
    }

    /// Each sum rounded to its currency's minor unit.
    pub fn rounded(&self) -> BTreeMap<String, f64> {
        self.0
            .iter()
            .map(|(code, amount)| (code.clone(), rounded(code, *amount)))
            .collect()
    }

    /// Every currency added together: NOT an amount of money. Only for fields that were
    /// defined that way before amounts were kept per currency; rounded to the finest minor
    /// unit among the currencies (no float noise).
    pub fn mixed_total(&self) -> f64 {
        let digits = self.0.keys().map(|c| minor_digits(c)).max();
        let total: Decimal = self.0.values().sum();
        total
            .round_dp_with_strategy(
                digits.unwrap_or(DEFAULT_DIGITS),
                RoundingStrategy::MidpointAwayFromZero,
            )
            .to_f64()
            .unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_digits("USD"), 2);
        assert_eq!(minor_digits("JPY"), 0);
        assert_eq!(minor_digits("KWD"), 3);
        assert_eq!(minor_digits("XXX"), 2, "no minor unit defined");
        assert_eq!(minor_digits("NOPE"), 2, "unknown code");
    }

    #[test]
    fn rounds_to_the_currency() {
        assert_eq!(rounded("JPY", decimal(1234.5)), 1235.0);
        assert_eq!(rounded("JPY", decimal(-1234.5)), -1235.0);
        assert_eq!(rounded("KWD", decimal(10.12345)), 10.123);
        assert_eq!(rounded("KWD", decimal(10.1235)), 10.124);
        assert_eq!(
            rounded("USD", decimal(2.675)),
            2.68,
            "2.675 is not 2.67499..."
        );
        assert_eq!(rounded("ABC", decimal(1.005)), 1.01);
    }

    #[test]
    fn sums_without_float_noise_and_never_across_currencies() {
        let mut sums = PerCurrency::default();
        let mut float = 0.0;
        for _ in 0..10 {
            sums.add("USD", decimal(0.1));
            float += 0.1;
        }
        assert_ne!(float, 1.0, "floats drift");
        sums.add("GBP", decimal(5.0));
        assert_eq!(sums.rounded()["USD"], 1.0);
        assert_eq!(sums.rounded()["GBP"], 5.0);
        assert_eq!(sums.get("USD"), Decimal::ONE);
        assert_eq!(sums.get("EUR"), Decimal::ZERO);
        let mut mixed = PerCurrency::default();
        mixed.add("USD", decimal(1382227.64));
        mixed.add("KWD", decimal(0.001));
        assert_eq!(mixed.mixed_total(), 1382227.641);
    }
}
