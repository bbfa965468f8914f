//! Examples that fit the shop: a phone number and an address as the shop's customers would
//! write them, chosen by the shop's currency (which names its market for every currency we
//! offer but the euro and the dollar, where the biggest market stands in).

/// A phone number (with its country code) and a delivery address of the shop's country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Examples {
    pub phone: &'static str,
    pub address: &'static str,
}

const fn e(phone: &'static str, address: &'static str) -> Examples {
    Examples { phone, address }
}

/// The examples for a shop selling in `currency`.
pub fn for_currency(currency: &str) -> Examples {
    match currency {
        "NGN" => e("+234 801 234 5678", "12 Admiralty Way, Lekki, Lagos"),
        "GHS" => e("+233 24 123 4567", "14 Oxford Street, Osu, Accra"),
        "KES" => e("+254 712 345 678", "Kimathi Street 20, Nairobi"),
        "ZAR" => e("+27 82 123 4567", "15 Long Street, Cape Town 8001"),
        "UGX" => e("+256 772 123 456", "Plot 7 Kampala Road, Kampala"),
        "TZS" => e("+255 712 345 678", "Samora Avenue 12, Dar es Salaam"),
        "RWF" => e("+250 788 123 456", "KN 4 Avenue 10, Kigali"),
        "XOF" => e("+221 77 123 45 67", "Rue 10, Plateau, Dakar"),
        "XAF" => e("+237 6 71 23 45 67", "Rue Joss, Bonanjo, Douala"),
        "EGP" => e("+20 100 123 4567", "26 Talaat Harb Street, Cairo"),
        "MAD" => e("+212 612 345 678", "45 Boulevard Anfa, Casablanca"),
        "ETB" => e("+251 91 123 4567", "Bole Road, Addis Ababa"),
        "INR" => e("+91 98765 43210", "221 MG Road, Bengaluru 560001"),
        "PKR" => e("+92 300 1234567", "House 12, Street 5, F-7/2, Islamabad"),
        "BDT" => e("+880 1712 345678", "House 10, Road 27, Dhanmondi, Dhaka"),
        "IDR" => e("+62 812 3456 7890", "Jl. Sudirman No. 5, Jakarta 10220"),
        "PHP" => e("+63 917 123 4567", "25 Ayala Avenue, Makati, Metro Manila"),
        "BRL" => e(
            "+55 11 91234-5678",
            "Rua Augusta 1500, São Paulo, SP 01304-001",
        ),
        "MXN" => e("+52 55 1234 5678", "Av. Reforma 222, Juárez, CDMX 06600"),
        "COP" => e("+57 301 234 5678", "Carrera 7 # 71-21, Bogotá"),
        "AED" => e("+971 50 123 4567", "Villa 12, Street 3, Jumeirah 1, Dubai"),
        "SAR" => e("+966 50 123 4567", "King Fahd Road 120, Riyadh 12214"),
        "EUR" => e("+34 612 345 678", "Calle Mayor 10, 28013 Madrid"),
        "GBP" => e("+44 7700 900123", "10 Market Street, Manchester M1 1PT"),
        "JPY" => e(
            "+81 90 1234 5678",
            "1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002",
        ),
        // The US dollar, and anything else.
        _ => e(
            "+1 415 555 0132",
            "500 Market Street, San Francisco, CA 94105",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_currency_has_examples_of_its_own_country() {
        assert_eq!(for_currency("NGN").phone, "+234 801 234 5678");
        assert!(for_currency("KES").phone.starts_with("+254"));
        assert!(for_currency("BRL").address.contains("São Paulo"));
        // Every offered currency but the dollar has its own; each phone has a country code.
        for c in crate::money::CURRENCIES {
            let ex = for_currency(c.code);
            assert!(ex.phone.starts_with('+'), "{}", c.code);
            if c.code != "USD" {
                assert_ne!(ex, for_currency("USD"), "{}", c.code);
            }
        }
    }
}
